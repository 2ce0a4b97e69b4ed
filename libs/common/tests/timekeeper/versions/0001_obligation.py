"""obligations

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from lkg.common.db import create_bus_tables, drop_bus_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_bus_tables(op)
    op.create_table(
        "obligation",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("matter", sa.Text, nullable=False),
        sa.Column("layer", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="open"),
        sa.Column("breached_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_obligation_open_due", "obligation", ["due_at"], postgresql_where=sa.text("state = 'open'")
    )


def downgrade() -> None:
    op.drop_table("obligation")
    drop_bus_tables(op)
