"""Two shapes from one code base (docs/architecture.md): all services in one process, or one service per
process against external PostgreSQL and NATS given by URL, as Kubernetes runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import RawStreamMsg

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.events.base import Envelope
from lkg.common.events.bus import Names
from lkg.common.settings import ServiceSettings
from lkg.common.testing import eventually

LKG = str(Path(sys.executable).with_name("lkg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(process: subprocess.Popen, base: str, timeout: float = 90.0) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:

        async def ready() -> dict:
            if process.poll() is not None:  # not an AssertionError: eventually() stops at once
                raise RuntimeError(f"lkg run exited:\n{process.stdout.read()}")
            try:
                response = await client.get("/readyz")
            except httpx.HTTPError as exc:
                raise AssertionError(f"not answering yet: {exc!r}") from exc
            assert response.status_code == 200, response.text
            return response.json()

        return await eventually(ready, timeout=timeout, interval=0.3)


@pytest.mark.crash
async def test_one_service_per_process_against_external_servers(db_factory, nats_url, nats_prefix):
    database_url = await db_factory.empty("shape_registry")
    prefix = f"{nats_prefix}shape"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LKG_")}
    env.update(DATABASE_URL=database_url, NATS_URL=nats_url, LKG_NATS_PREFIX=prefix, LKG_LOG_LEVEL="WARNING")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: ASYNC220  (a server for the whole test, not awaited)
        [LKG, "run", "--target", "registry", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = await wait_ready(process, base)
        assert sorted(ready["checks"]) == ["registry.database", "registry.migrations", "registry.nats"]
        async with httpx.AsyncClient(base_url=base) as client:
            assert "Registry" in (await client.get("/openapi.json")).json()["info"]["title"]
            token = mint_token(
                ServiceSettings(),
                person="op",
                client=None,
                roles=[Role.MAJOR_PROJECTS_OFFICE],
                scopes=[],
                name="op",
                ttl_seconds=600,
                now=wall_clock_utc(),
            )
            headers = {"Authorization": f"Bearer {token}"}
            # Another service's routes are not in this process.
            assert (
                await client.get("/api/v1/read-copies/issues/projects/x", headers=headers)
            ).status_code == 404
            created = await client.post(
                "/api/v1/projects",
                headers=headers,
                json={
                    "name": "单服务形态测试项目",
                    "enterprise": "某公司",
                    "category": "services",
                    "project_class": "preliminary",
                    "responsible_unit_id": "00000000-0000-4000-8000-00000000a002",
                    "responsible_unit_name": "长青街道",
                    "total_investment": "20000000",
                    "plan_year": 2020,
                    "planned_annual_investment": "5000000",
                },
            )
            assert created.status_code == 201, created.text
        # The event went over NATS, as in the one-process shape.
        nc = await nats.connect(nats_url)
        try:
            names = Names(prefix)

            async def registered() -> RawStreamMsg:
                try:
                    return await nc.jetstream().get_last_msg(
                        names.stream("registry"), names.subject("lkg.registry.project.registered")
                    )
                except nats.js.errors.NotFoundError as exc:
                    raise AssertionError("no project.registered in the stream yet") from exc

            message = await eventually(registered, timeout=5)
            assert Envelope.from_bytes(message.data).event().project.id.hex == created.json()["id"].replace(
                "-", ""
            )
        finally:
            await nc.close()
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.to_thread(process.wait, 30)
    # uvicorn shuts down gracefully, then re-raises the SIGINT it caught: the shell's 130 for Ctrl-C.
    assert process.returncode in (0, 130)
