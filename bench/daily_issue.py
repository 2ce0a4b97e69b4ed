"""Issuing one working day's reports at 245 projects (or more): the CPU and wall time of the shared clock's
move over a working day, in which scoring issues that day's 日调度 (daily dispatch), and the time of a first
and a second download of its Word and Excel files (issue 16).

How:

* the five services in one process on an embedded PostgreSQL and NATS, seeded as ``lkg run`` seeds a first
  start (245 projects, the demo's clock at 2020-05-01 09:00), as ``bench/dispatch_board.py`` runs them;
  ``--projects N`` registers more first;
* the clock moved to the first working day after May Day (2020-05-06 10:00: the first daily dispatch, and
  the scans over the holiday; a warm-up, printed), then to each ``--days`` day at 10:00, one move each:
  each move issues that working day's reports (a daily dispatch, and the weekly bulletin at the end of a
  Friday); printed per move: the reports it issued, the wall time until every service settled, the CPU time
  of this process (every service runs in it; PostgreSQL's own processes are not counted) and the load
  average;
* then the last daily dispatch downloaded as 重大项目办 (the whole stored files): .docx twice, .xlsx twice,
  each timed (wall and CPU);
* and, for reference, the render alone of that report's Word and Excel files from its JSON, in this thread
  (``thread_time``): what issuing cost when it rendered them.

    .venv/bin/python -P bench/daily_issue.py
    .venv/bin/python -P bench/daily_issue.py --days 2020-05-07 2020-05-08 2020-05-09 --projects 2450

Exit status: 0 whether or not the figures are good (no target); 1 when the run failed.
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
import time
from datetime import date, datetime

from dispatch_board import embedded, grow, loadavg, running, settled

from lkg.common.clock import TZ
from lkg.common.testing.system import System
from lkg.scoring.reports import daily
from lkg.scoring.reports import schemas as s

REPORTS = "/api/v1/reports"
WARM_UP = date(2020, 5, 6)


class Timer:
    """Wall and process CPU time of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


async def issued_since(system: System, known: set[str]) -> list[dict]:
    items = (await system.client.get(REPORTS, headers=system.operator)).json()["items"]
    return [r for r in items if r["id"] not in known]


async def move(system: System, day: date, known: set[str]) -> None:
    await settled(system)
    at = datetime.combine(day, datetime.min.time(), tzinfo=TZ).replace(hour=10)
    with Timer() as t:
        await system.move_clock(set=at)
    new = await issued_since(system, known)
    known |= {r["id"] for r in new}
    kinds = ", ".join(f"{r['kind']} {r['period']['start']}" for r in sorted(new, key=lambda r: r["as_of"]))
    print(f"{day.isoformat()}  {t.wall:8.1f} {t.cpu:8.1f}  {loadavg():<16}  {kinds}")


async def download(system: System, path: str, label: str) -> bytes:
    with Timer() as t:
        response = await system.client.get(path, headers=system.operator)
    response.raise_for_status()
    print(f"{label:<22} {t.wall * 1000:8.0f} {t.cpu * 1000:8.0f} {len(response.content) / 1000:8.0f}")
    return response.content


async def bench(args: argparse.Namespace, server_url: str, nats_url: str, fresh: bool) -> None:
    async with running(server_url, nats_url, fresh) as system:
        await grow(system, args.projects)
        known = {r["id"] for r in await issued_since(system, set())}
        print("move to     wall s    cpu s  load average      reports issued")
        for day in [WARM_UP, *(date.fromisoformat(d) for d in args.days)]:
            await move(system, day, known)
        await settled(system)
        [latest, *_] = (
            await system.client.get(REPORTS, params={"kind": "daily_dispatch"}, headers=system.operator)
        ).json()["items"]
        path = f"{REPORTS}/{latest['id']}"
        print(f"downloads of {latest['title']} as 重大项目办 (load average {loadavg()})")
        print("download                 wall ms   cpu ms       kB")
        first = await download(system, f"{path}.docx", "docx, first")
        assert await download(system, f"{path}.docx", "docx, second") == first
        first = await download(system, f"{path}.xlsx", "xlsx, first")
        assert await download(system, f"{path}.xlsx", "xlsx, second") == first
        report = (await system.client.get(path, headers=system.operator)).json()
        board = s.DispatchBoard.model_validate(report["body"])
        issued = datetime.fromisoformat(report["published_at"])
        cpu = time.thread_time()
        daily.to_docx(board, report["number"], issued)
        docx_cpu = time.thread_time() - cpu
        cpu = time.thread_time()
        daily.to_xlsx(board, issued)
        xlsx_cpu = time.thread_time() - cpu
        print(
            f"render alone ({len(board.projects)} projects): docx {docx_cpu * 1000:.0f} ms CPU, "
            f"xlsx {xlsx_cpu * 1000:.0f} ms CPU (load average {loadavg()})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=245)
    parser.add_argument(
        "--days", nargs="+", default=["2020-05-07", "2020-05-08"], help="working days to move to, in order"
    )
    parser.add_argument("--keep", default="", help="a directory for the databases, kept for a rerun")
    args = parser.parse_args(argv)
    print(f"load average at start: {loadavg()}")
    with embedded(args.keep, "lkg-bench-daily-") as (server_url, nats_url, fresh, _):
        asyncio.run(bench(args, server_url, nats_url, fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
