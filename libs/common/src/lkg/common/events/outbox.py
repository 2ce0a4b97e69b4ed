"""Transactional outbox (DESIGN §4): events are rows committed with the state change; a relay publishes them.

* :func:`stage` adds the event row in the caller's transaction; nothing is published if it rolls back.
* :class:`OutboxRelay` publishes committed rows in id order with ``Nats-Msg-Id`` = event id and deletes them
  in the same transaction that claimed them. A crash between publish and commit re-publishes the same ids,
  which JetStream de-duplicates (and the consumers' inboxes would skip anyway).
* Several replicas can run the relay: rows are claimed with ``FOR UPDATE SKIP LOCKED``.
* The relay is woken by the commit (a statement trigger ``NOTIFY``s, and PostgreSQL delivers it at commit),
  with a slow poll as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common import log as logmod
from lkg.common.db import OUTBOX_CHANNEL, Database, asyncpg_dsn
from lkg.common.events.base import Envelope, Event
from lkg.common.events.bus import Names
from lkg.common.metrics import EVENTS_PUBLISHED, OUTBOX_LAG, OUTBOX_PENDING

log = logmod.get_logger(__name__)

_outbox = sa.table(
    "outbox_event",
    sa.column("id", sa.BigInteger),
    sa.column("event_id", PG_UUID(as_uuid=True)),
    sa.column("subject", sa.Text),
    sa.column("event_type", sa.Text),
    sa.column("body", sa.LargeBinary),
    sa.column("headers", JSONB),
    sa.column("created_at", sa.DateTime(timezone=True)),
)

#: One statement object for every stage: its compiled form is cached, parameters travel separately.
_INSERT = sa.insert(_outbox)


async def stage(
    session: AsyncSession,
    event: Event,
    *,
    correlation_id: str | None = None,
    causation_id: UUID | None = None,
) -> Envelope:
    """Record ``event`` in the outbox inside the caller's transaction and return its envelope.

    The correlation id defaults to the one of the current request or event being handled.
    """
    from lkg.common.events.inbox import current_causation_id

    envelope = Envelope.wrap(
        event,
        correlation_id=correlation_id or logmod.correlation_id.get(),
        causation_id=causation_id or current_causation_id.get(),
    )
    await session.execute(
        _INSERT,
        {
            "event_id": envelope.event_id,
            "subject": envelope.subject(),
            "event_type": envelope.type,
            "body": envelope.to_bytes(),
            "headers": _headers(envelope),
        },
    )
    return envelope


def _headers(envelope: Envelope) -> dict[str, str]:
    headers = {
        "Nats-Msg-Id": str(envelope.event_id),
        "Lkg-Type": envelope.type,
        "Lkg-Version": str(envelope.version),
    }
    if envelope.correlation_id:
        headers["Lkg-Correlation-Id"] = envelope.correlation_id
    return headers


class OutboxRelay:
    """Publishes a service's committed outbox rows to JetStream."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        js: JetStreamContext,
        names: Names,
        database_url: str,
        batch_size: int = 500,
        poll_seconds: float = 5.0,
        publish_timeout: float = 10.0,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.service = service
        self.db = db
        self.js = js
        self.names = names
        self.database_url = database_url
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        self._wall_clock = wall_clock
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.published_total = 0
        self._lag_observed = float("-inf")

    async def run(self) -> None:
        """Relay until cancelled: drain, then sleep until a commit notifies us (or the poll fires)."""
        listener = await self._listen()
        try:
            while True:
                try:
                    await self.drain()
                except Exception as exc:  # keep relaying: the rows are still there
                    log.warning("outbox.drain_failed", service=self.service, error=repr(exc))
                    await asyncio.sleep(1.0)
                    listener = await self._relisten(listener)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                self._wake.clear()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        dsn, kwargs = asyncpg_dsn(self.database_url)
        try:
            conn = await asyncpg.connect(dsn, **kwargs)
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            return conn
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox.listen_failed", service=self.service, error=repr(exc))
            return None

    async def _relisten(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        if conn is not None and not conn.is_closed():
            return conn
        return await self._listen()

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Publish every committed row; returns how many were published by this call."""
        total = 0
        async with self._lock:
            while True:
                published = await self._publish_batch()
                total += published
                if published < self.batch_size:
                    break
        # The lag gauges cost a query: refresh them at most once a second, not on every wake-up.
        now = time.monotonic()
        if now - self._lag_observed >= 1.0:
            self._lag_observed = now
            await self._observe_lag()
        return total

    async def _publish_batch(self) -> int:
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    sa.select(
                        _outbox.c.id,
                        _outbox.c.subject,
                        _outbox.c.event_type,
                        _outbox.c.body,
                        _outbox.c.headers,
                    )
                    .order_by(_outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = [
                await self.js.publish_async(
                    self.names.subject(row.subject), row.body, headers=dict(row.headers)
                )
                for row in rows
            ]
            # Any failure raises and rolls back: the rows stay and are published again (same Nats-Msg-Id).
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self.publish_timeout)
            await session.execute(sa.delete(_outbox).where(_outbox.c.id.in_([r.id for r in rows])))
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
        self.published_total += len(rows)
        return len(rows)

    async def pending(self) -> tuple[int, datetime | None]:
        async with self.db.sessions() as session:
            count, oldest = (
                await session.execute(sa.select(sa.func.count(), sa.func.min(_outbox.c.created_at)))
            ).one()
        return count, oldest

    async def _observe_lag(self) -> None:
        count, oldest = await self.pending()
        OUTBOX_PENDING.labels(self.service).set(count)
        lag = (self._wall_clock() - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_LAG.labels(self.service).set(max(lag, 0.0))
