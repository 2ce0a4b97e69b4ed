"""routing and templates of the statistics work's reminders (§三(四)二, published by the registry): the list
of last month's projects that failed enrolment (due by the 28th) reminds 统计局 and, when missed, tells
重大项目办 too; a statistics contact's monthly visits remind the contact and, when missed, tell their unit

Written out as data of this revision (not read from the live defaults). Inserted only where missing; the
downgrade removes the rows of these kinds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:20:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
RULES = (
    ("enrolment_list.due_soon", "statistics_bureau", "未入库清单每月28日前报送 §三(四)二"),
    ("enrolment_list.missed", "statistics_bureau", "未入库清单逾期 §三(四)二"),
    ("enrolment_list.missed", "major_projects_office", "未入库清单逾期 §三(四)二"),
    ("statistics_visit.due_soon", "named_person", "统计联系人每月上门服务 §三(四)二"),
    ("statistics_visit.missed", "named_person", "统计上门服务未完成 §三(四)二"),
    ("statistics_visit.missed", "charged_unit", "统计上门服务未完成 §三(四)二"),
)
TEMPLATES = (
    (
        "enrolment_list.due_soon",
        "【提醒】$matter即将到期",
        "请于$deadline前报送$matter（每月28日前，非工作日提前至此前最后一个工作日）。\n查看：$link",
        False,
    ),
    (
        "enrolment_list.missed",
        "【逾期】$unit未按时报送$matter",
        "$unit未在$deadline前报送$matter，已记录在案。\n查看：$link",
        True,
    ),
    (
        "statistics_visit.due_soon",
        "【提醒】$matter尚未完成",
        "您联系的$project本月尚无上门服务记录，请于$deadline前完成并登记。\n查看：$link",
        False,
    ),
    (
        "statistics_visit.missed",
        "【未完成】$matter",
        "$unit的统计联系人本月有$project未上门服务，已记录在案。\n查看：$link",
        False,
    ),
)
KINDS = tuple(sorted({kind for kind, _, _ in RULES}))


def upgrade() -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC)
    bind = op.get_bind()
    for kind, audience, note in RULES:
        bind.execute(
            sa.text(
                "INSERT INTO routing_rule (id, kind, audience, layer, enabled, note, revision, updated_at) "
                "VALUES (:id, :kind, :audience, NULL, true, :note, 1, :now) ON CONFLICT DO NOTHING"
            ),
            {
                "id": uuid.uuid5(_RULES_NAMESPACE, f"{kind}/{audience}/None"),
                "kind": kind,
                "audience": audience,
                "note": note,
                "now": now,
            },
        )
    for kind, title, body, urgent in TEMPLATES:
        bind.execute(
            sa.text(
                "INSERT INTO template (kind, title, body, urgent, revision, updated_at) "
                "VALUES (:kind, :title, :body, :urgent, 1, :now) ON CONFLICT DO NOTHING"
            ),
            {"kind": kind, "title": title, "body": body, "urgent": urgent, "now": now},
        )


def downgrade() -> None:
    for kind in KINDS:
        op.execute(sa.text("DELETE FROM routing_rule WHERE kind = :kind").bindparams(kind=kind))
        op.execute(sa.text("DELETE FROM template WHERE kind = :kind").bindparams(kind=kind))
