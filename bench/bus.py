"""Outbox → JetStream → inbox, next to raw nats-py JetStream, on the same servers in the same run.

    python bench/bus.py [--events 5000] [--rate 500] [--seconds 10] [--producers 16]

Starts its own embedded PostgreSQL and NATS (``sync_interval: always``, as deployed) in a temporary
directory and stops them at the end. Four measurements:

* **raw throughput**: ``--events`` events published one at a time with an awaited ``js.publish`` (each
  waits for its ack), read by a durable pull consumer that fetches batches and acks each message. Rate =
  events / (first publish → last ack sent); latency = receipt by the consumer − publish start.
* **outbox throughput**: ``--producers`` concurrent tasks each commit one event per transaction with
  :func:`~lkg.common.events.outbox.stage`; an :class:`~lkg.common.events.outbox.OutboxRelay` (woken by
  NOTIFY) publishes; an :class:`~lkg.common.events.inbox.EventConsumer` whose handler inserts an effect row
  applies them. Rate = events / (first producer transaction begins → last effect committed); latency =
  effect committed − producer's commit returned.
* **outbox at a fixed rate**: ``--rate`` events/s for ``--seconds``, one transaction per event; p50/p99
  commit → committed effect. Target p99 ≤ 20 ms at 500/s.
* **raw at the same fixed rate**, for reference.

"Effect committed" is taken right after the consumer's batch transaction commits: the consumer is given a
:class:`TimedDatabase` whose ``transaction()`` notes the time once ``session.begin()`` has committed and
stamps every event id the handler recorded in ``session.info``. Times are ``time.perf_counter()``; the
bench may read the system clock.

Producers, relay and consumer run in one process on one event loop (uvloop when installed, as uvicorn
runs the services), each with its own NATS connection and its own connection pool: this machine has two
cores shared with PostgreSQL and NATS, so figures are noisy and CPU-bound; run it twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/bus.py``, bench/ comes first on sys.path and its http.py would shadow the
# standard library's http package (imported by prometheus_client, urllib): take bench/ off the path.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.db import OUTBOX_NOTIFY_DDL, Database, ensure_database, make_metadata, with_database
from lkg.common.events.base import Envelope, wall_clock_utc
from lkg.common.events.bus import Names, connect, ensure_streams
from lkg.common.events.contracts import EnrolmentFailed
from lkg.common.events.inbox import ConsumerOptions, EventConsumer, Subscription
from lkg.common.events.outbox import OutboxRelay, stage
from lkg.common.runtime.embedded import EmbeddedStack

#: Targets of the issue: the outbox path keeps at least half the raw rate, and p99 ≤ 20 ms at 500/s.
TARGET_RATIO = 0.5
TARGET_P99_SECONDS = 0.020

#: Events pushed through each path before measuring (pools, pull subscriptions, JIT-less warm caches).
WARMUP_EVENTS = 200

#: The key under ``session.info`` where the bench handler lists the events whose effect it wrote.
EFFECTS_KEY = "bench_effects"

metadata = make_metadata()
effect = sa.Table(
    "bench_effect",
    metadata,
    sa.Column("event_id", PG_UUID(as_uuid=True), primary_key=True),
)

#: One event, re-staged many times: ``stage`` wraps it in a new envelope (a new event id) each time.
EVENT = EnrolmentFailed(
    effective_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    project_id=UUID("0190f0c0-0000-7000-8000-000000000001"),
    project_name="临空港电子信息产业园二期",
    responsible_unit_id=UUID("0190f0c0-0000-7000-8000-000000000002"),
    year=2026,
    month=10,
    reason="统计入库资料不全",
    reported_by_unit_id=UUID("0190f0c0-0000-7000-8000-000000000003"),
)


# ---- results ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 is a latency that some event really had)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class RunResult:
    name: str
    events: int
    seconds: float
    latencies: list[float]
    #: Optional split of the latency: (label, per-event seconds) for the stages of the path.
    stages: list[tuple[str, list[float]]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")

    def p(self, q: float, values: Sequence[float] | None = None) -> float:
        return percentile(self.latencies if values is None else values, q)

    def line(self) -> str:
        text = (
            f"{self.name:<28} {self.events:>6} ev in {self.seconds:6.2f} s = {self.rate:7.0f}/s"
            f"   p50 {self.p(50) * 1e3:6.1f} ms  p99 {self.p(99) * 1e3:6.1f} ms"
            f"  max {max(self.latencies, default=float('nan')) * 1e3:6.1f} ms"
        )
        for label, values in self.stages:
            text += (
                f"\n{'':<30}{label:<26} p50 {self.p(50, values) * 1e3:6.1f} ms"
                f"  p99 {self.p(99, values) * 1e3:6.1f} ms"
            )
        return text


# ---- raw JetStream --------------------------------------------------------------------------------


class RawPath:
    """Awaited ``js.publish`` (a round trip and an fsync per event) → durable pull consumer, ack each."""

    durable = "bench_raw"

    def __init__(self, nats_url: str, names: Names, *, batch: int, fetch_timeout: float) -> None:
        self.nats_url = nats_url
        self.names = names
        self.batch = batch
        self.fetch_timeout = fetch_timeout
        self.subject = EnrolmentFailed.subject(names.prefix)
        self.payload = Envelope.wrap(EVENT).to_bytes()  # the same size as an outbox event
        self._seq = 0
        self._received: dict[int, float] = {}
        self._sent: dict[int, float] = {}
        self._target = 0
        self._all_in = asyncio.Event()
        self._last_ack = 0.0

    async def start(self) -> None:
        self.pub: NATS = await connect(self.nats_url, name="bench-raw-publisher")
        self.sub_nc: NATS = await connect(self.nats_url, name="bench-raw-consumer")
        self.js = self.pub.jetstream()
        sjs = self.sub_nc.jetstream()
        stream = self.names.stream(EnrolmentFailed.producer)
        await sjs.add_consumer(
            stream,
            api.ConsumerConfig(
                durable_name=self.durable,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=60,
                max_ack_pending=5000,  # the default 1000 would stall a backlog silently (NOTES.md)
                filter_subject=self.subject,
            ),
        )
        self.psub = await sjs.pull_subscribe_bind(durable=self.durable, stream=stream)
        self._consumer = asyncio.create_task(self._consume(), name="bench-raw-consumer")
        await self.throughput(WARMUP_EVENTS)

    async def stop(self) -> None:
        self._consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer
        await self.pub.close()
        await self.sub_nc.close()

    async def _consume(self) -> None:
        while True:
            try:
                msgs = await self.psub.fetch(self.batch, timeout=self.fetch_timeout)
            except TimeoutError:
                continue
            received = time.perf_counter()
            for msg in msgs:
                self._received[int(msg.headers["Bench-Seq"])] = received
                await msg.ack()
            self._last_ack = time.perf_counter()
            if len(self._received) >= self._target:
                self._all_in.set()

    async def _publish_one(self) -> None:
        self._seq += 1
        seq = self._seq
        started = time.perf_counter()
        self._sent[seq] = started
        await self.js.publish(
            self.subject,
            self.payload,
            headers={"Nats-Msg-Id": f"raw-{seq}", "Bench-Seq": str(seq)},
        )

    def _reset(self, events: int) -> None:
        self._sent.clear()
        self._received.clear()
        self._target = events
        self._all_in.clear()

    def _result(self, name: str, began: float) -> RunResult:
        latencies = [self._received[seq] - sent for seq, sent in self._sent.items()]
        return RunResult(name, len(latencies), self._last_ack - began, latencies)

    async def throughput(self, events: int) -> RunResult:
        self._reset(events)
        began = time.perf_counter()
        for _ in range(events):
            await self._publish_one()
        await self._all_in.wait()
        return self._result("raw JetStream", began)

    async def paced(self, rate: float, seconds: float) -> RunResult:
        events = round(rate * seconds)
        self._reset(events)
        began = time.perf_counter()
        for i in range(events):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._publish_one()
        await self._all_in.wait()
        return self._result(f"raw JetStream @ {rate:g}/s", began)


# ---- outbox → relay → JetStream → inbox consumer -----------------------------------------------------


@dataclass
class TimedDatabase(Database):
    """The consumer's database: notes when each batch transaction has committed, per applied event."""

    committed: dict[UUID, float] = field(default_factory=dict)
    target: int = 0
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            async with session.begin():
                yield session
            done = time.perf_counter()  # session.begin() has committed: the effect is durable now
            for event_id in session.info.pop(EFFECTS_KEY, ()):
                self.committed[event_id] = done
            if self.target and len(self.committed) >= self.target:
                self.all_in.set()


