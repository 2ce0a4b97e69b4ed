"""A running LKG deployment for tests: real PostgreSQL, real NATS, driven over HTTP with a simulated clock.

Each system gets fresh databases (cloned from migrated templates) and its own stream prefix, so tests never
see each other's rows or events (docs/architecture.md). Time moves only through the dev clock endpoint, which
returns when every service has settled, so a test asserts right after.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.db import Database, migrate
from lkg.common.events.base import Envelope
from lkg.common.events.inbox import ConsumerOptions
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.runtime.service import Platform, ServiceSpec, discover_specs
from lkg.common.settings import ServiceSettings

if TYPE_CHECKING:
    from lkg.common.testing.infra import DatabaseFactory

_systems = itertools.count(1)

#: Fast redelivery in tests: a failing handler is retried within a second, dead-lettered after 3 tries.
TEST_CONSUMER_OPTIONS = ConsumerOptions(
    batch_size=100, max_deliver=3, backoff_seconds=(0.1, 0.2, 0.5), ack_wait_seconds=10.0, fetch_timeout=0.5
)


@dataclass
class System:
    """One running deployment: its app, an HTTP client, and helpers to act as a user would."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: ServiceSettings
    service_settings: dict[str, ServiceSettings]

    @property
    def platform(self) -> Platform:
        return self.app.state.platform

    def token(self, *roles: Role, person: str = "tester", name: str = "测试用户") -> str:
        return mint_token(
            self.settings,
            person=person,
            client=None,
            roles=list(roles),
            scopes=[],
            name=name,
            ttl_seconds=3600,
            now=wall_clock_utc(),
        )

    def auth(self, *roles: Role, person: str = "tester", **headers: str) -> dict[str, str]:
        """Request headers with a bearer token for ``roles`` (plus any extra headers)."""
        return {"Authorization": f"Bearer {self.token(*roles, person=person)}", **headers}

    @property
    def operator(self) -> dict[str, str]:
        return self.auth(Role.MAJOR_PROJECTS_OFFICE, person="operator")

    async def move_clock(self, **move: Any) -> dict[str, Any]:
        """``set=`` / ``advance=`` / ``working_days=``; returns once every service has settled."""
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in move.items()}
        response = await self.client.post("/api/v1/dev/clock", json=body, headers=self.operator)
        assert response.status_code == 200, response.text
        return response.json()

    async def settle(self) -> dict[str, Any]:
        """Let every service finish what is in flight (the clock does not move)."""
        return await self.move_clock(advance="0s")

    async def published(self, producer: str, event_type: str) -> list[Any]:
        """Every ``event_type`` event ``producer`` has published so far (after settling), as contract
        objects, read from its stream by a throw-away consumer."""
        await self.settle()
        names = self.platform.names
        _, js = self.platform.connected()
        sub = await js.pull_subscribe(
            names.subject(f"lkg.{producer}.{event_type}"), stream=names.stream(producer)
        )
        found: list[Any] = []
        try:
            while True:
                try:
                    msgs = await sub.fetch(100, timeout=0.5)
                except TimeoutError:  # nats-py's fetch: nothing more in the stream
                    return found
                for m in msgs:
                    found.append(Envelope.from_bytes(m.data).event())
                    await m.ack()
        finally:
            await sub.unsubscribe()


@asynccontextmanager
async def running_system(
    *,
    db_factory: Any,
    nats_url: str,
    prefix: str,
    specs: Sequence[ServiceSpec] | None = None,
    consumer_options: ConsumerOptions | None = TEST_CONSUMER_OPTIONS,
    seed: bool = False,
    **settings_overrides: Any,
) -> AsyncIterator[System]:
    """A deployment of ``specs`` (every installed service by default); with ``seed``, each service's demo
    data (``lkg seed``: the 2020 directory and portfolio, the catalogue, ...) is written before it starts,
    as ``lkg run`` does, and has reached every service when this yields."""
    specs = list(specs if specs is not None else discover_specs().values())
    base = ServiceSettings(
        env="test",
        nats_url=nats_url,
        nats_prefix=prefix,
        clock="simulated",
        log_level="WARNING",
        **settings_overrides,
    )
    per_service: dict[str, ServiceSettings] = {}
    for spec in specs:
        url = await db_factory.fresh(spec.name, lambda u, s=spec: migrate(s.migrations, u))
        per_service[spec.name] = settings_for(spec, base, database_url=url)
        if seed and spec.seed is not None:
            db = Database(url, pool_size=2)
            try:
                await spec.seed(db)
            finally:
                await db.dispose()
    app = build_app(specs, base, per_service, consumer_options=consumer_options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lkg.test") as client:
            system = System(app=app, client=client, settings=base, service_settings=per_service)
            if seed:
                await system.settle()
            yield system


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def lkg_system(db_factory: DatabaseFactory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """All installed services in one process, with their own databases and stream prefix (per module)."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}s{next(_systems)}"
    ) as system:
        yield system
