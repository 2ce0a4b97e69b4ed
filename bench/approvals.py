"""The approvals stall scan on 1,000,000 open clocks, next to a plain indexed SELECT of the same rows.

    .venv/bin/python -P bench/approvals.py [--total 1000000] [--due-share 0.01] [--repeat 200]

Issue #4: "stall scan with 1,000,000 open items of which 1% are due: time to find and emit them, and the
scan's cost when nothing is due, next to a plain indexed SELECT of the same rows in the same run. Target:
scan with nothing due ≤ 10 ms regardless of the total; 10,000 stalls emitted ≤ 5 s."

What it runs, on an embedded PostgreSQL and NATS JetStream (``sync_interval: always``, as deployed) started
in a temporary directory (or the PostgreSQL server of ``LKG_BENCH_DATABASE_URL``, database
``lkg_bench_approvals``, dropped and made again):

1. The approvals database migrated to head; ``--total`` plans' worth of rows loaded with binary COPY from
   generators: 100 items per plan, one running limit clock per item. ``--due-share`` of the clocks are past
   their due time at the bench's "now" (2020-06-01 09:00 +08:00, the simulated clock) and already warned, so
   each is one breach; the others fall due over the next 60 days (their next scan instant is the warning).
2. The real service: a :class:`~lkg.common.runtime.service.ServiceRuntime` of the approvals ``SPEC`` (outbox
   relay to JetStream running, simulated clock), and the function its ``approval_clocks`` scan runs,
   :func:`lkg.approvals.clocks.scan_clocks`.
3. **Nothing due**: ``--repeat`` scans up to a time before every due row, first with 1% of the rows loaded,
   then with all of them (the cost should not grow with the total); next to a plain indexed SELECT of the
   same rows (``next_at <= until ORDER BY next_at LIMIT 500``) as one statement on a pooled connection, no
   transaction: the least it can cost to ask.
4. **Stalls**: the plain indexed SELECT of the due rows (the floor: reading them), then what a clock jump
   to "now" runs, ``runtime.run_scans`` (the stall scan, then the start-at-risk scan, then the relay
   woken): every due clock marked breached once, an ``approval.stalled`` outbox row and a history line
   written in the scan's transactions, the relay publishing each batch once it commits, in this process,
   while the scan goes on; "emitted" = from the call until the relay has published every one to JetStream
   (counted in the stream). Printed with it: how many were published while the scan ran, the rest's time
   and rate (the relay alone), and this process's CPU time (``--profile N``: the scan under cProfile).
   Checked afterwards: as many breached clocks, stream messages and history lines as due rows, an empty
   outbox, and a second scan that acts on nothing (once per breach).
5. Nothing due again, after the breaches (the steady state of a running service).

Prints p50/p99 of the empty scans, the stall time, the SELECT baselines, the ratios, MET/MISSED per target
and the load average. Exit status 0 whether or not a target is met (bench/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/approvals.py`` (without -P), bench/ comes first on sys.path and its http.py would
# shadow the standard library's http package: take bench/ off the path.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.append(str(Path(__file__).resolve().parent))  # at the end: bench/_hog.py, shadowing nothing

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import sqlalchemy as sa
from _hog import CpuHog  # bench/, appended to sys.path above

from lkg.approvals.app import SPEC as APPROVALS
from lkg.approvals.models import ApprovalClock
from lkg.approvals.scans import scan_clocks
from lkg.approvals.settings import ApprovalsSettings
from lkg.common.clock import TZ
from lkg.common.db import asyncpg_dsn, migrate, with_database
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.common.runtime.service import Platform, ServiceRuntime

TARGET_EMPTY_SECONDS = 0.010
TARGET_STALLS = 10_000
TARGET_STALL_SECONDS = 5.0
#: How long the run waits for the relay to publish every stall before it reports the run inconsistent.
EMIT_TIMEOUT_SECONDS = 300.0

NOW = datetime(2020, 6, 1, 9, tzinfo=TZ)
ITEMS_PER_PLAN = 100
DATABASE = "lkg_bench_approvals"
PREFIX = "benchap"


# ---- rows ------------------------------------------------------------------------------------------


def _uuid(kind: int, n: int) -> uuid.UUID:
    """Ordered ids (a kind in the high bits): index-friendly like the service's own, and cheap to make."""
    return uuid.UUID(int=(0x0190_0000 + kind) << 96 | n)