@dataclass
class TimedConsumer(EventConsumer):
    """Notes when each message reached the consumer (to split the latency into relay+bus and apply)."""

    received: dict[UUID, float] = field(default_factory=dict)

    async def process(self, msgs: Sequence[Msg]) -> list[Any]:
        now = time.perf_counter()
        for msg in msgs:
            self.received[UUID(msg.headers["Nats-Msg-Id"])] = now
        return await super().process(msgs)


async def record_effect(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """The consumer's effect: one row per event, in the inbox transaction."""
    await session.execute(sa.insert(effect).values(event_id=envelope.event_id))
    session.info.setdefault(EFFECTS_KEY, []).append(envelope.event_id)


class OutboxPath:
    """A producer service (its pool and relay) and a consumer service (its pool and EventConsumer)."""

    def __init__(
        self,
        database_url: str,
        nats_url: str,
        names: Names,
        *,
        producers: int,
        relay_batch: int,
        consumer_options: ConsumerOptions,
    ) -> None:
        self.database_url = database_url
        self.nats_url = nats_url
        self.names = names
        self.producers = producers
        self.relay_batch = relay_batch
        self.consumer_options = consumer_options
        self.committed: dict[UUID, float] = {}

    async def start(self) -> None:
        self.producer_db = Database(self.database_url, pool_size=self.producers + 2)
        self.consumer_db = TimedDatabase(self.database_url, pool_size=2)
        self.relay_nc = await connect(self.nats_url, name="bench-relay")
        self.consumer_nc = await connect(self.nats_url, name="bench-consumer")
        self.relay = OutboxRelay(
            service="bench",
            db=self.producer_db,
            js=self.relay_nc.jetstream(),
            names=self.names,
            database_url=self.database_url,
            batch_size=self.relay_batch,
            wall_clock=wall_clock_utc,
        )
        self.consumer = TimedConsumer(
            consumer="bench_outbox",
            db=self.consumer_db,
            nc=self.consumer_nc,
            js=self.consumer_nc.jetstream(),
            names=self.names,
            subscriptions=[Subscription(EnrolmentFailed, record_effect)],
            options=self.consumer_options,
        )
        await self.consumer.ensure()
        self._tasks = [
            asyncio.create_task(self.relay.run(), name="bench-relay"),
            asyncio.create_task(self.consumer.run(), name="bench-consumer"),
        ]
        await asyncio.sleep(0.5)  # the relay's LISTEN is in place before the first commit
        await self.throughput(WARMUP_EVENTS)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.relay_nc.close()
        await self.consumer_nc.close()
        await self.producer_db.dispose()
        await self.consumer_db.dispose()

    async def _commit_one(self) -> None:
        async with self.producer_db.transaction() as session:
            envelope = await stage(session, EVENT)
        self.committed[envelope.event_id] = time.perf_counter()

    def _reset(self, events: int) -> None:
        self.committed.clear()
        self.consumer.received.clear()
        self.consumer_db.committed.clear()
        self.consumer_db.target = events
        self.consumer_db.all_in.clear()

    def _result(self, name: str, began: float) -> RunResult:
        done = self.consumer_db.committed
        received = self.consumer.received
        latencies = [done[eid] - at for eid, at in self.committed.items()]
        return RunResult(
            name,
            len(latencies),
            max(done.values()) - began,
            latencies,
            stages=[
                ("commit → fetched", [received[eid] - at for eid, at in self.committed.items()]),
                ("fetched → effect commit", [done[eid] - received[eid] for eid in self.committed]),
            ],
        )

    async def throughput(self, events: int) -> RunResult:
        self._reset(events)
        remaining = iter(range(events))

        async def producer() -> None:
            for _ in remaining:  # shared: each task takes the next event
                await self._commit_one()

        began = time.perf_counter()
        await asyncio.gather(*(producer() for _ in range(self.producers)))
        await self.consumer_db.all_in.wait()
        return self._result(f"outbox ({self.producers} producers)", began)

    async def paced(self, rate: float, seconds: float) -> RunResult:
        events = round(rate * seconds)
        self._reset(events)
        pending: set[asyncio.Task[None]] = set()
        began = time.perf_counter()
        for i in range(events):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._commit_one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        await self.consumer_db.all_in.wait()
        return self._result(f"outbox @ {rate:g}/s", began)


# ---- the run --------------------------------------------------------------------------------------


async def prepare_database(base_url: str) -> str:
    url = with_database(base_url, "bench")
    await ensure_database(url)
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for statement in OUTBOX_NOTIFY_DDL:
                await conn.execute(sa.text(statement))
    finally:
        await db.dispose()
    return url


async def bench(args: argparse.Namespace, database_url: str, nats_url: str) -> list[RunResult]:
    url = await prepare_database(database_url)
    admin = await connect(nats_url, name="bench-admin")
    raw_names, outbox_names = Names("benchraw"), Names("benchoutbox")
    await ensure_streams(admin.jetstream(), raw_names)
    await ensure_streams(admin.jetstream(), outbox_names)
    await admin.close()
    options = ConsumerOptions(batch_size=args.consumer_batch, fetch_timeout=args.fetch_timeout)

    raw = RawPath(nats_url, raw_names, batch=args.consumer_batch, fetch_timeout=args.fetch_timeout)
    outbox = OutboxPath(
        url,
        nats_url,
        outbox_names,
        producers=args.producers,
        relay_batch=args.relay_batch,
        consumer_options=options,
    )
    results: list[RunResult] = []
    await raw.start()
    await outbox.start()
    try:
        results.append(await raw.throughput(args.events))
        results.append(await outbox.throughput(args.events))
        results.append(await outbox.paced(args.rate, args.seconds))
        results.append(await raw.paced(args.rate, args.seconds))
    finally:
        await outbox.stop()
        await raw.stop()
    return results


def report(args: argparse.Namespace, results: list[RunResult]) -> bool:
    raw, outbox, paced, raw_paced = results
    ratio = outbox.rate / raw.rate
    p99 = paced.p(99)
    rows: list[tuple[str, str, str, str]] = [
        ("raw JetStream rate", f"{raw.rate:.0f}/s", "", ""),
        ("outbox rate", f"{outbox.rate:.0f}/s", "", ""),
        ("outbox / raw", f"{ratio:.2f}", f">= {TARGET_RATIO}", _verdict(ratio >= TARGET_RATIO)),
        (f"outbox p50 @ {args.rate:g}/s", f"{paced.p(50) * 1e3:.1f} ms", "", ""),
        (
            f"outbox p99 @ {args.rate:g}/s",
            f"{p99 * 1e3:.1f} ms",
            f"<= {TARGET_P99_SECONDS * 1e3:g} ms",
            _verdict(p99 <= TARGET_P99_SECONDS),
        ),
        (
            f"raw p50/p99 @ {args.rate:g}/s",
            f"{raw_paced.p(50) * 1e3:.1f}/{raw_paced.p(99) * 1e3:.1f} ms",
            "",
            "",
        ),
    ]
    print()
    for result in results:
        print(result.line())
    print()
    print(f"{'measure':<26} {'value':>14}  {'target':>10}  verdict")
    for name, value, target, verdict in rows:
        print(f"{name:<26} {value:>14}  {target:>10}  {verdict}")
    print(
        f"\n(producers {args.producers}, relay batch {args.relay_batch}, consumer batch "
        f"{args.consumer_batch}, fetch timeout {args.fetch_timeout:g} s, loop {_loop_name()})"
    )
    return ratio >= TARGET_RATIO and p99 <= TARGET_P99_SECONDS


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _loop_name() -> str:
    return type(asyncio.get_event_loop_policy()).__module__.split(".")[0]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per throughput run")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the paced runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the paced runs")
    parser.add_argument("--producers", type=int, default=16, help="concurrent producer tasks")
    parser.add_argument("--relay-batch", type=int, default=500, help="OutboxRelay batch_size")
    parser.add_argument("--consumer-batch", type=int, default=100, help="fetch batch (both consumers)")
    parser.add_argument(
        "--fetch-timeout", type=float, default=1.0, help="fetch timeout in seconds (both consumers)"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's default event loop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with tempfile.TemporaryDirectory(prefix="lkg-bench-bus-") as tmp:
        stack = EmbeddedStack(Path(tmp))
        urls = stack.start()
        try:
            results = asyncio.run(bench(args, urls.database_url, urls.nats_url))
        finally:
            stack.stop()
    return 0 if report(args, results) else 1


if __name__ == "__main__":
    sys.exit(main())
