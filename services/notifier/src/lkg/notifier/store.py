"""Storing messages (消息入库): the inbox messages of many notices at once, their log lines and the
deliveries of the push channels each person reads.

A batch of notices (the notice scan's, or a digest round's) is stored with a fixed number of statements,
whatever its size: one insert of every message with its ``stored`` log line (``unnest`` of column arrays:
the statement's text, and so its plan, does not depend on the count; what a cause's recipients share is
sent once per cause), one of every delivery, one of the other log lines, one update of the messages held
for a digest. Nothing is asked per recipient. The statements go on the session's own asyncpg connection
(:func:`driver_of`): the driver encodes the arrays, which SQLAlchemy's bind processing did item by item.

Before its messages are inserted, a transaction takes one advisory lock held until it commits
(:data:`STORE_LOCK`): messages get their ``seq`` in the order their transactions commit, across replicas.
The live stream's position (``Last-Event-ID``) is a ``seq``, so a message can never become visible behind a
position a client has already passed (two replicas storing at once would otherwise commit seq 11 before
seq 10, and a client that saw 11 would skip 10, on the stream and on resume).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from operator import itemgetter
from typing import Any
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.db import driver_in_transaction
from lkg.notifier import channels
from lkg.notifier.kinds import CADENCE_KINDS, Facts
from lkg.notifier.models import person_setting, preference, webhook_endpoint
from lkg.notifier.recipients import Recipient
from lkg.notifier.settings import NotifierRuntime, NotifierSettings

#: Ids derived from what they are, so that the same message or delivery gets the same id however often
#: it is planned (the delivery id travels as ``Message-ID`` / ``X-LKG-Delivery-Id``).
NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-00000000000e")
_NAMESPACE_BYTES = NAMESPACE.bytes

#: The advisory lock (``pg_advisory_xact_lock``) a transaction holds from its first message insert to its
#: commit: ``seq`` follows commit order (see the module's docstring). "lkg-inbox" in ASCII.
STORE_LOCK = 0x6C6B_672D_696E_626F

# The statements below go on the session's own asyncpg connection (:func:`driver_in_transaction`, in the
# session's transaction): a batch's column arrays are encoded by the driver, not row by row in Python.

_LOCK = "SELECT pg_advisory_xact_lock($1)"

#: The messages of a batch and their ``stored`` log lines, in one statement. What the recipients of one
#: cause share (kind, cause, text, time) is sent once per cause (``c``), joined to its recipients (``r``:
#: id, person, audience, vacant post, the cause's number); messages are inserted in the recipients' order,
#: which is the order of their ``seq``.
_INSERT_MESSAGES = (
    "WITH c AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], "
    "$6::text[], $7::uuid[], $8::int[], $9::bool[], $10::timestamptz[]) WITH ORDINALITY "
    "AS c (kind, cause_key, notice_id, title, body, link, matter_id, layer, urgent, created_at, n)), "
    "m AS (INSERT INTO inbox_message (id, person_id, kind, cause_key, notice_id, audience, via_post_id, "
    "title, body, link, matter_id, layer, urgent, created_at) "
    "SELECT r.id, r.person_id, c.kind, c.cause_key, c.notice_id, r.audience, r.via_post_id, c.title, "
    "c.body, c.link, c.matter_id, c.layer, c.urgent, c.created_at "
    "FROM unnest($11::uuid[], $12::uuid[], $13::text[], $14::uuid[], $15::bigint[]) WITH ORDINALITY "
    "AS r (id, person_id, audience, via_post_id, cause, n) JOIN c ON c.n = r.cause ORDER BY r.n "
    "ON CONFLICT (person_id, kind, cause_key) DO NOTHING RETURNING id, seq, created_at), "
    "l AS (INSERT INTO delivery_log (message_id, channel, step, at) "
    "SELECT id, 'inbox', 'stored', created_at FROM m ORDER BY seq) "
    "SELECT id, seq FROM m"
)

_INSERT_DELIVERIES = (
    "INSERT INTO delivery (id, message_id, person_id, channel, target, state, next_attempt_at, created_at) "
    "SELECT d.id, d.message_id, d.person_id, d.channel, d.target, 'queued', d.next_at, d.created_at "
    "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], "
    "$7::timestamptz[]) AS d (id, message_id, person_id, channel, target, next_at, created_at) "
    "ON CONFLICT DO NOTHING RETURNING id"
)

_INSERT_LOG = (
    "INSERT INTO delivery_log (message_id, delivery_id, channel, step, detail, at) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])"
)

#: Each person's last message before ``$2`` (the first seq of this transaction: every message with a
#: smaller seq is committed, :data:`STORE_LOCK`), through the (person_id, seq) index.
_PREVIOUS = (
    "SELECT p.person_id, (SELECT m.seq FROM inbox_message m WHERE m.person_id = p.person_id "
    "AND m.seq < $2 ORDER BY m.seq DESC LIMIT 1) AS seq FROM unnest($1::uuid[]) AS p (person_id)"
)

_HOLD_FOR_DIGEST = "UPDATE inbox_message SET digest_pending = true WHERE id = ANY($1::uuid[])"


async def driver_of(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection in its transaction (:func:`driver_in_transaction`), for the
    statements of a batch."""
    driver = await driver_in_transaction(session)
    if driver is None:  # pragma: no cover - the notifier's database is always postgresql+asyncpg
        raise RuntimeError("the notifier writes its batches on an asyncpg connection (postgresql+asyncpg)")
    return driver