@dataclass(frozen=True)
class Layout:
    total: int
    due_every: int  # one clock in this many is due

    def is_due(self, n: int) -> bool:
        return n % self.due_every == 0

    @property
    def due(self) -> int:
        return len(range(0, self.total, self.due_every))


PLAN_COLUMNS = [
    "id",
    "revision",
    "project_id",
    "project_revision",
    "project_name",
    "responsible_unit_id",
    "project_class",
    "fast_track",
    "project_status",
    "start_at_risk",
    "created_at",
    "updated_at",
]
ITEM_COLUMNS = [
    "id",
    "revision",
    "plan_id",
    "project_id",
    "catalogue_item_id",
    "code",
    "name",
    "handling_unit_id",
    "handling_unit_name",
    "state",
    "mode",
    "limit_days",
    "limit_unit",
    "prerequisites",
    "start_gate",
    "prereviewed_days",
    "submitted_at",
    "accepted_at",
    "document_refs",
    "position",
    "updated_at",
]
CLOCK_COLUMNS = [
    "id",
    "item_id",
    "project_id",
    "kind",
    "started_at",
    "budget",
    "unit",
    "pauses",
    "due_at",
    "warn_at",
    "next_at",
    "provisional",
    "state",
    "warned_at",
]

UNIT = uuid.UUID("00000000-0000-4000-8000-00000000b001")
CATALOGUE_ITEM = uuid.UUID("00000000-0000-4000-8000-00000000c001")


def plans(first: int, last: int) -> Iterator[tuple]:
    for p in range(first, last):
        pid = _uuid(1, p)
        yield (pid, 1, pid, 1, f"基准项目{p}", UNIT, "new_start", False, "active", False, NOW, NOW)


def items(first: int, last: int) -> Iterator[tuple]:
    accepted = NOW - timedelta(days=20)
    for n in range(first, last):
        p = n // ITEMS_PER_PLAN
        yield (
            _uuid(2, n), 1, _uuid(1, p), _uuid(1, p), CATALOGUE_ITEM, f"item_{n % ITEMS_PER_PLAN}", "环评",
            UNIT, "区生态环境局", "accepted", "standard", 20, "working", "[]", False, 3, accepted, accepted,
            "[]", n % ITEMS_PER_PLAN, accepted,
        )  # fmt: skip


def clocks(layout: Layout, first: int, last: int) -> Iterator[tuple]:
    started = NOW - timedelta(days=20)
    day = timedelta(days=1)
    for n in range(first, last):
        if layout.is_due(n):
            # Due within the day before "now", already warned: the scan's next act is the breach.
            due = NOW - day + day * (n / layout.total)
            warn, next_at, warned = due - 4 * day, due, due - 4 * day
        else:
            due = NOW + timedelta(hours=1) + 60 * day * (n / layout.total)
            warn, next_at, warned = due - 4 * day, due - 4 * day, None
            if warn <= NOW:
                warn = next_at = NOW + timedelta(minutes=30)
        yield (
            _uuid(3, n), _uuid(2, n), _uuid(1, n // ITEMS_PER_PLAN), "limit", started, 20, "working", "[]",
            due, warn, next_at, False, "running", warned,
        )  # fmt: skip


#: The tables a load fills; their foreign keys and secondary indexes are set aside during a bulk load.
LOADED = ("approval_item", "approval_clock")


async def load(
    conn: asyncpg.Connection, layout: Layout, first: int, last: int, *, bulk: bool = False
) -> float:
    """COPY (binary) rows ``first..last`` of items and clocks, and their plans; returns seconds.

    ``bulk``: as pg_restore does, the foreign keys and secondary indexes (not the primary keys) are dropped
    first and made again afterwards from their own definitions, so the schema ends as migrated; then
    ``VACUUM ANALYZE``, so the measurements do not share the machine with autovacuum's first pass."""
    started = time.perf_counter()
    restore: list[str] = []
    if bulk:
        tables = list(LOADED)
        for table, name, definition in await conn.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY($1) AND contype IN ('f', 'u') ORDER BY contype DESC",
            tables,
        ):
            await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in await conn.fetch(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary",
            tables,
        ):
            await conn.execute(f"DROP INDEX {name}")
            restore.append(definition)
    first_plan, last_plan = first // ITEMS_PER_PLAN, -(-last // ITEMS_PER_PLAN)
    await conn.copy_records_to_table(
        "approval_plan", records=plans(first_plan, last_plan), columns=PLAN_COLUMNS
    )
    await conn.copy_records_to_table("approval_item", records=items(first, last), columns=ITEM_COLUMNS)
    await conn.copy_records_to_table(
        "approval_clock", records=clocks(layout, first, last), columns=CLOCK_COLUMNS
    )
    # Unique constraints and indexes first, then the foreign keys that lean on them.
    for statement in sorted(restore, key=lambda s: "FOREIGN KEY" in s):
        await conn.execute(statement)
    await conn.execute("VACUUM ANALYZE approval_plan, approval_item, approval_clock")
    return time.perf_counter() - started


