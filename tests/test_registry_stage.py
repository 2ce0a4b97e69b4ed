"""A project's stage (阶段) over HTTP: it follows what happens to the project (签约 → 审批, 开工 → 开工, money
reported after 开工 → 投资, 投产 → 竣工), each move is a change of the project (revision, history,
``project.changed``), the list filters by it, and the stored stage is what the rule's SQL form says for
every project (lkg.registry.projects.stage)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from io import BytesIO
from typing import Any

import httpx
import pytest_asyncio
import sqlalchemy as sa
from openpyxl import load_workbook

from lkg.common.clock import TZ
from lkg.common.db import Database
from lkg.common.testing.system import System, running_system
from lkg.registry.app import SPEC
from lkg.registry.org.document import default_document, org_id
from lkg.registry.projects.models import Project
from lkg.registry.projects.stage import ProjectStage, stage_condition

_n = itertools.count(1)
UNIT = org_id("street.jinyinhu")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """The registry alone, with the 2020 directory loaded."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}st{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        # Past the year, so every 2020 date may be recorded as done.
        await system.move_clock(set=datetime(2021, 1, 5, 9, tzinfo=TZ))
        yield system


def project_id(project: dict) -> uuid.UUID:
    return uuid.UUID(project["id"])


def _body(name: str, milestones: dict[str, str | None]) -> dict[str, Any]:
    """A project with a milestone per type in ``milestones``, planned in 2020, achieved on the value's date
    where there is one."""
    return {
        "name": name,
        "enterprise": "【演示】某企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": str(UNIT),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
        "milestones": [
            {"type": kind, "planned_date": "2020-06-30", "actual_date": actual}
            for kind, actual in milestones.items()
        ],
    }


async def _register(c: httpx.AsyncClient, h: dict, name: str, milestones: dict[str, str | None]) -> dict:
    created = await c.post("/api/v1/projects", json=_body(name, milestones), headers=h)
    assert created.status_code == 201, created.text
    return created.json()


async def _detail(c: httpx.AsyncClient, h: dict, project: dict) -> dict:
    got = await c.get(f"/api/v1/projects/{project['id']}", headers=h)
    assert got.status_code == 200, got.text
    return got.json()


async def _achieve(c: httpx.AsyncClient, h: dict, project: dict, kind: str, day: str) -> dict:
    (milestone,) = [m for m in (await _detail(c, h, project))["milestones"] if m["type"] == kind]
    done = await c.post(
        f"/api/v1/projects/{project['id']}/milestones/{milestone['id']}/achievements",
        json={"actual_date": day},
        headers=h,
    )
    assert done.status_code == 200, done.text
    return await _detail(c, h, project)


async def _report(c: httpx.AsyncClient, h: dict, project: dict, month: int, amount: str) -> dict:
    report = {"year": 2020, "month": month, "amount": amount, "reported_by_unit_id": str(UNIT)}
    made = await c.post(f"/api/v1/projects/{project['id']}/investment-reports", json=report, headers=h)
    assert made.status_code == 201, made.text
    return await _detail(c, h, project)


