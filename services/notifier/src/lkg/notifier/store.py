"""Storing messages (消息入库): the inbox messages of many notices at once, their log lines and the
deliveries of the push channels each person reads.

A batch of notices (the notice scan's, or a digest round's) is stored with a fixed number of statements,
whatever its size: one insert of every message (``unnest`` of column arrays: the statement's text, and so
its plan, does not depend on the count), one of every delivery, one of every log line, one update of the
messages held for a digest. Nothing is asked per recipient.

Before its messages are inserted, a transaction takes one advisory lock held until it commits
(:data:`STORE_LOCK`): messages get their ``seq`` in the order their transactions commit, across replicas.
The live stream's position (``Last-Event-ID``) is a ``seq``, so a message can never become visible behind a
position a client has already passed (two replicas storing at once would otherwise commit seq 11 before
seq 10, and a client that saw 11 would skip 10, on the stream and on resume).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.notifier import channels
from lkg.notifier.kinds import CADENCE_KINDS, Facts
from lkg.notifier.models import person_setting, preference, webhook_endpoint
from lkg.notifier.recipients import Recipient
from lkg.notifier.settings import NotifierRuntime, NotifierSettings

#: Ids derived from what they are, so that the same message or delivery gets the same id however often
#: it is planned (the delivery id travels as ``Message-ID`` / ``X-LKG-Delivery-Id``).
NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-00000000000e")

#: The advisory lock (``pg_advisory_xact_lock``) a transaction holds from its first message insert to its
#: commit: ``seq`` follows commit order (see the module's docstring). "lkg-inbox" in ASCII.
STORE_LOCK = 0x6C6B_672D_696E_626F

_UUIDS = ARRAY(PG_UUID(as_uuid=True))
_TEXTS = ARRAY(sa.Text)
_TIMES = ARRAY(sa.DateTime(timezone=True))


def _arrays(statement: str, **types: Any) -> sa.TextClause:
    return sa.text(statement).bindparams(*(sa.bindparam(name, type_=t) for name, t in types.items()))


_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)").bindparams(sa.bindparam("key", type_=sa.BigInteger))

_INSERT_MESSAGES = _arrays(
    "INSERT INTO inbox_message (id, person_id, kind, cause_key, notice_id, audience, via_post_id, title, "
    "body, link, matter_id, layer, urgent, created_at) "
    "SELECT * FROM unnest(:ids, :people, :kinds, :causes, :notices, :audiences, :vias, :titles, :bodies, "
    ":links, :matters, :layers, :urgents, :ats) "
    "ON CONFLICT (person_id, kind, cause_key) DO NOTHING RETURNING id, seq",
    ids=_UUIDS,
    people=_UUIDS,
    kinds=_TEXTS,
    causes=_TEXTS,
    notices=ARRAY(sa.BigInteger),
    audiences=_TEXTS,
    vias=_UUIDS,
    titles=_TEXTS,
    bodies=_TEXTS,
    links=_TEXTS,
    matters=_UUIDS,
    layers=ARRAY(sa.Integer),
    urgents=ARRAY(sa.Boolean),
    ats=_TIMES,
)

_INSERT_DELIVERIES = _arrays(
    "INSERT INTO delivery (id, message_id, person_id, channel, target, state, next_attempt_at, created_at) "
    "SELECT d.id, d.message_id, d.person_id, d.channel, d.target, 'queued', d.next_at, d.created_at "
    "FROM unnest(:ids, :messages, :people, :channels, :targets, :nexts, :ats) "
    "AS d (id, message_id, person_id, channel, target, next_at, created_at) "
    "ON CONFLICT DO NOTHING RETURNING id",
    ids=_UUIDS,
    messages=_UUIDS,
    people=_UUIDS,
    channels=_TEXTS,
    targets=_TEXTS,
    nexts=_TIMES,
    ats=_TIMES,
)

_INSERT_LOG = _arrays(
    "INSERT INTO delivery_log (message_id, delivery_id, channel, step, detail, at) "
    "SELECT * FROM unnest(:messages, :deliveries, :channels, :steps, :details, :ats)",
    messages=_UUIDS,
    deliveries=_UUIDS,
    channels=_TEXTS,
    steps=_TEXTS,
    details=_TEXTS,
    ats=_TIMES,
)

#: Each person's last message before ``below`` (the first seq of this transaction: every message with a
#: smaller seq is committed, :data:`STORE_LOCK`), through the (person_id, seq) index.
_PREVIOUS = _arrays(
    "SELECT p.person_id, (SELECT m.seq FROM inbox_message m WHERE m.person_id = p.person_id "
    "AND m.seq < :below ORDER BY m.seq DESC LIMIT 1) AS seq FROM unnest(:people) AS p (person_id)",
    people=_UUIDS,
).bindparams(sa.bindparam("below", type_=sa.BigInteger))

_HOLD_FOR_DIGEST = _arrays(
    "UPDATE inbox_message SET digest_pending = true WHERE id = ANY(:ids)",
    ids=_UUIDS,
)


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
    """Column arrays of one ``unnest`` insert, filled a row at a time."""

    def __init__(self, *names: str) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in names}

    def add(self, *values: Any) -> None:
        for column, value in zip(self.columns.values(), values, strict=True):
            column.append(value)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


class Store:
    """Stores planned messages for one transaction; what it reads (people, webhook endpoints) is kept for
    the transaction's later batches."""

    def __init__(self, session: AsyncSession, runtime: NotifierRuntime) -> None:
        self.session = session
        self.runtime = runtime
        #: Recipients' settings and preferences read in this transaction.
        self.people: dict[UUID, Person] = {}
        self._endpoints: dict[tuple[tuple[str, ...], str], list[str]] = {}
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
        messages = _Rows(
            "ids", "people", "kinds", "causes", "notices", "audiences", "vias", "titles", "bodies", "links",
            "matters", "layers", "urgents", "ats",
        )  # fmt: skip
        of: dict[UUID, tuple[Planned, Recipient]] = {}
        for p in planned:
            for r in p.recipients:
                message_id = uuid.uuid5(NAMESPACE, f"{r.person_id}/{p.cause.kind}/{p.cause.key}")
                if message_id in of:
                    continue
                of[message_id] = (p, r)
                messages.add(
                    message_id, r.person_id, p.cause.kind, p.cause.key, p.cause.notice_id, r.audience,
                    r.via_post_id, p.title, p.body, p.link, p.facts.matter_id, p.facts.layer, p.urgent, p.now,
                )  # fmt: skip
        if not messages:
            return []
        if not self._locked:
            await self.session.execute(_LOCK, {"key": STORE_LOCK})
            self._locked = True
        inserted = (await self.session.execute(_INSERT_MESSAGES, messages.columns)).all()
        if not inserted:
            return []
        missing = {of[i.id][1].person_id for i in inserted} - self.people.keys()
        if missing:
            self.people.update(await load_people(self.session, sorted(missing)))
        log = _Rows("messages", "deliveries", "channels", "steps", "details", "ats")
        for i in inserted:
            log.add(i.id, None, "inbox", "stored", None, of[i.id][0].now)
        people = sorted({of[i.id][1].person_id for i in inserted})
        below = min(i.seq for i in inserted)
        prev: dict[UUID, int | None] = {
            r.person_id: r.seq
            for r in await self.session.execute(_PREVIOUS, {"people": people, "below": below})
        }
        bases: dict[int, dict[str, Any]] = {}
        digest: list[UUID] = []
        deliveries = _Rows("ids", "messages", "people", "channels", "targets", "nexts", "ats")
        delivery_steps: dict[UUID, tuple[UUID, str, str, str | None, datetime]] = {}
        stored: list[Stored] = []
        for i in sorted(inserted, key=lambda i: i.seq):
            p, r = of[i.id]
            await self._plan(i.id, p, r, digest, log, deliveries, delivery_steps)
            base = bases.setdefault(id(p), _base(p))
            stored.append(Stored(i.id, i.seq, r.person_id, prev[r.person_id], base))
            prev[r.person_id] = i.seq
        if digest:
            await self.session.execute(_HOLD_FOR_DIGEST, {"ids": digest})
        if deliveries:
            for d in (await self.session.execute(_INSERT_DELIVERIES, deliveries.columns)).scalars():
                message_id, channel, step, detail, at = delivery_steps[d]
                log.add(message_id, d, channel, step, detail, at)
        await self.session.execute(_INSERT_LOG, log.columns)
        return stored

    async def _plan(
        self,
        message_id: UUID,
        p: Planned,
        r: Recipient,
        digest: list[UUID],
        log: _Rows,
        deliveries: _Rows,
        steps: dict[UUID, tuple[UUID, str, str, str | None, datetime]],
    ) -> None:
        """The deliveries of one message: none, held for the person's digest, or one per push channel."""
        settings = self.runtime.settings
        kind, now = p.cause.kind, p.now
        wanted, in_digest = self.people[r.person_id].wants(settings, kind)
        if in_digest and not p.urgent and kind not in CADENCE_KINDS:
            # Told in the next morning digest instead (:mod:`lkg.notifier.cadence`); urgent kinds never wait.
            digest.append(message_id)
            log.add(message_id, None, "digest", "held", "每日汇总", now)
            return
        person = self.people[r.person_id].settings
        targets: list[tuple[str, str]] = []
        # No SMTP server configured (the embedded demo by default): the email channel is off, nothing queued.
        if "email" in wanted and person is not None and person.email and settings.smtp_host:
            targets.append(("email", person.email))
        formats = tuple(sorted(ch for ch in wanted if ch in channels.WEBHOOK_FORMATS))
        if formats:
            targets += [("webhook", e) for e in await self._endpoints_for(formats, kind)]
        if not targets:
            return
        held = None
        if not p.urgent:
            quiet_from = person.quiet_from if person is not None else settings.default_quiet_from
            quiet_until = person.quiet_until if person is not None else settings.default_quiet_until
            held = hold_until(self.runtime.calendar, now, quiet_from, quiet_until)
        detail = f"静默时段，推迟至 {held.isoformat()}" if held else None
        for channel, target in targets:
            delivery_id = uuid.uuid5(NAMESPACE, f"{message_id}/{channel}/{target}")
            deliveries.add(delivery_id, message_id, r.person_id, channel, target, held or now, now)
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
