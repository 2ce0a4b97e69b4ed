"""inbox, routing, templates, deliveries, people's settings; the org read copy; the 2020 defaults

The tables are built from the service's table definitions (lkg.notifier.models) as they are when the
revision runs, so later revisions that change a table do it idempotently (IF NOT EXISTS, see 0005). The
routing rules and templates are seeded with the defaults (lkg.notifier.routing, lkg.notifier.templates)
of the kinds this revision knew: kinds added later are seeded by the revision that adds them (0004), and
operators' edits are never overwritten.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 06:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

from lkg.common.orgcopy import create_org_copy_tables, drop_org_copy_tables
from lkg.notifier.models import metadata
from lkg.notifier.routing import DEFAULT_RULES
from lkg.notifier.templates import DEFAULT_TEMPLATES

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "notice",
    "routing_rule",
    "template",
    "inbox_message",
    "delivery",
    "delivery_log",
    "undeliverable",
    "person_setting",
    "preference",
    "webhook_endpoint",
    "matter_copy",
    "stream_ticket",
)

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")

#: Seeded by 0004 (their contracts came later), 0005 (the digests and the Friday reminder), 0006, 0008
#: and 0009.
_LATER_RULE_KINDS = (
    "digest.daily",
    "digest.line",
    "reminder.approval_report",
    "problem.rerouted",
    "meeting_matter.rerouted",
    "red_card.proposed",
    "red_card.withdrawn",
    "red_card.referral_requested",
    "supervision_report.published",
    "report.published",
    "red_card.referral_concluded",  # 0006
    "enrolment_list.due_soon",  # 0008
    "enrolment_list.missed",
    "statistics_visit.due_soon",
    "statistics_visit.missed",
    "integrity_round.due_soon",  # 0009
    "integrity_round.missed",
)
#: Rules of kinds this revision knew, added later for another audience: (kind, audience), seeded by 0007.
_LATER_RULES = (("approval.stalled", "project_agent"),)
_LATER_TEMPLATE_KINDS = tuple(k for k in _LATER_RULE_KINDS if k != "report.published")


def upgrade() -> None:
    create_org_copy_tables(op)
    bind = op.get_bind()
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(bind, tables=tables)
    now = datetime(2020, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        metadata.tables["routing_rule"],
        [
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
            if r.kind not in _LATER_RULE_KINDS and (r.kind, str(r.audience)) not in _LATER_RULES
        ],
    )
    op.bulk_insert(
        metadata.tables["template"],
        [
            {
                "kind": kind,
                "title": t.title,
                "body": t.body,
                "urgent": t.urgent,
                "revision": 1,
                "updated_at": now,
            }
            for kind, t in DEFAULT_TEMPLATES.items()
            if kind not in _LATER_TEMPLATE_KINDS
        ],
    )


def downgrade() -> None:
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[metadata.tables[name] for name in reversed(TABLES)])
    drop_org_copy_tables(op)
