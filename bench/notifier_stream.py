"""The notifier's live stream (issue 14): 1,000 SSE clients in another process, 1,000 frames a second.

    python -P bench/notifier_stream.py [--clients 1000] [--rate 20] [--per-event 50] [--seconds 30]

Starts its own embedded PostgreSQL and NATS in a temporary directory and stops them at the end. The issues
and notifier services run with their real runtimes in this process on the system clock, served over HTTP
by uvicorn on a free loopback port; a directory whose service department has ``--clients`` people, each
holding a post (the stream closes for a person who holds none), is loaded through the real ``org.changed``
path. Then:

* a **client process** (``multiprocessing``, spawned: its own interpreter and event loop; clients arrive at
  ``--arrivals`` a second) signs each person in with a bearer token, asks
  ``POST /api/v1/inbox/stream-tickets`` for a single-use ticket, holds ``GET /api/v1/inbox/stream?ticket=…``
  open: ``--clients`` concurrent Server-Sent Events streams, each frame timed on arrival; a dropped stream is
  opened again with a new ticket and ``Last-Event-ID``, as EventSource does, and counted;
* the **producer** (this process) commits ``--rate`` ``report.published`` events a second for ``--seconds``
  into an outbox, each circulated to ``--per-event`` of the people chosen at random (``audience.person_ids``):
  ``rate × per-event`` frames a second (1,000 for the defaults). The relay publishes them, the notifier's
  consumer keeps each as a notice, its notice scan routes it and stores one inbox message per person, and
  the fan-out over core NATS sends each message down its person's stream.

The producer then waits until every frame has arrived (``--drain`` seconds at most, 60 by default): a
frame missing after that is lost, not late, and is compared with the messages stored in the inbox.

Printed: frames expected, received (each person's frame counted once, duplicates apart) and stored,
p50/p99/max from the producer's commit to the frame at the client (``time.perf_counter`` is
CLOCK_MONOTONIC: one clock for both processes), and the peak resident memory of this process (issues and
notifier together, so an upper bound of the notifier's). Targets of the issue: p99 ≤ 1 s; notifier
resident memory ≤ 300 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.append(str(Path(__file__).resolve().parent))  # at the end: bench/notifier.py's directory

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import socket
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from notifier import org_event

from lkg.common.auth import Role, mint_token
from lkg.common.db import migrate, with_database
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage, stage_many
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.common.settings import ServiceSettings
from lkg.issues.app import SPEC as ISSUES
from lkg.notifier.app import SPEC as NOTIFIER

TARGET_P99_SECONDS = 1.0
TARGET_RSS_MB = 300
WEEK = c.Period(kind="week", start=date(2020, 5, 4), end=date(2020, 5, 10))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the client process ------------------------------------------------------------------------------


async def _follow(
    client: httpx.AsyncClient,
    person: int,
    token: str,
    frames: list[tuple[int, int, str, float]],
    ready: asyncio.Event,
    reconnects: list[int],
    count: Any,
) -> None:
    """One person's stream, as a browser's EventSource holds it: a ticket, then every ``data:`` frame's
    report title and arrival time; a dropped connection is opened again with a new ticket and
    ``Last-Event-ID`` (the server replays what came after it), and counted."""
    last_id = ""
    while True:
        try:
            answer = await client.post(
                "/api/v1/inbox/stream-tickets", headers={"Authorization": f"Bearer {token}"}
            )
            answer.raise_for_status()
            headers = {"Last-Event-ID": last_id} if last_id else {}
            params = {"ticket": answer.json()["ticket"]}
            async with client.stream("GET", "/api/v1/inbox/stream", params=params, headers=headers) as stream:
                stream.raise_for_status()
                ready.set()
                async for line in stream.aiter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("data:"):
                        at = time.perf_counter()
                        data = json.loads(line[5:])
                        frames.append((person, data["seq"], data["title"], at))
                        count.value += 1
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
            if status is not None and status != 401 and status < 500:
                raise
            # Dropped, the ticket went stale in a queue (401 stream_ticket_invalid), or the server could
            # not answer in time (5xx: a front end asks for its ticket again): a new ticket.
            reconnects[0] += 1
            if reconnects[0] > 1000:
                raise
            await asyncio.sleep(1.0)  # EventSource waits the server's ``retry:`` (3 s); a little less here


async def _clients(
    base_url: str, tokens: list[str], arrivals: float, opened: Any, stop: Any, out: Any, count: Any
) -> None:
    frames: list[tuple[int, int, str, float]] = []
    reconnects = [0]
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens) + 10)
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        readies = [asyncio.Event() for _ in tokens]
        tasks = []
        for i, token in enumerate(tokens):
            follow = _follow(client, i, token, frames, readies[i], reconnects, count)
            tasks.append(asyncio.create_task(follow))
            if i % 10 == 9:
                await asyncio.sleep(
                    10 / arrivals
                )  # clients arrive at ``--arrivals`` a second, not in one burst
        deadline = time.perf_counter() + 300
        while not all(r.is_set() for r in readies):
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(f"{len(failed)} stream(s) failed to open: {failed[0].exception()!r}")
            if time.perf_counter() > deadline:
                waiting = sum(not r.is_set() for r in readies)
                raise RuntimeError(f"{waiting} of {len(readies)} streams not open after 300 s")
            await asyncio.sleep(0.2)
        opened.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(f"{len(failed)} stream(s) failed: {failed[0].exception()!r}")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out.put((frames, reconnects[0]))


def client_process(
    base_url: str, tokens: list[str], arrivals: float, opened: Any, stop: Any, out: Any, count: Any
) -> None:
    asyncio.run(_clients(base_url, tokens, arrivals, opened, stop, out, count))


# ---- the server and the producer ---------------------------------------------------------------------


def report(n: int, people: list[uuid.UUID]) -> c.ReportPublished:
    report_id = uuid.uuid4()
    return c.ReportPublished(
        report_id=report_id,
        kind="weekly_bulletin",
        period=WEEK,
        title=f"压测通报{n:06d}",
        path=f"/api/v1/reports/{report_id}",
        audience=c.Audience(person_ids=tuple(people)),
        effective_at=datetime.now(UTC),
    )


async def run(args: argparse.Namespace, base_url: str, nats_url: str) -> dict[str, Any]:
    base = ServiceSettings(
        env="test", nats_url=nats_url, nats_prefix="bench", log_level="WARNING", gc_freeze_after_start=False
    )
    per_service = {}
    for spec in (ISSUES, NOTIFIER):
        url = with_database(base_url, f"bench_{spec.name}")
        await migrate(spec.migrations, url)
        per_service[spec.name] = settings_for(spec, base, database_url=url)
    values = per_service["notifier"].model_dump()
    values["scan_interval_seconds"] = args.scan_interval
    per_service["notifier"] = NOTIFIER.settings_cls(**values)
    app = build_app([ISSUES, NOTIFIER], base, per_service)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False
        )
    )
    async with app.router.lifespan_context(app):
        serving = asyncio.create_task(server.serve())
        issues = app.state.runtimes["issues"]
        notifier = app.state.runtimes["notifier"]
        org, _line, _dept = org_event(args.clients)
        people = [p.id for p in org.people[1:]]  # the staff, each holding a post
        async with issues.db.transaction() as session:
            await stage(session, org)
        while True:  # the org copy is in
            async with notifier.db.sessions() as session:
                held = "SELECT count(*) FROM org_holding_copy"
                if (await session.execute(sa.text(held))).scalar_one() > args.clients:
                    break
            await asyncio.sleep(0.05)
        while not server.started:  # noqa: ASYNC110 - uvicorn's flag has no event to wait on
            await asyncio.sleep(0.01)
        now = datetime.now(UTC)
        tokens = [
            mint_token(base, person=str(p), roles=[Role.UNIT_USER], ttl_seconds=3600, now=now) for p in people
        ]
        ctx = multiprocessing.get_context("spawn")
        opened, stop, out, count = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Value("q", 0)
        clients = ctx.Process(
            target=client_process,
            args=(f"http://127.0.0.1:{port}", tokens, args.arrivals, opened, stop, out, count),
            daemon=True,
        )
        clients.start()
        try:
            while not opened.is_set():
                if not clients.is_alive():
                    raise RuntimeError(
                        f"the client process ended ({clients.exitcode}) before its streams opened"
                    )
                await asyncio.sleep(0.1)
            print(f"{args.clients} streams open; producing for {args.seconds:.0f} s", flush=True)
            committed: dict[str, float] = {}
            rng = random.Random(1)
            interval = 1.0 / args.rate
            start = time.perf_counter()
            for n in range(int(args.rate * args.seconds)):
                due = start + n * interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                event = report(n, rng.sample(people, args.per_event))
                async with issues.db.transaction() as session:
                    await stage_many(session, [event])
                committed[event.title] = time.perf_counter()
            # Every frame addressed to a client, or --drain seconds after the last commit: a frame still
            # missing then is lost (it is in the inbox: compared below), not late.
            expected = len(committed) * args.per_event
            produced = time.perf_counter()
            while count.value < expected and time.perf_counter() - produced < args.drain:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            drained = time.perf_counter() - produced
            stop.set()
            frames, reconnects = await asyncio.to_thread(out.get, True, 120)
            async with notifier.db.sessions() as session:
                stored = (
                    await session.execute(
                        sa.text("SELECT count(*) FROM inbox_message WHERE kind = 'report.published'")
                    )
                ).scalar_one()
        finally:
            stop.set()
            clients.join(30)
            if clients.is_alive():
                clients.kill()
        server.should_exit = True
        await serving
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    latencies = []
    seen: set[tuple[int, int]] = set()
    for person, seq, title, at in frames:
        found = re.search(r"压测通报\d{6}", title)
        if found is not None and found.group() in committed and (person, seq) not in seen:
            seen.add((person, seq))
            latencies.append(at - committed[found.group()])
    latencies.sort()
    return {
        "expected": len(committed) * args.per_event,
        "stored": stored,
        "duplicates": len(frames) - len(seen),
        "drained": drained,
        "received": len(latencies),
        "latencies": latencies,
        "rss_mb": rss_mb,
        "reconnects": reconnects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="SSE clients (people), default 1000")
    parser.add_argument("--rate", type=float, default=20.0, help="events a second, default 20")
    parser.add_argument("--per-event", type=int, default=50, help="people each event is circulated to")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the producer runs")
    parser.add_argument("--arrivals", type=float, default=25.0, help="clients connecting a second")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="wait at most this long after the last commit for frames"
    )
    parser.add_argument("--scan-interval", type=float, default=0.05, help="the notifier's scan interval")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lkg-bench-stream-") as tmp:
        stack = EmbeddedStack(Path(tmp))
        try:
            base_url = stack.start_postgres()
            nats_url = stack.start_nats()
            result = asyncio.run(run(args, base_url, nats_url))
        finally:
            stack.stop()
    latencies = result["latencies"]
    print(
        f"frames: {result['received']:,} received of {result['expected']:,} expected"
        f" ({result['stored']:,} messages stored in the inbox; {result['duplicates']} duplicate frames;"
        f" waited {result['drained']:.1f} s after the last commit)"
    )
    print(f"streams dropped and opened again (as EventSource does): {result['reconnects']}")
    verdict_p99 = "MISSED"
    if latencies:
        p50, p99 = statistics.median(latencies), latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(
            f"commit → frame: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
            f" max {latencies[-1] * 1000:.0f} ms"
        )
        if p99 <= TARGET_P99_SECONDS and result["received"] == result["expected"]:
            verdict_p99 = "MET"
    print(f"target p99 ≤ {TARGET_P99_SECONDS:.0f} s with every frame delivered: {verdict_p99}")
    rss = result["rss_mb"]
    print(f"peak resident memory of the issues + notifier process: {rss:.0f} MB")
    print(f"target ≤ {TARGET_RSS_MB} MB: {'MET' if rss <= TARGET_RSS_MB else 'MISSED'}")
    print(
        "load average (1, 5, 15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
