"""Two notifier processes on one database and one bus (issue 14: "tested with two notifier processes").

The issues service runs in the test's process and raises the events; the notifier runs as two separate
processes (``uvicorn --factory lkg.notifier.app:create_app``, the shape of a replica in a deployment), each
with its own connections, consuming from the same durable consumer and scanning the same tables. A local
SMTP server and a webhook receiver stand for the mail server and a 企业微信 robot.

Forty layer-2 escalations at once, then one of them raised again: every message is stored once per person,
mailed once and posted once, each with its own delivery id; a person with a stream open on each process
gets every frame on both, in the same order, whichever process stored the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest_asyncio
from aiosmtpd.controller import Controller
from issues_world import Org, project_event, publish
from notifier_world import Hook, Mailbox, webhook_receiver

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.db import migrate
from lkg.common.events import contracts as c
from lkg.common.testing import eventually
from lkg.common.testing.system import running_system
from lkg.issues.app import SPEC as ISSUES
from lkg.notifier.app import SPEC as NOTIFIER

EVENTS = 40
LEADER_MAIL = "lili@lkg.example.gov.cn"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVE = ("--host", "127.0.0.1", "--log-level", "warning", "--no-access-log")


@asynccontextmanager
async def notifier_process(env: dict[str, str]) -> AsyncIterator[str]:
    """One notifier replica in a process of its own; yields its base URL once ``/readyz`` answers 200."""
    port = _free_port()
    command = [sys.executable, "-P", "-m", "uvicorn", "--factory", "lkg.notifier.app:create_app", *SERVE]
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, not waited on in the loop
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def ready() -> bool:
                assert process.poll() is None, f"the notifier process ended ({process.returncode})"
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get(f"{base}/readyz")).status_code == 200
                return False

            await eventually(ready, timeout=120, what="the notifier process is ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a replica that does not stop
            process.kill()
            process.wait()


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    hook = Hook()
    prefix = f"{nats_prefix}r{uuid.uuid4().hex[:6]}"
    try:
        async with (
            running_system(db_factory=db_factory, nats_url=nats_url, prefix=prefix, specs=[ISSUES]) as system,
            webhook_receiver(hook) as hook_url,
        ):
            url = await db_factory.fresh(NOTIFIER.name, lambda u: migrate(NOTIFIER.migrations, u))
            env = {k: v for k, v in os.environ.items() if not k.startswith("LKG_")}
            env.update(
                LKG_ENV="test",
                LKG_DATABASE_URL=url,
                LKG_NATS_URL=nats_url,
                LKG_NATS_PREFIX=prefix,
                LKG_CLOCK="simulated",
                LKG_LOG_LEVEL="WARNING",
                LKG_GC_FREEZE_AFTER_START="false",
                LKG_SCAN_INTERVAL_SECONDS="0.2",
                LKG_SMTP_HOST="127.0.0.1",
                LKG_SMTP_PORT=str(smtp.port),
                LKG_WEBHOOK_ALLOWED_HOSTS='["127.0.0.1"]',
                LKG_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
                LKG_JWT_SECRET=system.settings.jwt_secret.get_secret_value(),
            )
            async with notifier_process(env) as one, notifier_process(env) as two:
                org = Org()
                await publish(system, org.event(), project_event(org))
                system.org = org  # type: ignore[attr-defined]
                system.replicas = (one, two)  # type: ignore[attr-defined]
                system.mailbox = mailbox  # type: ignore[attr-defined]
                system.hook = hook  # type: ignore[attr-defined]
                system.hook_url = hook_url  # type: ignore[attr-defined]
                yield system
    finally:
        smtp.stop()


def _escalated(org: Org, n: int) -> c.ProblemEscalated:
    return c.ProblemEscalated(
        matter_id=uuid.uuid4(),
        title=f"用地指标未落实{n:02d}",
        layer=2,
        from_layer=1,
        cause="requested",
        line_id=org.line,
        resolving_unit_id=org.service_dept,
        resolving_unit_name="区科经局",
        project_id=uuid.uuid4(),
        project_name="临空港智能制造产业园项目",
        effective_at=datetime(2020, 5, 1, 8, 30, tzinfo=TZ),
    )


async def _follow(http: httpx.AsyncClient, base: str, headers: dict[str, str], frames: list[Any]) -> None:
    """A person's stream on one replica: every frame's (seq, message) appended to ``frames``."""
    ticket = await http.post(f"{base}/api/v1/inbox/stream-tickets", headers=headers)
    assert ticket.status_code == 201, ticket.text
    params = {"ticket": ticket.json()["ticket"]}
    async with http.stream("GET", f"{base}/api/v1/inbox/stream", params=params) as live:
        assert live.status_code == 200
        seq = None
        async for line in live.aiter_lines():
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("data: ") and seq is not None:
                frames.append((seq, json.loads(line[6:])))
            elif line == "retry: 3000":
                frames.append(None)  # the stream is open


async def _inbox(http: httpx.AsyncClient, base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    found = await http.get(f"{base}/api/v1/inbox/messages", params={"limit": 100}, headers=headers)
    assert found.status_code == 200, found.text
    return [m for m in found.json()["items"] if m["kind"] == "problem.escalated"]


async def test_two_notifier_processes_deliver_each_message_once_and_stream_on_either(world):
    one, two = world.replicas
    org = world.org
    leader = world.auth(Role.UNIT_USER, person=str(org.leader_a))
    staff = world.auth(Role.UNIT_USER, person=str(org.dept_staff))
    async with httpx.AsyncClient(timeout=30) as http:
        # Settings through one replica, the robot through the other: both read the same tables.
        put = await http.put(
            f"{one}/api/v1/notifications/people/{org.leader_a}/settings",
            json={
                "email": LEADER_MAIL,
                "preferences": [{"kind": "*", "channels": ["email", "wecom"], "digest": False}],
            },
            headers=world.operator,
        )
        assert put.status_code == 200, put.text
        robot = await http.post(
            f"{two}/api/v1/notifications/webhook-endpoints",
            json={
                "name": "包保线群机器人",
                "format": "wecom",
                "url": f"{world.hook_url}/robot",
                "secret": "s" * 32,
            },
            headers=world.operator,
        )
        assert robot.status_code == 201, robot.text

        streams: dict[str, list[Any]] = {"leader@one": [], "leader@two": [], "staff@two": []}
        followers = [
            asyncio.create_task(_follow(http, one, leader, streams["leader@one"])),
            asyncio.create_task(_follow(http, two, leader, streams["leader@two"])),
            asyncio.create_task(_follow(http, two, staff, streams["staff@two"])),
        ]
        try:
            await eventually(lambda: all(streams.values()), timeout=30, what="three streams open")
            events = [_escalated(org, n) for n in range(EVENTS)]
            for wave in range(0, EVENTS, 10):  # in waves, so that either replica may route some
                await publish(world, *events[wave : wave + 10])
            # The same cause raised again (a new event): nobody hears of it twice.
            await publish(world, events[0])

            def every_frame() -> None:
                for name, frames in streams.items():
                    got = [f for f in frames if f is not None]
                    assert len(got) >= EVENTS, (name, len(got))

            await eventually(every_frame, timeout=60, what="every frame on every stream")
            await eventually(lambda: len(world.mailbox.to(LEADER_MAIL)) >= EVENTS, timeout=60, what="mail")
            await eventually(lambda: len(world.hook.requests) >= EVENTS, timeout=60, what="robot posts")
            await world.settle()
        finally:
            for task in followers:
                task.cancel()
            await asyncio.gather(*followers, return_exceptions=True)

        messages = await _inbox(http, two, leader)
        assert await _inbox(http, one, leader) == messages
        titles = sorted(m["title"] for m in messages)
        assert titles == sorted(f"【上报第二层（包保区级领导）】问题：{e.title}" for e in events)
        assert len(await _inbox(http, one, staff)) == EVENTS

    # Every frame on both of the leader's streams, in the same order, each message once.
    seqs = {name: [seq for seq, _ in filter(None, frames)] for name, frames in streams.items()}
    assert seqs["leader@one"] == seqs["leader@two"] == sorted({m["seq"] for m in messages})
    assert [f["id"] for _, f in filter(None, streams["leader@one"])] == [
        m["id"] for m in sorted(messages, key=lambda m: m["seq"])
    ]
    assert len(seqs["staff@two"]) == EVENTS == len(set(seqs["staff@two"]))

    # One mail and one robot post per message, each with its own stable delivery id.
    mails = world.mailbox.to(LEADER_MAIL)
    assert len(mails) == EVENTS
    mail_ids = [m["X-LKG-Delivery-Id"] for m in mails]
    assert len(set(mail_ids)) == EVENTS
    assert all(m["Message-ID"] == f"<{m['X-LKG-Delivery-Id']}@lkg.invalid>" for m in mails)
    posts = [headers["x-lkg-delivery-id"] for headers, _ in world.hook.requests]
    assert len(posts) == EVENTS == len(set(posts))
    assert not set(posts) & set(mail_ids)
