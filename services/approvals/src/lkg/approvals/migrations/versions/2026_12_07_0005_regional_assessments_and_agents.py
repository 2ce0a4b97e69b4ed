"""regional assessments (区域评估) and what they do to plan items; the plan's site and agent; the training
of the agents' team (代办业务培训) — policy §四(一), §四(三), issue #15 items 4 and 5

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("approval_plan", sa.Column("site_street_id", sa.UUID(), nullable=True))
    op.add_column("approval_plan", sa.Column("site_park", sa.Text(), nullable=True))
    op.add_column("approval_plan", sa.Column("site_plot", sa.Text(), nullable=True))
    op.add_column("approval_plan", sa.Column("agent_person_id", sa.UUID(), nullable=True))
    op.add_column("approval_item", sa.Column("assessment_id", sa.UUID(), nullable=True))
    op.add_column(
        "approval_item",
        sa.Column("limit_saved_days", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "regional_assessment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("issuing_unit_id", sa.UUID(), nullable=True),
        sa.Column("issuing_unit_name", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("document_ref", sa.Text(), nullable=True),
        sa.Column("streets", JSONB, nullable=False),
        sa.Column("parks", JSONB, nullable=False),
        sa.Column("plots", JSONB, nullable=False),
        sa.Column("effects", JSONB, nullable=False),
        sa.Column("apply_at", TS, nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regional_assessment")),
    )
    op.create_index(
        op.f("ix_regional_assessment_apply_at"),
        "regional_assessment",
        ["apply_at"],
        postgresql_where=sa.text("apply_at IS NOT NULL"),
    )
    op.create_index(op.f("ix_regional_assessment_created_at_id"), "regional_assessment", ["created_at", "id"])
    op.create_table(
        "agent_training",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("attendees", JSONB, nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_training")),
    )
    op.create_index(op.f("ix_agent_training_held_on_id"), "agent_training", ["held_on", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_training_held_on_id"), table_name="agent_training")
    op.drop_table("agent_training")
    op.drop_index(op.f("ix_regional_assessment_created_at_id"), table_name="regional_assessment")
    op.drop_index(op.f("ix_regional_assessment_apply_at"), table_name="regional_assessment")
    op.drop_table("regional_assessment")
    op.drop_column("approval_item", "limit_saved_days")
    op.drop_column("approval_item", "assessment_id")
    op.drop_column("approval_plan", "agent_person_id")
    op.drop_column("approval_plan", "site_plot")
    op.drop_column("approval_plan", "site_park")
    op.drop_column("approval_plan", "site_street_id")
