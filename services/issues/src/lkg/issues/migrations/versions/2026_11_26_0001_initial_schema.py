"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 16:03:01.643969
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import Operations
from sqlalchemy.dialects import postgresql

from lkg.common.db import create_bus_tables, drop_bus_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Outbox, inbox and idempotency keys, with the trigger that wakes the outbox relay on commit.
    create_bus_tables(Operations(op.get_context()))
    op.create_table(
        "project_copy",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("responsible_unit_id", sa.UUID(), nullable=True),
        sa.Column("line_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_copy")),
    )
    op.create_index(op.f("ix_project_copy_line_id"), "project_copy", ["line_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_project_copy_line_id"), table_name="project_copy")
    op.drop_table("project_copy")
    drop_bus_tables(Operations(op.get_context()))
