"""project stage: the stored 阶段 of each project, backfilled from its milestones and investment reports

``project.stage`` (text, not null, 'preliminary' until the rule says otherwise) and an index for the list's
``stage=`` filter in its default order. The backfill is one UPDATE per stage with the rule's SQL form
(lkg.registry.projects.stage.stage_condition), so a project's stored stage is what the use cases
would have set.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from lkg.registry.projects.stage import stage_updates

    op.add_column("project", sa.Column("stage", sa.Text(), server_default="preliminary", nullable=False))
    for update in stage_updates():
        op.execute(update)
    # ``stage=`` in registration order (the list's default): the page walks (stage, created_at, id).
    op.create_index("ix_project_stage_created_at_id", "project", ["stage", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_project_stage_created_at_id", table_name="project")
    op.drop_column("project", "stage")
