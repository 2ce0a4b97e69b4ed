"""integrity review rounds: the 回头看 on a schedule (定期, §四(四))

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrity_round",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("unit_name", sa.Text(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unreviewed_project_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_round")),
        sa.UniqueConstraint("due_on", name=op.f("uq_integrity_round_due_on")),
    )
    op.create_index(
        "ix_integrity_round_next_at",
        "integrity_round",
        ["next_at"],
        unique=False,
        postgresql_where=sa.text("next_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_integrity_round_next_at", table_name="integrity_round")
    op.drop_table("integrity_round")
