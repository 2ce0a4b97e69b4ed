"""routing and templates of the integrity review rounds (诚信履约回头看, §四(四), published by the registry):
a round ending soon with projects not reviewed reminds 督查室 and 商务局; a missed round is told to 督查室
and shown to 重大项目办

Written out as data of this revision (not read from the live defaults). Inserted only where missing; the
downgrade removes the rows of these kinds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

from alembic import op

from lkg.notifier.migrations.rows import delete_kinds, insert_rows

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULES = (
    ("integrity_round.due_soon", "supervision_office", "回头看即将到期 §四(四)"),
    ("integrity_round.due_soon", "commerce_bureau", "回头看即将到期 §四(四)"),
    ("integrity_round.missed", "supervision_office", "回头看未完成 §四(四)"),
    ("integrity_round.missed", "major_projects_office", "回头看未完成 §四(四)"),
)
TEMPLATES = (
    (
        "integrity_round.due_soon",
        "【提醒】$matter即将到期",
        "$matter尚有$project未核查，请于$deadline前完成。\n查看：$link",
        False,
    ),
    (
        "integrity_round.missed",
        "【未完成】$matter",
        "$matter到期仍有$project未核查，已记录在$unit名下。\n查看：$link",
        True,
    ),
)
KINDS = ("integrity_round.due_soon", "integrity_round.missed")


def upgrade() -> None:
    insert_rows(op.get_bind(), rules=RULES, templates=TEMPLATES)


def downgrade() -> None:
    delete_kinds(op.get_bind(), KINDS)
