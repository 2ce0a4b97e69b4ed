"""Two shapes from one code base (DESIGN §6): all services in one process, or one service per process
against external PostgreSQL and NATS given by URL, as Kubernetes runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.events.base import Envelope
from lkg.common.events.bus import Names
from lkg.common.settings import ServiceSettings

LKG = str(Path(sys.executable).with_name("lkg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(process: subprocess.Popen, base: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"lkg run exited:\n{process.stdout.read()}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("not ready in time")


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
        ready = await asyncio.to_thread(wait_ready, process, base)
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
            message = None
            for _ in range(50):
                try:
                    message = await nc.jetstream().get_last_msg(
                        names.stream("registry"), names.subject("lkg.registry.project.registered")
                    )
                    break
                except nats.js.errors.NotFoundError:
                    await asyncio.sleep(0.1)
            assert message is not None
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
