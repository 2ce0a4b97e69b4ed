"""Use cases of the notifier (消息通知): they take a session and keyword arguments, change rows, stage
events, raise domain errors; they never commit and never speak HTTP.

The path of one event (see :mod:`lkg.notifier.models`):

1. :func:`record_notice` (the consumer's handler, inside its inbox transaction) keeps the event as a
   ``notice``, one per kind and cause.
2. :func:`route_notice` (the notice scan, on the shared clock at the event's time) finds the routing rules
   of its kind, resolves each audience to people **on the event's day** (a successor after a handover,
   a vacant post's unit head), records ``undeliverable`` where nobody is found, and stores one inbox
   message per person, kind and cause, with a delivery per push channel the person reads: held to the
   next working morning in their quiet hours unless the kind is urgent.
3. :func:`send_due` (the delivery scan) sends the deliveries that are due; a failure is retried with
   backoff on the shared clock and dead-lettered after the last try.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope, Event, contract_for
from lkg.common.events.outbox import stage
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound, ValidationFailed
from lkg.common.log import get_logger
from lkg.notifier import channels
from lkg.notifier.kinds import CADENCE_KINDS, Facts, facts_of, known_kinds
from lkg.notifier.models import (
    delivery,
    delivery_log,
    inbox_message,
    matter_copy,
    notice,
    org_copy,
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


async def _template_of(session: AsyncSession, kind: str) -> Any:
    return (await session.execute(sa.select(template).where(template.c.kind == kind))).one_or_none()


async def _person_settings(session: AsyncSession, person_id: UUID) -> Any:
    return (
        await session.execute(sa.select(person_setting).where(person_setting.c.person_id == person_id))
    ).one_or_none()


async def _log(
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
        await _log(session, message_id=message_id, channel="digest", step="held", at=now, detail="每日汇总")
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
        await _log(
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
            self._templates[kind] = await _template_of(self.session, kind)
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


# ---- 3. sending ---------------------------------------------------------------------------------------


async def _names(session: AsyncSession, people: Sequence[UUID]) -> dict[UUID, str]:
    p = org_copy.people
    rows = (await session.execute(sa.select(p.c.id, p.c.name).where(p.c.id.in_(list(people))))).all()
    return {r.id: r.name for r in rows}


async def send_due(runtime: NotifierRuntime, until: datetime) -> int:
    """Send every delivery due up to ``until``, a batch at a time; each channel's attempts run side by
    side, so a slow or failing one holds up nobody else's (each attempt is bounded by its timeout)."""
    settings = runtime.settings
    sent = 0
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        while True:
            async with runtime.db.transaction() as session:
                rows = (
                    await session.execute(
                        sa.select(
                            delivery,
                            inbox_message.c.title,
                            inbox_message.c.body,
                            inbox_message.c.link,
                            inbox_message.c.kind,
                            inbox_message.c.notice_id,
                        )
                        .join(inbox_message, inbox_message.c.id == delivery.c.message_id)
                        .where(delivery.c.state == "queued", delivery.c.next_attempt_at <= until)
                        .order_by(delivery.c.next_attempt_at, delivery.c.id)
                        .limit(settings.delivery_batch_size)
                        .with_for_update(of=delivery, skip_locked=True)
                    )
                ).all()
                if not rows:
                    return sent
                people = {r.person_id for r in rows}
                names = await _names(session, list(people))
                contacts = {
                    r.person_id: r
                    for r in (
                        await session.execute(
                            sa.select(person_setting).where(person_setting.c.person_id.in_(list(people)))
                        )
                    ).all()
                }
                endpoint_ids = [UUID(r.target) for r in rows if r.channel == "webhook"]
                endpoints = {
                    str(e.id): e
                    for e in (
                        await session.execute(
                            sa.select(webhook_endpoint).where(webhook_endpoint.c.id.in_(endpoint_ids))
                        )
                    ).all()
                }

                outcomes = await asyncio.gather(
                    *(_attempt(settings, client, r, names, contacts, endpoints) for r in rows)
                )
                for r, error in zip(rows, outcomes, strict=True):
                    # Recorded at its due time, as the breaches are (DESIGN §5): over a jump of the clock,
                    # the retries land where they would have in real time, and are sent in this scan.
                    await _record_attempt(session, settings, r, error, r.next_attempt_at)
                sent += len(rows)


