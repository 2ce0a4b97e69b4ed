"""Routing rules and templates written by a migration as data of its own (revisions 0006 on): each
revision passes the rows as they were when it was made, so a later change of the live defaults
(:mod:`lkg.notifier.routing`, :mod:`lkg.notifier.templates`) never changes what an old revision did.
Inserted only where missing (an operator's edit stays); removed by kind on downgrade."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

#: The namespace of the routing rules' ids (the same as 0003–0005's): ``kind/audience/layer``.
RULES_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000e1")
_AT = datetime(2020, 1, 1, tzinfo=UTC)


def rule_id(kind: str, audience: str) -> uuid.UUID:
    return uuid.uuid5(RULES_NAMESPACE, f"{kind}/{audience}/None")


def insert_rows(
    bind: Any,
    rules: Iterable[tuple[str, str, str]] = (),
    templates: Iterable[tuple[str, str, str, bool]] = (),
) -> None:
    """``rules``: (kind, audience, note), for every layer; ``templates``: (kind, title, body, urgent)."""
    for kind, audience, note in rules:
        bind.execute(
            sa.text(
                "INSERT INTO routing_rule (id, kind, audience, layer, enabled, note, revision, updated_at) "
                "VALUES (:id, :kind, :audience, NULL, true, :note, 1, :at) ON CONFLICT DO NOTHING"
            ),
            {"id": rule_id(kind, audience), "kind": kind, "audience": audience, "note": note, "at": _AT},
        )
    for kind, title, body, urgent in templates:
        bind.execute(
            sa.text(
                "INSERT INTO template (kind, title, body, urgent, revision, updated_at) "
                "VALUES (:kind, :title, :body, :urgent, 1, :at) ON CONFLICT DO NOTHING"
            ),
            {"kind": kind, "title": title, "body": body, "urgent": urgent, "at": _AT},
        )


def delete_kinds(bind: Any, kinds: Iterable[str]) -> None:
    for kind in kinds:
        bind.execute(sa.text("DELETE FROM routing_rule WHERE kind = :kind"), {"kind": kind})
        bind.execute(sa.text("DELETE FROM template WHERE kind = :kind"), {"kind": kind})
