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

Fan-out goes through core NATS (``lkg.live.inbox.<person id>``, outside every JetStream stream): the
replica that stores a message announces it after the commit, and whichever replica holds the person's
connection sends it, so a client connected to any replica gets it. A message announced while nobody is
connected is not lost: it is in the inbox, and a reconnect with ``Last-Event-ID`` replays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import weakref
from collections import Counter
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
from lkg.notifier.models import org_copy, stream_ticket
from lkg.notifier.settings import NotifierRuntime
from lkg.notifier.store import Stored

log = get_logger(__name__)


def live_subject(runtime: NotifierRuntime, person_id: UUID | str) -> str:
    return runtime.names.subject(f"lkg.live.inbox.{person_id}")


async def announce(runtime: NotifierRuntime, stored: Sequence[Stored]) -> None:
    """Tell every replica about messages just committed (core NATS: at most once; the inbox is the
    record, ``Last-Event-ID`` the way to catch up)."""
    if not stored:
        return
    for s in stored:
        await runtime.nc.publish(live_subject(runtime, s.person_id), json.dumps(s.payload).encode())
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


class _PostHolders:
    """Which of the people with an open stream hold a post today, for every stream of this process at once.

    Each stream asks on its heartbeat whether its person still holds a post (a handover ends the
    predecessor's stream). Asked one stream at a time that is a query per stream per heartbeat: with a
    thousand streams, more than the database pool can serve while the notifier also routes and sends. So
    the answer is shared: one query for everyone connected, at most once per heartbeat interval.
    """

    def __init__(self, runtime: NotifierRuntime) -> None:
        self._runtime = weakref.ref(runtime)  # not kept alive by this process-wide cache
        self.connected: Counter[UUID] = Counter()
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

    def join(self, person_id: UUID) -> None:
        self.connected[person_id] += 1

    def leave(self, person_id: UUID) -> None:
        self.connected[person_id] -= 1
        if self.connected[person_id] <= 0:
            del self.connected[person_id]

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
                    people = list(self.connected)
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


#: One :class:`_PostHolders` per runtime of this process, by the runtime's id (a runtime is not hashable);
#: the weak reference tells a new runtime that reuses a dead one's id from the one it belongs to.
_HOLDERS: dict[int, tuple[weakref.ref[Any], _PostHolders]] = {}


def _post_holders(runtime: NotifierRuntime) -> _PostHolders:
    held = _HOLDERS.get(id(runtime))
    if held is not None and held[0]() is runtime:
        return held[1]
    for key, (ref, _) in list(_HOLDERS.items()):
        if ref() is None:
            del _HOLDERS[key]
    holders = _PostHolders(runtime)
    _HOLDERS[id(runtime)] = (weakref.ref(runtime), holders)
    return holders


def _frame(payload: dict[str, Any]) -> str:
    return f"id: {payload['seq']}\nevent: message\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def events(
    runtime: NotifierRuntime, *, person_id: UUID, token_expires_at: datetime, last_event_id: int | None
) -> AsyncIterator[str]:
    """The SSE byte stream of one connection."""
    settings = runtime.settings
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    async def on_message(msg: Any) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a client that cannot keep up catches up on reconnect
            queue.put_nowait(json.loads(msg.data))

    holders = _post_holders(runtime)
    holders.join(person_id)
    sub = await runtime.nc.subscribe(live_subject(runtime, person_id), cb=on_message)
    try:
        held_post = await holders.holds(person_id)
        last = last_event_id or 0
        yield "retry: 3000\n\n"
        if last_event_id is not None:
            async with runtime.db.sessions() as session:
                for row in await messages_since(session, person_id=person_id, after_seq=last):
                    payload = _payload(row)
                    last = payload["seq"]
                    yield _frame(payload)
        while True:
            remaining = (token_expires_at - wall_clock_utc()).total_seconds()
            if remaining <= 0:
                yield 'event: end\ndata: {"reason": "token_expired"}\n\n'
                return
            try:
                payload = await asyncio.wait_for(
                    queue.get(), timeout=min(settings.stream_heartbeat_seconds, remaining)
                )
            except TimeoutError:
                if token_expires_at <= wall_clock_utc():
                    continue  # the end, at the top of the loop
                if held_post and not await holders.holds(person_id):
                    yield 'event: end\ndata: {"reason": "post_no_longer_held"}\n\n'
                    return
                yield ": heartbeat\n\n"
                continue
            if payload["seq"] <= last:
                continue
            last = payload["seq"]
            yield _frame(payload)
    finally:
        holders.leave(person_id)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


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
