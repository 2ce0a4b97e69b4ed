"""Demo data of the embedded default (DESIGN §8): a few synthetic, clearly labelled projects.

The full synthetic 2020 portfolio (245 projects over the eight lines) comes with the registry issue,
together with the org directory it needs. Seeding is idempotent: a second ``lkg run`` seeds nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import sqlalchemy as sa

from lkg.common.clock import SimulatedClock
from lkg.common.db import Database
from lkg.common.events.contracts import ApprovalType, ProjectCategory, ProjectClass
from lkg.common.settings import ServiceSettings
from lkg.registry import service
from lkg.registry.models import Project
from lkg.registry.schemas import ProjectCreate

#: Fixed ids so that the demo's units are the same on every machine (until the org directory exists).
DEMO_UNIT = uuid.UUID("00000000-0000-4000-8000-00000000a001")

DEMO_PROJECTS = [
    (
        "【演示】智能装备产业园项目",
        "演示智能装备有限公司",
        ProjectCategory.INDUSTRIAL,
        ProjectClass.NEW_START,
        ApprovalType.FILING,
        Decimal("350000000.00"),
        Decimal("120000000.00"),
        True,
        False,
    ),
    (
        "【演示】冷链物流中心项目",
        "演示冷链物流有限公司",
        ProjectCategory.SERVICES,
        ProjectClass.PRELIMINARY,
        ApprovalType.RATIFICATION,
        Decimal("80000000.00"),
        Decimal("20000000.00"),
        False,
        True,
    ),
    (
        "【演示】生物医药研发基地项目",
        "演示生物医药有限公司",
        ProjectCategory.INDUSTRIAL,
        ProjectClass.CONTINUING,
        ApprovalType.FILING,
        Decimal("1200000000.00"),
        Decimal("300000000.00"),
        False,
        False,
    ),
]


async def seed_demo(db: Database) -> int:
    async with db.transaction() as session:
        if (await session.execute(sa.select(sa.func.count()).select_from(Project))).scalar_one():
            return 0
        clock = SimulatedClock(ServiceSettings().simulated_start)
        for name, enterprise, category, klass, approval, total, annual, fast, provincial in DEMO_PROJECTS:
            await service.register_project(
                session,
                clock,
                ProjectCreate(
                    name=name,
                    enterprise=enterprise,
                    category=category,
                    project_class=klass,
                    responsible_unit_id=DEMO_UNIT,
                    responsible_unit_name="【演示】金银湖街道",
                    approval_type=approval,
                    total_investment=total,
                    plan_year=2020,
                    planned_annual_investment=annual,
                    fast_track=fast,
                    provincial_municipal=provincial,
                ),
            )
    return len(DEMO_PROJECTS)
