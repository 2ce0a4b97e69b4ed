"""routing and templates for the kinds whose contracts came later: matters rerouted to another line, red
cards proposed, withdrawn and awaiting a leader's consent to a referral, the supervision report, and
report.published by its audience

Inserted only where missing (a row an operator has already made for the kind stays as it is); the
downgrade removes the rows of these kinds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:00:00
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

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
RULE_KINDS = (
    "problem.rerouted",
    "meeting_matter.rerouted",
    "red_card.proposed",
    "red_card.withdrawn",
    "red_card.referral_requested",
    "supervision_report.published",
    "report.published",
)
TEMPLATE_KINDS = RULE_KINDS[:-1]


def upgrade() -> None:
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
        if r.kind in RULE_KINDS
    ]
    templates = [
        {"kind": kind, "title": t.title, "body": t.body, "urgent": t.urgent, "revision": 1, "updated_at": now}
        for kind, t in DEFAULT_TEMPLATES.items()
        if kind in TEMPLATE_KINDS
    ]
    op.execute(insert(routing_rule).values(rules).on_conflict_do_nothing())
    op.execute(insert(template).values(templates).on_conflict_do_nothing())


def downgrade() -> None:
    op.execute(sa.delete(routing_rule).where(routing_rule.c.kind.in_(RULE_KINDS)))
    op.execute(sa.delete(template).where(template.c.kind.in_(TEMPLATE_KINDS)))
