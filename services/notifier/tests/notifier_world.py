"""The notifier's world for tests (test code, not shipped in the package; importable as
``notifier_world`` from every test module through ``pythonpath`` in the workspace's pytest settings): the
issues and notifier services over one bus with the notifier's own settings, the issues test world's
三层八线 directory plus a district head and a 重大项目办 staff member, a local SMTP server (aiosmtpd) and a
webhook receiver, and helpers to read an inbox over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from issues_world import D0, START, Org, project_event, publish

from lkg.common.auth import Role
from lkg.common.db import migrate
from lkg.common.events import contracts as c
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.settings import ServiceSettings
from lkg.common.testing import eventually
from lkg.common.testing.system import TEST_CONSUMER_OPTIONS, System
from lkg.issues.app import SPEC as ISSUES
from lkg.notifier.app import SPEC as NOTIFIER

_systems = itertools.count(1)


class NotifierOrg(Org):
    """The issues world's directory plus a district head holding the top post (the head of the leaders'
    unit, whom a vacant line leader post falls back to) and a 重大项目办 staff member."""

    def __init__(self) -> None:
        super().__init__()
        self.district_head, self.office_staff = uuid.uuid4(), uuid.uuid4()
        self.office_post = uuid.uuid4()

    def event(self, *, leader_holder: bool = True) -> c.OrgChanged:
        base = super().event()
        holdings = tuple(h for h in base.holdings if leader_holder or h.post_id != self.leader_post)
        return base.model_copy(
            update={
                "posts": (
                    *base.posts,
                    c.PostSnapshot(
                        id=self.office_post,
                        revision=1,
                        valid_from=D0,
                        title="重大项目办专员",
                        unit_id=self.office,
                        kind="staff",
                    ),
                ),
                "people": (
                    *base.people,
                    c.PersonSnapshot(id=self.district_head, revision=1, name="区长"),
                    c.PersonSnapshot(id=self.office_staff, revision=1, name="钱五"),
                ),
                "holdings": (
                    *holdings,
                    c.PostHoldingSnapshot(
                        id=uuid.uuid4(),
                        revision=1,
                        valid_from=D0,
                        post_id=self.top_post,
                        person_id=self.district_head,
                    ),
                    c.PostHoldingSnapshot(
                        id=uuid.uuid4(),
                        revision=1,
                        valid_from=D0,
                        post_id=self.office_post,
                        person_id=self.office_staff,
                    ),
                ),
            }
        )


def handover(org: NotifierOrg, *, last_day: date, effective_at: datetime) -> c.OrgChanged:
    """Line leader A holds the post to ``last_day``; B holds it from the day after (a handover)."""
    return c.OrgChanged(
        aggregate_id=uuid.UUID(int=1),
        revision=2,
        effective_at=effective_at,
        holdings=(
            c.PostHoldingSnapshot(
                id=org.holding_a,
                revision=2,
                valid_from=date(2020, 1, 1),
                valid_to=last_day,
                post_id=org.leader_post,
                person_id=org.leader_a,
            ),
            c.PostHoldingSnapshot(
                id=uuid.uuid4(),
                revision=1,
                valid_from=last_day + timedelta(days=1),
                post_id=org.leader_post,
                person_id=org.leader_b,
            ),
        ),
    )


class Mailbox:
    """What the local SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        )
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hook:
    """A webhook receiver: answers each request with the next status of ``script`` (then 200)."""

    script: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            part = await receive()
            body += part.get("body", b"")
            if not part.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        status = self.script.pop(0) if self.script else 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"errcode": 0}'})


@asynccontextmanager
async def webhook_receiver(hook: Hook) -> AsyncIterator[str]:
    """Serve ``hook`` on a loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(hook, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def serving() -> bool:
        if task.done():
            task.result()  # raises why it stopped
        return server.started

    await eventually(serving, what="uvicorn serving")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        sock.close()


@asynccontextmanager
async def notifier_world(
    db_factory: Any, nats_url: str, prefix: str, *, leader_holder: bool = True, **notifier_settings: Any
) -> AsyncIterator[System]:
    """Issues and notifier at 2020-05-01 09:00 with the directory and one routed project, a local SMTP
    server (``system.mailbox``) the notifier sends to, and loopback allowed for webhooks."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        base = ServiceSettings(
            env="test",
            nats_url=nats_url,
            nats_prefix=f"{prefix}n{next(_systems)}",
            clock="simulated",
            log_level="WARNING",
        )
        per_service: dict[str, ServiceSettings] = {}
        for spec in (ISSUES, NOTIFIER):
            url = await db_factory.fresh(spec.name, lambda u, s=spec: migrate(s.migrations, u))
            per_service[spec.name] = settings_for(spec, base, database_url=url)
        values = per_service["notifier"].model_dump()
        values.update(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            webhook_allowed_hosts=("127.0.0.1", "10.1.2.3", "metadata.google.internal"),
            webhook_allowed_networks=("127.0.0.1/32",),
            console_base_url="https://lkg.example.gov.cn",
            **notifier_settings,
        )
        per_service["notifier"] = NOTIFIER.settings_cls(**values)
        app = build_app([ISSUES, NOTIFIER], base, per_service, consumer_options=TEST_CONSUMER_OPTIONS)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lkg.test") as client:
                system = System(app=app, client=client, settings=base, service_settings=per_service)
                org = NotifierOrg()
                project = project_event(org)
                await publish(system, org.event(leader_holder=leader_holder), project)
                system.org = org  # type: ignore[attr-defined]
                system.project = project.project  # type: ignore[attr-defined]
                system.mailbox = mailbox  # type: ignore[attr-defined]
                yield system
    finally:
        smtp.stop()


def as_person(system: System, person: uuid.UUID, role: Role = Role.UNIT_USER) -> dict[str, str]:
    return system.auth(role, person=str(person))


async def inbox(system: System, person: uuid.UUID) -> list[dict[str, Any]]:
    found = await system.client.get("/api/v1/inbox/messages", headers=as_person(system, person))
    assert found.status_code == 200, found.text
    return found.json()["items"]


async def set_contact(system: System, person: uuid.UUID, **body: Any) -> dict[str, Any]:
    put = await system.client.put(
        f"/api/v1/notifications/people/{person}/settings", json=body, headers=system.operator
    )
    assert put.status_code == 200, put.text
    return put.json()


__all__ = [
    "START",
    "Hook",
    "Mailbox",
    "NotifierOrg",
    "as_person",
    "handover",
    "inbox",
    "notifier_world",
    "set_contact",
]
