"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 16:02:54.573108
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lkg.common.db import create_bus_tables, drop_bus_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Outbox, inbox and idempotency keys, with the trigger that wakes the outbox relay on commit.
    create_bus_tables(op)  # type: ignore[arg-type]  # alembic.op: the Operations proxy
    op.create_table(
        "project",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("project_code", sa.String(length=24), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("enterprise", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("project_class", sa.Text(), nullable=False),
        sa.Column("responsible_unit_id", sa.UUID(), nullable=False),
        sa.Column("responsible_unit_name", sa.Text(), nullable=False),
        sa.Column("line_id", sa.UUID(), nullable=True),
        sa.Column("routing_basis", sa.Text(), nullable=False),
        sa.Column("routing_reason", sa.Text(), nullable=False),
        sa.Column("provincial_municipal", sa.Boolean(), nullable=False),
        sa.Column("fast_track", sa.Boolean(), nullable=False),
        sa.Column("approval_type", sa.Text(), nullable=True),
        sa.Column("total_investment", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("plan_year", sa.Integer(), nullable=False),
        sa.Column("planned_annual_investment", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("project_code", name=op.f("uq_project_project_code")),
    )
    op.create_index("ix_project_created_at_id", "project", ["created_at", "id"], unique=False)
    op.create_index("ix_project_updated_at_id", "project", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_project_updated_at_id", table_name="project")
    op.drop_index("ix_project_created_at_id", table_name="project")
    op.drop_table("project")
    drop_bus_tables(op)  # type: ignore[arg-type]  # alembic.op: the Operations proxy
