"""commitment obligor post: the post's title beside its id (新官理旧账, §四(四))

A government commitment binds a post; ``commitment.obligor_post_title`` keeps the post's title as it was
when the commitment was recorded, for the events and the list. Commitments recorded before carry their
post's title from the directory where they named one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("commitment", sa.Column("obligor_post_title", sa.Text(), nullable=True))
    op.execute(
        "UPDATE commitment SET obligor_post_title = org_entry.entry->>'title' FROM org_entry "
        "WHERE org_entry.id = commitment.obligor_post_id AND org_entry.kind = 'post'"
    )


def downgrade() -> None:
    op.drop_column("commitment", "obligor_post_title")
