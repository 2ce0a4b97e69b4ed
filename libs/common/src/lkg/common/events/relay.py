"""The outbox relay (docs/events.md): publishes a service's committed outbox rows to JetStream.

* :class:`OutboxRelay` publishes committed rows in id order with ``Nats-Msg-Id`` = event id and deletes them
  only once JetStream has acknowledged them. A crash between publish and delete re-publishes the same ids,
  which JetStream de-duplicates (and the consumers' inboxes would skip anyway).
* Several replicas can run the relay: one leads (a PostgreSQL advisory lock), the others stand by; the
  leader publishes without waiting for each ack (a pipeline), awaits the acks a batch at a time and deletes
  the acknowledged rows with one autocommit statement per batch (or per ``delete_delay`` at a trickle), on
  plain asyncpg connections.
  :meth:`OutboxRelay.drain` (used when the clock settles, and by tests) claims rows with
  ``FOR UPDATE SKIP LOCKED`` and deletes them in the same transaction instead, so it is safe beside the
  leader.
* The relay is woken by the commit (:mod:`lkg.common.events.outbox`). In the
  process that leads, that sets an :class:`asyncio.Event`; in a process whose relay stands by, it also
  sends one core NATS message (coalesced, at most one in flight) that the leader listens to. What neither
  reaches (a commit from a process that runs no relay, a wake-up lost in a NATS reconnect) is found by the
  leader's poll, every ``poll_seconds``.
* In the process that leads, the commit also hands over the rows themselves (``stage`` at the top level
  of a transaction keeps each row, with the id its insert returned, in the session's mark), and the
  leader publishes them in commit order without selecting them: at a trickle, a select per wake-up was
  about a third of the relay's work (bench/stage.py's relay variants). The table is looked at on the
  leader's first pass, on a poll, on a wake-up from another process, for rows staged in a savepoint or by
  ``stage_many``, and while a backlog lasts; rows in flight are skipped whichever way they came. A
  transaction that does not commit takes its rows with it (``Database``'s ``after_transaction_end``).
* Consecutive rows for one stream go as a JetStream **atomic batch** (ADR-50, NATS 2.12; the streams are
  made with ``allow_atomic``): one ack, and one write synced to disk, for up to :data:`ATOMIC_BATCH_MAX`
  rows instead of one each (with ``sync_interval: always`` the sync per message was what limited a
  burst: bench/approvals.py). All or nothing: a batch that JetStream rejects stores nothing. It rejects a
  batch holding an id it has already stored (a relay publishing again after a crash), and a server that
  knows nothing of batches would store the messages without saying so: either way the rows are then
  published again one by one, where ``Nats-Msg-Id`` de-duplicates as before.
* In flight (published, not yet acknowledged) stays under two batches: the leader waits for
  confirmations rather than publishing more, so the client's own limit on pending asynchronous publishes
  (``TooManyStalledMsgsError``) is not reached; if other publishers on the same connection reach it all
  the same, the leader waits for a slot instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from uuid import uuid4

import asyncpg
import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import TooManyStalledMsgsError
from sqlalchemy.dialects.postgresql import ARRAY

from lkg.common import log as logmod
from lkg.common.db import Database, asyncpg_dsn
from lkg.common.events.bus import Names
from lkg.common.events.outbox import Row, _outbox
from lkg.common.metrics import EVENTS_PUBLISHED, OUTBOX_LAG, OUTBOX_PENDING
from lkg.common.tasks import stop_if_cancelled

log = logmod.get_logger(__name__)

#: Rows JetStream has acknowledged (drain's transaction).
_DELETE_CONFIRMED = sa.delete(_outbox).where(
    _outbox.c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.BigInteger)))
)

#: Rows per atomic batch (the server's own limit, ``max_batch_size``, is 1,000 by default).
ATOMIC_BATCH_MAX = 500
#: Shorter runs go one by one (pipelined, ``publish_async``): at a trickle (a few rows per wake-up) atomic
#: batches cost NATS about three times the CPU per event and held messages back from the consumer
#: (bench/bus.py at 500/s, load 2.5: NATS 600-890 against 290 us per event, p99 270-3,400 ms against 18 ms);
#: a burst still goes in batches of up to ``ATOMIC_BATCH_MAX`` (bench/approvals.py).
ATOMIC_BATCH_MIN = 16

#: Rows handed over by commits and not yet published, at most: past that the leader looks at the table
#: (a backlog; the select reads it a batch at a time).
HANDED_MAX = 2 * ATOMIC_BATCH_MAX

# The leader's two statements run on plain asyncpg connections (its listening connection and one for
# deletes): no session or pool is needed for two fixed statements, and going through SQLAlchemy cost about
# twice the CPU of the statement itself (measured: ~450 us per transaction against ~200 us bare).
#: Committed rows in id order, skipping those in flight (one array parameter, however many are in flight).
_SELECT_PENDING_SQL = (
    "SELECT id, subject, event_type, body, headers FROM outbox_event"
    " WHERE id <> ALL($1::bigint[]) ORDER BY id LIMIT $2"
)
#: Acknowledged rows, one autocommit statement per batch: deleting a row twice, or not at all before a
#: crash, only means it is published again under the same ``Nats-Msg-Id``.
_DELETE_CONFIRMED_SQL = "DELETE FROM outbox_event WHERE id = ANY($1::bigint[])"


def _runs(rows: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """``rows`` in order, cut into runs of consecutive rows of one producer's stream (``lkg.<producer>.``),
    each at most :data:`ATOMIC_BATCH_MAX` long: what one atomic batch may hold."""
    start = 0
    for i in range(1, len(rows) + 1):
        if (
            i == len(rows)
            or i - start == ATOMIC_BATCH_MAX
            or _producer(rows[i][1]) != _producer(rows[start][1])
        ):
            yield rows[start:i]
            start = i


def _producer(subject: str) -> str:
    return subject.split(".", 2)[1]


async def _acknowledged(futures: list[asyncio.Future], timeout: float) -> None:
    """Wait until JetStream has acknowledged every publish of ``futures``; raise the first failure, or
    TimeoutError after ``timeout`` seconds. ``asyncio.wait`` rather than ``wait_for(gather(...))``:
    cancelling a gather of plain futures (the relay stopping mid-wait) leaves it holding a CancelledError
    nobody retrieves, which asyncio reports as an error on every stop."""
    _, pending = await asyncio.wait(futures, timeout=timeout)
    if pending:
        raise TimeoutError(f"{len(pending)} of {len(futures)} publishes not acknowledged in {timeout} s")
    for future in futures:
        future.result()


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
        coalesce_seconds: float = 0.002,
        delete_delay: float = 0.05,
        wall_clock: Callable[[], datetime],
        nc: NATS | None = None,
        atomic_min: int = ATOMIC_BATCH_MIN,
    ) -> None:
        """``nc``: the connection for the wake-ups between processes (without it, a commit in another
        process is found by the poll)."""
        self.service = service
        self.db = db
        self.js = js
        self.names = names
        self.database_url = database_url
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        self.coalesce_seconds = coalesce_seconds
        self.delete_delay = delete_delay
        self._wall_clock = wall_clock
        self.nc = nc
        #: Core NATS subject (not in any stream) on which standing-by replicas wake the leader.
        self.wake_subject = names.subject(f"lkg.outbox.wake.{service}")
        self.leading = False
        self._wake = asyncio.Event()
        #: Rows committed in this process and handed over by the commit, in commit order (leading only).
        self._handed: list[Row] = []
        #: Whether the next pass must look at the table (a poll, a wake-up from another process, rows
        #: whose commit did not hand them over, or the first pass of a leader).
        self._select = True
        self._remote_wake_pending = False
        self._confirmed = asyncio.Event()
        self._lock = asyncio.Lock()
        self.published_total = 0
        #: Times the leader has looked at the table (a poll, a wake-up from another process, a backlog).
        self.selects = 0
        self._lag_observed = float("-inf")
        #: Publish consecutive rows of one stream as atomic batches (off once a server ignored one).
        self.atomic = True
        #: Runs shorter than this go one by one.
        self.atomic_min = max(atomic_min, 2)

    async def run(self) -> None:
        """Relay until cancelled. One replica per service leads (a PostgreSQL advisory lock held by its
        listening connection, released if the process dies); the others stand by."""
        self.db.add_outbox_listener(self._committed)
        try:
            await self._run()
        finally:
            self.db.remove_outbox_listener(self._committed)

    async def _run(self) -> None:
        while True:
            stop_if_cancelled()
            listener = await self._leader_connection()
            if listener is None:
                await asyncio.sleep(1.0)
                continue
            try:
                # Standing by: polling a lock (no event tells us when the leader goes).
                while not await listener.fetchval(  # noqa: ASYNC110
                    "SELECT pg_try_advisory_lock($1, $2)", *self._leader_key
                ):
                    await asyncio.sleep(self.poll_seconds)
                log.info("outbox.leading", service=self.service)
                self.leading = True
                await self._lead(listener)
            except asyncio.CancelledError:
                raise
            except (
                Exception
            ) as exc:  # lost the database or NATS for a moment: start over, rows are still there
                log.warning("outbox.relay_failed", service=self.service, error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                self.leading = False
                with contextlib.suppress(Exception):
                    await listener.close()

    @property
    def _leader_key(self) -> tuple[int, int]:
        # Two int4 keys: a constant for "outbox relay" and a hash of the service (one lock per service
        # even when several services share one PostgreSQL server in tests).
        return (0x4C4B4701, zlib.crc32(self.service.encode()) & 0x7FFFFFFF)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        """Pipelined relaying: publish what is committed without waiting for earlier acks; a second task
        confirms acks in order and deletes the confirmed rows. Rows in flight are skipped by the next select
        rather than tracked by a high-water mark, so a row committed late (a smaller id committing after a
        larger one) is still found. ``conn`` is the connection that holds the leader's lock."""
        in_flight: dict[int, asyncio.Future] = {}
        confirm_queue: asyncio.Queue[tuple[int, str, asyncio.Future]] = asyncio.Queue()
        deleter = await self._connect()
        confirmer = asyncio.create_task(self._confirm(confirm_queue, in_flight, deleter))
        wakes = None
        if self.nc is not None:
            wakes = await self.nc.subscribe(self.wake_subject, cb=self._remote_wake)
        self._select, self._handed = True, []
        try:
            while True:
                stop_if_cancelled()
                if confirmer.done():
                    confirmer.result()  # a publish failed: raise, and start over from the table
                # Cleared before the select: a commit that wakes us while we select wakes the wait below.
                self._wake.clear()
                rows, full = await self._next_rows(conn, in_flight)
                for row, future in zip(rows, await self._publish_rows(rows, confirmer), strict=True):
                    in_flight[row[0]] = future
                    confirm_queue.put_nowait((row[0], row[2], future))
                if full:  # a backlog: the next batch at once
                    # Bounded pipeline: past two batches in flight, let confirmations catch up first.
                    while len(in_flight) >= 2 * self.batch_size and not confirmer.done():
                        self._confirmed.clear()
                        confirmed = asyncio.ensure_future(self._confirmed.wait())
                        try:
                            await asyncio.wait(
                                [confirmer, confirmed],
                                timeout=self.publish_timeout,
                                return_when=asyncio.FIRST_COMPLETED,
                            )
                        finally:
                            confirmed.cancel()
                    continue
                # ``asyncio.timeout`` rather than ``wait_for``: no task of its own per wake-up.
                try:
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    self._select = True  # the poll: rows a wake-up did not announce
                # Let commits arriving together share one pass (a wake-up per commit costs more CPU
                # than the latency this adds).
                await asyncio.sleep(self.coalesce_seconds)
        finally:
            confirmer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await confirmer
            # Unconfirmed publishes hold slots of the client's limit on pending publishes: give them back
            # (their rows stay, and the next leader publishes them again under the same Nats-Msg-Id).
            for future in in_flight.values():
                future.cancel()
            if wakes is not None:
                with contextlib.suppress(Exception):
                    await wakes.unsubscribe()
            with contextlib.suppress(Exception):
                await deleter.close()

    async def _next_rows(
        self, conn: asyncpg.Connection, in_flight: dict[int, asyncio.Future]
    ) -> tuple[list[Row], bool]:
        """What to publish next, and whether it is a full batch (more may be waiting): committed rows from
        the table, in id order, when it must be looked at; otherwise the rows handed over by this process's
        commits, in commit order. Rows in flight are skipped either way (a row the select found before its
        commit's hand-over, or the reverse)."""
        if self._select:
            # Every row handed over so far was committed before this select: it finds them.
            self._select, self._handed = False, []
            self.selects += 1
            found = await conn.fetch(_SELECT_PENDING_SQL, list(in_flight), self.batch_size)
            if len(found) == self.batch_size:
                self._select = True  # more behind them
            return found, self._select  # asyncpg's records, indexed as rows
        rows, self._handed = self._handed[: self.batch_size], self._handed[self.batch_size :]
        return [row for row in rows if row[0] not in in_flight], len(rows) == self.batch_size

    async def _publish_rows(
        self, rows: Sequence[Row], confirmer: asyncio.Task | None = None
    ) -> list[asyncio.Future]:
        """Publish ``rows`` without awaiting their acks; one future per row (the rows of an atomic batch
        share one)."""
        futures: list[asyncio.Future] = []
        for run in _runs(rows):
            if len(run) < self.atomic_min or not self.atomic:
                futures += [await self._publish(row, confirmer) for row in run]
            else:
                futures += [await self._publish_atomic(run)] * len(run)
        return futures

    async def _publish(
        self, row: Row, confirmer: asyncio.Task | None, extra: dict[str, str] | None = None
    ) -> asyncio.Future:
        """Publish one row without awaiting the ack. When the client's limit on pending asynchronous
        publishes is reached (other publishers share the connection), wait for slots rather than fail, as
        long as confirmations still arrive."""
        _, subject, _, body, headers = row
        subject = self.names.subject(subject)
        if extra:
            headers = {**headers, **extra}
        while True:
            # A bounded wait only when the client's semaphore is taken: ``wait_for`` with a timeout wraps
            # the acquire in a task of its own, a loop iteration per message (measured: the relay fell
            # behind 16 producers). Below two batches in flight it is free unless others share ``js``.
            semaphore = getattr(self.js, "_publish_async_pending_semaphore", None)
            stall = self.publish_timeout if semaphore is None or semaphore.locked() else None
            try:
                return await self.js.publish_async(subject, body, headers=headers, wait_stall=stall)
            except TooManyStalledMsgsError:
                if confirmer is not None and confirmer.done():
                    confirmer.result()  # acks stopped coming: raise, and start over
                log.warning("outbox.publish_stalled", service=self.service)

    async def _publish_atomic(self, rows: Sequence[Row]) -> asyncio.Future:
        """Publish ``rows`` (one stream's) as one atomic batch: the messages before the last without a
        reply (JetStream answers only the commit), the last with the commit header as a request. Returns
        a future that completes once every row is stored."""
        batch_id = uuid4().hex
        nc = self.js._nc  # the JetStream context's own connection: one ordered stream of messages
        for sequence, (_, subject, _, body, headers) in enumerate(rows, start=1):
            # The header names as plain strings (``api.Header`` is a str enum; the client takes str keys).
            batch = {api.Header.BATCH_ID.value: batch_id, api.Header.BATCH_SEQUENCE.value: str(sequence)}
            if sequence < len(rows):
                await nc.publish(self.names.subject(subject), body, headers={**headers, **batch})
        batch[api.Header.BATCH_COMMIT.value] = "1"
        # Not ``js.publish_async``: nats-py 2.16 raises inside its reply handler on an error answer
        # (``APIError.from_error``) and never completes the future. A request of our own reads the answer.
        commit = nc.request(
            self.names.subject(subject), body, headers={**headers, **batch}, timeout=self.publish_timeout
        )
        return asyncio.ensure_future(self._stored(commit, rows))

    async def _stored(self, commit: Awaitable[Msg], rows: Sequence[Row]) -> None:
        """Wait for an atomic batch's ack; when JetStream rejected the batch (an id it already holds, after
        a crash) or did not treat it as one, publish the rows again one by one."""
        answer = json.loads((await commit).data)
        if "error" in answer:
            error = answer["error"]
            reason = f"{error.get('err_code')}: {error.get('description')}"
        elif answer.get("count") == len(rows):
            return
        else:
            # A server without atomic batches stored them as single messages, unacknowledged but one.
            self.atomic = False
            reason = f"the server did not take {len(rows)} messages as a batch: {answer}"
        log.info("outbox.batch_published_singly", service=self.service, rows=len(rows), reason=reason)
        futures = [await self._publish(row, None) for row in rows]
        await _acknowledged(futures, self.publish_timeout)

    async def _confirm(
        self,
        queue: asyncio.Queue[tuple[int, str, asyncio.Future]],
        in_flight: dict[int, asyncio.Future],
        conn: asyncpg.Connection,
    ) -> None:
        """Await acks of what was published, a batch at a time, in publication order; delete the
        acknowledged rows with one autocommit statement once a batch of them is acknowledged or the oldest
        has waited ``delete_delay`` seconds. At a trickle (a few events per wake-up) a delete per wake-up
        was a commit, and a WAL flush, per wake-up; the rows stay in flight (skipped by the select) until
        deleted, and a crash before the delete only means publishing them again under the same id."""
        loop = asyncio.get_running_loop()
        confirmed: list[int] = []
        by_type: Counter[str] = Counter()
        delete_at = 0.0
        while True:
            if confirmed:
                wait = delete_at - loop.time()
                if wait <= 0 or len(confirmed) >= self.batch_size:
                    await self._delete_confirmed(conn, confirmed)
                    for row_id in confirmed:
                        in_flight.pop(row_id, None)
                    self._confirmed.set()
                    self._count_published(by_type)
                    confirmed, by_type = [], Counter()
                    await self._maybe_observe_lag()
                    continue
                try:
                    async with asyncio.timeout(wait):
                        first = await queue.get()
                except TimeoutError:
                    continue
            else:
                first = await queue.get()
            batch = [first]
            while not queue.empty() and len(batch) < self.batch_size:
                batch.append(queue.get_nowait())
            # Any failed or late ack raises: the leader starts over from the table (the rows stay).
            await _acknowledged([future for _, _, future in batch], self.publish_timeout)
            if not confirmed:
                delete_at = loop.time() + self.delete_delay
            confirmed.extend(row_id for row_id, _, _ in batch)
            by_type.update(event_type for _, event_type, _ in batch)

    async def _delete_confirmed(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        """Delete rows JetStream has acknowledged (the crash test kills a relay here)."""
        await conn.execute(_DELETE_CONFIRMED_SQL, ids)

    def _count_published(self, by_type: Counter[str]) -> None:
        for event_type, n in by_type.items():
            EVENTS_PUBLISHED.labels(self.service, event_type).inc(n)
        self.published_total += by_type.total()

    async def _connect(self) -> asyncpg.Connection:
        """A plain connection for the leader's statements; ``headers`` (jsonb) decoded to a dict."""
        dsn, kwargs = asyncpg_dsn(self.database_url)
        conn = await asyncpg.connect(dsn, **kwargs)
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        return conn

    async def _leader_connection(self) -> asyncpg.Connection | None:
        try:
            return await self._connect()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox.connect_failed", service=self.service, error=repr(exc))
            return None

    def wake(self) -> None:
        """Look at the table now (a caller that knows rows were committed, e.g. after a scan)."""
        self._select = True
        self._wake.set()

    def _committed(self, rows: list[Row] | None = None) -> None:
        """A session of this process that staged rows has committed (called by :class:`Database`), handing
        them over, or None: look at the table."""
        self._wake.set()
        if self.leading:
            if rows is None or len(self._handed) >= HANDED_MAX:
                self._select = True  # the table has them all (a select also forgets what was handed)
            elif not self._select:
                self._handed += rows
            return
        if self.nc is None or self._remote_wake_pending:
            return
        # Standing by: the leader is another process. One wake-up message in flight covers every commit
        # made before it is sent.
        self._remote_wake_pending = True
        asyncio.get_running_loop().create_task(self._send_remote_wake())

    async def _send_remote_wake(self) -> None:
        self._remote_wake_pending = False
        if self.nc is None:  # closed since the wake-up was scheduled
            return
        try:
            await self.nc.publish(self.wake_subject)
        except Exception as exc:  # disconnected: the leader's poll finds the rows
            log.info("outbox.remote_wake_failed", service=self.service, error=repr(exc))

    async def _remote_wake(self, _msg: object) -> None:
        self._select = True  # committed in another process: in the table only
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
        await self._maybe_observe_lag()
        return total

    async def _maybe_observe_lag(self) -> None:
        # The lag gauges cost a query: refresh them at most once a second, not on every wake-up.
        now = time.monotonic()
        if now - self._lag_observed >= 1.0:
            self._lag_observed = now
            await self._observe_lag()

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
            futures = await self._publish_rows([tuple(row) for row in rows])
            # Any failure raises and rolls back: the rows stay and are published again (same Nats-Msg-Id).
            await _acknowledged(futures, self.publish_timeout)
            await session.execute(_DELETE_CONFIRMED, {"ids": [row.id for row in rows]})
        self._count_published(Counter(row.event_type for row in rows))
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
