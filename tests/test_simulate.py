"""`lkg simulate` (issue #18): nine working days of 20 projects driven through the public HTTP API against a
running system over real PostgreSQL and NATS; the summary's figures are what the API says, and the same
seed gives the same summary. A deployment on real time is refused before anything is written.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import pytest
import sqlalchemy as sa

from lkg.common.db import Database, migrate
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.runtime.service import discover_specs
from lkg.common.settings import ServiceSettings
from lkg.common.simulate import Options, Simulation, Summary
from lkg.common.simulate.api import Api
from lkg.common.simulate.options import MIXES
from lkg.common.simulate.run import NotSimulated
from lkg.common.testing.system import TEST_CONSUMER_OPTIONS, System, running_system
from lkg.registry.accounts.seed import seed_demo_accounts
from lkg.registry.org.document import default_document
from lkg.registry.org.service import load_directory
from lkg.registry.projects.models import Project
from lkg.registry.seed import seed_demo

_n = itertools.count(1)
OPTIONS = Options(start=date(2020, 5, 1), end=date(2020, 5, 15), projects=20, mix=MIXES["troubled"], seed=7)


@asynccontextmanager
async def district(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """A fresh system with the 2020 directory, the demo accounts and the approval catalogue, no projects."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}sim{next(_n)}"
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        runtime = system.platform.runtimes["registry"]
        async with runtime.db.transaction() as session:
            await seed_demo_accounts(session, runtime.settings, runtime.clock)
        for name, spec in discover_specs().items():
            if name in ("approvals", "notifier") and spec.seed is not None:
                await spec.seed(system.platform.runtimes[name].db)
        yield system


async def simulate(system: System) -> tuple[Simulation, Summary]:
    simulation = Simulation(Api(system.client), OPTIONS)
    return simulation, await simulation.run()


async def test_nine_working_days_of_twenty_projects_escalate_and_the_same_seed_gives_the_same_summary(
    db_factory, nats_url, nats_prefix
):
    async with district(db_factory, nats_url, nats_prefix) as system:
        simulation, summary = await simulate(system)
        figures = summary.figures
        # The figures are the API's own: every problem of the run's projects, by the layer it reached.
        ours = {p.id for p in simulation.projects}
        assert len(ours) == 20 and figures["projects"] == 20
        problems = [
            p
            for p in (await system.client.get("/api/v1/problems?limit=200", headers=system.operator)).json()[
                "items"
            ]
            if p["project_id"] in ours
        ]
        by_layer: dict[str, int] = {}
        for p in problems:
            by_layer[str(p["layer"])] = by_layer.get(str(p["layer"]), 0) + 1
        assert figures["problems_by_layer"] == dict(sorted(by_layer.items()))
        # Unanswered problems climbed: the troubled mix leaves some unanswered for three weeks.
        assert sum(n for layer, n in by_layer.items() if layer != "1") > 0
        assert figures["breaches"] == sum(len(p["breaches"]) for p in problems) > 0
        cards = (await system.client.get("/api/v1/red-cards?limit=200", headers=system.operator)).json()[
            "items"
        ]
        assert sum(figures["red_cards"].values()) == len(cards)
        # The personas were told: the street, its line's service department and leader get messages.
        assert figures["messages_by_channel"]["inbox"] > 0
        assert figures["days"] == 9  # 2020-05-06 … 05-15 with the make-up Saturday 05-09; not May 1–5
        assert figures["first_day"] == "2020-05-06" and figures["last_day"] == "2020-05-15"
        # Refused only: accounts for people who already have one (the demo's), and a problem of a project
        # no routing rule covers (unrouted: no line, so no service department to accept it).
        assert {k for k in figures["refused"]} <= {
            "open account: person_has_account",
            "report problem: no unit or no line",
        }, figures["refused"]
    async with district(db_factory, nats_url, nats_prefix) as again:
        _, second = await simulate(again)
    assert second.figures == figures


async def test_the_seed_without_the_demo_portfolio_gives_the_directory_and_the_accounts_only(
    db_factory, monkeypatch
):
    """``lkg run --no-demo-portfolio`` (``LKG_SEED_DEMO_PORTFOLIO=false``), which ``lkg simulate``'s own
    deployment uses: the 2020 directory and the demo accounts, none of the 245 【演示】 projects."""
    spec = discover_specs()["registry"]
    url = await db_factory.fresh(spec.name, lambda u: migrate(spec.migrations, u))
    db = Database(url, pool_size=2)
    try:
        monkeypatch.setenv("LKG_SEED_DEMO_PORTFOLIO", "false")
        # The directory's entries (37 units, 93 posts, the 8 leaders, their holdings, 8 lines, 16 rules) and
        # the demo accounts (14 by role and line1 … line8): services/registry/tests/test_portfolio.py.
        assert await seed_demo(db) == 170 + 22
        async with db.sessions() as session:
            assert (await session.execute(sa.select(sa.func.count()).select_from(Project))).scalar_one() == 0
            units = (await load_directory(session, kinds=["unit"])).units
        assert len(units) == 37
        monkeypatch.setenv("LKG_SEED_DEMO_PORTFOLIO", "true")  # later, the portfolio can still come
        assert await seed_demo(db) == 245
    finally:
        await db.dispose()


@asynccontextmanager
async def registry_on_real_time(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """The registry alone, on the system clock (as a district runs it), with the demo accounts."""
    spec = discover_specs()["registry"]
    base = ServiceSettings(
        env="test", nats_url=nats_url, nats_prefix=f"{nats_prefix}simreal{next(_n)}", log_level="WARNING"
    )
    url = await db_factory.fresh(spec.name, lambda u: migrate(spec.migrations, u))
    per_service = {spec.name: settings_for(spec, base, database_url=url)}
    app = build_app([spec], base, per_service, consumer_options=TEST_CONSUMER_OPTIONS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lkg.test") as client:
            system = System(app=app, client=client, settings=base, service_settings=per_service)
            loaded = await client.post(
                "/api/v1/org/imports",
                json=default_document().model_dump(mode="json"),
                headers=system.operator,
            )
            assert loaded.status_code == 200, loaded.text
            runtime = system.platform.runtimes["registry"]
            async with runtime.db.transaction() as session:
                await seed_demo_accounts(session, runtime.settings, runtime.clock)
            yield system


async def test_a_deployment_on_real_time_is_refused_before_anything_is_written(
    db_factory, nats_url, nats_prefix
):
    async with registry_on_real_time(db_factory, nats_url, nats_prefix) as system:
        assert system.settings.clock == "system"
        with pytest.raises(NotSimulated):
            await Simulation(Api(system.client), OPTIONS).run()
        listed = (await system.client.get("/api/v1/projects", headers=system.operator)).json()
        assert listed["items"] == []
