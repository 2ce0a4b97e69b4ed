"""The live stream (SSE) over a real HTTP connection: a single-use ticket obtained with the bearer token
opens it (no token in the URL), new messages arrive as frames with their ``seq`` as id, and a reconnect
with ``Last-Event-ID`` replays what came after it; with two notifier replicas (two apps on one database and
one bus, each with its own connections), a client connected to either gets the message, whichever replica
stored it (issue 14)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime

import httpx
import pytest_asyncio
import uvicorn
from issues_world import publish, report_and_assign
from notifier_world import as_person, notifier_world
from notifier_world import handover as moved

from lkg.common.auth import Role, mint_token
from lkg.common.clock import TZ, wall_clock_utc
from lkg.common.runtime.app import build_app
from lkg.common.testing import eventually
from lkg.common.testing.system import TEST_CONSUMER_OPTIONS
from lkg.notifier.app import SPEC as NOTIFIER
from lkg.notifier.kinds import Facts
from lkg.notifier.recipients import Recipient
from lkg.notifier.store import Cause, Planned, Store


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix) as system:
        yield system


@asynccontextmanager
async def served(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def serving() -> bool:
        if task.done():
            task.result()  # raises why it stopped
        return server.started

    await eventually(serving, what="uvicorn serving")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _ticket(world, person) -> str:
    issued = await world.client.post("/api/v1/inbox/stream-tickets", headers=as_person(world, person))
    assert issued.status_code == 201, issued.text
    return issued.json()["ticket"]


async def _frames(lines, count: int) -> list[tuple[int, dict]]:
    frames, event_id = [], None
    async for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: ") and event_id is not None:
            frames.append((event_id, json.loads(line[6:])))
            event_id = None
            if len(frames) == count:
                return frames
    return frames


async def test_new_messages_stream_live_and_a_reconnect_resumes_after_last_event_id(world):
    person = world.org.dept_staff
    async with served(world.app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        ticket = await _ticket(world, person)
        async with http.stream("GET", "/api/v1/inbox/stream", params={"ticket": ticket}) as live:
            assert live.status_code == 200
            assert live.headers["content-type"].startswith("text/event-stream")
            lines = live.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            problem = await report_and_assign(world)
            await world.settle()
            frames = await asyncio.wait_for(_frames(lines, 2), timeout=20)
        assert sorted(f["kind"] for _, f in frames) == ["problem.accepted", "problem.reported"]
        assert all(f["matter_id"] == problem["id"] for _, f in frames)
        first_seq = min(seq for seq, _ in frames)

        spent = await http.get("/api/v1/inbox/stream", params={"ticket": ticket})
        assert spent.status_code == 401 and spent.json()["code"] == "stream_ticket_invalid"

        again = await _ticket(world, person)
        async with http.stream(
            "GET", "/api/v1/inbox/stream", params={"ticket": again}, headers={"Last-Event-ID": str(first_seq)}
        ) as resumed:
            replayed = await asyncio.wait_for(_frames(resumed.aiter_lines(), 1), timeout=20)
        assert [seq for seq, _ in replayed] == [max(seq for seq, _ in frames)]


async def test_a_client_on_either_replica_gets_the_message(world):
    person = world.org.dept_staff
    replica = build_app(
        [NOTIFIER],
        world.settings,
        {"notifier": world.service_settings["notifier"]},
        consumer_options=TEST_CONSUMER_OPTIONS,
    )
    async with (
        replica.router.lifespan_context(replica),
        served(world.app) as first,
        served(replica) as second,
        httpx.AsyncClient(timeout=30) as http,
    ):
        streams = [
            http.stream("GET", f"{base}/api/v1/inbox/stream", params={"ticket": await _ticket(world, person)})
            for base in (first, second)
        ]
        async with streams[0] as one, streams[1] as two:
            lines = [one.aiter_lines(), two.aiter_lines()]
            assert [await anext(it) for it in lines] == ["retry: 3000", "retry: 3000"]
            problem = await report_and_assign(world)
            await world.settle()
            got = [await asyncio.wait_for(_frames(it, 2), timeout=20) for it in lines]
    kinds = [sorted(f["kind"] for _, f in frames if f["matter_id"] == problem["id"]) for frames in got]
    assert kinds == [["problem.accepted", "problem.reported"]] * 2
    assert [seq for seq, _ in got[0]] == [seq for seq, _ in got[1]]


async def test_the_stream_ends_when_the_token_behind_it_expires(world):
    person = world.org.dept_staff
    token = mint_token(
        world.settings,
        person=str(person),
        roles=[Role.SERVICE_DEPARTMENT],
        ttl_seconds=2,
        now=wall_clock_utc(),
    )
    issued = await world.client.post(
        "/api/v1/inbox/stream-tickets", headers={"Authorization": f"Bearer {token}"}
    )
    assert issued.status_code == 201, issued.text
    ticket = issued.json()["ticket"]
    async with (
        served(world.app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("GET", "/api/v1/inbox/stream", params={"ticket": ticket}) as live,
    ):
        lines = [line async for line in live.aiter_lines() if line]
    assert lines == ["retry: 3000", "event: end", 'data: {"reason": "token_expired"}']


async def test_a_message_whose_announcement_was_lost_reaches_the_stream_with_the_next_one(world):
    """Core NATS is at most once: a message stored but never announced (a lost frame) is sent when the next
    frame shows the gap (its person's previous seq is one the stream has not sent), read from the inbox."""
    person = world.org.dept_staff
    runtime = world.platform.runtimes["notifier"]
    async with served(world.app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        ticket = await _ticket(world, person)
        async with http.stream("GET", "/api/v1/inbox/stream", params={"ticket": ticket}) as live:
            lines = live.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            cause = Cause("problem.reported", f"lost-{uuid.uuid4()}")
            lost = Planned(
                cause,
                Facts(kind=cause.kind, cause_key=cause.key),
                [Recipient(person, "acceptor")],
                "【待受理】问题：通告丢失的消息",
                "这条消息入库后未经 NATS 通告。",
                None,
                False,
                runtime.clock.now(),
            )
            async with runtime.db.transaction() as session:
                (stored,) = await Store(session, runtime).store([lost])  # stored, never announced
            problem = await report_and_assign(world)
            await world.settle()
            frames = await asyncio.wait_for(_frames(lines, 3), timeout=20)
    assert frames[0][1]["title"] == lost.title
    assert [seq for seq, _ in frames] == sorted(seq for seq, _ in frames)
    assert frames[0][0] == stored.seq
    assert sorted(f["kind"] for _, f in frames[1:]) == ["problem.accepted", "problem.reported"]
    assert all(f["matter_id"] == problem["id"] for _, f in frames[1:])


@pytest_asyncio.fixture(loop_scope="session")
async def quick(db_factory, nats_url, nats_prefix):
    """The same world with a half-second heartbeat, on which a stream checks that its person holds a post."""
    async with notifier_world(db_factory, nats_url, nats_prefix, stream_heartbeat_seconds=0.5) as system:
        yield system


async def test_a_handover_ends_the_predecessors_stream(quick):
    """Line leader A hands the post to B on 2020-05-08 (A holds it to that day): once the shared clock is
    past it, A's open stream ends with ``post_no_longer_held`` (A is told nothing more; B is told from then
    on, tests/test_notifier_scenarios.py)."""
    org = quick.org
    async with served(quick.app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        ticket = await _ticket(quick, org.leader_a)
        async with http.stream("GET", "/api/v1/inbox/stream", params={"ticket": ticket}) as live:
            assert live.status_code == 200
            lines = live.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            handover = moved(org, last_day=date(2020, 5, 8), effective_at=datetime(2020, 5, 1, 10, tzinfo=TZ))
            await publish(quick, handover)
            # Still A's on 05-08: the stream stays open (heartbeats only).
            await quick.move_clock(set=datetime(2020, 5, 8, 9, tzinfo=TZ))
            assert await asyncio.wait_for(_next_non_empty(lines), timeout=10) == ": heartbeat"
            await quick.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
            rest = await asyncio.wait_for(_until_end(lines), timeout=20)
    assert rest[-2:] == ["event: end", 'data: {"reason": "post_no_longer_held"}']


async def _next_non_empty(lines) -> str:
    async for line in lines:
        if line:
            return line
    raise AssertionError("the stream ended")


async def _until_end(lines) -> list[str]:
    """The stream's lines (blank ones left out) until it ends; a heartbeat may come first."""
    return [line async for line in lines if line]
