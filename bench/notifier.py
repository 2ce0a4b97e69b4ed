"""The notifier's fan-out (issue 14): events from a producer's commit to stored inbox messages.

    python -P bench/notifier.py [--events 10000] [--batch 100] [--staff 4] [--scan-interval 0.05]
                                [--gc-freeze]

Starts its own embedded PostgreSQL and NATS (``sync_interval: always``) in a temporary directory and
stops them at the end. The issues and notifier services run with their real runtimes, each in a process of
its own as deployed (issues, the producer, in a spawned process; the notifier in this one), on
the system clock (the notifier's scans every ``--scan-interval`` seconds, its setting
``LKG_SCAN_INTERVAL_SECONDS``); a directory of one line whose leader post is held and whose service
department has ``--staff`` people is loaded through the real ``org.changed`` path. Then:

* **pipeline**: ``--events`` ``problem.escalated`` events (layer 2, one matter each) are committed into the
  issues service's outbox, ``--batch`` per transaction; the relay publishes them, the notifier's consumer
  keeps each as a notice, its notice scan routes it (rules of the kind, the line leader and the service
  department resolved from the org copy, the template rendered) and stores one inbox message per person
  (1 + ``--staff`` per event: 50,000 for the defaults). Rate = messages / (first commit → last stored);
  latency per event = stored − its producer's commit, where "stored" is when a poller (every 20 ms) first
  sees its notice processed (the notice is marked in the transaction that stores its messages), so
  latencies are rounded up to 20 ms. Printed too: the CPU seconds each process spent meanwhile (on a
  loaded machine, what the rate would be with the cores to itself).
* **baseline**: the same number of rows inserted into a copy of ``inbox_message`` (its indexes too) with
  multi-row INSERTs of 500 rows per statement, one transaction per 5,000 rows, in the same run on the same
  server: the statement prepared once on the driver and run with each chunk's values, so that it measures
  inserting the rows (built as a SQLAlchemy ``insert().values([...])``, compiling a 6,000-parameter statement
  in Python each time cost several times the insert itself). Run before and after the pipeline (the load
  of a shared machine drifts); the ratio is taken against their mean.

Target of the issue: pipeline ≥ 0.3× the baseline's rate; p99 commit → stored printed. The second part of
the issue's benchmark (1,000 SSE clients in another process) is ``bench/notifier_stream.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa

from lkg.common.clock import TZ
from lkg.common.db import asyncpg_dsn, migrate, with_database
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage, stage_many
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.common.settings import ServiceSettings
from lkg.issues.app import SPEC as ISSUES
from lkg.notifier.app import SPEC as NOTIFIER
from lkg.notifier.models import inbox_message, notice

TARGET_RATIO = 0.3
D0 = date(2020, 1, 1)


def org_event(staff: int) -> tuple[c.OrgChanged, uuid.UUID, uuid.UUID]:
    line, leader_post, dept, leadership = (uuid.uuid4() for _ in range(4))
    leader = uuid.uuid4()
    people = [(leader, "李丽")] + [(uuid.uuid4(), f"协调专员{i}") for i in range(staff)]
    posts = [
        c.PostSnapshot(
            id=leader_post,
            revision=1,
            valid_from=D0,
            title="常务副区长",
            unit_id=leadership,
            kind="line_leader",
        )
    ]
    holdings = [
        c.PostHoldingSnapshot(
            id=uuid.uuid4(), revision=1, valid_from=D0, post_id=leader_post, person_id=leader
        )
    ]
    for person, _ in people[1:]:
        post = uuid.uuid4()
        posts.append(
            c.PostSnapshot(id=post, revision=1, valid_from=D0, title="协调专员", unit_id=dept, kind="staff")
        )
        holdings.append(
            c.PostHoldingSnapshot(id=uuid.uuid4(), revision=1, valid_from=D0, post_id=post, person_id=person)
        )
    event = c.OrgChanged(
        aggregate_id=uuid.UUID(int=1),
        revision=1,
        effective_at=datetime.now(TZ),
        units=(
            c.UnitSnapshot(id=leadership, revision=1, valid_from=D0, name="区政府", kind="leadership"),
            c.UnitSnapshot(id=dept, revision=1, valid_from=D0, name="区科经局", kind="department"),
        ),
        posts=tuple(posts),
        people=tuple(c.PersonSnapshot(id=p, revision=1, name=n) for p, n in people),
        holdings=tuple(holdings),
        lines=(
            c.LineSnapshot(
                id=line,
                revision=1,
                valid_from=D0,
                number=2,
                name="第二线",
                leader_post_id=leader_post,
                service_unit_id=dept,
            ),
        ),
    )
    return event, line, dept


def escalated(line: uuid.UUID, dept: uuid.UUID) -> c.ProblemEscalated:
    return c.ProblemEscalated(
        matter_id=uuid.uuid4(),
        title="用地指标未落实",
        layer=2,
        from_layer=1,
        cause="requested",
        line_id=line,
        resolving_unit_id=dept,
        resolving_unit_name="区科经局",
        project_id=uuid.uuid4(),
        project_name="临空港智能制造产业园项目",
        effective_at=datetime.now(TZ),
    )


async def _migrated(base_url: str) -> None:
    await migrate(NOTIFIER.migrations, with_database(base_url, "bench_notifier"))


def _settings(nats_url: str, gc_freeze: bool = False) -> ServiceSettings:
    return ServiceSettings(
        env="test",
        nats_url=nats_url,
        nats_prefix="bench",
        log_level="WARNING",
        gc_freeze_after_start=gc_freeze,
    )


async def _produce(base_url: str, nats_url: str, events: int, batch: int, staff: int, link: Any) -> None:
    """The issues service in a process of its own (as deployed: one service per process): the directory
    staged first, then, when told, ``events`` escalations committed ``batch`` per transaction; sends back
    each cause's commit time, then keeps the relay running until told to stop."""
    base = _settings(nats_url)
    url = with_database(base_url, f"bench_{ISSUES.name}")
    app = build_app([ISSUES], base, {ISSUES.name: settings_for(ISSUES, base, database_url=url)})
    async with app.router.lifespan_context(app):
        issues = app.state.runtimes["issues"]
        org, line, dept = org_event(staff)
        async with issues.db.transaction() as session:
            await stage(session, org)
        link.send("org staged")
        await asyncio.to_thread(link.recv)  # go
        committed: dict[str, float] = {}
        cpu = time.process_time()
        for _ in range(events // batch):
            staged = [escalated(line, dept) for _ in range(batch)]
            async with issues.db.transaction() as session:
                await stage_many(session, staged)
            at = time.perf_counter()
            for e in staged:
                committed[f"{e.matter_id}:L2"] = at
        link.send((committed, time.process_time() - cpu))
        await asyncio.to_thread(link.recv)  # stop
        link.send(time.process_time() - cpu)


def producer_process(base_url: str, nats_url: str, events: int, batch: int, staff: int, link: Any) -> None:
    asyncio.run(_produce(base_url, nats_url, events, batch, staff, link))


@dataclass
class Run:
    elapsed: float
    latencies: list[float]
    messages: int
    #: CPU seconds of the notifier's process and of the producer's (issues: staging and relay).
    notifier_cpu: float
    producer_cpu: float
    #: From the first commit until every event was a notice (relay, bus and consumer).
    heard: float


async def pipeline(args: argparse.Namespace, base_url: str, nats_url: str) -> Run:
    base = _settings(nats_url, gc_freeze=args.gc_freeze)
    for spec in (ISSUES, NOTIFIER):
        await migrate(spec.migrations, with_database(base_url, f"bench_{spec.name}"))
    settings = settings_for(NOTIFIER, base, database_url=with_database(base_url, f"bench_{NOTIFIER.name}"))
    values = settings.model_dump()
    values["scan_interval_seconds"] = args.scan_interval
    app = build_app([NOTIFIER], base, {NOTIFIER.name: NOTIFIER.settings_cls(**values)})
    ctx = multiprocessing.get_context("spawn")
    link, theirs = ctx.Pipe()
    producer = ctx.Process(
        target=producer_process,
        args=(base_url, nats_url, args.events, args.batch, args.staff, theirs),
        daemon=True,
    )
    async with app.router.lifespan_context(app):
        producer.start()
        try:
            notifier = app.state.runtimes["notifier"]
            await asyncio.to_thread(link.recv)  # the directory is staged
            while True:  # and in the notifier's org copy
                async with notifier.db.sessions() as session:
                    if (await session.execute(sa.text("SELECT count(*) FROM org_line_copy"))).scalar_one():
                        break
                await asyncio.sleep(0.05)

            stored: dict[str, float] = {}
            heard: list[float] = []  # when every event was in the notifier's notices (the consumer's part)
            cpu = time.process_time()

            async def poll() -> None:
                last = 0
                while len(stored) < args.events:
                    async with notifier.db.sessions() as session:
                        rows = (
                            await session.execute(
                                sa.select(notice.c.id, notice.c.cause_key)
                                .where(notice.c.processed_at.is_not(None), notice.c.id > last)
                                .order_by(notice.c.id)
                            )
                        ).all()
                        if not heard:
                            count = sa.select(sa.func.count()).select_from(notice)
                            if (await session.execute(count)).scalar_one() >= args.events:
                                heard.append(time.perf_counter())
                    now = time.perf_counter()
                    for row in rows:
                        stored[row.cause_key] = now
                        last = max(last, row.id)
                    await asyncio.sleep(0.02)

            poller = asyncio.create_task(poll())
            started = time.perf_counter()
            link.send("go")
            committed, _ = await asyncio.to_thread(link.recv)
            await asyncio.wait_for(poller, timeout=1200)
            notifier_cpu = time.process_time() - cpu
            link.send("stop")
            producer_cpu = await asyncio.to_thread(link.recv)
        finally:
            producer.join(30)
            if producer.is_alive():
                producer.kill()
        elapsed = max(stored.values()) - started
        async with notifier.db.sessions() as session:
            messages = (
                await session.execute(sa.select(sa.func.count()).select_from(inbox_message))
            ).scalar_one()
        latencies = sorted(stored[k] - committed[k] for k in committed)
        return Run(elapsed, latencies, messages, notifier_cpu, producer_cpu, heard[0] - started)


COLUMNS = (
    "id", "person_id", "kind", "cause_key", "notice_id", "audience", "title", "body", "link", "urgent",
    "created_at", "digest_pending",
)  # fmt: skip


async def baseline(base_url: str, rows: int) -> float:
    """The same rows into a copy of ``inbox_message`` (its indexes too): multi-row INSERTs of 500 rows, one
    transaction per 5,000, the statement prepared once on the driver (asyncpg) and run with each chunk's
    values: what inserting the rows costs, not what building a 6,000-parameter statement in Python does."""
    url = with_database(base_url, "bench_notifier")
    dsn, options = asyncpg_dsn(url)
    connection = await asyncpg.connect(dsn, **options)
    try:
        await connection.execute("DROP TABLE IF EXISTS bench_inbox")
        await connection.execute("CREATE TABLE bench_inbox (LIKE inbox_message INCLUDING ALL)")
        now = datetime.now(TZ)
        values = [
            (
                uuid.uuid4(),
                uuid.uuid4(),
                "problem.escalated",
                f"{uuid.uuid4()}:L2",
                i,
                "line_leader",
                "【上报第二层（包保区级领导）】问题：用地指标未落实",
                "问题「用地指标未落实」已上报至第二层（包保区级领导），请协调督办。",
                "https://lkg.example.gov.cn/problems/x",
                True,
                now,
                False,
            )
            for i in range(rows)
        ]
        width = len(COLUMNS)

        def insert(count: int) -> str:
            tuples = ", ".join(
                "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(count)
            )
            return f"INSERT INTO bench_inbox ({', '.join(COLUMNS)}) VALUES {tuples}"

        statement = await connection.prepare(insert(500))
        started = time.perf_counter()
        for t in range(0, rows, 5000):
            async with connection.transaction():
                for s in range(t, min(t + 5000, rows), 500):
                    chunk = values[s : s + 500]
                    if len(chunk) < 500:  # a last partial chunk (not with the defaults): its own statement
                        await connection.execute(insert(len(chunk)), *[v for row in chunk for v in row])
                    else:
                        await statement.fetch(*[v for row in chunk for v in row])
        return time.perf_counter() - started
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--staff", type=int, default=4)
    parser.add_argument("--scan-interval", type=float, default=0.05)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="start the notifier with gc_freeze_after_start as deployed (its default; off unless asked, as in"
        " the figures so far): a full collection then walks only what the pipeline made, not the whole heap",
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lkg-bench-notifier-") as tmp:
        stack = EmbeddedStack(Path(tmp))
        try:
            base_url = stack.start_postgres()
            nats_url = stack.start_nats()
            messages = args.events * (1 + args.staff)
            # The baseline before and after the pipeline (the machine's load drifts): their mean.
            asyncio.run(_migrated(base_url))
            before = asyncio.run(baseline(base_url, messages))
            run = asyncio.run(pipeline(args, base_url, nats_url))
            elapsed, latencies, messages = run.elapsed, run.latencies, run.messages
            after = asyncio.run(baseline(base_url, messages))
            base_seconds = (before + after) / 2
        finally:
            stack.stop()
    rate = messages / elapsed
    base_rate = messages / base_seconds
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"pipeline: {args.events} events → {messages} inbox messages in {elapsed:.1f} s")
    print(
        f"  = {rate:,.0f} messages/s; every event heard (a notice) {run.heard:.1f} s after the first commit"
    )
    print(
        f"  CPU: notifier process {run.notifier_cpu:.1f} s"
        f" ({run.notifier_cpu / messages * 1e6:.0f} µs a message),"
        f" issues process (staging, relay) {run.producer_cpu:.1f} s"
    )
    p99_ms, max_ms = p99 * 1000, latencies[-1] * 1000
    print(f"  commit → stored: p50 {p50 * 1000:.0f} ms, p99 {p99_ms:.0f} ms, max {max_ms:.0f} ms")
    print(
        f"baseline: {messages} rows, 500 per INSERT (prepared), 5,000 per transaction: {base_seconds:.2f} s"
        f" (before the pipeline {before:.2f} s, after {after:.2f} s)"
    )
    print(f"  = {base_rate:,.0f} rows/s")
    ratio = rate / base_rate
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ratio {ratio:.2f} ({verdict} the target ≥ {TARGET_RATIO})")
    print(
        "load average (1, 5, 15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
