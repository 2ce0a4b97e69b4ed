"""project list sort indexes: (name, id) and (total_investment, id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ``GET /api/v1/projects?sort=name`` / ``sort=-total_investment``: keyset pages walk (sort, id).
    op.create_index("ix_project_name_id", "project", ["name", "id"], unique=False)
    op.create_index("ix_project_total_investment_id", "project", ["total_investment", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_project_total_investment_id", table_name="project")
    op.drop_index("ix_project_name_id", table_name="project")