# ---- measuring -------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def timed(repeat: int, step: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(10, repeat)):  # warm: pools, prepared statements, caches
        await step()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await step()
        samples.append(time.perf_counter() - started)
    return samples


def _due_select(until: datetime, limit: int | None) -> sa.Select:
    table = ApprovalClock.__table__
    stmt = sa.select(table).where(table.c.next_at <= until).order_by(table.c.next_at)
    return stmt.limit(limit) if limit else stmt


@dataclass
class EmptyRun:
    label: str
    scan: list[float]
    select: list[float]

    def line(self) -> str:
        s50, s99, q50, q99 = (
            pct(self.scan, 50),
            pct(self.scan, 99),
            pct(self.select, 50),
            pct(self.select, 99),
        )
        return (
            f"{self.label:<34} scan p50 {s50 * 1e3:6.2f} ms  p99 {s99 * 1e3:6.2f} ms   "
            f"plain SELECT p50 {q50 * 1e3:6.2f} ms  p99 {q99 * 1e3:6.2f} ms   "
            f"scan/SELECT p50 {s50 / q50:4.1f}x"
        )


async def empty_run(runtime: ServiceRuntime, label: str, until: datetime, repeat: int) -> EmptyRun:
    async def scan() -> None:
        acted = await scan_clocks(runtime, until)
        assert acted == 0, f"nothing should be due up to {until}, the scan acted on {acted}"

    async def select() -> None:
        # The floor: the same question as one statement on a pooled connection, no transaction around it.
        async with runtime.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            assert (await conn.execute(_due_select(until, 500))).first() is None

    # Interleaved in rounds so that background noise falls on both.
    scans: list[float] = []
    selects: list[float] = []
    rounds = 5
    for _ in range(rounds):
        scans += await timed(repeat // rounds, scan)
        selects += await timed(repeat // rounds, select)
    return EmptyRun(label, scans, selects)


async def stream_count(runtime: ServiceRuntime) -> int:
    info = await runtime.js.stream_info(runtime.names.stream("approvals"))
    return info.state.messages


async def count(runtime: ServiceRuntime, sql: str) -> int:
    async with runtime.db.sessions() as session:
        return int(await session.scalar(sa.text(sql)))


async def explain(runtime: ServiceRuntime, until: datetime) -> str:
    """PostgreSQL's plan for the scan's select: it must walk the partial index on ``next_at``."""
    async with runtime.db.sessions() as session:
        plan = await session.execute(
            sa.text(
                "EXPLAIN SELECT * FROM approval_clock WHERE next_at <= :until ORDER BY next_at LIMIT 500 "
                "FOR UPDATE SKIP LOCKED"
            ),
            {"until": until},
        )
        return " / ".join(line.strip() for (line,) in plan.all())


# ---- the run ---------------------------------------------------------------------------------------


async def fresh_database(base_url: str) -> str:
    url = with_database(base_url, DATABASE)
    dsn, kwargs = asyncpg_dsn(with_database(base_url, "postgres"))
    admin = await asyncpg.connect(dsn, **kwargs)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()
    await migrate(APPROVALS.migrations, url)
    return url


async def bench(args: argparse.Namespace, base_url: str, nats_url: str) -> dict:
    layout = Layout(total=args.total, due_every=round(1 / args.due_share))
    url = await fresh_database(base_url)
    dsn, kwargs = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn, **kwargs)
    settings = ApprovalsSettings(
        env="development",
        database_url=url,
        nats_url=nats_url,
        nats_prefix=PREFIX,
        clock="simulated",
        simulated_start=NOW,
        log_level="WARNING",
    )
    platform = Platform(settings)
    await platform.start()
    runtime = ServiceRuntime(spec=APPROVALS, settings=settings, platform=platform)
    await runtime.start()
    platform.runtimes[APPROVALS.name] = runtime
    results: dict = {"layout": layout}
    before_any = NOW - timedelta(days=2)
    try:
        small = layout.total // 100
        results["load_small"] = await load(conn, layout, 0, small)
        results["empty_small"] = await empty_run(
            runtime, f"nothing due, {small:,} clocks", before_any, args.repeat
        )
        results["load_rest"] = await load(conn, layout, small, layout.total, bulk=True)
        loaded = results["load_small"] + results["load_rest"]
        print(f"loaded {layout.total:,} items and clocks in {loaded:.1f} s")
        results["empty_full"] = await empty_run(
            runtime, f"nothing due, {layout.total:,} clocks", before_any, args.repeat
        )
        results["explain"] = await explain(runtime, NOW)

        # The floor: reading the due rows through the same index, nothing else.
        async def read_due() -> None:
            async with runtime.db.sessions() as session:
                rows = (await session.execute(_due_select(NOW, None))).all()
                assert len(rows) == layout.due, (len(rows), layout.due)

        results["select_due"] = await timed(5, read_due)

        base_messages = await stream_count(runtime)
        runtime.relay.atomic = not args.no_atomic
        profiler = cProfile.Profile() if args.profile else None
        results["stall_load"] = loadavg()
        hog = CpuHog(args.hog_cpu).__enter__()  # busy on one core from here until every stall is published
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler:
            profiler.enable()
        # What a clock jump to "now" runs (the settle of a clock move, or the scan loop's next turn): every
        # scan of the service, the stalls first, then the start-at-risk verdicts; it wakes the relay.
        acted = await runtime.run_scans(NOW)
        if profiler:
            profiler.disable()
        results["scan_seconds"] = time.perf_counter() - started
        results["scan_cpu_seconds"] = time.process_time() - cpu_started
        # The relay publishes each batch as soon as it commits, in this process, while the scan goes on:
        # what it had published when the scan returned, and what was left for it alone.
        results["published_at_scan_end"] = await stream_count(runtime) - base_messages
        runtime.relay.wake()
        give_up = started + EMIT_TIMEOUT_SECONDS
        while await stream_count(runtime) - base_messages < acted:
            if time.perf_counter() > give_up:  # a relay that stopped publishing: report it, do not hang
                print(f"the relay published {await stream_count(runtime) - base_messages:,} of {acted:,}")
                break
            await asyncio.sleep(0.005)
        results["emit_seconds"] = time.perf_counter() - started
        results["emit_cpu_seconds"] = time.process_time() - cpu_started
        hog.__exit__(None, None, None)
        results["hog"] = hog.describe()
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        results["acted"] = acted
        results["published"] = await stream_count(runtime) - base_messages
        results["breached"] = await count(
            runtime, "SELECT count(*) FROM approval_clock WHERE state = 'breached'"
        )
        results["history"] = await count(
            runtime, "SELECT count(*) FROM approval_item_change WHERE action = 'stalled'"
        )
        await asyncio.sleep(0.2)
        results["outbox_left"] = await count(runtime, "SELECT count(*) FROM outbox_event")
        results["again"] = await scan_clocks(runtime, NOW)
        results["empty_after"] = await empty_run(
            runtime, f"nothing due after {acted:,} stalls", NOW, args.repeat
        )
        # Each breach left a dead entry in the partial index until VACUUM (autovacuum, in service) removes it.
        await conn.execute("VACUUM ANALYZE approval_clock")
        results["empty_vacuumed"] = await empty_run(runtime, "... and after VACUUM", NOW, args.repeat)
    finally:
        with contextlib.suppress(NameError):
            hog.__exit__(None, None, None)  # stopped already unless the stall run failed
        await conn.close()
        platform.runtimes.pop(APPROVALS.name, None)
        await runtime.stop()
        await platform.stop()
    return results


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def report(results: dict) -> None:
    layout: Layout = results["layout"]
    print()
    print(f"index use: {results['explain']}")
    for key in ("empty_small", "empty_full", "empty_after", "empty_vacuumed"):
        print(results[key].line())
    small, full = results["empty_small"], results["empty_full"]
    print(
        f"empty scan p50, {layout.total:,} vs {layout.total // 100:,} clocks: "
        f"{pct(full.scan, 50) / pct(small.scan, 50):.2f}x"
    )
    select_due = statistics.median(results["select_due"])
    scan_s, emit_s = results["scan_seconds"], results["emit_seconds"]
    print(
        f"{layout.due:,} due of {layout.total:,}: plain indexed SELECT of them {select_due * 1e3:.1f} ms; "
        f"clock jump's scans (found, breached, staged, committed) {scan_s:.2f} s = "
        f"{scan_s / select_due:.0f}x the SELECT; "
        f"emitted to JetStream {emit_s:.2f} s ({results['acted'] / emit_s:,.0f} stalls/s; the relay's part "
        f"after the scan {emit_s - scan_s:.2f} s)"
    )
    at_end = results["published_at_scan_end"]
    tail = results["acted"] - at_end
    tail_s = emit_s - scan_s
    print(
        f"relay: {at_end:,} published while the scan ran, the other {tail:,} in {tail_s:.2f} s after it "
        f"({tail / tail_s if tail_s > 0 else float('inf'):,.0f} events/s alone); this process's CPU: scan "
        f"{results['scan_cpu_seconds']:.2f} s, scan + relay until the last publish "
        f"{results['emit_cpu_seconds']:.2f} s ({results['emit_cpu_seconds'] / results['acted'] * 1e6:.0f} us "
        f"a stall)"
    )
    checks = {
        "acted": results["acted"],
        "published": results["published"],
        "breached": results["breached"],
        "history lines": results["history"],
    }
    consistent = (
        set(checks.values()) == {layout.due} and results["outbox_left"] == 0 and results["again"] == 0
    )
    print(
        f"checks: {checks}, outbox left {results['outbox_left']}, second scan acted on {results['again']}: "
        f"{'OK' if consistent else 'INCONSISTENT'}"
    )
    print()
    runs = (small, full, results["empty_after"], results["empty_vacuumed"])
    worst = max(pct(r.scan, 50) for r in runs)
    worst99 = max(pct(r.scan, 99) for r in runs)
    scaled = emit_s * TARGET_STALLS / layout.due
    print(
        f"target: scan with nothing due <= 10 ms (p50, worst of the four runs): {worst * 1e3:.2f} ms "
        f"{verdict(worst <= TARGET_EMPTY_SECONDS)}"
    )
    print(
        f"target: scan with nothing due <= 10 ms (p99, worst of the four runs): {worst99 * 1e3:.2f} ms "
        f"{verdict(worst99 <= TARGET_EMPTY_SECONDS)}"
    )
    note = "" if layout.due == TARGET_STALLS else f" (scaled from {layout.due:,})"
    print(
        f"target: 10,000 stalls emitted <= 5 s ({results['hog']}; load average before: "
        f"{results['stall_load']}): {scaled:.2f} s{note} "
        f"{verdict(scaled <= TARGET_STALL_SECONDS and consistent)}"
    )


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000, help="open items (one clock each)")
    parser.add_argument("--due-share", type=float, default=0.01, help="share of them due at 'now'")
    parser.add_argument("--repeat", type=int, default=200, help="empty scans per run (and plain SELECTs)")
    parser.add_argument(
        "--postgres-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the embedded PostgreSQL (e.g. shared_buffers=1GB); default: the embedded defaults",
    )
    parser.add_argument(
        "--hog-cpu",
        type=int,
        default=0,
        help="core a CPU hog spins on while the stalls are emitted (issue #12; default 0)",
    )
    parser.add_argument("--no-hog", dest="hog_cpu", action="store_const", const=None, help="no CPU hog")
    parser.add_argument(
        "--no-atomic", action="store_true", help="the relay publishes each row on its own (no atomic batches)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile the stall scan (cProfile, this process) and print its top N functions",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average at start: {loadavg()}")
    external = os.environ.get("LKG_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="lkg-bench-approvals-") as tmp:
        settings = dict(setting.split("=", 1) for setting in args.postgres_setting)
        stack = EmbeddedStack(Path(tmp), postgres_settings=settings)
        if settings:
            print(f"embedded PostgreSQL settings: {settings}")
        try:
            database_url = external or stack.start_postgres()
            nats_url = stack.start_nats()
            results = asyncio.run(bench(args, database_url, nats_url))
        finally:
            with contextlib.suppress(Exception):
                stack.stop()
    report(results)
    print(f"load average at end: {loadavg()}")
    return 0  # a missed target is a result, not a failed run (bench/README.md)


if __name__ == "__main__":
    sys.exit(main())