def message_key(person_id: UUID, kind: str, cause_key: str) -> bytes:
    """The 16 bytes of a message's id: ``uuid5(NAMESPACE, "<person>/<kind>/<cause>")``, without building
    a :class:`~uuid.UUID` (the driver takes the id as hex)."""
    key = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{person_id}/{kind}/{cause_key}".encode()).digest()[:16])
    key[6] = (key[6] & 0x0F) | 0x50  # version 5
    key[8] = (key[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(key)


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
class Cause:
    """What a message is about: its kind, its cause key and the notice it came from (none for the
    messages the notifier makes on its own clock: digests and reminders)."""

    kind: str
    key: str
    notice_id: int | None = None


@dataclass(frozen=True)
class Planned:
    """The messages of one cause, rendered, before they are stored: one per recipient."""

    cause: Cause
    facts: Facts
    recipients: Sequence[Recipient]
    title: str
    body: str
    link: str | None
    urgent: bool
    #: The clock when it was routed (the event's time for a notice).
    now: datetime


@dataclass(frozen=True)
class Stored:
    """A message stored by :meth:`Store.store` (for the live stream)."""

    id: UUID
    seq: int
    person_id: UUID
    #: The ``seq`` of the person's message before this one (None: their first). The live stream sees a
    #: message it missed (lost on the bus, announced late by another replica) as a link that does not
    #: join and reads the inbox after its position (:mod:`lkg.notifier.stream`).
    prev: int | None
    #: The message as the inbox lists it (``MessageOut``'s JSON) less its id and seq: one dict shared by
    #: the messages of one cause, serialised once for all of them.
    base: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "seq": self.seq, **self.base}


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


class _Rows:
    """Column arrays of one ``unnest`` statement, filled a row at a time."""

    def __init__(self, width: int) -> None:
        self.columns: list[list[Any]] = [[] for _ in range(width)]

    def add(self, *values: Any) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def __len__(self) -> int:
        return len(self.columns[0])


@dataclass(frozen=True)
class _Route:
    """Where one person's messages of one kind go: held for the digest (``digest``, unless urgent), else a
    delivery per target, held in quiet hours (``quiet``: the person's window, or the defaults)."""

    digest: bool
    targets: tuple[tuple[str, str], ...]
    quiet: tuple[time | None, time | None]


_SEQ = itemgetter(1)


class Store:
    """Stores planned messages for one transaction; what it reads (people, webhook endpoints) is kept for
    the transaction's later batches."""

    def __init__(self, session: AsyncSession, runtime: NotifierRuntime) -> None:
        self.session = session
        self.runtime = runtime
        #: Recipients' settings and preferences read in this transaction.
        self.people: dict[UUID, Person] = {}
        self._endpoints: dict[tuple[tuple[str, ...], str], list[str]] = {}
        self._routes: dict[tuple[UUID, str], _Route] = {}
        self._locked = False

    async def _endpoints_for(self, formats: tuple[str, ...], kind: str) -> list[str]:
        key = (formats, kind)
        if key not in self._endpoints:
            e = webhook_endpoint
            for_kind = sa.or_(sa.func.cardinality(e.c.kinds) == 0, sa.literal(kind) == sa.any_(e.c.kinds))
            self._endpoints[key] = [
                str(i)
                for i in (
                    await self.session.execute(
                        sa.select(e.c.id)
                        .where(
                            e.c.enabled,
                            e.c.format.in_(formats),
                            for_kind,
                        )
                        .order_by(e.c.id)
                    )
                ).scalars()
            ]
        return self._endpoints[key]

    async def store(self, planned: Sequence[Planned]) -> list[Stored]:
        """One message per recipient of every planned cause (a person who already has that kind and cause
        gets none), its ``stored`` log line, and the deliveries of the push channels each one reads."""
        causes = _Rows(10)
        messages = _Rows(5)
        of: dict[bytes, tuple[Planned, Recipient]] = {}
        for p in planned:
            kind, key = p.cause.kind, p.cause.key
            n = len(causes) + 1
            added = False
            for r in p.recipients:
                id_bytes = message_key(r.person_id, kind, key)
                if id_bytes in of:
                    continue
                of[id_bytes] = (p, r)
                messages.add(id_bytes.hex(), r.person_id, r.audience, r.via_post_id, n)
                added = True
            if added:
                causes.add(
                    kind, key, p.cause.notice_id, p.title, p.body, p.link, p.facts.matter_id, p.facts.layer,
                    p.urgent, p.now,
                )  # fmt: skip
        if not messages:
            return []
        driver = await driver_of(self.session)
        if not self._locked:
            await driver.execute(_LOCK, STORE_LOCK)
            self._locked = True
        inserted = sorted(await driver.fetch(_INSERT_MESSAGES, *causes.columns, *messages.columns), key=_SEQ)
        if not inserted:
            return []
        planned_of = [(i[0], i[1], *of[i[0].bytes]) for i in inserted]
        people = sorted({r.person_id for _, _, _, r in planned_of})
        missing = [person for person in people if person not in self.people]
        if missing:
            self.people.update(await load_people(self.session, missing))
        prev: dict[UUID, int | None] = dict(await driver.fetch(_PREVIOUS, people, inserted[0][1]))
        bases: dict[int, dict[str, Any]] = {}
        digest: list[UUID] = []
        log = _Rows(6)
        deliveries = _Rows(7)
        delivery_steps: dict[UUID, tuple[UUID, str, str, str | None, datetime]] = {}
        stored: list[Stored] = []
        routes = self._routes
        for message_id, seq, p, r in planned_of:
            person_id, kind = r.person_id, p.cause.kind
            route = routes.get((person_id, kind)) or await self._route(person_id, kind)
            if route.digest and not p.urgent and kind not in CADENCE_KINDS:
                # Told in the next morning digest instead (:mod:`lkg.notifier.cadence`); urgent kinds never
                # wait.
                digest.append(message_id)
                log.add(message_id, None, "digest", "held", "每日汇总", p.now)
            elif route.targets:
                self._deliver(message_id, p, person_id, route, deliveries, delivery_steps)
            base = bases.get(id(p))
            if base is None:
                base = bases[id(p)] = _base(p)
            stored.append(Stored(message_id, seq, person_id, prev[person_id], base))
            prev[person_id] = seq
        if digest:
            await driver.execute(_HOLD_FOR_DIGEST, digest)
        if deliveries:
            for (d,) in await driver.fetch(_INSERT_DELIVERIES, *deliveries.columns):
                message_id, channel, step, detail, at = delivery_steps[d]
                log.add(message_id, d, channel, step, detail, at)
        if log:
            await driver.execute(_INSERT_LOG, *log.columns)
        return stored

    async def _route(self, person_id: UUID, kind: str) -> _Route:
        """Where ``person_id``'s messages of ``kind`` go, read once per transaction."""
        settings = self.runtime.settings
        wanted, in_digest = self.people[person_id].wants(settings, kind)
        person = self.people[person_id].settings
        targets: list[tuple[str, str]] = []
        # No SMTP server configured (the embedded demo by default): the email channel is off, nothing queued.
        if "email" in wanted and person is not None and person.email and settings.smtp_host:
            targets.append(("email", person.email))
        formats = tuple(sorted(ch for ch in wanted if ch in channels.WEBHOOK_FORMATS))
        if formats:
            targets += [("webhook", e) for e in await self._endpoints_for(formats, kind)]
        quiet = (
            (person.quiet_from, person.quiet_until)
            if person is not None
            else (settings.default_quiet_from, settings.default_quiet_until)
        )
        route = self._routes[person_id, kind] = _Route(in_digest, tuple(targets), quiet)
        return route

    def _deliver(
        self,
        message_id: UUID,
        p: Planned,
        person_id: UUID,
        route: _Route,
        deliveries: _Rows,
        steps: dict[UUID, tuple[UUID, str, str, str | None, datetime]],
    ) -> None:
        """A delivery per push channel of one message, held to the next working morning in quiet hours
        unless the kind is urgent."""
        now = p.now
        held = None if p.urgent else hold_until(self.runtime.calendar, now, *route.quiet)
        detail = f"静默时段，推迟至 {held.isoformat()}" if held else None
        for channel, target in route.targets:
            delivery_id = uuid.uuid5(NAMESPACE, f"{message_id}/{channel}/{target}")
            deliveries.add(delivery_id, message_id, person_id, channel, target, held or now, now)
            steps[delivery_id] = (message_id, channel, "held" if held else "queued", detail, now)


def _base(p: Planned) -> dict[str, Any]:
    return {
        "kind": p.cause.kind,
        "title": p.title,
        "body": p.body,
        "link": p.link,
        "matter_id": str(p.facts.matter_id) if p.facts.matter_id else None,
        "layer": p.facts.layer,
        "urgent": p.urgent,
        "created_at": p.now.isoformat(),
        "read_at": None,
    }
