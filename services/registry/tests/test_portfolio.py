"""The synthetic 2020 demo portfolio matches the policy's numbers, lands on the lines through the
real routing rules, is the same on every run, and reaches every other service's read copy."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import pytest_asyncio
import sqlalchemy as sa

from lkg.common.db import Database, migrate
from lkg.common.events.contracts import ProjectCategory
from lkg.common.testing.system import running_system
from lkg.registry import portfolio
from lkg.registry.app import SPEC
from lkg.registry.org.document import line_key, org_id
from lkg.registry.projects.models import Milestone, Project
from lkg.registry.projects.projectcode import check_project_code
from lkg.registry.seed import seed_demo

NAMES = {
    "street.xingou": "新沟镇街",
    "street.jinyinhu": "金银湖街",
    "street.changqing": "长青街",
    "street.cihui": "慈惠街",
    "street.zoumaling": "走马岭街",
    "street.jinghe": "径河街",
    "street.dongshan": "东山街",
    "street.xinandu": "辛安渡街",
    "street.jiangjunlu": "将军路街",
    "office.electromechanical": "机电产业办",
    "office.airport": "临空产业办",
    "office.modern_services": "现代服务产业办",
    "office.bonded_logistics": "保税物流产业办",
    "office.food_medicine": "食品医药产业办",
    "office.high_tech": "高新产业办",
}
LINE_OF = {org_id(line_key(n)): n for n in range(1, 9)}
_systems = itertools.count(1)


def test_the_portfolio_has_the_policys_numbers() -> None:
    projects = [p.create for p in portfolio.generate(NAMES).projects]
    assert len(projects) == 245  # §一(三)
    assert Counter(p.project_class.value for p in projects) == {
        "preliminary": 44,  # §四(二)
        "new_start": 86,  # §四(二)
        "continuing": 94,
        "completing": 21,
    }
    # 批前提速: exactly the 86 planned new-starts and the 44 preliminary projects (§四(二)).
    assert [p.project_class.value for p in projects if p.fast_track].count("new_start") == 86
    assert sum(p.fast_track for p in projects) == 130
    assert all(p.fast_track == (p.project_class.value in ("new_start", "preliminary")) for p in projects)
    assert sum(p.provincial_municipal for p in projects) == 15  # §三(三)
    assert Counter(p.category.value for p in projects) == {
        "industrial": 154,
        "services": 56,
        "real_estate": 20,
        "agricultural": 15,
    }
    # 亿元以上 is derived from the total; most projects are above it, agricultural ones mostly not.
    assert sum(p.total_investment >= 100_000_000 for p in projects) == 200
    assert all(p.total_investment % 10_000 == 0 for p in projects)  # whole 万元, as the plan writes them
    assert all(0 <= p.planned_annual_investment <= p.total_investment for p in projects)
    assert all(p.name.startswith("【演示】") and p.enterprise.startswith("【演示】") for p in projects)
    assert len({p.name for p in projects}) == 245
    assert Counter(p.approval_type.value for p in projects) == {"filing": 196, "ratification": 49}


def test_project_codes_have_the_platforms_structure_and_are_unique() -> None:
    projects = [p.create for p in portfolio.generate(NAMES).projects]
    codes = [p.project_code for p in projects if p.project_code is not None]
    assert len(codes) == 183 and len(set(codes)) == 183
    checks = [check_project_code(code) for code in codes]
    assert all(c.ok and c.form == "hyphenated" and c.warnings == [] for c in checks)
    # Preliminary projects are not filed yet: no code.
    assert all(p.project_code is None for p in projects if p.project_class.value == "preliminary")
    # 02 核准 / 03 备案 in the type part follows the approval type.
    for p in projects:
        if p.project_code is not None:
            kind = p.project_code.split("-")[3]
            assert kind == ("02" if p.approval_type.value == "ratification" else "03"), p.project_code


def test_milestones_are_planned_around_the_policy_day() -> None:
    projects = [p.create for p in portfolio.generate(NAMES).projects]
    milestones = [m for p in projects for m in p.milestones]
    assert len(milestones) == 1282
    assert all(m.actual_date is None or m.actual_date < date(2020, 5, 1) for m in milestones)
    assert all(m.actual_date is None or m.planned_date < date(2020, 5, 1) for m in milestones)
    past = [m for m in milestones if m.planned_date < date(2020, 5, 1)]
    assert len(past) == 416
    # A few past dates were never met; before the history starts (2020-05-01), so no milestone.missed.
    assert sum(m.actual_date is None for m in past) == 23
    by_class = {
        klass: Counter(m.type.value for p in projects if p.project_class.value == klass for m in p.milestones)
        for klass in ("preliminary", "new_start", "continuing", "completing")
    }
    assert by_class["new_start"] == {
        kind: 86
        for kind in (
            "negotiation",
            "signing",
            "land_deposit",
            "capital_injection",
            "construction_start",
            "production_start",
            "full_production",
        )
    }
    assert set(by_class["preliminary"]) == {
        "negotiation",
        "signing",
        "land_deposit",
        "construction_start",
        "production_start",
    }
    assert (
        set(by_class["continuing"])
        == set(by_class["completing"])
        == {
            "construction_start",
            "completion",
            "production_start",
            "full_production",
        }
    )
    new_starts = [p for p in projects if p.project_class.value == "new_start"]
    starts = [
        m.planned_date for p in new_starts for m in p.milestones if m.type.value == "construction_start"
    ]
    assert min(starts) >= date(2020, 5, 6) and max(starts) <= date(2020, 12, 20)


def test_the_same_portfolio_on_every_run_and_another_with_another_seed() -> None:
    first = portfolio.generate(NAMES)
    assert first == portfolio.generate(NAMES)
    other = portfolio.generate(NAMES, seed=1)
    assert [p.create.name for p in other.projects] != [p.create.name for p in first.projects]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(db_factory) -> Database:
    url = await db_factory.fresh("registry", lambda u: migrate(SPEC.migrations, u))
    db = Database(url, pool_size=2)
    first = await seed_demo(db)
    # The 2020 directory's entries (37 units, 93 posts, the 8 leaders, their holdings, 8 lines, 16 rules),
    # the demo accounts (14 by role and line1 … line8), then the projects.
    assert first == 170 + 22 + 245
    yield db
    await db.dispose()


async def test_seeding_routes_the_portfolio_over_the_eight_lines(seeded: Database) -> None:
    async with seeded.sessions() as session:
        rows = (await session.execute(sa.select(Project))).scalars().all()
    assert len(rows) == 245
    assert Counter(LINE_OF.get(p.line_id) for p in rows) == {
        1: 30,
        2: 42,
        3: 16,
        4: 16,
        5: 15,
        6: 31,
        7: 30,
        8: 60,
        None: 5,
    }
    assert Counter(p.routing_basis for p in rows) == {
        "responsible_unit": 185,
        "category": 35,
        "explicit": 20,
        "unrouted": 5,
    }
    # Category beats the unit: every real-estate project on line 6, every agricultural one on line 7.
    assert {LINE_OF[p.line_id] for p in rows if p.category == ProjectCategory.REAL_ESTATE} == {6}
    assert {LINE_OF[p.line_id] for p in rows if p.category == ProjectCategory.AGRICULTURAL} == {7}
    # No rule covers the rest of 机电产业办's projects: unrouted, for 重大项目办 to settle (§二(二)1).
    unrouted = [p for p in rows if p.line_id is None]
    assert {p.responsible_unit_name for p in unrouted} == {"机电产业办"}
    assert all(p.routing_reason.startswith("待分线：") for p in unrouted)
    explicit = [p for p in rows if p.routing_basis == "explicit"]
    assert Counter(LINE_OF[p.line_id] for p in explicit) == {1: 14, 8: 6}
    assert Counter(p.routing_reason.rsplit("（", 1)[1] for p in explicit) == {
        "§二(二)1 2019年已明确由徐贻功包保协调推进的重点产业项目）": 5,
        "§二(二)1 机电产业办2020年部分续建和计划新开工项目）": 9,
        "§二(二)8 街道产业办招商引资还未落地的前期项目）": 6,
    }
    # Line 8's not-yet-landed projects are preliminary; the explicit rule moved them off their street's line.
    assert {p.project_class for p in explicit if LINE_OF[p.line_id] == 8} == {"preliminary"}
    # Registered at revision 1; the explicit ones changed once when their rule was added.
    assert Counter(p.revision for p in rows) == {1: 225, 2: 20}


async def test_seeding_stages_one_registration_per_project_and_is_idempotent(seeded: Database) -> None:
    async with seeded.sessions() as session:
        events = dict(
            (await session.execute(sa.text("SELECT event_type, count(*) FROM outbox_event GROUP BY 1"))).all()
        )
        baselined = await session.scalar(
            sa.select(sa.func.count()).select_from(Milestone).where(Milestone.baseline_date.is_not(None))
        )
    assert events["project.registered"] == 245
    assert events["project.changed"] == 20
    assert baselined == 1282  # the plan's dates are the frozen baseline
    assert await seed_demo(seeded) == 0
    async with seeded.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Project)) == 245


async def test_every_other_service_holds_the_whole_portfolio(db_factory, nats_url, nats_prefix) -> None:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}pf{next(_systems)}"
    ) as system:
        db = Database(system.service_settings["registry"].database_url, pool_size=1)
        try:
            assert await seed_demo(db) == 170 + 22 + 245
        finally:
            await db.dispose()
        await system.settle()
        for name in ("approvals", "issues", "scoring", "notifier"):
            copy = Database(system.service_settings[name].database_url, pool_size=1)
            try:
                async with copy.sessions() as session:
                    held = await session.scalar(sa.text("SELECT count(*) FROM project_copy"))
                    moved = await session.scalar(
                        sa.text("SELECT count(*) FROM project_copy WHERE revision = 2")
                    )
            finally:
                await copy.dispose()
            assert (name, held, moved) == (name, 245, 20)
