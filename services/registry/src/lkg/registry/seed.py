"""Demo data of the embedded default (DESIGN §8): the 2020 org directory (real, from the policy) and a few
synthetic, clearly labelled (【演示】) projects on its units. Seeding is idempotent: a second ``lkg run``
seeds nothing (the directory document changes nothing when loaded again; projects only into an empty
register)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from lkg.common.clock import SimulatedClock
from lkg.common.db import Database
from lkg.common.events.contracts import ApprovalType, MilestoneType, ProjectCategory, ProjectClass
from lkg.common.settings import ServiceSettings
from lkg.registry import service
from lkg.registry.models import Project
from lkg.registry.org.document import default_document, org_id
from lkg.registry.schemas import MilestonePlan, ProjectCreate

DEMO_PROJECTS = [
    (
        "【演示】智能装备产业园项目",
        "演示智能装备有限公司",
        "street.jinyinhu",
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
        "office.bonded_logistics",
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
        "office.electromechanical",
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
    clock = SimulatedClock(ServiceSettings().simulated_start)
    created = 0
    async with db.transaction() as session:
        created += await service.load_org_document(
            session, clock, default_document(), actor="seed", reason="2020年三层八线默认配置"
        )
        if (await session.execute(sa.select(sa.func.count()).select_from(Project))).scalar_one():
            return created
        for (
            name,
            enterprise,
            unit,
            category,
            klass,
            approval,
            total,
            annual,
            fast,
            provincial,
        ) in DEMO_PROJECTS:
            await service.register_project(
                session,
                clock,
                ProjectCreate(
                    name=name,
                    enterprise=enterprise,
                    category=category,
                    project_class=klass,
                    responsible_unit_id=org_id(unit),
                    approval_type=approval,
                    total_investment=total,
                    plan_year=2020,
                    planned_annual_investment=annual,
                    fast_track=fast,
                    provincial_municipal=provincial,
                    milestones=[
                        MilestonePlan(type=MilestoneType.SIGNING, planned_date=date(2020, 5, 15)),
                        MilestonePlan(type=MilestoneType.CONSTRUCTION_START, planned_date=date(2020, 6, 30)),
                        MilestonePlan(type=MilestoneType.PRODUCTION_START, planned_date=date(2021, 6, 30)),
                    ],
                ),
                actor="seed",
            )
            created += 1
    return created
