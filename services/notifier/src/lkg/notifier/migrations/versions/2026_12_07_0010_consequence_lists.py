"""routing and templates of 结果运用 (§六(三), published by scoring when a month is published): a unit on the
约谈 list (carded among the bottom 3) tells its head and the district's leaders who hold the interview; a unit
on the 表态发言 list (graded 不合格) tells its head, 督查室 and 重大项目办 (重点督查、督办)

Written out as data of this revision (not read from the live defaults). Inserted only where missing; the
downgrade removes the rows of these kinds.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:10:00
"""

from collections.abc import Sequence

from alembic import op

from lkg.notifier.migrations.rows import delete_kinds, insert_rows

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULES = (
    ("evaluation.interview_listed", "subject_head", "领导约谈 §六(三)"),
    ("evaluation.interview_listed", "district_leaders", "区委、区政府领导约谈 §六(三)"),
    ("evaluation.statement_listed", "subject_head", "会议表态 §六(三)"),
    ("evaluation.statement_listed", "supervision_office", "重点督查、督办 §六(三)"),
    ("evaluation.statement_listed", "major_projects_office", "重点督查、督办 §六(三)"),
)
TEMPLATES = (
    (
        "evaluation.interview_listed",
        "【约谈】$matter：$period 月度考核$rank，亮红牌",
        "$matter 在 $period 的月度考核中排名$rank（后3名），列入区委、区政府领导约谈名单，"
        "由单位主要负责同志参加约谈（§六(三)）。\n查看：$link",
        True,
    ),
    (
        "evaluation.statement_listed",
        "【表态发言】$matter：$period 考核不合格",
        "$matter 在 $period 的考核评价结果为「$grade」，须在管委会主任办公会（政府常务会）上作表态发言，"
        "由区政府督查室、区重大项目办实行重点督查、督办（§六(三)）。\n查看：$link",
        False,
    ),
)
KINDS = ("evaluation.interview_listed", "evaluation.statement_listed")


def upgrade() -> None:
    insert_rows(op.get_bind(), rules=RULES, templates=TEMPLATES)


def downgrade() -> None:
    delete_kinds(op.get_bind(), KINDS)
