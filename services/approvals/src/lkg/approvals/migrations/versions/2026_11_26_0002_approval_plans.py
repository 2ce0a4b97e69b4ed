"""org read copy; approval catalogue, plans, items, clocks and item history; the default catalogue loaded

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lkg.common.orgcopy import create_org_copy_tables, drop_org_copy_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_org_copy_tables(op)
    catalogue = op.create_table(
        "catalogue_item",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("handling_unit_id", sa.UUID(), nullable=True),
        sa.Column("handling_unit_role", sa.Text(), nullable=True),
        sa.Column("handling_unit_name", sa.Text(), nullable=False),
        sa.Column("limit_days", sa.Integer(), nullable=False),
        sa.Column("limit_unit", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("applies_to", JSONB, nullable=False),
        sa.Column("prerequisites", JSONB, nullable=False),
        sa.Column("modes", JSONB, nullable=False),
        sa.Column("start_gate", sa.Boolean(), nullable=False),
        sa.Column("report_column", sa.Text(), nullable=True),
        sa.Column("prereview_days", sa.Integer(), nullable=False),
        sa.Column("prereviewed_days", sa.Integer(), nullable=False),
        sa.Column("verification_days", sa.Integer(), nullable=False),
        sa.Column("verification_unit", sa.Text(), nullable=False),
        sa.Column("inspection_days", sa.Integer(), nullable=False),
        sa.Column("inspection_unit", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_version", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_item")),
        sa.UniqueConstraint("code", name=op.f("uq_catalogue_item_code")),
    )
    op.create_table(
        "approval_plan",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("project_revision", sa.Integer(), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("responsible_unit_id", sa.UUID(), nullable=False),
        sa.Column("line_id", sa.UUID(), nullable=True),
        sa.Column("project_class", sa.Text(), nullable=False),
        sa.Column("approval_type", sa.Text(), nullable=True),
        sa.Column("fast_track", sa.Boolean(), nullable=False),
        sa.Column("project_status", sa.Text(), nullable=False),
        sa.Column("project_planned_start", sa.Date(), nullable=True),
        sa.Column("planned_start_override", sa.Date(), nullable=True),
        sa.Column("earliest_start", sa.Date(), nullable=True),
        sa.Column("start_at_risk", sa.Boolean(), nullable=False),
        sa.Column("risk_check_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_plan")),
        sa.UniqueConstraint("project_id", name=op.f("uq_approval_plan_project_id")),
    )
    op.create_index(
        "ix_approval_plan_risk_check_at",
        "approval_plan",
        ["risk_check_at"],
        postgresql_where=sa.text("risk_check_at IS NOT NULL"),
    )
    op.create_index("ix_approval_plan_updated_at_id", "approval_plan", ["updated_at", "id"])
    op.create_table(
        "approval_item",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("catalogue_item_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("handling_unit_id", sa.UUID(), nullable=True),
        sa.Column("handling_unit_name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("limit_days", sa.Integer(), nullable=False),
        sa.Column("limit_unit", sa.Text(), nullable=False),
        sa.Column("prerequisites", JSONB, nullable=False),
        sa.Column("start_gate", sa.Boolean(), nullable=False),
        sa.Column("report_column", sa.Text(), nullable=True),
        sa.Column("prereview_from", sa.Date(), nullable=True),
        sa.Column("prereview_to", sa.Date(), nullable=True),
        sa.Column("prereviewed_days", sa.Integer(), nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("certificate_no", sa.Text(), nullable=True),
        sa.Column("document_refs", JSONB, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["approval_plan.id"], name=op.f("fk_approval_item_plan_id_approval_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_item")),
        sa.UniqueConstraint("plan_id", "code", name=op.f("uq_approval_item_plan_id")),
    )
    op.create_index(op.f("ix_approval_item_plan_id"), "approval_item", ["plan_id"])
    op.create_index(op.f("ix_approval_item_handling_unit_id"), "approval_item", ["handling_unit_id"])
    op.create_table(
        "approval_clock",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("pauses", JSONB, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("warn_at", TS, nullable=True),
        sa.Column("next_at", TS, nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("warned_at", TS, nullable=True),
        sa.Column("breached_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["approval_item.id"], name=op.f("fk_approval_clock_item_id_approval_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_clock")),
    )
    op.create_index(op.f("ix_approval_clock_item_id"), "approval_clock", ["item_id"])
    op.create_index(
        "ix_approval_clock_next_at",
        "approval_clock",
        ["next_at"],
        postgresql_where=sa.text("next_at IS NOT NULL"),
    )
    op.create_table(
        "approval_item_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=True),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", JSONB, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["approval_item.id"], name=op.f("fk_approval_item_change_item_id_approval_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_item_change")),
    )
    op.create_index("ix_approval_item_change_item_id_at", "approval_item_change", ["item_id", "at", "id"])

    # The default catalogue (data/catalogue.yaml); codes already present are left alone.
    from lkg.approvals.catalogue.document import (
        CATALOGUE_EFFECTIVE_AT,
        catalogue_rows,
        default_catalogue,
        insert_missing_statement,
    )

    rows = catalogue_rows(default_catalogue(), CATALOGUE_EFFECTIVE_AT)
    op.get_bind().execute(insert_missing_statement(catalogue, rows))


def downgrade() -> None:
    op.drop_table("approval_item_change")
    op.drop_table("approval_clock")
    op.drop_table("approval_item")
    op.drop_table("approval_plan")
    op.drop_table("catalogue_item")
    drop_org_copy_tables(op)
