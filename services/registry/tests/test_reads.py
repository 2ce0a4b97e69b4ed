"""The read path (lkg.registry.projects.reads) on the same rows as the ORM: every filter against its rule
written out here in Python, each sort in both directions, updated_since, cursors page by page, the caller's
reach, the detail with its milestones, and the 404s; the workbook export's ORM statement, from the same
filter specification (lkg.registry.projects.filters), selects the same projects. Against a real PostgreSQL
database (its own, migrated). The rows' stages are set by :func:`lkg.registry.projects.stage.stage_updates`
(the backfill's SQL form of the rule) and checked against :func:`~lkg.registry.projects.stage.derive_stage`
(its Python form)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import asyncpg
import pytest
import pytest_asyncio
import sqlalchemy as sa

from lkg.common.auth import EMPTY_REACH, Principal, Reach, Role
from lkg.common.clock import TZ, SimulatedClock
from lkg.common.db import Database, migrate
from lkg.common.events.contracts import (
    ApprovalType,
    EnrolmentStatus,
    IntegrityFlag,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
    ProjectStatus,
)
from lkg.common.http.pagination import PageParams, encode_cursor
from lkg.common.http.problems import InvalidCursor, NotFound
from lkg.registry import access, connections
from lkg.registry.access import Caller
from lkg.registry.org.document import default_document, line_key, org_id
from lkg.registry.projects import lines, reads
from lkg.registry.projects.changes import milestones_of
from lkg.registry.projects.filters import ListQuery, filtered_projects, order_by
from lkg.registry.projects.models import InvestmentReport, Milestone, Project
from lkg.registry.projects.schemas import (
    MilestoneOut,
    ProjectDetail,
    ProjectFilters,
    ProjectOut,
    ProjectSort,
    RoutingBasis,
)
from lkg.registry.projects.stage import ProjectStage, derive_stage, stage_updates

TODAY = date(2020, 5, 1)
UNITS = [uuid.UUID(int=i) for i in range(1, 5)]
LINES = [uuid.UUID(int=100 + i) for i in range(1, 4)]
COUNT = 60
#: Names with LIKE's special characters, so the name search's escaping is compared too.
NAMES = ["智能装备", "汽车_零部件", "100%光电", "a/b 冷链", "商务总部", "人才公寓"]


def _projects(rng: random.Random) -> list[Project]:
    base = datetime(2019, 3, 1, 8, tzinfo=TZ)
    out = []
    for i in range(COUNT):
        total = rng.choice([Decimal("99999999.99"), Decimal("100000000.00"), Decimal("5000.50")])
        created = base + timedelta(
            hours=rng.randrange(0, 40), microseconds=rng.choice([0, 123456, 120000, 7])
        )
        line = rng.choice([*LINES, None])
        out.append(
            Project(
                id=uuid.UUID(int=rng.getrandbits(128), version=4),
                revision=rng.randrange(1, 4),
                project_code=f"2019-420112-35-03-{i:06d}" if i % 3 else None,
                name=f"{rng.choice(NAMES)}{i % 7}",  # duplicate names: ties broken by id
                enterprise=f"企业{i}",
                category=rng.choice(list(ProjectCategory)).value,
                project_class=rng.choice(list(ProjectClass)).value,
                responsible_unit_id=rng.choice(UNITS),
                responsible_unit_name="单位",
                line_id=line,
                routing_basis=(RoutingBasis.UNROUTED if line is None else RoutingBasis.CATEGORY).value,
                routing_rule_id=None,
                routing_reason="测试",
                provincial_municipal=rng.random() < 0.3,
                fast_track=rng.random() < 0.5,
                approval_type=rng.choice([None, *[a.value for a in ApprovalType]]),
                total_investment=total,
                plan_year=2020,
                planned_annual_investment=Decimal("1234.5"),
                status=rng.choice(list(ProjectStatus)).value,
                enrolment_status=rng.choice(list(EnrolmentStatus)).value,
                statistics_contact_id=rng.choice([None, uuid.uuid4()]),
                statistics_contact_name=rng.choice([None, "【演示】统计联系人"]),
                site_street_id=rng.choice([None, UNITS[0]]),
                site_street_name="某街",
                site_park=rng.choice([None, "某园区"]),
                site_plot=None,
                agent_id=rng.choice([None, uuid.uuid4()]),
                agent_name="【演示】代办员",
                integrity_flags=rng.sample([f.value for f in IntegrityFlag], rng.randrange(0, 3)),
                enterprise_credit_code=rng.choice([None, "91420112MA4KXXXX0X"]),
                project_code_warnings=["form:hyphenated"] if i % 3 else [],
                terminated_on=rng.choice([None, date(2020, 3, 1)]),
                deregistered_on=None,
                effective_at=created,
                created_at=created,
                # Equal update times on several rows: the id breaks the tie.
                updated_at=created + timedelta(days=rng.randrange(0, 3)),
            )
        )
    return out


def _milestones(rng: random.Random, project: Project) -> list[Milestone]:
    out = []
    for position in range(rng.randrange(0, 4)):
        planned = TODAY + timedelta(days=rng.randrange(-60, 60))
        actual = rng.choice([None, planned])
        out.append(
            Milestone(
                id=uuid.uuid4(),
                project_id=project.id,
                type=rng.choice(list(MilestoneType)).value,
                label=f"节点{position}",
                planned_date=planned,
                baseline_date=rng.choice([None, planned]),
                actual_date=actual,
                missed_due_at=None,
                missed_at=datetime(2020, 4, 2, 0, 0, 0, 5, tzinfo=TZ) if actual is None else None,
                # Stored out of order: both paths order by position.
                position=(position * 7) % 5,
            )
        )
    return out


def _reports(rng: random.Random, project: Project) -> list[InvestmentReport]:
    """Monthly reports, some of 0, some superseded: the 投资 stage needs one of above 0 still current."""
    out = []
    for month in rng.sample(range(1, 13), rng.choice([0, 0, 1, 2])):
        amount = rng.choice([Decimal("0.00"), Decimal("250000.00")])
        out.append(
            InvestmentReport(
                id=uuid.uuid4(),
                project_id=project.id,
                year=2020,
                month=month,
                amount=amount,
                year_to_date=amount,
                reported_by_unit_id=project.responsible_unit_id,
                supersedes=None,
                superseded=rng.random() < 0.3,
                reported_at=datetime(2020, month, 20, tzinfo=TZ),
            )
        )
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(db_factory) -> AsyncIterator[Database]:
    url = await db_factory.fresh("registry", lambda u: migrate("lkg.registry:migrations", u))
    database = Database(url, pool_size=2)
    rng = random.Random(3)
    projects = _projects(rng)
    async with database.transaction() as session:
        session.add_all(projects)
        await session.flush()
        session.add_all([m for p in projects for m in _milestones(rng, p)])
        reports = random.Random(4)  # its own generator: the rows above stay as they were
        session.add_all([r for p in projects for r in _reports(reports, p)])
        await session.flush()
        for update in stage_updates():
            await session.execute(update)
    yield database
    await database.dispose()


def _principal(person: str, role: Role) -> Principal:
    return Principal(
        subject=person, kind="person", person_id=person, client_id=None, name="t", roles=frozenset({role})
    )


EVERYONE = Caller.of(_principal("office", Role.MAJOR_PROJECTS_OFFICE), EMPTY_REACH)


def _reach(units=(), lines=()) -> Caller:
    return Caller.of(
        _principal("unit", Role.UNIT_USER), Reach(units=frozenset(units), lines=frozenset(lines))
    )


#: Each filter's rule, written out independently of lkg.registry.projects.filters: (project, its
#: milestones, the filter's value) → listed?
RULES = {
    "line_id": lambda p, ms, v: p.line_id == v,
    "unrouted": lambda p, ms, v: (p.line_id is None) == v,
    "responsible_unit_id": lambda p, ms, v: p.responsible_unit_id == v,
    "project_class": lambda p, ms, v: p.project_class == v.value,
    "category": lambda p, ms, v: p.category == v.value,
    "status": lambda p, ms, v: p.status == v.value,
    "provincial_municipal": lambda p, ms, v: p.provincial_municipal == v,
    "fast_track": lambda p, ms, v: p.fast_track == v,
    "above_100m": lambda p, ms, v: (p.total_investment >= Decimal(100_000_000)) == v,
    "stage": lambda p, ms, v: p.stage == v.value,
    "overdue_milestones": lambda p, ms, v: any(m.actual_date is None and m.planned_date < TODAY for m in ms),
    "q": lambda p, ms, v: v in p.name,
}


async def _expected_pages(db: Database, limit: int, caller: Caller, query: ListQuery) -> list[list[dict]]:
    """The pages the list should answer: every project in the database's order for the query's sort, kept
    when the caller sees it and every rule of its filters holds, cut into pages of ``limit``."""
    assert query.today == TODAY
    filters, updated_since = query.filters, query.updated_since
    async with db.sessions() as session:
        stmt = sa.select(Project).order_by(*order_by(query.keyset))
        ordered = list((await session.execute(stmt)).scalars())
        kept = []
        for p in ordered:
            ms = await milestones_of(session, p.id)
            given = filters.model_dump(exclude_none=True)
            if (
                caller.sees(p.responsible_unit_id, p.line_id)
                and (updated_since is None or p.updated_at >= updated_since)
                and all(RULES[name](p, ms, getattr(filters, name)) for name in given)
            ):
                kept.append(ProjectOut.model_validate(p).model_dump(mode="json"))
    return [kept[i : i + limit] for i in range(0, len(kept), limit)] or [[]]


async def _read_pages(db: Database, limit: int, caller: Caller, query: ListQuery) -> list[dict]:
    pages, cursor = [], None
    while True:
        page = json.loads(
            await reads.page_json(db.engine, PageParams(limit=limit, cursor=cursor), caller, query)
        )
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


FILTERS = [
    {},
    {"line_id": LINES[0]},
    {"unrouted": True},
    {"unrouted": False},
    {"responsible_unit_id": UNITS[1]},
    {"project_class": ProjectClass.NEW_START},
    {"category": ProjectCategory.SERVICES},
    {"status": ProjectStatus.ACTIVE},
    {"provincial_municipal": True},
    {"fast_track": False},
    {"above_100m": True},
    {"above_100m": False},
    {"q": "_"},
    {"q": "%"},
    {"q": "a/b"},
    {"q": "商务"},
    {"overdue_milestones": True},
    *({"stage": stage} for stage in ProjectStage),
    {"stage": ProjectStage.APPROVAL, "status": ProjectStatus.ACTIVE},
    {"category": ProjectCategory.INDUSTRIAL, "fast_track": True, "above_100m": False},
]
CALLERS = [
    EVERYONE,
    _reach(),
    _reach(units=UNITS[:2]),
    _reach(lines=LINES[1:]),
    _reach(units=UNITS[3:], lines=LINES[:1]),
]


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
async def test_filters_match_the_orm_path_page_by_page(db: Database, filters: dict) -> None:
    query = ListQuery(ProjectFilters(**filters), TODAY)
    expected = await _expected_pages(db, 7, EVERYONE, query)
    assert [page["items"] for page in await _read_pages(db, 7, EVERYONE, query)] == expected
    async with db.sessions() as session:
        exported = set((await session.execute(filtered_projects(EVERYONE, query))).scalars())
    assert {p.id for p in exported} == {uuid.UUID(item["id"]) for page in expected for item in page}
    if not filters:
        assert sum(len(page) for page in expected) == COUNT
    else:
        assert 0 < sum(len(page) for page in expected) < COUNT  # the filter keeps some, not all


@pytest.mark.asyncio(loop_scope="session")
async def test_the_stored_stages_are_the_python_rule_s_and_cover_every_stage(db: Database) -> None:
    async with db.sessions() as session:
        stored = dict((await session.execute(sa.select(Project.id, Project.stage))).all())
        achieved = (
            await session.execute(
                sa.select(Milestone.project_id, Milestone.type).where(Milestone.actual_date.is_not(None))
            )
        ).all()
        invested = set(
            (
                await session.execute(
                    sa.select(InvestmentReport.project_id).where(
                        InvestmentReport.amount > 0, InvestmentReport.superseded.is_(False)
                    )
                )
            ).scalars()
        )
    expected = {
        pid: derive_stage([t for p, t in achieved if p == pid], invested=pid in invested).value
        for pid in stored
    }
    assert stored == expected
    assert sorted(set(stored.values())) == sorted(s.value for s in ProjectStage)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("sort", "since"),
    [*itertools.product([None, *ProjectSort], [None]), (None, datetime(2019, 3, 2, 12, tzinfo=TZ))],
    ids=str,
)
async def test_orders_and_updated_since_match(db: Database, sort, since) -> None:
    query = ListQuery(ProjectFilters(), TODAY, updated_since=since, sort=sort)
    expected = await _expected_pages(db, 4, EVERYONE, query)
    assert len(expected) > 2
    assert [page["items"] for page in await _read_pages(db, 4, EVERYONE, query)] == expected


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("caller", CALLERS, ids=repr)
async def test_the_list_holds_what_the_caller_sees(db: Database, caller: Caller) -> None:
    query = ListQuery(ProjectFilters(), TODAY)
    expected = await _expected_pages(db, 50, caller, query)
    assert [page["items"] for page in await _read_pages(db, 50, caller, query)] == expected
    assert bool(caller.sees_all or caller.units or caller.lines) == bool(expected[0])


@pytest.mark.asyncio(loop_scope="session")
async def test_a_cursor_of_another_order_is_refused(db: Database) -> None:
    page = PageParams(limit=5, cursor=encode_cursor("name", ["x", uuid.uuid4()]))
    with pytest.raises(InvalidCursor):
        await reads.page_json(db.engine, page, EVERYONE, ListQuery(ProjectFilters(), TODAY))


@pytest.mark.asyncio(loop_scope="session")
async def test_detail_matches_and_outside_reach_is_404(db: Database) -> None:
    async with db.sessions() as session:
        projects = list(
            (await session.execute(filtered_projects(EVERYONE, ListQuery(ProjectFilters(), TODAY)))).scalars()
        )
        assert len(projects) == COUNT
        for project in projects:
            milestones = await milestones_of(session, project.id)
            expected = ProjectDetail.model_validate(
                {
                    **ProjectOut.model_validate(project).model_dump(),
                    "milestones": [MilestoneOut.model_validate(m) for m in milestones],
                }
            ).model_dump(mode="json")
            row, body = await reads.project_json(db.engine, project.id, EVERYONE)
            assert (row["id"], row["revision"]) == (project.id, project.revision)
            assert json.loads(body) == expected
            if project.project_code:
                _, by_code = await reads.project_json_by_code(
                    db.engine, f" {project.project_code.lower()} ", EVERYONE
                )
                assert json.loads(by_code) == expected
            unit_only = _reach(units=[project.responsible_unit_id])
            assert json.loads((await reads.project_json(db.engine, project.id, unit_only))[1]) == expected
            others = _reach(
                units=set(UNITS) - {project.responsible_unit_id}, lines=set(LINES) - {project.line_id}
            )
            with pytest.raises(NotFound) as hidden:
                await reads.project_json(db.engine, project.id, others)
            assert hidden.value.code == "project_not_found"
    with pytest.raises(NotFound) as missing:
        await reads.project_json(db.engine, uuid.uuid4(), EVERYONE)
    assert missing.value.code == "project_not_found"
    with pytest.raises(NotFound) as no_code:
        await reads.project_json_by_code(db.engine, "2019-420112-35-03-999999", EVERYONE)
    assert no_code.value.detail == "没有此项目代码的项目"


@pytest.mark.asyncio(loop_scope="session")
async def test_read_connections_are_reused_bounded_and_closed_with_the_engine(db: Database) -> None:
    engine = Database(db.url, pool_size=4).engine
    readers = connections.readers(engine)
    assert readers.size == 2
    async with connections.connection(engine) as first:
        assert await first.fetchval("SELECT 1") == 1
    async with connections.connection(engine) as again:
        assert again is first  # taken from the idle list, not opened anew
    # A PostgreSQL error leaves the connection usable: it goes back; a cancelled statement does not.
    with pytest.raises(asyncpg.PostgresError):
        async with connections.connection(engine) as conn:
            await conn.fetchval("SELECT 1/0")
    assert readers.idle == [first]
    held = [connections.connection(engine) for _ in range(2)]
    opened = [await h.__aenter__() for h in held]
    third = connections.connection(engine)
    waiting = asyncio.ensure_future(third.__aenter__())
    for _ in range(20):  # let it run until it blocks: no time passes, the loop only turns
        await asyncio.sleep(0)
    assert not waiting.done() and readers.slots.locked()  # at most `size` at once
    await held[0].__aexit__(None, None, None)
    assert await waiting is opened[0]
    await engine.dispose()
    assert readers.closed and readers.idle == []
    for h in (held[1], third):
        await h.__aexit__(None, None, None)
    assert all(c.is_closed() for c in opened)
    assert connections.readers(engine) is not readers  # a disposed engine that is used again gets new ones
    await engine.dispose()


@pytest.mark.asyncio(loop_scope="session")
async def test_read_visibility_is_the_sessions_visibility(db_factory) -> None:
    """A line leader's reach, from the 2020 directory, as the read path and the ORM path resolve it."""
    url = await db_factory.fresh("registry", lambda u: migrate("lkg.registry:migrations", u))
    database = Database(url, pool_size=3)
    try:
        clock = SimulatedClock(START)
        async with database.transaction() as session:
            await lines.load_org_document(session, clock, default_document(), actor="t", reason="t")
        runtime = SimpleNamespace(db=database)  # read_visibility uses the runtime's database only
        leader = _principal(str(org_id("person.guo_xiaoping")), Role.LINE_LEADER)
        for principal in (
            leader,
            _principal("not-a-uuid", Role.LINE_LEADER),
            _principal("x", Role.TOP_LEADER),
        ):
            async with database.sessions() as session:
                expected = await access.caller_of(session, principal, TODAY)
            assert await access.read_caller(runtime, principal, TODAY) == expected
            assert await access.read_caller(runtime, principal, TODAY) == expected  # cached
        seen = await access.read_caller(runtime, leader, TODAY)
        assert not seen.sees_all and seen.lines == {org_id(line_key(6))}
    finally:
        await database.dispose()


START = datetime(2020, 5, 1, 9, tzinfo=TZ)
