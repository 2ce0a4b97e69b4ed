"""CPU of the producer's side of the outbox: one transaction that stages one event, as a use case commits it.

    python -P bench/stage.py [--transactions 500] [--rounds 9] [--database-url URL]

Starts its own embedded PostgreSQL (or uses ``--database-url``) and measures this process's CPU time
(user + system, ``time.process_time``) per transaction, one transaction at a time, for:

* **library**: ``Database.transaction()`` with one :func:`~lkg.common.events.outbox.stage` (what every
  service does);
* **before**: the same as the library did it before issue 12's second pass (``session.commit()`` and
  ``session.close()`` awaited one after the other, the row inserted with ``session.execute``), kept here
  so that the gain is measured against it in the same run;
* **asyncpg**: BEGIN, the same INSERT, COMMIT on a bare asyncpg connection: the floor, no SQLAlchemy;

and, to split the library's figure: **envelope** (building the envelope and the row, no database) and
**empty session** (``Database.transaction()`` with nothing in it: no connection is checked out).

Variants alternate within each round, so that other work on the machine falls on all of them; the figure
is the median of ``--rounds`` (the minimum is printed too: on a busy machine it is the steadier one). The
database round trips are the same for library, before and asyncpg (BEGIN, INSERT, COMMIT); the difference
is Python. For a count that the machine's load does not move at all, run one variant under callgrind
with ``--only VARIANT --callgrind`` (counters zeroed after the warm-up, dumped after the rounds: the dump's
``summary`` divided by rounds x transactions is the instructions per transaction).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import wall_clock_utc
from lkg.common.db import Database, asyncpg_dsn, ensure_database, make_metadata, with_database
from lkg.common.events.base import Envelope
from lkg.common.events.bus import Names, connect, ensure_streams
from lkg.common.events.contracts import EnrolmentFailed
from lkg.common.events.outbox import _INSERT, _INSERT_SQL, _row, stage
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


class Variants:
    def __init__(self, db: Database, bare: asyncpg.Connection) -> None:
        self.db = db
        self.bare = bare
        #: The relay variants' relay, when a NATS server is given (see :meth:`start_relay`).
        self.relay: OutboxRelay | None = None
        self._published: list[asyncio.Future] = []
        self._publishing = asyncio.Event()

    async def start_relay(self, nats_url: str) -> None:
        """A relay leading in this process, as a service runs it; the futures of what it publishes are
        kept, so that a relay variant waits for the acks it caused (their handling is this process's CPU)."""
        self.nc = await connect(nats_url, name="bench-stage")
        names = Names(f"benchstage{os.getpid()}")
        await ensure_streams(self.nc.jetstream(), names)
        # A database of its own, so that only the relay variants' commits wake it (and a poll that never
        # comes in a run): the other variants' rows are deleted after each of their steps.
        self.relay_db = Database(self.db.url, pool_size=2)
        # What is done per unit of time rather than per event (deleting acknowledged rows after 50 ms, the
        # lag gauges once a second) is left out: under callgrind, some 50 times slower, it would be done
        # per event. Acknowledged rows are deleted 25 at a time (at 500/s: every 50 ms, as deployed).
        relay = OutboxRelay(
            service=f"bench-stage-{os.getpid()}",  # a leader lock of its own
            db=self.relay_db,
            poll_seconds=3600.0,
            batch_size=25,
            delete_delay=3600.0,
            js=self.nc.jetstream(),
            names=names,
            database_url=self.db.url,
            wall_clock=wall_clock_utc,
            nc=self.nc,
        )
        publish_rows = relay._publish_rows

        async def published(rows: Sequence[Any], confirmer: asyncio.Task | None = None) -> list[Any]:
            futures = await publish_rows(rows, confirmer)
            self._published += futures
            self._publishing.set()
            return futures

        relay._publish_rows = published  # type: ignore[method-assign]
        relay._lag_observed = float("inf")  # never due
        self._relay_task = asyncio.create_task(relay.run())
        while not relay.leading:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.relay = relay

    async def stop_relay(self) -> None:
        if self.relay is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
            await self.nc.close()
            await self.relay_db.dispose()

    async def _relayed(self, per_wake: int) -> None:
        """``per_wake`` one-event transactions, then wait until the relay has published them and JetStream
        has acknowledged them: the producing process's CPU per event with the relay's share at
        ``per_wake`` events per wake-up (at 500/s, with its 2 ms coalescing, a wake-up finds 1-2)."""
        assert self.relay is not None
        for _ in range(per_wake):
            async with self.relay_db.transaction() as session:
                await stage(session, EVENT)
        target = per_wake
        while len(self._published) < target:
            self._publishing.clear()
            await self._publishing.wait()
        await asyncio.wait(self._published)
        self._published.clear()

    async def relay1(self) -> None:
        await self._relayed(1)

    async def relay4(self) -> None:
        await self._relayed(4)

    async def library(self) -> None:
        async with self.db.transaction() as session:
            await stage(session, EVENT)

    @asynccontextmanager
    async def _before_transaction(self) -> AsyncIterator[AsyncSession]:
        session = self.db.sessions()
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()

    async def before(self) -> None:
        async with self._before_transaction() as session:
            await session.execute(_INSERT, _row(Envelope.wrap(EVENT)))

    async def asyncpg(self) -> None:
        row = _row(Envelope.wrap(EVENT))
        async with self.bare.transaction():
            await self.bare.execute(
                _INSERT_SQL, row["event_id"], row["subject"], row["event_type"], row["body"], row["headers"]
            )

    async def envelope(self) -> None:
        _row(Envelope.wrap(EVENT))

    async def empty_session(self) -> None:
        async with self.db.transaction():
            pass


NAMES = ("library", "before", "asyncpg", "envelope", "empty_session", "relay1", "relay4")
#: Variants that need NATS (a relay).
RELAY_NAMES = ("relay1", "relay4")
#: Transactions a relay variant's step makes.
PER_STEP = {"relay1": 1, "relay4": 4}


async def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    await ensure_database(url)
    db = Database(url, pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(make_metadata().create_all)
    dsn, kwargs = asyncpg_dsn(url)
    bare = await asyncpg.connect(dsn, **kwargs)
    await bare.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    variants = Variants(db, bare)
    names = args.only or [n for n in NAMES if n not in RELAY_NAMES or args.nats_url]
    if any(n in RELAY_NAMES for n in names):
        await variants.start_relay(args.nats_url)
    steps: dict[str, Callable[[], Awaitable[None]]] = {name: getattr(variants, name) for name in names}
    results: dict[str, list[float]] = {name: [] for name in names}
    try:
        for step in steps.values():  # warm-up: pool, prepared statements, caches
            for _ in range(100):
                await step()
        if args.callgrind:  # count the measured transactions only (run under valgrind --tool=callgrind)
            _callgrind("-z")
        for _ in range(args.rounds):
            for name, step in steps.items():
                steps_run = args.transactions // PER_STEP.get(name, 1)
                began = time.process_time()
                for _ in range(steps_run):
                    await step()
                results[name].append((time.process_time() - began) / (steps_run * PER_STEP.get(name, 1)))
                if name not in RELAY_NAMES:  # the relay's rows are acknowledged (and deleted soon) by now
                    await bare.execute("DELETE FROM outbox_event")
        if args.callgrind:
            _callgrind("-d")
    finally:
        await variants.stop_relay()
        await bare.close()
        await db.dispose()
    return results


def _callgrind(command: str) -> None:
    """Ask callgrind to zero (``-z``) or dump (``-d``) this process's counters; blocking on purpose:
    nothing else of ours runs meanwhile."""
    subprocess.run(["callgrind_control", command, str(os.getpid())], check=False, capture_output=True)


def report(results: dict[str, list[float]], load: Sequence[float]) -> None:
    print(
        f"\nCPU per transaction of this process (median / min of {len(next(iter(results.values())))} rounds)"
    )
    for name, values in results.items():
        print(f"  {name:<14} {statistics.median(values) * 1e6:7.0f} us  {min(values) * 1e6:7.0f} us")
    if "library" in results and "before" in results:
        ratio = statistics.median(results["library"]) / statistics.median(results["before"])
        print(f"  library / before: {ratio:.2f}")
    print(
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
            *load, *os.getloadavg()
        )
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=500, help="transactions per variant per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of an embedded one")
    parser.add_argument(
        "--database-name", default="bench_stage", help="with --database-url: the database to make and use"
    )
    parser.add_argument(
        "--nats-url", help="with --database-url: a NATS server for the relay variants (embedded: its own)"
    )
    parser.add_argument("--only", nargs="+", choices=NAMES, help="these variants only")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under callgrind: zero the counters before the measured rounds and dump them after",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's default event loop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    load = os.getloadavg()
    if args.database_url:
        results = asyncio.run(measure(with_database(args.database_url, args.database_name), args))
    else:
        from lkg.common.runtime.embedded import EmbeddedStack

        with tempfile.TemporaryDirectory(prefix="lkg-bench-stage-") as tmp:
            stack = EmbeddedStack(Path(tmp))
            urls = stack.start()
            args.nats_url = urls.nats_url
            try:
                results = asyncio.run(measure(with_database(urls.database_url, "bench_stage"), args))
            finally:
                stack.stop()
    report(results, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
