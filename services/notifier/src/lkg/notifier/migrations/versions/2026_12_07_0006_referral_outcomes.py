"""routing and template of red_card.referral_concluded (the discipline commission's outcome of a referred
red card, §五(三)): told to the carded unit's head, its line leader and 区重大项目办

The rows are written out here as they were when this revision was made (not read from the live defaults),
so a later change of the defaults does not change what this revision did. Inserted only where missing;
the downgrade removes the kind's rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 14:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
KIND = "red_card.referral_concluded"
AUDIENCES = ("carded_unit_head", "carded_unit_line_leader", "major_projects_office")
NOTE = "纪委监委问责结果 §五(三)"
TITLE = "【问责结果】$unit 红牌移交纪委监委"
BODY = "$unit 的红牌（事由：$matter）经区纪委监委处理：$outcome。说明：$reason\n查看：$link"


def upgrade() -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC)
    bind = op.get_bind()
    for audience in AUDIENCES:
        bind.execute(
            sa.text(
                "INSERT INTO routing_rule (id, kind, audience, layer, enabled, note, revision, updated_at) "
                "VALUES (:id, :kind, :audience, NULL, true, :note, 1, :now) ON CONFLICT DO NOTHING"
            ),
            {
                "id": uuid.uuid5(_RULES_NAMESPACE, f"{KIND}/{audience}/None"),
                "kind": KIND,
                "audience": audience,
                "note": NOTE,
                "now": now,
            },
        )
    bind.execute(
        sa.text(
            "INSERT INTO template (kind, title, body, urgent, revision, updated_at) "
            "VALUES (:kind, :title, :body, false, 1, :now) ON CONFLICT DO NOTHING"
        ),
        {"kind": KIND, "title": TITLE, "body": BODY, "now": now},
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM routing_rule WHERE kind = :kind").bindparams(kind=KIND))
    op.execute(sa.text("DELETE FROM template WHERE kind = :kind").bindparams(kind=KIND))
