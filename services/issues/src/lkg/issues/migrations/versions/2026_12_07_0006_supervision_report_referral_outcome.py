"""the 《督查问题专报》 of a round, frozen when issued (§五(三)); the discipline commission's outcome of a
referred card; 四督四促 follow-ups (§三(三)三)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOME: list[tuple[str, Any]] = [
    ("referred_at", sa.DateTime(timezone=True)),
    ("referral_outcome", sa.Text()),
    ("referral_outcome_note", sa.Text()),
    ("referral_outcome_on", sa.Date()),
    ("referral_outcome_by_person_id", sa.Text()),
    ("referral_outcome_by_name", sa.Text()),
    ("referral_outcome_recorded_at", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    for name, kind in _OUTCOME:
        op.add_column("red_card", sa.Column(name, kind, nullable=True))
    op.create_table(
        "supervision_report",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("supervision_round_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by_person_id", sa.Text(), nullable=True),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervision_round_id"],
            ["supervision_round.id"],
            name=op.f("fk_supervision_report_supervision_round_id_supervision_round"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_report")),
        sa.UniqueConstraint("supervision_round_id", name=op.f("uq_supervision_report_supervision_round_id")),
        sa.UniqueConstraint("year", "number", name=op.f("uq_supervision_report_year_number")),
    )
    op.create_table(
        "supervision_follow_up",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("project_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("group", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("by_person_id", sa.Text(), nullable=True),
        sa.Column("by_name", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_follow_up")),
    )
    op.create_index(
        op.f("ix_supervision_follow_up_project_id"), "supervision_follow_up", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_supervision_follow_up_project_id"), table_name="supervision_follow_up")
    op.drop_table("supervision_follow_up")
    op.drop_table("supervision_report")
    for name, _kind in reversed(_OUTCOME):
        op.drop_column("red_card", name)
