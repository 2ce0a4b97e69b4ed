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
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ, wall_clock_utc
from lkg.common.http.problems import Unauthenticated
from lkg.common.log import get_logger
from lkg.common.orgcopy import reach_of
from lkg.notifier.inbox import messages_since
from lkg.notifier.models import org_copy, stream_ticket
from lkg.notifier.notices import Stored
from lkg.notifier.settings import NotifierRuntime

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


async def _holds_a_post(runtime: NotifierRuntime, person_id: UUID) -> bool:
    async with runtime.db.sessions() as session:
        reach = await reach_of(session, org_copy, person_id, runtime.clock.today())
    return bool(reach.posts)


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

    sub = await runtime.nc.subscribe(live_subject(runtime, person_id), cb=on_message)
    try:
        held_post = await _holds_a_post(runtime, person_id)
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
                if held_post and not await _holds_a_post(runtime, person_id):
                    yield 'event: end\ndata: {"reason": "post_no_longer_held"}\n\n'
                    return
                yield ": heartbeat\n\n"
                continue
            if payload["seq"] <= last:
                continue
            last = payload["seq"]
            yield _frame(payload)
    finally:
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
