"""routing and templates of the statistics work's reminders (§三(四)二, published by the registry): the list
of last month's projects that failed enrolment (due by the 28th) reminds 统计局 and, when missed, tells
重大项目办 too; a statistics contact's monthly visits remind the contact and, when missed, tell their unit

Written out as data of this revision (not read from the live defaults). Inserted only where missing; the
downgrade removes the rows of these kinds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:20:00
"""

from collections.abc import Sequence

from alembic import op

from lkg.notifier.migrations.rows import delete_kinds, insert_rows

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    insert_rows(op.get_bind(), rules=RULES, templates=TEMPLATES)


def downgrade() -> None:
    delete_kinds(op.get_bind(), KINDS)
