"""Hearing and routing (消息路由): an event kept as a notice, then routed to people on the event's day.

1. :func:`record_notice` (the consumer's handler, inside its inbox transaction) keeps the event as a
   ``notice``, one per kind and cause.
2. :func:`route_notice` (the notice scan, on the shared clock at the event's time) finds the routing rules
   of its kind, resolves each audience to people **on the event's day** (a successor after a handover,
   a vacant post's unit head), records ``undeliverable`` where nobody is found, and plans one inbox
   message per person, kind and cause; a scan batch's messages are stored together with a delivery per
   push channel each person reads, held to the next working morning in their quiet hours unless the kind
   is urgent (:mod:`lkg.notifier.store`).

Use cases take a session and keyword arguments, change rows, stage events, raise domain errors; they never
commit and never speak HTTP. Sending is :mod:`lkg.notifier.delivery`; who hears which kind is
:mod:`lkg.notifier.routing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ
from lkg.common.events.base import Envelope, Event, contract_for
from lkg.common.log import get_logger
from lkg.notifier.kinds import Facts, console_link, facts_of
from lkg.notifier.models import (
    delivery_log,
    matter_copy,
    notice,
    person_setting,
    routing_rule,
    template,
    undeliverable,
)
from lkg.notifier.recipients import Directory, Recipient, Unresolved, resolve
from lkg.notifier.settings import NotifierRuntime
from lkg.notifier.store import Cause, Planned, Store, Stored, driver_of
from lkg.notifier.templates import deadline_words, render

log = get_logger(__name__)

# ---- 1. hearing an event ---------------------------------------------------------------------------


def _notice_row(envelope: Envelope, event: Event) -> tuple[Facts, list[Any]]:
    facts = facts_of(event, envelope.event_id)
    effective_at = getattr(event, "effective_at", None) or envelope.occurred_at
    line_digest_due = facts.kind.endswith((".breached", ".warned")) and facts.line_id is not None
    row = [facts.kind, facts.cause_key, envelope.event_id, envelope.version, event.model_dump_json()]
    return facts, [*row, effective_at, line_digest_due]


#: A batch of notices in one statement (its text does not depend on the count); one per kind and cause. Sent
#: on the session's own asyncpg connection (:func:`lkg.common.db.driver_in_transaction`), as the consumer's
#: record of the same batch is.
_INSERT_NOTICES = (
    "INSERT INTO notice (kind, cause_key, event_id, version, event, effective_at, line_digest_due) "
    "SELECT n.kind, n.cause_key, n.event_id, n.version, n.event::jsonb, n.effective_at, n.line_digest_due "
    "FROM unnest($1::text[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[]) "
    "AS n (kind, cause_key, event_id, version, event, effective_at, line_digest_due) "
    "ON CONFLICT (kind, cause_key) DO NOTHING"
)


async def record_notice(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    """Keep ``event`` as a notice (one per kind and cause); a reported matter's reporter is remembered."""
    await record_notices(session, [(envelope, event)])


async def record_notices(session: AsyncSession, events: Sequence[tuple[Envelope, Event]]) -> None:
    """:func:`record_notice` for a consumer batch's events, in two statements at most."""
    columns: list[list[Any]] = [[] for _ in range(7)]
    reporters: dict[UUID, dict[str, Any]] = {}
    for envelope, event in events:
        facts, row = _notice_row(envelope, event)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        if facts.reported_by_unit_id is not None and facts.matter_id is not None:
            reporters.setdefault(
                facts.matter_id,
                {
                    "id": facts.matter_id,
                    "kind": facts.matter_kind,
                    "reported_by_unit_id": facts.reported_by_unit_id,
                    "reported_by_person_id": facts.reported_by_person_id,
                    "project_id": facts.project_id,
                },
            )
    await (await driver_of(session)).execute(_INSERT_NOTICES, *columns)
    if reporters:
        await session.execute(
            pg_insert(matter_copy)
            .values(list(reporters.values()))
            .on_conflict_do_nothing(index_elements=["id"])
        )


# ---- 2. routing a notice -----------------------------------------------------------------------------


async def template_of(session: AsyncSession, kind: str) -> Any:
    return (await session.execute(sa.select(template).where(template.c.kind == kind))).one_or_none()


async def person_settings_row(session: AsyncSession, person_id: UUID) -> Any:
    return (
        await session.execute(sa.select(person_setting).where(person_setting.c.person_id == person_id))
    ).one_or_none()


