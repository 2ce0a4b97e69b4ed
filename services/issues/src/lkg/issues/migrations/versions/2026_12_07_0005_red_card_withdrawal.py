"""red-card withdrawal: an issued ranking card can be withdrawn (撤销) by 重大项目办 with a reason, after a
scoring correction changed who is in the bottom 3 (§六(三))

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("red_card", sa.Column("withdrawal_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("red_card", "withdrawal_reason")
