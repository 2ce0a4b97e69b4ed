"""routing and template of red_card.referral_concluded (the discipline commission's outcome of a referred
red card, §五(三)): told to the carded unit's head, its line leader and 区重大项目办

The rows are written out here as they were when this revision was made (not read from the live defaults),
so a later change of the defaults does not change what this revision did. Inserted only where missing;
the downgrade removes the kind's rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

from alembic import op

from lkg.notifier.migrations.rows import delete_kinds, insert_rows

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = "red_card.referral_concluded"
AUDIENCES = ("carded_unit_head", "carded_unit_line_leader", "major_projects_office")
NOTE = "纪委监委问责结果 §五(三)"
TITLE = "【问责结果】$unit 红牌移交纪委监委"
BODY = "$unit 的红牌（事由：$matter）经区纪委监委处理：$outcome。说明：$reason\n查看：$link"


def upgrade() -> None:
    insert_rows(
        op.get_bind(),
        rules=[(KIND, audience, NOTE) for audience in AUDIENCES],
        templates=[(KIND, TITLE, BODY, False)],
    )


def downgrade() -> None:
    delete_kinds(op.get_bind(), [KIND])