async def _listed(c: httpx.AsyncClient, h: dict, **query: str) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        params = {**query, "limit": "50", **({"cursor": cursor} if cursor else {})}
        page = await c.get("/api/v1/projects", params=params, headers=h)
        assert page.status_code == 200, page.text
        found |= {p["name"] for p in page.json()["items"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def _events(system: System, event_type: str) -> list:
    return await system.published("registry", event_type)


async def test_a_project_moves_through_the_stages_as_it_happens(registry: System) -> None:
    c, h = registry.client, registry.operator
    kinds = ["negotiation", "signing", "construction_start", "production_start", "full_production"]
    project = await _register(c, h, "【阶段】全过程", dict.fromkeys(kinds))
    assert (project["stage"], project["revision"]) == ("preliminary", 1)

    seen = await _achieve(c, h, project, "negotiation", "2020-01-10")  # 洽谈 is still 前期
    assert (seen["stage"], seen["revision"]) == ("preliminary", 2)
    seen = await _achieve(c, h, project, "signing", "2020-03-01")
    assert (seen["stage"], seen["revision"]) == ("approval", 3)
    seen = await _achieve(c, h, project, "construction_start", "2020-06-28")
    assert (seen["stage"], seen["revision"]) == ("construction", 4)

    # A month with nothing invested moves nothing and changes nothing of the project.
    seen = await _report(c, h, project, 7, "0.00")
    assert (seen["stage"], seen["revision"]) == ("construction", 4)
    seen = await _report(c, h, project, 8, "3000000.00")
    assert (seen["stage"], seen["revision"]) == ("investment", 5)
    # August corrected to 0 (it supersedes the report): no money reported after all.
    seen = await _report(c, h, project, 8, "0.00")
    assert (seen["stage"], seen["revision"]) == ("construction", 6)
    seen = await _report(c, h, project, 9, "2500000.00")
    assert (seen["stage"], seen["revision"]) == ("investment", 7)
    seen = await _report(c, h, project, 10, "1000000.00")  # more money, same stage
    assert (seen["stage"], seen["revision"]) == ("investment", 7)
    seen = await _achieve(c, h, project, "production_start", "2020-11-30")
    assert (seen["stage"], seen["revision"]) == ("completion", 8)
    seen = await _achieve(c, h, project, "full_production", "2020-12-20")
    assert (seen["stage"], seen["revision"]) == ("full_production", 9)

    history = (await c.get(f"/api/v1/projects/{project['id']}/history", headers=h)).json()
    moves = [(e["revision"], e["action"], e["changes"].get("stage")) for e in history]
    assert moves == [
        (1, "registered", None),
        (2, "milestone_achieved", None),
        (3, "milestone_achieved", ["preliminary", "approval"]),
        (4, "milestone_achieved", ["approval", "construction"]),
        (5, "investment_reported", ["construction", "investment"]),
        (6, "investment_reported", ["investment", "construction"]),
        (7, "investment_reported", ["construction", "investment"]),
        (8, "milestone_achieved", ["investment", "completion"]),
        (9, "milestone_achieved", ["completion", "full_production"]),
    ]
    assert history[4]["actor"] == "person:operator"

    # Every consumer sees each move in the snapshot, with ``stage`` among the changes.
    changed = [e for e in await _events(registry, "project.changed") if e.aggregate_id == project_id(project)]
    assert [(e.revision, e.project.stage.value, "stage" in e.changes) for e in changed] == [
        (2, "preliminary", False),
        (3, "approval", True),
        (4, "construction", True),
        (5, "investment", True),
        (6, "construction", True),
        (7, "investment", True),
        (8, "completion", True),
        (9, "full_production", True),
    ]
    # The reports themselves go out as facts whether or not they moved the stage.
    reported = [
        e for e in await _events(registry, "investment.reported") if e.project_id == project_id(project)
    ]
    assert [(e.month, str(e.amount)) for e in reported] == [
        (7, "0.00"),
        (8, "3000000.00"),
        (8, "0.00"),
        (9, "2500000.00"),
        (10, "1000000.00"),
    ]


async def test_a_project_registered_or_given_a_milestone_with_an_actual_date_starts_where_it_is(
    registry: System,
) -> None:
    c, h = registry.client, registry.operator
    started = await _register(
        c, h, "【阶段】登记时已开工", {"signing": "2020-02-01", "construction_start": "2020-04-01"}
    )
    assert (started["stage"], started["revision"]) == ("construction", 1)
    registered = [
        e for e in await _events(registry, "project.registered") if e.aggregate_id == project_id(started)
    ]
    assert [e.project.stage for e in registered] == [ProjectStage.CONSTRUCTION]

    # A milestone added after the plan was approved, already achieved (竣工 recorded late): 竣工.
    added = await c.post(
        f"/api/v1/projects/{started['id']}/milestones",
        json={
            "type": "completion",
            "planned_date": "2020-10-31",
            "actual_date": "2020-10-30",
            "reason": "补录",
        },
        headers=h,
    )
    assert added.status_code == 201, added.text
    seen = await _detail(c, h, started)
    assert (seen["stage"], seen["revision"]) == ("completion", 2)
    (late,) = [m for m in seen["milestones"] if m["type"] == "completion"]
    assert (late["actual_date"], late["baseline_date"]) == ("2020-10-30", None)


async def test_the_list_filters_by_stage_on_the_page_and_in_the_workbook(registry: System) -> None:
    c, h = registry.client, registry.operator
    made = {
        "preliminary": await _register(c, h, "【筛选】前期", {"negotiation": "2020-01-01", "signing": None}),
        "approval": await _register(c, h, "【筛选】审批", {"land_deposit": "2020-02-01"}),
        "construction": await _register(c, h, "【筛选】开工", {"construction_start": "2020-03-01"}),
        "investment": await _register(c, h, "【筛选】投资", {"construction_start": "2020-03-01"}),
        "completion": await _register(c, h, "【筛选】竣工", {"completion": "2020-09-01"}),
        "full_production": await _register(c, h, "【筛选】达产", {"full_production": "2020-12-01"}),
    }
    await _report(c, h, made["investment"], 4, "100.00")
    for stage, project in made.items():
        assert await _listed(c, h, stage=stage, q="【筛选】") == {project["name"]}, stage
    assert await _listed(c, h, q="【筛选】") == {p["name"] for p in made.values()}
    both = await _listed(c, h, stage="investment", q="【筛选】", line_id=str(org_id("line.2")))
    assert both == {"【筛选】投资"}

    # The workbook export takes the same filter and shows the stage (read-only, in Chinese).
    book = await c.get(
        "/api/v1/projects/plan.xlsx", params={"stage": "completion", "q": "【筛选】"}, headers=h
    )
    assert book.status_code == 200, book.text
    sheet = load_workbook(BytesIO(book.content)).worksheets[0]
    headers = [cell.value for cell in sheet[2]]
    rows = [
        dict(zip(headers, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=3)
    ]
    assert [(r["项目名称"], r["阶段"]) for r in rows] == [("【筛选】竣工", "竣工")]

    bad = await c.get("/api/v1/projects", params={"stage": "前期"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "stage"]
    bad = await c.get("/api/v1/projects/plan.xlsx", params={"stage": "started"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "stage"]

    described = registry.app.openapi()
    (param,) = [
        p for p in described["paths"]["/api/v1/projects"]["get"]["parameters"] if p["name"] == "stage"
    ]
    for name in ("前期", "审批", "开工", "投资", "竣工", "达产达效"):
        assert name in param["description"]


async def test_the_stored_stage_is_the_rule_s_for_every_project(registry: System) -> None:
    """Projects in every corner of the rule (a completed one whose 开工 nobody entered, money before 开工,
    a superseded report, 0 reported, 洽谈 only, an ``other`` milestone); the stored column must agree with
    ``stage_condition``, which the migration's backfill uses: a drift between the two rules fails here."""
    c, h = registry.client, registry.operator
    corners: list[tuple[str, dict[str, str | None], list[tuple[int, str]]]] = [
        ("【规则】空", {}, []),
        ("【规则】其他", {"other": "2020-01-01"}, []),
        ("【规则】洽谈", {"negotiation": "2020-01-01"}, [(1, "5.00")]),
        ("【规则】保证金加钱", {"land_deposit": "2020-01-01"}, [(1, "5.00")]),
        ("【规则】进资", {"capital_injection": "2020-01-01", "construction_start": None}, []),
        ("【规则】开工零投资", {"construction_start": "2020-02-01"}, [(2, "0.00")]),
        ("【规则】开工被取代", {"construction_start": "2020-02-01"}, [(2, "7.00"), (2, "0.00")]),
        ("【规则】开工有投资", {"construction_start": "2020-02-01"}, [(2, "0.00"), (3, "7.00")]),
        ("【规则】只有投产", {"production_start": "2020-05-01"}, []),
        ("【规则】竣工加达产", {"completion": "2020-05-01", "full_production": "2020-09-01"}, [(5, "9.00")]),
    ]
    for name, milestones, reports in corners:
        project = await _register(c, h, name, milestones)
        for month, amount in reports:
            await _report(c, h, project, month, amount)

    db = Database(registry.service_settings["registry"].database_url, pool_size=1)
    try:
        async with db.sessions() as session:
            stored = dict((await session.execute(sa.select(Project.id, Project.stage))).all())
            by_rule: dict = {}
            for stage in ProjectStage:
                ids = (await session.execute(sa.select(Project.id).where(stage_condition(stage)))).scalars()
                for found in ids:
                    assert found not in by_rule, "a project in two stages"
                    by_rule[found] = stage.value
    finally:
        await db.dispose()
    assert by_rule == stored
    # Every stage is represented, so the comparison covers each branch of the rule.
    assert set(stored.values()) == {s.value for s in ProjectStage}


async def test_a_unit_reports_investment_only_in_its_own_name(registry: System) -> None:
    """Issue 11 item 1: a body field naming the unit on whose behalf something is done is checked against
    what the caller acts for: 金银湖街's staff report on their project in their own street's name; in
    another street's name the report is refused (403) and nothing is stored; 重大项目办 may record for any."""
    from lkg.common.auth import Role
    from lkg.registry.accounts.seed import seed_demo_accounts
    from lkg.registry.demo_directory import person_of

    c, h = registry.client, registry.operator
    runtime = registry.platform.runtimes["registry"]
    async with runtime.db.transaction() as session:  # the demo's people: a staff member of 金银湖街
        await seed_demo_accounts(session, runtime.settings, runtime.clock)
    project = await _register(c, h, "【演示】投资报送项目", {"construction_start": "2020-03-01"})
    street = registry.auth(Role.UNIT_USER, person=str(org_id(person_of("post.street.jinyinhu.staff"))))
    path = f"/api/v1/projects/{project['id']}/investment-reports"
    report = {"year": 2020, "month": 6, "amount": "1200000.00"}
    as_other = {**report, "reported_by_unit_id": str(org_id("street.cihui"))}
    other = await c.post(path, json=as_other, headers=street)
    assert (other.status_code, other.json()["code"]) == (403, "not_acting_for_unit")
    own = await c.post(path, json={**report, "reported_by_unit_id": str(UNIT)}, headers=street)
    assert own.status_code == 201, own.text
    # Nothing was stored by the refused one: the month's first report is this one, year to date its amount.
    assert (own.json()["reported_by_unit_id"], own.json()["year_to_date"]) == (str(UNIT), "1200000.00")
    office = await c.post(path, json={**report, "month": 7, "reported_by_unit_id": str(UNIT)}, headers=h)
    assert office.status_code == 201, office.text
