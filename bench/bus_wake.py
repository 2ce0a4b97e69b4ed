"""How fast the outbox relay finds a commit, by where the commit happens: the relay's own process, or
another replica whose relay stands by (woken over core NATS, or left to the leader's poll).

    python -P bench/bus_wake.py [--events 300] [--rate 100] [--poll 0.05]

Starts its own embedded PostgreSQL and NATS. Two "replicas" run in this process, each with its own engine,
NATS connection and :class:`~lkg.common.events.relay.OutboxRelay`; the first leads. Per scenario,
``--events`` single-event transactions at ``--rate``/s; latency = the commit returned → the relay's
message seen by a core NATS subscriber on the subject (before the consumer side: bench/bus.py measures the
whole path). Scenarios:

* **leader's process**: the commit's own process leads: the after-commit hook wakes it in-process;
* **standby, NATS wake**: the commit is made in the standby replica, which sends one core NATS message;
* **standby, poll only**: the same without a NATS connection for wake-ups; the leader finds the row at its
  next poll (``--poll`` seconds; deployments poll every 5 s);

The outbox NOTIFY trigger, which woke the relay before (one NOTIFY per commit, under a lock global to the
PostgreSQL server), is what these replace; bench/bus.py measures what it cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from nats.aio.client import Client as NATS

from lkg.common.db import Database, ensure_database, make_metadata, with_database
from lkg.common.events.base import Envelope, wall_clock_utc
from lkg.common.events.bus import Names, connect, ensure_streams
from lkg.common.events.contracts import EnrolmentFailed
from lkg.common.events.outbox import stage
from lkg.common.events.relay import OutboxRelay

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


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Replica:
    def __init__(self, url: str, nats_url: str, names: Names, poll: float, wake_over_nats: bool) -> None:
        self.url, self.nats_url, self.names = url, nats_url, names
        self.poll, self.wake_over_nats = poll, wake_over_nats

    async def start(self) -> None:
        self.db = Database(self.url, pool_size=4)
        self.nc: NATS = await connect(self.nats_url, name="bench-wake")
        self.relay = OutboxRelay(
            service="bench",
            db=self.db,
            js=self.nc.jetstream(),
            names=self.names,
            database_url=self.url,
            poll_seconds=self.poll,
            wall_clock=wall_clock_utc,
            nc=self.nc if self.wake_over_nats else None,
        )
        self.task = asyncio.create_task(self.relay.run())

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.nc.close()
        await self.db.dispose()


async def scenario(name: str, committer: Replica, watcher: NATS, subject: str, args) -> None:
    seen: dict[UUID, float] = {}
    done = asyncio.Event()

    async def on_message(msg) -> None:
        seen[UUID(msg.headers["Nats-Msg-Id"])] = time.perf_counter()
        if len(seen) >= args.events:
            done.set()

    sub = await watcher.subscribe(subject, cb=on_message)
    committed: dict[UUID, float] = {}
    began = time.perf_counter()
    for i in range(args.events):
        delay = began + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        async with committer.db.transaction() as session:
            envelope: Envelope = await stage(session, EVENT)
        committed[envelope.event_id] = time.perf_counter()
    await asyncio.wait_for(done.wait(), timeout=60)
    await sub.unsubscribe()
    latencies = [seen[eid] - at for eid, at in committed.items()]
    print(
        f"{name:<24} {len(latencies):>5} ev @ {args.rate:g}/s   p50 {percentile(latencies, 50) * 1e3:7.1f} ms"
        f"  p99 {percentile(latencies, 99) * 1e3:7.1f} ms  max {max(latencies) * 1e3:7.1f} ms"
    )


async def bench(args, database_url: str, nats_url: str) -> None:
    url = with_database(database_url, "bench_wake")
    await ensure_database(url)
    db = Database(url, pool_size=1)
    async with db.engine.begin() as conn:
        await conn.run_sync(make_metadata().create_all)
    await db.dispose()
    names = Names("benchwake")
    watcher = await connect(nats_url, name="bench-watcher")
    await ensure_streams(watcher.jetstream(), names)
    subject = EnrolmentFailed.subject(names.prefix)
    for label, wake_over_nats in (("NATS wake", True), ("poll only", False)):
        leader = Replica(url, nats_url, names, args.poll, wake_over_nats=True)
        standby = Replica(url, nats_url, names, args.poll, wake_over_nats=wake_over_nats)
        await leader.start()
        while not leader.relay.leading:  # noqa: ASYNC110 (no event for it)
            await asyncio.sleep(0.01)
        await standby.start()
        await asyncio.sleep(0.2)
        assert not standby.relay.leading
        try:
            if wake_over_nats:
                await scenario("leader's process", leader, watcher, subject, args)
            await scenario(f"standby, {label}", standby, watcher, subject, args)
        finally:
            await standby.stop()
            await leader.stop()
    await watcher.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--poll", type=float, default=0.05, help="the leader's poll, seconds")
    args = parser.parse_args(argv)
    from lkg.common.runtime.embedded import EmbeddedStack

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lkg-bench-wake-") as tmp:
        stack = EmbeddedStack(Path(tmp))
        urls = stack.start()
        try:
            asyncio.run(bench(args, urls.database_url, urls.nats_url))
        finally:
            stack.stop()
    print(
        "load average (1, 5, 15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
