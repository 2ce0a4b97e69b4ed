"""digests and reminders: breaches and warnings waiting for a line leader's digest, messages waiting for the
morning digest, messages and undeliverable records
without a notice (the notifier's own digests and reminders), the cadence runs; routing and templates of
digest.line and reminder.approval_report, the template of digest.daily

Written with IF [NOT] EXISTS: 0003 builds its tables from the current table definitions, so on a new
database these changes are already there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:10:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import insert

from lkg.notifier.models import routing_rule, template
from lkg.notifier.routing import DEFAULT_RULES
from lkg.notifier.templates import DEFAULT_TEMPLATES

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
KINDS = ("digest.daily", "digest.line", "reminder.approval_report")

UPGRADE = (
    "ALTER TABLE notice ADD COLUMN IF NOT EXISTS line_digest_due boolean NOT NULL DEFAULT false",
    "CREATE INDEX IF NOT EXISTS ix_notice_line_digest_due ON notice (effective_at) WHERE line_digest_due",
    "ALTER TABLE inbox_message ADD COLUMN IF NOT EXISTS digest_pending boolean NOT NULL DEFAULT false",
    "ALTER TABLE inbox_message ALTER COLUMN notice_id DROP NOT NULL",
    "CREATE INDEX IF NOT EXISTS ix_inbox_message_digest_pending ON inbox_message (person_id) "
    "WHERE digest_pending",
    "ALTER TABLE undeliverable ALTER COLUMN notice_id DROP NOT NULL",
    "ALTER TABLE undeliverable DROP CONSTRAINT IF EXISTS uq_undeliverable_notice_id_audience",
    "ALTER TABLE undeliverable DROP CONSTRAINT IF EXISTS uq_undeliverable_kind_cause_key_audience",
    "ALTER TABLE undeliverable ADD CONSTRAINT uq_undeliverable_kind_cause_key_audience "
    "UNIQUE (kind, cause_key, audience)",
    "CREATE TABLE IF NOT EXISTS cadence_run (name text NOT NULL, day date NOT NULL, "
    "ran_at timestamptz NOT NULL, CONSTRAINT pk_cadence_run PRIMARY KEY (name, day))",
)

DOWNGRADE = (
    "DROP TABLE IF EXISTS cadence_run",
    "ALTER TABLE undeliverable DROP CONSTRAINT IF EXISTS uq_undeliverable_kind_cause_key_audience",
    "DELETE FROM undeliverable WHERE notice_id IS NULL",
    "ALTER TABLE undeliverable ALTER COLUMN notice_id SET NOT NULL",
    "ALTER TABLE undeliverable ADD CONSTRAINT uq_undeliverable_notice_id_audience "
    "UNIQUE (notice_id, audience)",
    "DROP INDEX IF EXISTS ix_inbox_message_digest_pending",
    "DELETE FROM delivery_log WHERE message_id IN (SELECT id FROM inbox_message WHERE notice_id IS NULL)",
    "DELETE FROM delivery WHERE message_id IN (SELECT id FROM inbox_message WHERE notice_id IS NULL)",
    "DELETE FROM inbox_message WHERE notice_id IS NULL",
    "ALTER TABLE inbox_message ALTER COLUMN notice_id SET NOT NULL",
    "ALTER TABLE inbox_message DROP COLUMN IF EXISTS digest_pending",
    "DROP INDEX IF EXISTS ix_notice_line_digest_due",
    "ALTER TABLE notice DROP COLUMN IF EXISTS line_digest_due",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)
    now = datetime(2020, 1, 1, tzinfo=UTC)
    rules = [
        {
            "id": uuid.uuid5(_RULES_NAMESPACE, f"{r.kind}/{r.audience}/{r.layer}"),
            "kind": r.kind,
            "audience": str(r.audience),
            "layer": r.layer,
            "enabled": True,
            "note": r.note,
            "revision": 1,
            "updated_at": now,
        }
        for r in DEFAULT_RULES
        if r.kind in KINDS
    ]
    if rules:
        op.execute(insert(routing_rule).values(rules).on_conflict_do_nothing())
    templates = [
        {"kind": kind, "title": t.title, "body": t.body, "urgent": t.urgent, "revision": 1, "updated_at": now}
        for kind, t in DEFAULT_TEMPLATES.items()
        if kind in KINDS
    ]
    op.execute(insert(template).values(templates).on_conflict_do_nothing())


def downgrade() -> None:
    op.execute(sa.delete(routing_rule).where(routing_rule.c.kind.in_(KINDS)))
    op.execute(sa.delete(template).where(template.c.kind.in_(KINDS)))
    for statement in DOWNGRADE:
        op.execute(statement)
