"""The live stream of new messages (Server-Sent Events) for the signed-in person.

A browser's ``EventSource`` cannot send an ``Authorization`` header, and a token in a URL ends up in logs.
So the client first asks ``POST /api/v1/inbox/stream-tickets`` with its bearer token for a ticket: random,
good for ``LKG_STREAM_TICKET_SECONDS`` of wall-clock time and for one connection only (only its SHA-256
is stored). ``GET /api/v1/inbox/stream?ticket=…`` then streams:

* on reconnect with ``Last-Event-ID`` (the last message's ``seq``), the messages after it first, from
  the database;
* every new message as ``id: <seq>``, ``event: message``, ``data: <the message as the inbox lists it>``;
* a comment line every ``LKG_STREAM_HEARTBEAT_SECONDS`` so proxies keep the connection open;
* the stream ends when the token behind the ticket expires, or when the person holds no post any more
  (a handover: the successor is told from then on, the predecessor's stream closes).

Fan-out goes through core NATS (``lkg.live.inbox.messages``, outside every JetStream stream): the replica
that stores messages announces them after the commit, one NATS message per cause (the message once, then
per person its id, ``seq`` and the person's previous ``seq``); every replica has one subscription for all
its streams and hands each frame to the connections of its person, so a client connected to any replica
gets it. Nothing announced is lost for a connected client: core NATS is at most once, but a frame whose
previous ``seq`` is beyond what the stream has sent shows a gap, and the stream reads the inbox after its
position (so it does after a reconnection to NATS, or when too many frames wait for a slow client). A
message announced while nobody is connected is in the inbox, and a reconnect with ``Last-Event-ID``
replays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import weakref
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ, wall_clock_utc
from lkg.common.http.problems import Unauthenticated
from lkg.common.log import get_logger
from lkg.common.orgcopy import in_force
from lkg.notifier.inbox import messages_since
from lkg.notifier.models import inbox_message, org_copy, stream_ticket
from lkg.notifier.settings import NotifierRuntime
from lkg.notifier.store import Stored

log = get_logger(__name__)


def live_subject(runtime: NotifierRuntime) -> str:
    return runtime.names.subject("lkg.live.inbox.messages")


#: People per announcement (a bulletin to every unit is split into several NATS messages).
ANNOUNCE_CHUNK = 500


async def announce(runtime: NotifierRuntime, stored: Sequence[Stored]) -> None:
    """Tell every replica about messages just committed: one NATS message per cause (its message once,
    and per person the message id, ``seq`` and the person's previous ``seq``). Core NATS is at most once:
    the inbox is the record, and a stream that sees a gap reads it."""
    if not stored:
        return
    causes: dict[int, tuple[dict[str, Any], list[list[Any]]]] = {}
    for s in stored:
        causes.setdefault(id(s.base), (s.base, []))[1].append(
            [str(s.person_id), str(s.id), s.seq, s.prev or 0]
        )
    subject = live_subject(runtime)
    for base, each in causes.values():
        for i in range(0, len(each), ANNOUNCE_CHUNK):
            data = {"base": base, "each": each[i : i + ANNOUNCE_CHUNK]}
            await runtime.nc.publish(subject, json.dumps(data, ensure_ascii=False).encode())
    with contextlib.suppress(Exception):
        await runtime.nc.flush(timeout=2)


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_ticket(
    session: AsyncSession, runtime: NotifierRuntime, *, person_id: UUID, token_expires_at: datetime
) -> tuple[str, datetime]:
    ticket = secrets.token_urlsafe(32)
    expires = wall_clock_utc() + timedelta(seconds=runtime.settings.stream_ticket_seconds)
    await session.execute(
        sa.insert(stream_ticket).values(
            digest=_digest(ticket), person_id=person_id, token_expires_at=token_expires_at, expires_at=expires
        )
    )
    return ticket, expires


async def redeem_ticket(session: AsyncSession, ticket: str) -> tuple[UUID, datetime]:
    """The person and token expiry behind ``ticket``, spending it; 401 if unknown, spent or expired."""
    row = (
        await session.execute(
            sa.update(stream_ticket)
            .where(
                stream_ticket.c.digest == _digest(ticket),
                stream_ticket.c.used_at.is_(None),
                stream_ticket.c.expires_at > wall_clock_utc(),
            )
            .values(used_at=wall_clock_utc())
            .returning(stream_ticket.c.person_id, stream_ticket.c.token_expires_at)
        )
    ).one_or_none()
    if row is None:
        raise Unauthenticated("推送凭据无效、已使用或已过期", code="stream_ticket_invalid")
    return row.person_id, row.token_expires_at


#: Frames a connection may have waiting; beyond that it reads the inbox after its position instead.
MAX_WAITING = 1000
#: Inbox rows read at a time when a stream catches up.
REPLAY_PAGE = 200


class _Connection:
    """One open stream of this process: the frames announced for its person, waiting to be sent."""

    def __init__(self, person: str) -> None:
        self.person = person
        self.waiting: list[tuple[int, int, str]] = []  # (seq, the person's previous seq, frame)
        #: Frames may have been missed (too many waiting, the bus reconnected): read the inbox.
        self.behind = False
        self.ready = asyncio.Event()

    def offer(self, seq: int, prev: int, frame: str) -> None:
        if len(self.waiting) >= MAX_WAITING:
            self.behind = True  # a client that cannot keep up catches up from the inbox
            self.waiting.clear()
        else:
            self.waiting.append((seq, prev, frame))
        self.ready.set()

    def fall_behind(self) -> None:
        self.behind = True
        self.ready.set()


class _Streams:
    """The open streams of one runtime in this process: one subscription to the fan-out subject for all of
    them (a frame is serialised once per cause and handed to the connections of its people), and which of
    their people hold a post today.

    Each stream asks on its heartbeat whether its person still holds a post (a handover ends the
    predecessor's stream). Asked one stream at a time that is a query per stream per heartbeat: with a
    thousand streams, more than the database pool can serve while the notifier also routes and sends. So
    the answer is shared: one query for everyone connected, at most once per half heartbeat interval.
    """

    def __init__(self, runtime: NotifierRuntime) -> None:
        self._runtime = weakref.ref(runtime)  # not kept alive by this process-wide cache
        self.connections: dict[str, set[_Connection]] = {}
        self._subscribed = False
        self._subscribing = asyncio.Lock()
        self._reconnects = 0
        #: Who held a post at the last check, and who was checked (a person who connected since is not).
        self.holding: set[UUID] = set()
        self.checked: set[UUID] = set()
        self.checked_at = float("-inf")
        self.lock = asyncio.Lock()

    @property
    def runtime(self) -> NotifierRuntime:
        runtime = self._runtime()
        if runtime is None:  # pragma: no cover - a stream outlived its runtime
            raise RuntimeError("the notifier runtime of these streams has stopped")
        return runtime

    async def join(self, person_id: UUID) -> _Connection:
        """A connection for ``person_id``, receiving from the fan-out subject when this returns."""
        conn = _Connection(str(person_id))
        self.connections.setdefault(conn.person, set()).add(conn)
        if not self._subscribed:
            async with self._subscribing:
                if not self._subscribed:
                    nc = self.runtime.nc
                    self._reconnects = nc.stats["reconnects"]
                    await nc.subscribe(live_subject(self.runtime), cb=self._on_message)
                    await nc.flush(timeout=5)  # the server has the subscription: nothing after it is lost
                    self._subscribed = True
        return conn

    def leave(self, conn: _Connection) -> None:
        conns = self.connections.get(conn.person)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.connections[conn.person]

    def check_bus(self) -> None:
        """After a reconnection to NATS, what was announced meanwhile is lost (core NATS): every stream of
        this process reads the inbox after its position."""
        reconnects = self.runtime.nc.stats["reconnects"]
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            log.warning("notifier.stream_bus_reconnected", streams=sum(map(len, self.connections.values())))
            for conns in self.connections.values():
                for conn in conns:
                    conn.fall_behind()

    async def _on_message(self, msg: Any) -> None:
        self.check_bus()
        announced = json.loads(msg.data)
        tail = ""
        for person, message_id, seq, prev in announced["each"]:
            conns = self.connections.get(person)
            if not conns:
                continue
            if not tail:  # serialised once for the cause, only if someone here reads it
                tail = json.dumps(announced["base"], ensure_ascii=False)[1:]
            frame = f'id: {seq}\nevent: message\ndata: {{"id": "{message_id}", "seq": {seq}, {tail}\n\n'
            for conn in conns:
                conn.offer(seq, prev, frame)

    async def holds(self, person_id: UUID) -> bool:
        """Whether ``person_id`` holds a post today: as of the last shared check (at most half a heartbeat
        old), or, for a person who connected since, checked alone now."""
        loop = asyncio.get_running_loop()
        if person_id not in self.checked:
            held = await self._holders([person_id])
            self.checked.add(person_id)
            self.holding |= held
            return person_id in held
        if loop.time() - self.checked_at >= self.runtime.settings.stream_heartbeat_seconds / 2:
            async with self.lock:
                if loop.time() - self.checked_at >= self.runtime.settings.stream_heartbeat_seconds / 2:
                    people = [UUID(p) for p in self.connections]
                    self.holding = await self._holders(people)
                    self.checked = set(people)
                    self.checked_at = loop.time()
        return person_id in self.holding

    async def _holders(self, people: list[UUID]) -> set[UUID]:
        """Those of ``people`` who hold a post in force today (one query)."""
        h, p = org_copy.holdings, org_copy.posts
        day = self.runtime.clock.today()
        async with self.runtime.db.sessions() as session:
            rows = await session.execute(
                sa.select(h.c.person_id)
                .select_from(h.join(p, p.c.id == h.c.post_id))
                .where(h.c.person_id.in_(people), in_force(h, day), in_force(p, day))
                .distinct()
            )
            return set(rows.scalars())


#: One :class:`_Streams` per runtime of this process, by the runtime's id (a runtime is not hashable);
#: the weak reference tells a new runtime that reuses a dead one's id from the one it belongs to.
_STREAMS: dict[int, tuple[weakref.ref[Any], _Streams]] = {}


def _streams(runtime: NotifierRuntime) -> _Streams:
    held = _STREAMS.get(id(runtime))
    if held is not None and held[0]() is runtime:
        return held[1]
    for key, (ref, _) in list(_STREAMS.items()):
        if ref() is None:
            del _STREAMS[key]
    streams = _Streams(runtime)
    _STREAMS[id(runtime)] = (weakref.ref(runtime), streams)
    return streams


def _frame(payload: dict[str, Any]) -> str:
    return f"id: {payload['seq']}\nevent: message\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def _inbox_after(
    runtime: NotifierRuntime, person_id: UUID, after: int
) -> AsyncIterator[tuple[int, str]]:
    """The person's messages after ``after``, from the inbox, a page at a time, as frames."""
    while True:
        async with runtime.db.sessions() as session:
            rows = await messages_since(session, person_id=person_id, after_seq=after, limit=REPLAY_PAGE)
        for row in rows:
            after = row.seq
            yield row.seq, _frame(_payload(row))
        if len(rows) < REPLAY_PAGE:
            return


async def _latest_seq(runtime: NotifierRuntime, person_id: UUID) -> int:
    m = inbox_message
    async with runtime.db.sessions() as session:
        latest = (
            await session.execute(sa.select(sa.func.max(m.c.seq)).where(m.c.person_id == person_id))
        ).scalar_one()
    return int(latest or 0)


async def events(
    runtime: NotifierRuntime, *, person_id: UUID, token_expires_at: datetime, last_event_id: int | None
) -> AsyncIterator[str]:
    """The SSE byte stream of one connection.

    ``last`` is the position sent (a ``seq`` of the person's or the one the client gave). A frame that
    arrives with the person's previous ``seq`` after ``last`` follows a message this stream has not sent
    (lost on the bus, or announced later by another replica): the stream then reads the inbox after
    ``last``, where that message is (messages are committed in ``seq`` order, :mod:`lkg.notifier.store`),
    and drops the frames it has thereby sent already."""
    settings = runtime.settings
    streams = _streams(runtime)
    conn = await streams.join(person_id)  # receiving before the inbox is read: nothing falls in between
    try:
        held_post = await streams.holds(person_id)
        yield "retry: 3000\n\n"
        last = last_event_id if last_event_id is not None else await _latest_seq(runtime, person_id)
        conn.behind = last_event_id is not None
        while True:
            if conn.behind:
                conn.behind = False
                conn.waiting.clear()  # all in the inbox by now
                async for seq, frame in _inbox_after(runtime, person_id, last):
                    last = seq
                    yield frame
            remaining = (token_expires_at - wall_clock_utc()).total_seconds()
            if remaining <= 0:
                yield 'event: end\ndata: {"reason": "token_expired"}\n\n'
                return
            if not conn.waiting and not conn.behind:
                conn.ready.clear()
                try:
                    await asyncio.wait_for(
                        conn.ready.wait(), timeout=min(settings.stream_heartbeat_seconds, remaining)
                    )
                except TimeoutError:
                    streams.check_bus()
                    if token_expires_at <= wall_clock_utc() or conn.behind:
                        continue  # the end or a catch-up, at the top of the loop
                    if held_post and not await streams.holds(person_id):
                        yield 'event: end\ndata: {"reason": "post_no_longer_held"}\n\n'
                        return
                    yield ": heartbeat\n\n"
                    continue
            waiting, conn.waiting = conn.waiting, []
            out: list[str] = []
            for seq, prev, frame in waiting:
                if seq <= last:
                    continue  # sent already
                if prev > last:
                    conn.behind = True  # a message before this one was missed: read the inbox
                    break
                last = seq
                out.append(frame)
            if out:
                yield "".join(out)  # what arrived together goes out in one write
    finally:
        streams.leave(conn)


def _payload(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "seq": row.seq,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "link": row.link,
        "matter_id": str(row.matter_id) if row.matter_id else None,
        "layer": row.layer,
        "urgent": row.urgent,
        "created_at": row.created_at.astimezone(TZ).isoformat(),
        "read_at": row.read_at.astimezone(TZ).isoformat() if row.read_at else None,
    }
