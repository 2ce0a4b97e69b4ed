"""The whole system under ten times the district's load (issue #18, "System benchmark").

    python -P bench/system.py [--days 90] [--projects 2450,245] [--pace 5] [--concurrency 8] [--budget MIN]
                              [--mix typical] [--seed 2020] [--json FILE]

For each portfolio size, in the order given, it:

1. starts the embedded PostgreSQL (with ``track_commit_timestamp = on``, to date each commit) and NATS in a
   temporary directory, and the five services **as separate processes**, each ``lkg run --target S`` on
   its own port against them (``DATABASE_URL`` its own database ``lkg_<service>``, the shared simulated
   clock), the Kubernetes shape; then ``lkg seed --no-demo-portfolio`` (the directory, the demo accounts,
   the approval catalogue, the demo addresses: no 【演示】 projects);
2. runs ``lkg simulate``'s :class:`~lkg.common.simulate.Simulation` for ``--days`` working days from
   2020-05-01 at ``--pace`` wall seconds per simulated working day (``--concurrency`` projects acted on at
   once, as a district's people act; with ``--budget`` no day begins after that many wall minutes), over
   HTTP routed by path to the owning service exactly as ``deploy/base/ingress.yaml`` routes it;
3. meanwhile, every second: each service's resident memory (``psutil``, the process and its children),
   its unpublished outbox rows (``outbox_event``), and each JetStream consumer's backlog (pending plus
   unacknowledged, NATS's ``/jsz``);
4. at the end: each database's size, and the **event lag**: for every event, from its producer's commit
   to the commit of the last consumer that applied it. The outbox row is deleted once published, so a
   trigger (the only thing the benchmark adds to the services' databases) copies each new row's event id
   into ``bench_event_origin`` in the producer's transaction; the commit time of that row and of each
   ``inbox_event`` row (one per consumer that applied the event, in the consumer's transaction) is
   ``pg_xact_commit_timestamp(xmin)``, all on the one PostgreSQL server's clock.

Figures: the API latency the simulator saw (p50, p99, max; clock moves apart: they wait for every service
to settle), event lag (p50, p99, max, and per wall minute), backlogs over time, peak RSS per service,
CPU seconds per process, database sizes, and whether the pace held: days over ``--pace`` and where their
time went (the simulator's phases: each persona's actions, the clock's settle). Then the growth from the
smallest portfolio to the largest, next to the portfolio's own growth. Targets of the issue: event lag
p99 <= 1 s at 10x; <= 300 MB per service; costs grow no faster than the portfolio. Exit status 0 whether
or not a target is met; the machine's load average is printed with the figures (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import yaml

from lkg.common.calendar import WorkingCalendar
from lkg.common.db import asyncpg_dsn, with_database
from lkg.common.runtime.app import database_name
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.common.simulate import MIXES, Options, Simulation
from lkg.common.simulate.api import Api

SERVICES = ("registry", "approvals", "issues", "scoring", "notifier")
INGRESS = Path(__file__).resolve().parent.parent / "deploy" / "base" / "ingress.yaml"
TARGET_LAG_P99 = 1.0
TARGET_RSS_MB = 300.0
START = date(2020, 5, 1)

ORIGIN_SQL = """
CREATE TABLE IF NOT EXISTS bench_event_origin (event_id uuid PRIMARY KEY);
CREATE OR REPLACE FUNCTION bench_event_origin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bench_event_origin VALUES (NEW.event_id) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bench_event_origin ON outbox_event;
CREATE TRIGGER bench_event_origin AFTER INSERT ON outbox_event
  FOR EACH ROW EXECUTE FUNCTION bench_event_origin();
