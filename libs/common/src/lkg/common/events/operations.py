"""Operator actions on the bus: list and replay dead letters, rebuild a service's read copies.

Dead letters keep the original message (body and headers) plus the reason, the consumer and the number of
deliveries. Replaying one sends it to its consumer's retry subject (``lkg.retry.<consumer>``), which the
consumer reads with the same handlers and the same inbox, then removes it from the dead-letter stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from lkg.common.db import Database
from lkg.common.events.bus import Names
from lkg.common.events.inbox import EventConsumer

if TYPE_CHECKING:
    from lkg.common.runtime.service import ServiceSpec


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    subject: str
    reason: str
    deliveries: int
    headers: dict[str, str]
    data: bytes


async def list_dead_letters(
    js: JetStreamContext, names: Names, *, consumer: str | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """Dead letters in stream order (optionally one consumer's)."""
    info = await js.stream_info(names.dlq_stream)
    letters: list[DeadLetter] = []
    if info.state.messages == 0:
        return letters
    seq = info.state.first_seq
    while seq <= info.state.last_seq and len(letters) < limit:
        with contextlib.suppress(NotFoundError):
            raw = await js.get_msg(names.dlq_stream, seq)
            headers = dict(raw.headers or {})
            letter = DeadLetter(
                seq=seq,
                consumer=headers.get("Lkg-Dlq-Consumer", ""),
                subject=headers.get("Lkg-Original-Subject", ""),
                reason=unquote(str(headers.get("Lkg-Dlq-Reason", ""))),
                deliveries=int(headers.get("Lkg-Dlq-Deliveries", "0") or 0),
                headers=headers,
                data=raw.data or b"",
            )
            if consumer is None or letter.consumer == consumer:
                letters.append(letter)
        seq += 1
    return letters


async def replay_dead_letters(
    js: JetStreamContext, names: Names, *, seqs: Sequence[int] | None = None, consumer: str | None = None
) -> int:
    """Send dead letters back to their consumers; returns how many were replayed."""
    letters = await list_dead_letters(js, names, consumer=consumer)
    if seqs:
        wanted = set(seqs)
        letters = [letter for letter in letters if letter.seq in wanted]
    for letter in letters:
        headers = {k: v for k, v in letter.headers.items() if not k.startswith(("Lkg-Dlq-", "Nats-"))}
        headers["Nats-Msg-Id"] = f"retry:{letter.seq}"
        headers["Lkg-Original-Subject"] = letter.subject
        await js.publish(names.retry_subject(letter.consumer), letter.data, headers=headers)
        await js.delete_msg(names.dlq_stream, letter.seq)
    return len(letters)


async def rebuild_read_copies(
    spec: ServiceSpec[Any],
    database_url: str,
    nc: NATS,
    js: JetStreamContext,
    names: Names,
) -> int:
    """Empty a service's read-copy tables and its inbox, and replay its subscriptions from the start.

    Returns the number of messages the recreated consumers will deliver.
    """
    db = Database(database_url, pool_size=1)
    consumer = EventConsumer(
        consumer=spec.name, db=db, nc=nc, js=js, names=names, subscriptions=spec.subscriptions
    )
    try:
        # Empty first, then replay: a running service re-creates a deleted durable consumer on its own (from
        # the start), so deleting it first let the service re-read every message while the inbox still held
        # their ids (all skipped and acked) before the tables were emptied: a rebuild that replayed nothing.
        async with db.transaction() as session:
            for table in spec.read_copy_tables:
                await session.execute(sa.text(f'TRUNCATE TABLE "{table}"'))
            await session.execute(sa.text("DELETE FROM inbox_event WHERE consumer = :c"), {"c": spec.name})
        await consumer.reset()
        await consumer.ensure()
        return await consumer.backlog()
    finally:
        await db.dispose()