async def _attempt(
    settings: NotifierSettings,
    client: httpx.AsyncClient,
    r: Any,
    names: dict[UUID, str],
    contacts: dict[UUID, Any],
    endpoints: dict[str, Any],
) -> str | None:
    """One attempt of one delivery: ``None`` when the receiver accepted it, else why not."""
    contact = contacts.get(r.person_id)
    out = channels.Outgoing(
        delivery_id=r.id,
        title=r.title,
        body=r.body,
        link=r.link,
        kind=r.kind,
        recipient_name=names.get(r.person_id, ""),
        email=r.target if r.channel == "email" else None,
        mobile=contact.mobile if contact is not None else None,
    )
    try:
        if r.channel == "email":
            await channels.send_email(settings, out)
        else:
            endpoint = endpoints.get(r.target)
            if endpoint is None or not endpoint.enabled:
                return "回调端点已删除或停用"
            await channels.send_webhook(settings, client, endpoint, out)
    except channels.DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # an unexpected failure is still one failed attempt, never a lost delivery
        return f"{type(exc).__name__}: {exc}"
    return None


async def _record_attempt(
    session: AsyncSession, settings: NotifierSettings, r: Any, error: str | None, now: datetime
) -> None:
    attempt = r.attempts + 1
    notice_row = (
        await session.execute(sa.select(notice.c.event_id, notice.c.kind).where(notice.c.id == r.notice_id))
    ).one_or_none()
    common = {
        "notification_id": r.message_id,
        "recipient_person_id": r.person_id,
        "channel": r.channel,
        "template": r.kind,
        "cause_event_id": notice_row.event_id if notice_row else None,
        "cause_event_type": notice_row.kind if notice_row else None,
        "attempt": attempt,
        "effective_at": now,
    }
    if error is None:
        await session.execute(
            sa.update(delivery)
            .where(delivery.c.id == r.id)
            .values(state="sent", attempts=attempt, sent_at=now, next_attempt_at=None, last_error=None)
        )
        await _log(
            session,
            message_id=r.message_id,
            delivery_id=r.id,
            channel=r.channel,
            step="sent",
            at=now,
            attempt=attempt,
        )
        await stage(session, c.NotificationDelivered(**common))
        return
    retry = attempt <= len(settings.delivery_backoff_seconds)
    values: dict[str, Any] = {"attempts": attempt, "last_error": error}
    if retry:
        values["next_attempt_at"] = now + timedelta(seconds=settings.delivery_backoff_seconds[attempt - 1])
    else:
        values.update(state="dead", next_attempt_at=None)
    await session.execute(sa.update(delivery).where(delivery.c.id == r.id).values(**values))
    await _log(
        session,
        message_id=r.message_id,
        delivery_id=r.id,
        channel=r.channel,
        step="failed" if retry else "dead",
        at=now,
        attempt=attempt,
        detail=error,
    )
    log.warning(
        "notifier.delivery_failed",
        delivery_id=str(r.id),
        channel=r.channel,
        attempt=attempt,
        will_retry=retry,
        error=error,
    )
    await stage(session, c.NotificationFailed(**common, reason=error, will_retry=retry))


# ---- the inbox ------------------------------------------------------------------------------------------

INBOX_ORDER = Keyset(sort=inbox_message.c.seq, id=inbox_message.c.id, name="inbox", descending=True)