"""


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingress_routes() -> list[tuple[str, str]]:
    """(path prefix, service) from the ingress, longest prefix first: the way Kubernetes routes."""
    document = yaml.safe_load(INGRESS.read_text())
    routes = []
    for rule in document["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            routes.append((entry["path"], entry["backend"]["service"]["name"].removeprefix("lkg-")))
    return sorted(routes, key=lambda r: -len(r[0]))


def route(routes: list[tuple[str, str]], path: str) -> str:
    for prefix, service in routes:  # pathType Prefix: whole segments
        if prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return service
    raise LookupError(path)


@dataclass
class Calls:
    """Every request the simulator made: its service, route shape, wall seconds."""

    rows: list[tuple[str, str, float]] = field(default_factory=list)

    @staticmethod
    def shape(method: str, path: str) -> str:
        parts = ["{id}" if len(p) >= 32 and "-" in p else p for p in path.split("/")]
        return f"{method} {'/'.join(parts)}"


class Ingress(httpx.AsyncBaseTransport):
    """The ingress in the simulator's process: each request to the service owning its path, timed."""

    def __init__(self, ports: dict[str, int], calls: Calls) -> None:
        self.routes = ingress_routes()
        self.ports = ports
        self.calls = calls
        # A kept-alive connection is dropped before uvicorn's own 5 s idle timeout closes it: at the same
        # 5 s (httpx's default) a request sent as the server closes fails with a ReadError.
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=20, keepalive_expiry=1.0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        service = route(self.routes, request.url.path)
        request.url = request.url.copy_with(port=self.ports[service])
        began = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        self.calls.rows.append(
            (service, Calls.shape(request.method, request.url.path), time.perf_counter() - began)
        )
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Samples:
    """What the sampler saw each second (wall seconds since the run began)."""

    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # MB
    outbox: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    consumers: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


