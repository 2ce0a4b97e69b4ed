"""approval rejection: an approval item refused is decided, so a stall of it leaves the dispatch board

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE approval_rejection (
            approval_item_id UUID NOT NULL,
            project_id UUID NOT NULL,
            rejected_at TIMESTAMP WITH TIME ZONE NOT NULL,
            event_id UUID NOT NULL,
            CONSTRAINT pk_approval_rejection PRIMARY KEY (approval_item_id)
        )
        """
    )


def downgrade() -> None:
    op.drop_table("approval_rejection")