async def list_inbox(
    session: AsyncSession, *, person_id: UUID, page: PageParams, unread: bool | None = None
) -> tuple[list[Any], str | None]:
    stmt = sa.select(inbox_message).where(inbox_message.c.person_id == person_id)
    if unread is True:
        stmt = stmt.where(inbox_message.c.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(inbox_message.c.read_at.is_not(None))
    return await fetch_page(session, stmt, INBOX_ORDER, page, scalars=False)


async def unread_count(session: AsyncSession, *, person_id: UUID) -> int:
    return (
        await session.execute(
            sa.select(sa.func.count()).where(
                inbox_message.c.person_id == person_id, inbox_message.c.read_at.is_(None)
            )
        )
    ).scalar_one()


async def get_message(session: AsyncSession, *, person_id: UUID, message_id: UUID) -> Any:
    """A message of ``person_id``'s own inbox; anybody else's is 404 (a person reads only their own)."""
    row = (
        await session.execute(
            sa.select(inbox_message).where(
                inbox_message.c.id == message_id, inbox_message.c.person_id == person_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("消息不存在", code="message_not_found")
    return row


async def mark_read(session: AsyncSession, *, person_id: UUID, message_id: UUID, at: datetime) -> Any:
    row = await get_message(session, person_id=person_id, message_id=message_id)
    if row.read_at is not None:
        return row
    await session.execute(sa.update(inbox_message).where(inbox_message.c.id == message_id).values(read_at=at))
    await _log(session, message_id=message_id, channel="inbox", step="read", at=at)
    return await get_message(session, person_id=person_id, message_id=message_id)


async def mark_all_read(session: AsyncSession, *, person_id: UUID, at: datetime) -> int:
    ids = (
        (
            await session.execute(
                sa.update(inbox_message)
                .where(inbox_message.c.person_id == person_id, inbox_message.c.read_at.is_(None))
                .values(read_at=at)
                .returning(inbox_message.c.id)
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await session.execute(
            sa.insert(delivery_log),
            [{"message_id": i, "channel": "inbox", "step": "read", "at": at} for i in ids],
        )
    return len(ids)


async def message_log(session: AsyncSession, *, message_id: UUID) -> list[Any]:
    return list(
        (
            await session.execute(
                sa.select(delivery_log)
                .where(delivery_log.c.message_id == message_id)
                .order_by(delivery_log.c.id)
            )
        ).all()
    )


async def messages_since(
    session: AsyncSession, *, person_id: UUID, after_seq: int, limit: int = 200
) -> list[Any]:
    """A person's messages after ``after_seq`` in order (the stream's replay after ``Last-Event-ID``)."""
    return list(
        (
            await session.execute(
                sa.select(inbox_message)
                .where(inbox_message.c.person_id == person_id, inbox_message.c.seq > after_seq)
                .order_by(inbox_message.c.seq)
                .limit(limit)
            )
        ).all()
    )


# ---- operators: routing, templates, endpoints, dead letters, undeliverable ------------------------------


async def list_rules(session: AsyncSession, *, kind: str | None = None) -> list[Any]:
    stmt = sa.select(routing_rule).order_by(
        routing_rule.c.kind, routing_rule.c.layer, routing_rule.c.audience
    )
    if kind is not None:
        stmt = stmt.where(routing_rule.c.kind == kind)
    return list((await session.execute(stmt)).all())


def _check_kind(kind: str) -> None:
    known = known_kinds()
    if kind not in known:
        raise ValidationFailed(
            f"不支持的通知类型 {kind}",
            code="unknown_kind",
            errors=[{"loc": ["body", "kind"], "msg": f"可选：{'、'.join(sorted(known))}", "type": "enum"}],
        )


async def add_rule(
    session: AsyncSession, *, kind: str, audience: str, layer: int | None, note: str, at: datetime
) -> Any:
    _check_kind(kind)
    rule_id = uuid.uuid4()
    inserted = (
        await session.execute(
            pg_insert(routing_rule)
            .values(
                id=rule_id, kind=kind, audience=audience, layer=layer, note=note, enabled=True, updated_at=at
            )
            .on_conflict_do_nothing()
            .returning(routing_rule.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict("该通知类型已有相同受众的规则", code="rule_exists")
    return await get_rule(session, rule_id)


async def get_rule(session: AsyncSession, rule_id: UUID) -> Any:
    row = (await session.execute(sa.select(routing_rule).where(routing_rule.c.id == rule_id))).one_or_none()
    if row is None:
        raise NotFound("路由规则不存在", code="rule_not_found")
    return row


async def set_rule(
    session: AsyncSession,
    *,
    rule_id: UUID,
    expected_revision: int,
    enabled: bool,
    note: str | None,
    at: datetime,
) -> Any:
    values: dict[str, Any] = {"enabled": enabled, "revision": routing_rule.c.revision + 1, "updated_at": at}
    if note is not None:
        values["note"] = note
    updated = (
        await session.execute(
            sa.update(routing_rule)
            .where(routing_rule.c.id == rule_id, routing_rule.c.revision == expected_revision)
            .values(**values)
            .returning(routing_rule.c.id)
        )
    ).scalar_one_or_none()
    if updated is None:
        await get_rule(session, rule_id)
        from lkg.common.http.problems import PreconditionFailed

        raise PreconditionFailed()
    return await get_rule(session, rule_id)


async def list_templates(session: AsyncSession) -> list[Any]:
    return list((await session.execute(sa.select(template).order_by(template.c.kind))).all())


async def get_template(session: AsyncSession, kind: str) -> Any:
    row = await _template_of(session, kind)
    if row is None:
        raise NotFound("模板不存在", code="template_not_found")
    return row


async def set_template(
    session: AsyncSession,
    *,
    kind: str,
    expected_revision: int,
    title: str,
    body: str,
    urgent: bool,
    at: datetime,
) -> Any:
    current = await get_template(session, kind)
    if current.revision != expected_revision:
        from lkg.common.http.problems import PreconditionFailed

        raise PreconditionFailed()
    await session.execute(
        sa.update(template)
        .where(template.c.kind == kind)
        .values(title=title, body=body, urgent=urgent, revision=template.c.revision + 1, updated_at=at)
    )
    return await get_template(session, kind)


async def add_endpoint(
    session: AsyncSession,
    settings: NotifierSettings,
    *,
    name: str,
    format: str,
    url: str,
    secret: str,
    kinds: Sequence[str],
    at: datetime,
) -> Any:
    for kind in kinds:
        _check_kind(kind)
    try:
        await channels.resolve_target(url, settings)
    except channels.TargetRefused as exc:
        raise ValidationFailed(
            exc.detail, code=exc.code, errors=[{"loc": ["body", "url"], "msg": exc.detail, "type": exc.code}]
        ) from exc
    endpoint_id = uuid.uuid4()
    inserted = (
        await session.execute(
            pg_insert(webhook_endpoint)
            .values(
                id=endpoint_id,
                name=name,
                format=format,
                url=url,
                secret=secret,
                kinds=list(kinds),
                enabled=True,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(webhook_endpoint.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict("同名回调端点已存在", code="endpoint_exists")
    return await get_endpoint(session, endpoint_id)


async def get_endpoint(session: AsyncSession, endpoint_id: UUID) -> Any:
    row = (
        await session.execute(sa.select(webhook_endpoint).where(webhook_endpoint.c.id == endpoint_id))
    ).one_or_none()
    if row is None:
        raise NotFound("回调端点不存在", code="endpoint_not_found")
    return row


async def list_endpoints(session: AsyncSession) -> list[Any]:
    return list((await session.execute(sa.select(webhook_endpoint).order_by(webhook_endpoint.c.name))).all())


async def list_dead(session: AsyncSession, *, page: PageParams) -> tuple[list[Any], str | None]:
    stmt = sa.select(delivery).where(delivery.c.state == "dead")
    return await fetch_page(
        session, stmt, Keyset(sort=delivery.c.created_at, id=delivery.c.id, name="dead"), page, scalars=False
    )


async def resend(session: AsyncSession, *, delivery_id: UUID, at: datetime) -> Any:
    """Queue a dead delivery again under the same delivery id (receivers still recognise a duplicate)."""
    row = (await session.execute(sa.select(delivery).where(delivery.c.id == delivery_id))).one_or_none()
    if row is None:
        raise NotFound("投递记录不存在", code="delivery_not_found")
    if row.state != "dead":
        raise Conflict("只能重发已进入死信的投递", code="delivery_not_dead")
    await session.execute(
        sa.update(delivery)
        .where(delivery.c.id == delivery_id)
        .values(state="queued", attempts=0, next_attempt_at=at)
    )
    await _log(
        session, message_id=row.message_id, delivery_id=delivery_id, channel=row.channel, step="resent", at=at
    )
    return (await session.execute(sa.select(delivery).where(delivery.c.id == delivery_id))).one()


async def list_undeliverable(session: AsyncSession, *, page: PageParams) -> tuple[list[Any], str | None]:
    stmt = sa.select(undeliverable)
    return await fetch_page(
        session,
        stmt,
        Keyset(sort=undeliverable.c.id, id=undeliverable.c.id, name="undeliverable", descending=True),
        page,
        scalars=False,
    )


# ---- people's own settings ------------------------------------------------------------------------------


async def get_person_settings(
    session: AsyncSession, *, person_id: UUID, settings: NotifierSettings
) -> dict[str, Any]:
    row = await _person_settings(session, person_id)
    prefs = (
        await session.execute(
            sa.select(preference).where(preference.c.person_id == person_id).order_by(preference.c.kind)
        )
    ).all()
    return {
        "person_id": person_id,
        "email": row.email if row else None,
        "mobile": row.mobile if row else None,
        "quiet_from": row.quiet_from if row else settings.default_quiet_from,
        "quiet_until": row.quiet_until if row else settings.default_quiet_until,
        "revision": row.revision if row else 0,
        "preferences": [{"kind": p.kind, "channels": list(p.channels), "digest": p.digest} for p in prefs]
        or [{"kind": "*", "channels": list(settings.default_channels), "digest": False}],
    }


async def put_person_settings(
    session: AsyncSession,
    *,
    person_id: UUID,
    settings: NotifierSettings,
    email: str | None,
    mobile: str | None,
    quiet_from: time | None,
    quiet_until: time | None,
    preferences: Sequence[dict[str, Any]],
    at: datetime,
) -> dict[str, Any]:
    if (quiet_from is None) != (quiet_until is None):
        raise ValidationFailed(
            "静默时段须同时给出开始和结束时间",
            code="quiet_hours_incomplete",
            errors=[{"loc": ["body", "quiet_until"], "msg": "须与 quiet_from 同时给出", "type": "missing"}],
        )
    for p in preferences:
        if p["kind"] != "*":
            _check_kind(p["kind"])
    stmt = pg_insert(person_setting).values(
        person_id=person_id,
        email=email,
        mobile=mobile,
        quiet_from=quiet_from,
        quiet_until=quiet_until,
        updated_at=at,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["person_id"],
            set_={
                "email": email,
                "mobile": mobile,
                "quiet_from": quiet_from,
                "quiet_until": quiet_until,
                "revision": person_setting.c.revision + 1,
                "updated_at": at,
            },
        )
    )
    await session.execute(sa.delete(preference).where(preference.c.person_id == person_id))
    if preferences:
        await session.execute(
            sa.insert(preference),
            [
                {
                    "person_id": person_id,
                    "kind": p["kind"],
                    "channels": list(p["channels"]),
                    "digest": p["digest"],
                    "updated_at": at,
                }
                for p in preferences
            ],
        )
    log.info("notifier.settings_changed", person_id=str(person_id), mobile=channels.mask_mobile(mobile))
    return await get_person_settings(session, person_id=person_id, settings=settings)