class Deployment:
    """Embedded PostgreSQL and NATS, and the five services each in its own ``lkg run --target`` process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack = EmbeddedStack(root, postgres_settings={"track_commit_timestamp": "on"})
        self.ports = {name: free_port() for name in SERVICES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.lkg = str(Path(sys.executable).with_name("lkg"))
        self.server_url = ""
        self.nats_url = ""

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LKG_") and k not in ("DATABASE_URL",)}
        env.update(
            NATS_URL=self.nats_url,
            LKG_CLOCK="simulated",
            LKG_JWT_SECRET=self.secret,
            LKG_LOG_LEVEL="WARNING",
            **extra,
        )
        return env

    def database(self, service: str) -> str:
        return with_database(self.server_url, database_name(service))

    async def connect(self, service: str) -> asyncpg.Connection:
        dsn, kwargs = asyncpg_dsn(self.database(service))
        return await asyncpg.connect(dsn, **kwargs)

    def spawn(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        urls = self.stack.start()
        self.server_url, self.nats_url = urls.database_url, urls.nats_url
        for name in SERVICES:
            log = (self.root / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [self.lkg, "run", "--target", name, "--port", str(self.ports[name])],
                env=self.env(DATABASE_URL=self.database(name)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def seed(self) -> None:
        seeded = subprocess.run(
            [self.lkg, "seed", "--no-demo-portfolio"],
            env=self.env(DATABASE_URL=self.server_url),
            capture_output=True,
            text=True,
            check=False,
        )
        if seeded.returncode != 0:
            raise RuntimeError(f"lkg seed failed:\n{seeded.stdout}\n{seeded.stderr}")

    async def start(self) -> None:
        """Servers, the five processes (each migrates its database), the origin triggers, the seed."""
        self.spawn()
        async with httpx.AsyncClient(timeout=5) as client:
            for name in SERVICES:
                await self._ready(client, name)
        for name in SERVICES:
            connection = await self.connect(name)
            try:
                await connection.execute(ORIGIN_SQL)
            finally:
                await connection.close()
        await asyncio.to_thread(self.seed)

    async def _ready(self, client: httpx.AsyncClient, name: str) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {(self.root / f'{name}.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{self.ports[name]}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{name} not ready in 300 s")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(2)  # SIGINT: uvicorn's orderly shutdown
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stack.stop()

    def cpu_seconds(self) -> dict[str, float]:
        found = {}
        pids = {name: p.pid for name, p in self.processes.items()}
        pids |= {"postgres": self.stack.postgres.pid or 0, "nats": self.stack.nats.pid or 0}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                family = [process, *process.children(recursive=True)]
                found[name] = sum(sum(p.cpu_times()[:2]) for p in family)
        return found


async def sample(deployment: Deployment, samples: Samples, began: float, stop: asyncio.Event) -> None:
    connections = {n: await deployment.connect(n) for n in SERVICES}
    monitor = deployment.stack.nats.monitor_url
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            while not stop.is_set():
                at = time.monotonic() - began
                for name, process in deployment.processes.items():
                    with contextlib.suppress(psutil.Error):
                        family = [psutil.Process(process.pid)]
                        family += family[0].children(recursive=True)
                        rss = sum(p.memory_info().rss for p in family) / 2**20
                        samples.rss.setdefault(name, []).append((at, rss))
                for name, connection in connections.items():
                    count = await connection.fetchval("SELECT count(*) FROM outbox_event")
                    samples.outbox.setdefault(name, []).append((at, int(count)))
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    jsz = (await client.get(f"{monitor}/jsz", params={"consumers": "true"})).json()
                    backlog: dict[str, int] = {}
                    for account in jsz.get("account_details", []):
                        for stream in account.get("stream_detail", []):
                            for consumer in stream.get("consumer_detail", []) or []:
                                name = consumer["name"]
                                if not name.startswith(SERVICES):
                                    continue  # a watcher's ephemeral reader, not a service's consumer
                                waiting = consumer["num_pending"] + consumer["num_ack_pending"]
                                backlog[name] = backlog.get(name, 0) + waiting
                    for name, waiting in backlog.items():
                        samples.consumers.setdefault(name, []).append((at, waiting))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        for connection in connections.values():
            await connection.close()


async def event_lag(deployment: Deployment, began_wall: float) -> dict[str, Any]:
    """Producer's commit → the last consumer's commit, for every event some consumer applied."""
    origin: dict[Any, float] = {}
    last: dict[Any, float] = {}
    sizes: dict[str, int] = {}
    for name in SERVICES:
        connection = await deployment.connect(name)
        try:
            for row in await connection.fetch(
                "SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS at "
                "FROM bench_event_origin"
            ):
                if row["at"] is not None:
                    origin[row["event_id"]] = float(row["at"])
            for row in await connection.fetch(
                "SELECT event_id, max(extract(epoch FROM pg_xact_commit_timestamp(xmin))) AS at "
                "FROM inbox_event GROUP BY event_id"
            ):
                if row["at"] is not None:
                    last[row["event_id"]] = max(last.get(row["event_id"], 0.0), float(row["at"]))
            sizes[name] = int(await connection.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await connection.close()
    # The run's events only: the seed's (the directory, the catalogue) come in a burst before it.
    lags = {e: last[e] - origin[e] for e in last if e in origin and origin[e] >= began_wall}
    per_minute: dict[int, list[float]] = {}
    for event_id, lag in lags.items():
        per_minute.setdefault(int((origin[event_id] - began_wall) // 60), []).append(lag)
    values = list(lags.values())
    return {
        "events": sum(1 for at in origin.values() if at >= began_wall),
        "consumed": len(values),
        "p50": quantile(values, 0.5),
        "p99": quantile(values, 0.99),
        "max": max(values, default=float("nan")),
        "p99_per_minute": {m: round(quantile(v, 0.99), 3) for m, v in sorted(per_minute.items())},
        "database_bytes": sizes,
    }


def end_of(days: int) -> date:
    """The date of the ``days``-th working day from 2020-05-01 (official calendar)."""
    calendar, day, found = WorkingCalendar(), START, 0
    while True:
        if calendar.is_working_day(day):
            found += 1
            if found == days:
                return day
        day += timedelta(days=1)


async def one_size(projects: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"lkg-bench-system-{projects}-"))
    deployment = Deployment(root)
    result: dict[str, Any] = {"projects": projects, "load_before": loadavg()}
    try:
        started = time.monotonic()
        await deployment.start()
        result["startup_seconds"] = round(time.monotonic() - started, 1)
        cpu_before = deployment.cpu_seconds()
        options = Options(
            start=START,
            end=end_of(args.days),
            projects=projects,
            mix=MIXES[args.mix],
            seed=args.seed,
            pace=args.pace,
            concurrency=args.concurrency,
        )
        calls = Calls()
        samples = Samples()
        stop = asyncio.Event()
        began, began_wall = time.monotonic(), time.time()
        sampler = asyncio.create_task(sample(deployment, samples, began, stop))
        transport = Ingress(deployment.ports, calls)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=600) as client:
            simulation = Simulation(Api(client), options)

            def on_day(day: date, done: int, total: int) -> None:
                if done % 10 == 0 or done == total:
                    print(
                        f"  {projects} projects: day {done}/{total} ({day}) at "
                        f"{time.monotonic() - began:.0f} s, load {loadavg()}",
                        flush=True,
                    )

            simulation.on_day = on_day
            simulation.count_channels = False  # one request per message: not the system's cost
            if args.budget:
                simulation.stop_at = time.monotonic() + args.budget * 60
            summary = await simulation.run()
        stop.set()
        await sampler
        result["wall_seconds"] = round(time.monotonic() - began, 1)
        cpu_after = deployment.cpu_seconds()
        result["cpu_seconds"] = {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 1) for k in cpu_after}
        result |= describe(simulation, calls, samples, args.pace)
        result["lag"] = await event_lag(deployment, began_wall)
        result["summary"] = {
            k: summary.figures[k] for k in ("problems_by_layer", "matters_by_layer", "breaches", "refused")
        } | {"red_cards": sum(summary.figures["red_cards"].values()), "calls": summary.calls}
        result["load_after"] = loadavg()
    except BaseException:
        kept = Path(tempfile.gettempdir()) / f"lkg-bench-system-{projects}-logs"
        kept.mkdir(exist_ok=True)
        for log in root.glob("*.log"):
            shutil.copy(log, kept / log.name)
        print(f"{projects} projects: failed; the services' logs are in {kept}", flush=True)
        raise
    finally:
        deployment.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


def describe(simulation: Simulation, calls: Calls, samples: Samples, pace: float) -> dict[str, Any]:
    api = [s for _, shape, s in calls.rows if "/api/v1/dev/clock" not in shape]
    clock = [s for _, shape, s in calls.rows if "/api/v1/dev/clock" in shape]
    by_shape: dict[str, list[float]] = {}
    for _, shape, seconds in calls.rows:
        by_shape.setdefault(shape, []).append(seconds)
    slowest = sorted(by_shape.items(), key=lambda kv: -sum(kv[1]))[:8]
    days = simulation.day_seconds
    return {
        "api": {"calls": len(api), "p50": quantile(api, 0.5), "p99": quantile(api, 0.99), "max": max(api)},
        "clock_moves": {"count": len(clock), "p50": quantile(clock, 0.5), "max": max(clock, default=0)},
        "days": len(days),
        "days_over_pace": sum(1 for d in days if d > pace),
        "day_seconds_p50": quantile(days, 0.5),
        "day_seconds_max": max(days, default=0.0),
        "phase_seconds": {
            k: round(v, 1) for k, v in sorted(simulation.seconds.items(), key=lambda kv: -kv[1])
        },
        "most_time": [
            {"call": shape, "n": len(v), "seconds": round(sum(v), 1), "p99": round(quantile(v, 0.99), 3)}
            for shape, v in slowest
        ],
        "peak_rss_mb": {n: round(max(v for _, v in rows), 1) for n, rows in samples.rss.items()},
        "outbox_max": {n: max(v for _, v in rows) for n, rows in samples.outbox.items()},
        "consumer_max": {n: max(v for _, v in rows) for n, rows in samples.consumers.items()},
        "backlog_per_minute": backlog_per_minute(samples),
    }


def backlog_per_minute(samples: Samples) -> dict[int, dict[str, int]]:
    """The highest outbox and consumer backlog (all services, all consumers) in each wall minute."""
    minutes: dict[int, dict[str, int]] = {}
    for kind, series in (("outbox", samples.outbox), ("consumers", samples.consumers)):
        totals: dict[float, int] = {}
        for rows in series.values():
            for at, value in rows:
                totals[at] = totals.get(at, 0) + value
        for at, value in totals.items():
            slot = minutes.setdefault(int(at // 60), {"outbox": 0, "consumers": 0})
            slot[kind] = max(slot[kind], value)
    return dict(sorted(minutes.items()))


def report(results: list[dict[str, Any]], pace: float) -> None:
    for r in results:
        print(f"\n== {r['projects']} projects, {r['days']} working days at {pace} s each ==")
        print(
            f"load average before {r['load_before']}, after {r['load_after']}; "
            f"startup {r['startup_seconds']} s"
        )
        print(
            f"wall {r['wall_seconds']} s; pace held on {r['days'] - r['days_over_pace']}/{r['days']} days "
            f"(a day's wall time p50 {r['day_seconds_p50']:.2f} s, max {r['day_seconds_max']:.2f} s)"
        )
        print(f"  time by phase (s): {r['phase_seconds']}")
        a, c = r["api"], r["clock_moves"]
        print(
            f"API latency seen by the simulator: {a['calls']} calls, p50 {a['p50'] * 1000:.1f} ms, "
            f"p99 {a['p99'] * 1000:.1f} ms, max {a['max'] * 1000:.0f} ms; clock moves (settle): "
            f"{c['count']}, p50 {c['p50']:.2f} s, max {c['max']:.2f} s"
        )
        for row in r["most_time"]:
            print(
                f"    {row['seconds']:>7} s  {row['n']:>6} x  p99 {row['p99'] * 1000:.0f} ms  {row['call']}"
            )
        lag = r["lag"]
        print(
            f"event lag (producer commit -> last consumer commit): {lag['consumed']} of "
            f"{lag['events']} events, p50 {lag['p50'] * 1000:.0f} ms, p99 {lag['p99'] * 1000:.0f} ms, "
            f"max {lag['max'] * 1000:.0f} ms"
            f" (target p99 <= {TARGET_LAG_P99 * 1000:.0f} ms)"
        )
        print(f"  p99 per wall minute (s): {lag['p99_per_minute']}")
        print(f"peak RSS (MB, target <= {TARGET_RSS_MB:.0f} each): {r['peak_rss_mb']}")
        print(f"CPU seconds during the run: {r['cpu_seconds']}")
        print(f"outbox backlog max: {r['outbox_max']}; consumer backlog max: {r['consumer_max']}")
        print(f"  highest backlogs per wall minute (outbox, consumers): {r['backlog_per_minute']}")
        sizes = {k: f"{v / 2**20:.1f} MB" for k, v in r["lag"]["database_bytes"].items()}
        print(f"database size: {sizes}")
        print(f"what happened: {r['summary']}")
    if len(results) < 2:
        return
    small, large = min(results, key=lambda r: r["projects"]), max(results, key=lambda r: r["projects"])
    k = large["projects"] / small["projects"]
    print(f"\n== growth {small['projects']} -> {large['projects']} projects (portfolio x{k:g}) ==")
    rows = [
        ("API p99", small["api"]["p99"], large["api"]["p99"]),
        ("event lag p99", small["lag"]["p99"], large["lag"]["p99"]),
        ("event lag max", small["lag"]["max"], large["lag"]["max"]),
        ("events", small["lag"]["events"], large["lag"]["events"]),
        ("API calls", small["api"]["calls"], large["api"]["calls"]),
        ("clock move p50", small["clock_moves"]["p50"], large["clock_moves"]["p50"]),
        ("day wall p50", small["day_seconds_p50"], large["day_seconds_p50"]),
        ("peak RSS sum", sum(small["peak_rss_mb"].values()), sum(large["peak_rss_mb"].values())),
        ("CPU seconds sum", sum(small["cpu_seconds"].values()), sum(large["cpu_seconds"].values())),
        (
            "database bytes sum",
            sum(small["lag"]["database_bytes"].values()),
            sum(large["lag"]["database_bytes"].values()),
        ),
    ]
    for name, a, b in rows:
        ratio = b / a if a else float("nan")
        verdict = "within" if ratio <= k else "FASTER than"
        print(f"  {name:<20} {a:>14.3f} -> {b:>14.3f}  x{ratio:.2f} ({verdict} the portfolio's x{k:g})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90, help="simulated working days (from 2020-05-01)")
    parser.add_argument("--projects", default="2450,245", help="portfolio sizes, run in this order")
    parser.add_argument("--pace", type=float, default=5.0, help="wall seconds per simulated working day")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="projects acted on at once (the district's people)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="wall minutes per size for the simulated days: no day begins after it (the figures then "
        "cover the days reached)",
    )
    parser.add_argument("--mix", default="typical", choices=sorted(MIXES))
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    print(f"load average at start: {loadavg()} ({os.cpu_count()} CPUs)")
    results = []
    for projects in (int(p) for p in args.projects.split(",")):
        print(f"{projects} projects: starting five services as separate processes", flush=True)
        results.append(await one_size(projects, args))
    report(results, args.pace)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nload average at end: {loadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
