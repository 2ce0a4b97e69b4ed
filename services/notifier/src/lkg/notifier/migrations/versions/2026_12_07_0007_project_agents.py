"""approval.stalled told to the project's 代办员 (§四(三)): the routing rule of the new audience
``project_agent`` (the agent the registry's project snapshot names; a project without one tells nobody)

Written out as data of this revision. Inserted only where missing; the downgrade removes the rule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lkg.notifier.migrations.rows import insert_rows, rule_id

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND, AUDIENCE = "approval.stalled", "project_agent"


def upgrade() -> None:
    insert_rows(op.get_bind(), rules=[(KIND, AUDIENCE, "审批超时告知代办员 §四(三)")])


def downgrade() -> None:
    op.get_bind().execute(sa.text("DELETE FROM routing_rule WHERE id = :id"), {"id": rule_id(KIND, AUDIENCE)})
