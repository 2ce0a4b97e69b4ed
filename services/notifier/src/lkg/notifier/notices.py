"""Hearing and routing (消息路由): an event kept as a notice, then routed to people on the event's day.

1. :func:`record_notice` (the consumer's handler, inside its inbox transaction) keeps the event as a
   ``notice``, one per kind and cause.
2. :func:`route_notice` (the notice scan, on the shared clock at the event's time) finds the routing rules
   of its kind, resolves each audience to people **on the event's day** (a successor after a handover,
   a vacant post's unit head), records ``undeliverable`` where nobody is found, and stores one inbox
   message per person, kind and cause, with a delivery per push channel the person reads: held to the
   next working morning in their quiet hours unless the kind is urgent.

Use cases take a session and keyword arguments, change rows, stage events, raise domain errors; they never
commit and never speak HTTP. Sending is :mod:`lkg.notifier.delivery`; who hears which kind is
:mod:`lkg.notifier.routing`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.events.base import Envelope, Event, contract_for
from lkg.common.log import get_logger
from lkg.notifier import channels
from lkg.notifier.kinds import CADENCE_KINDS, Facts, facts_of
from lkg.notifier.models import (
    delivery,
    delivery_log,
    inbox_message,
    matter_copy,
    notice,
    person_setting,
    preference,
    routing_rule,
    template,
    undeliverable,
    webhook_endpoint,
)
from lkg.notifier.recipients import Directory, Recipient, Unresolved, resolve
from lkg.notifier.settings import NotifierRuntime, NotifierSettings
from lkg.notifier.templates import deadline_words, render

log = get_logger(__name__)

#: Ids derived from what they are, so that the same message or delivery gets the same id however often
#: it is planned (the delivery id travels as ``Message-ID`` / ``X-LKG-Delivery-Id``).
_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-00000000000e")

PUSH_CHANNELS = ("email", "sms", "wecom", "dingtalk")


# ---- 1. hearing an event ---------------------------------------------------------------------------


async def record_notice(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    """Keep ``event`` as a notice (one per kind and cause); a reported matter's reporter is remembered."""
    facts = facts_of(event, envelope.event_id)
    effective_at = getattr(event, "effective_at", None) or envelope.occurred_at
    await session.execute(
        pg_insert(notice)
        .values(
            kind=facts.kind,
            cause_key=facts.cause_key,
            event_id=envelope.event_id,
            version=envelope.version,
            event=event.model_dump(mode="json"),
            effective_at=effective_at,
            line_digest_due=facts.kind.endswith((".breached", ".warned")) and facts.line_id is not None,
        )
        .on_conflict_do_nothing(index_elements=["kind", "cause_key"])
    )
    if facts.reported_by_unit_id is not None and facts.matter_id is not None:
        await session.execute(
            pg_insert(matter_copy)
            .values(
                id=facts.matter_id,
                kind=facts.matter_kind,
                reported_by_unit_id=facts.reported_by_unit_id,
                reported_by_person_id=facts.reported_by_person_id,
                project_id=facts.project_id,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )


# ---- 2. routing a notice -----------------------------------------------------------------------------


def hold_until(
    calendar: WorkingCalendar, now: datetime, quiet_from: time | None, quiet_until: time | None
) -> datetime | None:
    """When a non-urgent push may go out: ``None`` now, else the next working morning (``quiet_until`` on
    the next working day of the official calendar, 调休 included). A day off counts as quiet all day."""
    if quiet_from is None or quiet_until is None:
        return None
    local = now.astimezone(TZ)
    t, day = local.time(), local.date()
    # A window over midnight (22:00–08:30) is quiet after its start or before its end.
    over_midnight = quiet_from > quiet_until
    quiet = (t >= quiet_from or t < quiet_until) if over_midnight else (quiet_from <= t < quiet_until)
    working = calendar.is_working_day(day)
    if not quiet and working:
        return None
    morning = day if (working and t < quiet_until) else calendar.add_working_days(day, 1)
    return datetime.combine(morning, quiet_until, TZ)


@dataclass(frozen=True)
class Stored:
    """A message stored by :func:`route_notice` (for the live stream)."""

    id: UUID
    seq: int
    person_id: UUID
    #: The message as the inbox lists it (``MessageOut``'s JSON), sent as the stream's frame.
    payload: dict[str, Any]


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


@dataclass(frozen=True)
class Person:
    """What the notifier holds about one person: their settings row (or None) and preferences by kind."""

    settings: Any
    preferences: dict[str, tuple[list[str], bool]]

    def wants(self, defaults: NotifierSettings, kind: str) -> tuple[list[str], bool]:
        """Push channels for ``kind`` and whether in the digest: the kind's row, else ``*``, else default."""
        return self.preferences.get(kind, self.preferences.get("*", (list(defaults.default_channels), False)))


async def load_people(session: AsyncSession, person_ids: Sequence[UUID]) -> dict[UUID, Person]:
    """Settings and preferences of ``person_ids``, two statements for all of them."""
    ids = list(person_ids)
    rows = {
        r.person_id: r
        for r in (
            await session.execute(sa.select(person_setting).where(person_setting.c.person_id.in_(ids)))
        ).all()
    }
    prefs: dict[UUID, dict[str, tuple[list[str], bool]]] = {i: {} for i in ids}
    for r in (await session.execute(sa.select(preference).where(preference.c.person_id.in_(ids)))).all():
        prefs[r.person_id][r.kind] = (list(r.channels), r.digest)
    return {i: Person(rows.get(i), prefs[i]) for i in ids}


async def _plan_deliveries(
    session: AsyncSession,
    runtime: NotifierRuntime,
    *,
    message_id: UUID,
    person_id: UUID,
    person_data: Person,
    kind: str,
    urgent: bool,
    now: datetime,
) -> None:
    settings = runtime.settings
    wanted, digest = person_data.wants(settings, kind)
    if digest and not urgent and kind not in CADENCE_KINDS:
        # Told in the next morning digest instead (:mod:`lkg.notifier.cadence`); urgent kinds never wait.
        await session.execute(
            sa.update(inbox_message).where(inbox_message.c.id == message_id).values(digest_pending=True)
        )
        await log_delivery(
            session, message_id=message_id, channel="digest", step="held", at=now, detail="每日汇总"
        )
        return
    person = person_data.settings
    targets: list[tuple[str, str]] = []
    # No SMTP server configured (the embedded demo by default): the email channel is off, nothing queued.
    if "email" in wanted and person is not None and person.email and settings.smtp_host:
        targets.append(("email", person.email))
    formats = [ch for ch in wanted if ch in channels.WEBHOOK_FORMATS]
    if formats:
        endpoints = (
            await session.execute(
                sa.select(webhook_endpoint.c.id).where(
                    webhook_endpoint.c.enabled,
                    webhook_endpoint.c.format.in_(formats),
                    sa.or_(
                        sa.func.cardinality(webhook_endpoint.c.kinds) == 0,
                        sa.literal(kind) == sa.any_(webhook_endpoint.c.kinds),
                    ),
                )
            )
        ).scalars()
        targets += [("webhook", str(e)) for e in endpoints]
    if not targets:
        return
    held = None
    if not urgent:
        quiet_from = person.quiet_from if person is not None else settings.default_quiet_from
        quiet_until = person.quiet_until if person is not None else settings.default_quiet_until
        held = hold_until(runtime.calendar, now, quiet_from, quiet_until)
    for channel, target in targets:
        delivery_id = uuid.uuid5(_NAMESPACE, f"{message_id}/{channel}/{target}")
        inserted = (
            await session.execute(
                pg_insert(delivery)
                .values(
                    id=delivery_id,
                    message_id=message_id,
                    person_id=person_id,
                    channel=channel,
                    target=target,
                    state="queued",
                    next_attempt_at=held or now,
                    created_at=now,
                )
                .on_conflict_do_nothing()
                .returning(delivery.c.id)
            )
        ).scalar_one_or_none()
        if inserted is None:
            continue
        detail = f"静默时段，推迟至 {held.isoformat()}" if held else None
        await log_delivery(
            session,
            message_id=message_id,
            delivery_id=delivery_id,
            channel=channel,
            step="held" if held else "queued",
            at=now,
            detail=detail,
        )


class RoutingBatch:
    """What the notices of one scan batch share: the directory of each day, the rules and the template of
    each kind (read once per batch instead of once per notice)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._directories: dict[date, Directory] = {}
        self._rules: dict[tuple[str, int | None], list[str]] = {}
        self._templates: dict[str, Any] = {}
        self._undeliverable: list[dict[str, Any]] = []
        #: Recipients' settings and preferences read in this batch (:func:`store_messages`).
        self.people: dict[UUID, Person] = {}
        self._processed: list[tuple[int, datetime]] = []

    async def flush(self) -> None:
        """Write what the batch's notices left for the end: the undeliverable rows, one statement, and
        the notices marked processed, one statement."""
        if self._undeliverable:
            await self.session.execute(
                pg_insert(undeliverable).values(self._undeliverable).on_conflict_do_nothing()
            )
        if self._processed:
            ids = [i for i, _ in self._processed]
            at = max(a for _, a in self._processed)
            await self.session.execute(sa.update(notice).where(notice.c.id.in_(ids)).values(processed_at=at))
        self._undeliverable, self._processed = [], []

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


async def route_notice(
    session: AsyncSession, runtime: NotifierRuntime, row: Any, batch: RoutingBatch | None = None
) -> list[Stored]:
    """Turn one notice into inbox messages and deliveries; runs with the clock at the event's time."""
    own_batch = batch is None
    batch = batch or RoutingBatch(session)
    settings = runtime.settings
    now = runtime.clock.now()
    event = contract_for(row.kind, row.version).model_validate(row.event)
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
    stored: list[Stored] = []
    if recipients:
        tmpl = await batch.template(row.kind)
        title_t, body_t, urgent = (
            (tmpl.title, tmpl.body, tmpl.urgent)
            if tmpl is not None
            else ("【通知】$matter", "$matter\n查看：$link", False)
        )
        link = settings.console_base_url.rstrip("/") + facts.path if facts.path else None
        title, body = render(
            title_t,
            body_t,
            facts,
            deadline=deadline_words(runtime.calendar, facts.deadline_at, now),
            link=link or "",
        )
        stored += await store_messages(
            session,
            runtime,
            Cause(row.kind, row.cause_key, row.id),
            facts,
            list(recipients.values()),
            title,
            body,
            link,
            urgent,
            now,
            batch.people,
        )
    batch._processed.append((row.id, now))
    if own_batch:
        await batch.flush()
    return stored


@dataclass(frozen=True)
class Cause:
    """What a message is about: its kind, its cause key and the notice it came from (none for the
    messages the notifier makes on its own clock: digests and reminders)."""

    kind: str
    key: str
    notice_id: int | None = None


async def store_messages(
    session: AsyncSession,
    runtime: NotifierRuntime,
    row: Cause,
    facts: Facts,
    recipients: Sequence[Recipient],
    title: str,
    body: str,
    link: str | None,
    urgent: bool,
    now: datetime,
    people: dict[UUID, Person] | None = None,
) -> list[Stored]:
    """One message per recipient (one statement for all; a person who already has this kind and cause
    gets none), its ``stored`` log line, and the deliveries of the push channels each one reads.
    ``people``: the recipients' settings already read in this transaction (a batch's cache), added to."""
    if not recipients:
        return []
    values = [
        {
            "id": uuid.uuid5(_NAMESPACE, f"{r.person_id}/{row.kind}/{row.key}"),
            "person_id": r.person_id,
            "kind": row.kind,
            "cause_key": row.key,
            "notice_id": row.notice_id,
            "audience": r.audience,
            "via_post_id": r.via_post_id,
            "title": title,
            "body": body,
            "link": link,
            "matter_id": facts.matter_id,
            "layer": facts.layer,
            "urgent": urgent,
            "created_at": now,
        }
        for r in recipients
    ]
    inserted = (
        await session.execute(
            pg_insert(inbox_message)
            .values(values)
            .on_conflict_do_nothing(index_elements=["person_id", "kind", "cause_key"])
            .returning(inbox_message.c.id, inbox_message.c.seq, inbox_message.c.person_id)
        )
    ).all()
    if not inserted:
        return []
    await session.execute(
        sa.insert(delivery_log),
        [{"message_id": i.id, "channel": "inbox", "step": "stored", "at": now} for i in inserted],
    )
    people = people if people is not None else {}
    missing = [i.person_id for i in inserted if i.person_id not in people]
    if missing:
        people.update(await load_people(session, missing))
    stored: list[Stored] = []
    for i in sorted(inserted, key=lambda i: i.seq):
        await _plan_deliveries(
            session,
            runtime,
            message_id=i.id,
            person_id=i.person_id,
            person_data=people[i.person_id],
            kind=row.kind,
            urgent=urgent,
            now=now,
        )
        payload = {
            "id": str(i.id),
            "seq": i.seq,
            "kind": row.kind,
            "title": title,
            "body": body,
            "link": link,
            "matter_id": str(facts.matter_id) if facts.matter_id else None,
            "layer": facts.layer,
            "urgent": urgent,
            "created_at": now.isoformat(),
            "read_at": None,
        }
        stored.append(Stored(i.id, i.seq, i.person_id, payload))
    return stored
