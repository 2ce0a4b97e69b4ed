"""The shared org read copy (lkg.common.orgcopy) against PostgreSQL: entries applied only when newer, reach
resolved on the shared clock's date, a handover effective at once, look-ups by role and by line."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest_asyncio
import sqlalchemy as sa

from lkg.common.auth import Principal, Role
from lkg.common.clock import TZ, SimulatedClock
from lkg.common.db import Database, make_metadata
from lkg.common.events.contracts import (
    LineSnapshot,
    OrgChanged,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostKind,
    PostSnapshot,
    RoutingBasis,
    RoutingRuleSnapshot,
    UnitKind,
    UnitRole,
    UnitSnapshot,
)
from lkg.common.orgcopy import OrgReachResolver, apply_org_changed, define_org_copy

metadata = make_metadata()
tables = define_org_copy(metadata)

DIRECTORY = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
START = date(2020, 5, 1)
COMMERCE = UnitSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, name="区商务局", kind=UnitKind.DEPARTMENT,
    roles=(UnitRole.COMMERCE_BUREAU,),
)  # fmt: skip
DRC = UnitSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, name="区发改局", kind=UnitKind.DEPARTMENT,
    roles=(UnitRole.MAJOR_PROJECTS_OFFICE,),
)  # fmt: skip
GOV = UnitSnapshot(id=uuid.uuid4(), revision=1, valid_from=START, name="区政府", kind=UnitKind.LEADERSHIP)
LEADER_POST = PostSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, title="管委会副主任、区政府副区长", unit_id=GOV.id,
    kind=PostKind.LINE_LEADER,
)  # fmt: skip
STAFF_POST = PostSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, title="区商务局工作人员", unit_id=COMMERCE.id,
    kind=PostKind.STAFF,
)  # fmt: skip
XIAO = PersonSnapshot(id=uuid.uuid4(), revision=1, name="肖国华")
SUCCESSOR = PersonSnapshot(id=uuid.uuid4(), revision=2, name="继任者")
CLERK = PersonSnapshot(id=uuid.uuid4(), revision=1, name="商务局办事员")
XIAO_HOLDS = PostHoldingSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, post_id=LEADER_POST.id, person_id=XIAO.id
)
CLERK_HOLDS = PostHoldingSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, post_id=STAFF_POST.id, person_id=CLERK.id
)
LINE8 = LineSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, number=8, name="第八线（肖国华）",
    leader_post_id=LEADER_POST.id, service_unit_id=COMMERCE.id,
)  # fmt: skip
RULE = RoutingRuleSnapshot(
    id=uuid.uuid4(), revision=1, valid_from=START, basis=RoutingBasis.RESPONSIBLE_UNIT, line_id=LINE8.id,
    responsible_unit_id=uuid.uuid4(), note="将军路街",
)  # fmt: skip


def _event(revision: int, day: date, **entries) -> OrgChanged:
    at = datetime.combine(day, datetime.min.time(), TZ)
    return OrgChanged(aggregate_id=DIRECTORY, revision=revision, effective_at=at, **entries)


@dataclass
class _Runtime:
    """What OrgReachResolver reads of a ServiceRuntime: its database and the shared clock."""

    db: Database
    clock: SimulatedClock


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def runtime(fresh_database_url: str) -> AsyncIterator[_Runtime]:
    db = Database(fresh_database_url, pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.transaction() as session:
        await apply_org_changed(
            session,
            tables,
            _event(
                1, START, units=(COMMERCE, DRC, GOV), posts=(LEADER_POST, STAFF_POST), people=(XIAO, CLERK),
                holdings=(XIAO_HOLDS, CLERK_HOLDS), lines=(LINE8,), routing_rules=(RULE,),
            ),
        )  # fmt: skip
    try:
        yield _Runtime(db=db, clock=SimulatedClock(datetime(2020, 5, 1, 9, tzinfo=TZ)))
    finally:
        await db.dispose()


def _person(person: PersonSnapshot) -> Principal:
    return Principal(
        subject=str(person.id), kind="person", person_id=str(person.id), client_id=None, name=person.name,
        roles=frozenset({Role.LINE_LEADER}),
    )  # fmt: skip


async def test_the_line_leader_reaches_his_post_unit_and_line(runtime) -> None:
    resolver = OrgReachResolver(runtime, tables)  # type: ignore[arg-type]
    reach = await resolver.resolve(_person(XIAO))
    assert reach.posts == {LEADER_POST.id}
    assert reach.units == {GOV.id}
    assert reach.lines == {LINE8.id}


async def test_the_service_department_staff_reach_the_line_through_their_unit(runtime) -> None:
    reach = await OrgReachResolver(runtime, tables).resolve(_person(CLERK))  # type: ignore[arg-type]
    assert (reach.units, reach.lines, reach.posts) == ({COMMERCE.id}, {LINE8.id}, {STAFF_POST.id})


async def test_a_token_that_names_no_registry_person_reaches_nothing(runtime) -> None:
    resolver = OrgReachResolver(runtime, tables)  # type: ignore[arg-type]
    stranger = Principal(
        subject="tester", kind="person", person_id="tester", client_id=None, name="x", roles=frozenset()
    )
    assert (await resolver.resolve(stranger)).is_empty
    assert (await resolver.reach(uuid.uuid4())).is_empty


async def test_lookups_by_line_role_and_post(runtime) -> None:
    resolver = OrgReachResolver(runtime, tables)  # type: ignore[arg-type]
    assert await resolver.line(LINE8.id) == LINE8
    assert [u.id for u in await resolver.units_with_role(UnitRole.MAJOR_PROJECTS_OFFICE)] == [DRC.id]
    assert await resolver.holder_of(LEADER_POST.id) == XIAO.id
    assert [p.id for p in await resolver.posts_of_unit(COMMERCE.id, kind=PostKind.STAFF)] == [STAFF_POST.id]
    assert await resolver.routing_rules() == [RULE]
    assert (await resolver.person(XIAO.id)).name == "肖国华"


async def test_a_handover_takes_effect_on_its_day_and_an_older_entry_never_overwrites_a_newer_one(
    runtime,
) -> None:
    resolver = OrgReachResolver(runtime, tables)  # type: ignore[arg-type]
    handover_day = date(2020, 6, 1)
    ended = XIAO_HOLDS.model_copy(update={"revision": 2, "valid_to": date(2020, 5, 31)})
    successor_holds = PostHoldingSnapshot(
        id=uuid.uuid4(), revision=2, valid_from=handover_day, post_id=LEADER_POST.id, person_id=SUCCESSOR.id
    )
    async with runtime.db.transaction() as session:
        applied = await apply_org_changed(
            session, tables, _event(2, handover_day, people=(SUCCESSOR,), holdings=(ended, successor_holds))
        )
        assert applied == 3
        # A redelivered revision-1 event changes nothing.
        assert await apply_org_changed(session, tables, _event(1, START, holdings=(XIAO_HOLDS,))) == 0

    # Before the handover day the predecessor still holds the post (history keeps who held it when).
    assert await resolver.holder_of(LEADER_POST.id) == XIAO.id
    runtime.clock.move_to(datetime(2020, 6, 1, 9, tzinfo=TZ))
    assert await resolver.holder_of(LEADER_POST.id) == SUCCESSOR.id
    assert (await resolver.resolve(_person(XIAO))).is_empty
    assert (await resolver.resolve(_person(SUCCESSOR))).lines == {LINE8.id}
    assert await resolver.holder_of(LEADER_POST.id, day=date(2020, 5, 31)) == XIAO.id

    async with runtime.db.sessions() as session:
        stored = (
            await session.execute(
                sa.select(tables.holdings.c.revision).where(tables.holdings.c.id == XIAO_HOLDS.id)
            )
        ).scalar_one()
    assert stored == 2
