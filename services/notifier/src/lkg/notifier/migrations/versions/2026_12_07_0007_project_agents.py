"""approval.stalled told to the project's 代办员 (§四(三)): the routing rule of the new audience
``project_agent`` (the agent the registry's project snapshot names; a project without one tells nobody)

Written out as data of this revision. Inserted only where missing; the downgrade removes the rule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:10:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
KIND, AUDIENCE = "approval.stalled", "project_agent"
RULE_ID = uuid.uuid5(_RULES_NAMESPACE, f"{KIND}/{AUDIENCE}/None")


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "INSERT INTO routing_rule (id, kind, audience, layer, enabled, note, revision, updated_at) "
            "VALUES (:id, :kind, :audience, NULL, true, :note, 1, :now) ON CONFLICT DO NOTHING"
        ),
        {
            "id": RULE_ID,
            "kind": KIND,
            "audience": AUDIENCE,
            "note": "审批超时告知代办员 §四(三)",
            "now": datetime(2020, 1, 1, tzinfo=UTC),
        },
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM routing_rule WHERE id = :id").bindparams(id=RULE_ID))
