"""supervision cards on the sheets: a red card's reason, capacity, project, evidence and its issue and
withdrawal times (a supervision card counts on the carded unit's monthly sheet, policy §五(三)); the 2020
rules version 2 (``data/rules_2020_2.yaml``: version 1 plus the card's weight), added beside version 1 so
that periods already proposed keep the rules they were computed with

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("card_reason", "TEXT"),
    ("target_kind", "TEXT"),
    ("project_id", "UUID"),
    ("note", "TEXT"),
    ("issued_at", "TIMESTAMP WITH TIME ZONE"),
    ("issued_event_id", "UUID"),
    ("withdrawn_at", "TIMESTAMP WITH TIME ZONE"),
    ("withdrawn_event_id", "UUID"),
)
_RULES_FILE = "rules_2020_2.yaml"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE red_card_fact " + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in _COLUMNS)
    )
    # Cards recorded before this revision: an issued one was issued when last changed (a rebuild from the
    # streams fills every column exactly).
    op.execute(
        "UPDATE red_card_fact SET issued_at = updated_at, issued_event_id = event_id WHERE state = 'issued'"
    )
    op.execute("CREATE INDEX ix_red_card_fact_period_start ON red_card_fact (period_start)")

    from lkg.scoring.rules import shipped_rules

    shipped = shipped_rules(_RULES_FILE)
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM rule_version WHERE label = :l"), {"l": shipped["label"]}).first():
        return
    number = bind.execute(sa.text("SELECT coalesce(max(version), 0) + 1 FROM rule_version")).scalar()
    rule_version = sa.table(
        "rule_version",
        sa.column("version", sa.Integer),
        sa.column("label", sa.Text),
        sa.column("effective_from", sa.Date),
        sa.column("body", JSONB),
        sa.column("reason", sa.Text),
        sa.column("created_by", sa.Text),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        rule_version,
        [
            {
                "version": number,
                "label": shipped["label"],
                "effective_from": shipped["effective_from"],
                "body": shipped["body"],
                "reason": "武临开办〔2020〕2号 §五(三)：月末督查红牌计入被督办单位当月考核",
                "created_by": "system",
                "created_at": datetime(2020, 5, 1, tzinfo=UTC),
            }
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM rule_version WHERE label = '2020-2' AND created_by = 'system' "
        "AND NOT EXISTS (SELECT 1 FROM period WHERE period.rule_version = rule_version.version)"
    )
    op.execute("DROP INDEX ix_red_card_fact_period_start")
    op.execute("ALTER TABLE red_card_fact " + ", ".join(f"DROP COLUMN {name}" for name, _ in _COLUMNS))