async def log_delivery(
    session: AsyncSession,
    *,
    message_id: UUID,
    channel: str,
    step: str,
    at: datetime,
    delivery_id: UUID | None = None,
    attempt: int | None = None,
    detail: str | None = None,
) -> None:
    await session.execute(
        sa.insert(delivery_log).values(
            message_id=message_id,
            delivery_id=delivery_id,
            channel=channel,
            step=step,
            attempt=attempt,
            detail=detail,
            at=at,
        )
    )


class RoutingBatch:
    """What the notices of one scan batch share: the directory of each day, the rules and the template of
    each kind (read once per batch instead of once per notice), and their messages, planned one notice at a
    time and stored together by :meth:`flush` (:mod:`lkg.notifier.store`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._directories: dict[date, Directory] = {}
        self._rules: dict[tuple[str, int | None], list[str]] = {}
        self._templates: dict[str, Any] = {}
        self._undeliverable: list[dict[str, Any]] = []
        self._planned: list[Planned] = []
        self._processed: list[tuple[int, datetime]] = []
        self._store: Store | None = None

    async def flush(self, runtime: NotifierRuntime) -> list[Stored]:
        """Write what the batch's notices left for the end: their messages and deliveries (a fixed number
        of statements), the undeliverable rows, one statement, and the notices marked processed, one
        statement. Returns the messages stored, for the live stream once committed."""
        self._store = self._store or Store(self.session, runtime)
        stored = await self._store.store(self._planned)
        if self._undeliverable:
            await self.session.execute(
                pg_insert(undeliverable).values(self._undeliverable).on_conflict_do_nothing()
            )
        if self._processed:
            ids = [i for i, _ in self._processed]
            at = max(a for _, a in self._processed)
            await self.session.execute(sa.update(notice).where(notice.c.id.in_(ids)).values(processed_at=at))
        self._undeliverable, self._processed, self._planned = [], [], []
        return stored

    def plan(self, planned: Planned) -> None:
        """Messages to store at :meth:`flush`."""
        self._planned.append(planned)

    def directory(self, day: date) -> Directory:
        if day not in self._directories:
            self._directories[day] = Directory(self.session, day)
        return self._directories[day]

    async def audiences(self, kind: str, layer: int | None) -> list[str]:
        key = (kind, layer)
        if key not in self._rules:
            r = routing_rule
            self._rules[key] = list(
                (
                    await self.session.execute(
                        sa.select(r.c.audience)
                        .where(r.c.kind == kind, r.c.enabled, sa.or_(r.c.layer.is_(None), r.c.layer == layer))
                        .order_by(r.c.audience)
                    )
                ).scalars()
            )
        return self._rules[key]

    async def template(self, kind: str) -> Any:
        if kind not in self._templates:
            self._templates[kind] = await template_of(self.session, kind)
        return self._templates[kind]


async def route_notice(runtime: NotifierRuntime, row: Any, batch: RoutingBatch) -> None:
    """Plan one notice's inbox messages into ``batch`` (stored at its flush); runs with the clock at the
    event's time. ``row`` is a ``notice`` row with its event as JSON text (:mod:`lkg.notifier.scans`)."""
    settings = runtime.settings
    now = runtime.clock.now()
    event = contract_for(row.kind, row.version).model_validate_json(row.event)
    facts = facts_of(event, row.event_id)
    directory = batch.directory(row.effective_at.astimezone(TZ).date())
    recipients: dict[UUID, Recipient] = {}
    for audience in await batch.audiences(row.kind, facts.layer):
        try:
            found = await resolve(directory, audience, facts)
        except Unresolved as exc:
            batch._undeliverable.append(
                {
                    "notice_id": row.id,
                    "kind": row.kind,
                    "cause_key": row.cause_key,
                    "audience": audience,
                    "reason": str(exc),
                    "at": now,
                }
            )
            log.info("notifier.undeliverable", kind=row.kind, audience=audience, reason=str(exc))
            continue
        for r in found:
            recipients.setdefault(r.person_id, r)
    if recipients:
        tmpl = await batch.template(row.kind)
        title_t, body_t, urgent = (
            (tmpl.title, tmpl.body, tmpl.urgent)
            if tmpl is not None
            else ("【通知】$matter", "$matter\n查看：$link", False)
        )
        link = console_link(settings.console_base_url, facts.path) if facts.path else None
        title, body = render(
            title_t,
            body_t,
            facts,
            deadline=deadline_words(runtime.calendar, facts.deadline_at, now),
            link=link or "",
        )
        cause = Cause(row.kind, row.cause_key, row.id)
        batch.plan(Planned(cause, facts, list(recipients.values()), title, body, link, urgent, now))
    batch._processed.append((row.id, now))
