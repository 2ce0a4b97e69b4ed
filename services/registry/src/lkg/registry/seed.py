"""Demo data of the embedded default: the 2020 org directory (real, from the policy) and the
synthetic 2020 portfolio of 245 clearly labelled (【演示】) projects (:mod:`lkg.registry.portfolio`), and
the demo accounts (``admin`` and ``line1`` … ``line8``, password ``lkg-demo-2020``; docs/accounts.md).
With ``LKG_SEED_DEMO_PORTFOLIO=false`` (``lkg run --no-demo-portfolio``) the portfolio is left out: the
directory and the accounts only, as ``lkg simulate`` wants its own deployment.

The projects go in through the registry's use cases, so each one is routed by the real rule table and
emits ``project.registered`` (and, for the projects the plan assigns explicitly, ``project.changed`` when
their explicit rules are added): every other service's read copy gets all 245. Seeding is idempotent: a
second ``lkg run`` seeds nothing (the directory document changes nothing when loaded again; projects go
only into an empty register). Everything is one transaction: a failed seed leaves nothing half-done.
"""

from __future__ import annotations

import sqlalchemy as sa

from lkg.common.clock import SimulatedClock
from lkg.common.db import Database
from lkg.registry import portfolio
from lkg.registry.accounts.seed import seed_demo_accounts
from lkg.registry.org.document import default_document, org_id
from lkg.registry.org.service import load_directory
from lkg.registry.projects import lines, service
from lkg.registry.projects.models import Project
from lkg.registry.settings import RegistrySettings


async def seed_demo(db: Database) -> int:
    """Load the 2020 directory, the demo accounts and, into an empty register, the demo portfolio (unless
    the settings leave it out); returns rows created."""
    settings = RegistrySettings()
    clock = SimulatedClock(settings.simulated_start)
    created = 0
    async with db.transaction() as session:
        created += await lines.load_org_document(
            session, clock, default_document(), actor="seed", reason="2020年三层八线默认配置"
        )
        created += await seed_demo_accounts(session, settings, clock)
        if not settings.seed_demo_portfolio:
            return created
        if (await session.execute(sa.select(sa.func.count()).select_from(Project))).scalar_one():
            return created
        units = (await load_directory(session, kinds=["unit"])).units
        names = {key: units[org_id(key)].name for key in {g.unit for g in portfolio.GROUPS}}
        assigned = []
        for planned in portfolio.generate(names).projects:
            project = await service.register_project(session, clock, planned.create, actor="seed")
            if planned.assignment is not None:
                assigned.append((project.id, planned.assignment))
            created += 1
        # The plan's explicit assignments (§二(二)1 and 8) name projects, so they follow the registration.
        await lines.apply_org_changes(
            session,
            clock,
            portfolio.explicit_rules(assigned, valid_from=clock.now().date()),
            actor="seed",
            reason="2020年推进计划明确指定包保线的项目（§二(二)1、8）",
        )
    return created


def directory_units() -> list[tuple[str, list[str]]]:
    """The units of the directory document the demo seeds, as ``(name, roles)``: what other services'
    seed data may name (``lkg seed`` refuses to seed what names anything else)."""
    return [(u.name, [r.value for r in u.roles]) for u in default_document().units]
