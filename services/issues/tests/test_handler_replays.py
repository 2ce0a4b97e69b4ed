"""A stale or repeated event changes nothing (policy §五; docs/issues.md#events-it-reacts-to): for every
handler of the issues service, the event again under a new event id (a republish: the inbox does not know
it) and, where the event carries a revision, an older revision after a newer one, leave every table as it
was — no matter moved, no audit line, no event told."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pytest_asyncio
import sqlalchemy as sa
from issues_world import D0, START, Org, project_event

from lkg.common.clock import TZ
from lkg.common.db import Database, migrate
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.issues import handlers
from lkg.issues.app import SPEC
from lkg.issues.models import audit_entry, matter, matter_signal, metadata

AT = datetime(2020, 5, 6, 9, tzinfo=TZ)


@pytest_asyncio.fixture(loop_scope="session")
async def db(db_factory):
    database = Database(await db_factory.fresh("issues", lambda url: migrate(SPEC.migrations, url)))
    yield database
    await database.dispose()


async def handle(db: Database, handler: Any, *events: Any) -> None:
    """Each event in its own transaction under a fresh event id, as a republish would arrive."""
    for event in events:
        async with db.transaction() as session:
            await handler(session, Envelope.wrap(event), event)


async def state(db: Database) -> dict[str, list[Any]]:
    """Every row of every table of the service but the bus's inbox (which the handlers do not write)."""
    tables = [t for t in metadata.sorted_tables if t.name != "inbox_event"]
    async with db.sessions() as session:
        found = {}
        for table in tables:
            columns = [col for col in table.c if col.name != "updated_at" or table.name != "project_copy"]
            rows = (await session.execute(sa.select(*columns))).all()
            found[table.name] = sorted(map(repr, rows))
        found["outbox_event"] = sorted(
            repr(r) for r in (await session.execute(sa.text("SELECT id, event_type FROM outbox_event"))).all()
        )
    return found


async def world(db: Database) -> tuple[Org, c.ProjectRegistered, uuid.UUID]:
    """The org directory with a second line, a project on the first, and an open problem of it at layer 2."""
    org = Org()
    await handle(db, handlers.on_org_changed, org.event(), second_line(org, revision=1))
    registered = project_event(org)
    await handle(db, handlers.on_project, registered)
    problem = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            sa.insert(matter).values(
                id=problem,
                kind="problem",
                revision=1,
                title="用地指标未落实",
                topic="土地",
                description="二期用地",
                project_id=registered.project.id,
                project_name=registered.project.name,
                project_unit_id=org.street,
                line_id=org.line,
                origin="reported",
                reported_by_unit_id=org.street,
                state="assigned",
                layer=2,
                resolving_unit_id=org.service_dept,
                resolving_unit_name="区科经局",
                holder_post_ids=[org.leader_post],
                holder_unit_ids=[org.service_dept],
                reported_at=START,
                updated_at=START,
            )
        )
    return org, registered, problem


LINE_B, LEADER_B, DEPT_B = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def second_line(org: Org, *, revision: int) -> c.OrgChanged:
    return c.OrgChanged(
        aggregate_id=uuid.UUID(int=1),
        revision=revision + 1,
        effective_at=START,
        units=(c.UnitSnapshot(id=DEPT_B, revision=1, valid_from=D0, name="区住建局", kind="department"),),
        posts=(
            c.PostSnapshot(
                id=LEADER_B,
                revision=1,
                valid_from=D0,
                title="副区长",
                unit_id=org.leadership,
                kind="line_leader",
            ),
        ),
        lines=(
            c.LineSnapshot(
                id=LINE_B,
                revision=revision,
                valid_from=D0,
                number=3,
                name="第三线",
                leader_post_id=LEADER_B,
                service_unit_id=DEPT_B,
            ),
        ),
    )


async def audit_actions(db: Database, subject: uuid.UUID) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(audit_entry.c.action)
            .where(audit_entry.c.subject_id == subject)
            .order_by(audit_entry.c.id)
        )
        return list(rows.scalars())


async def test_a_project_snapshot_moves_matters_once_and_an_older_or_repeated_one_changes_nothing(db):
    _org, registered, problem = await world(db)
    moved = registered.project.model_copy(update={"line_id": LINE_B, "routing_reason": "改派第三线"})
    changed = c.ProjectChanged(aggregate_id=moved.id, revision=2, project=moved, changes=("line_id",))
    await handle(db, handlers.on_project, changed)
    async with db.sessions() as session:
        row = (await session.execute(sa.select(matter).where(matter.c.id == problem))).one()
    assert (row.line_id, row.holder_post_ids, row.holder_unit_ids) == (LINE_B, [LEADER_B], [DEPT_B])
    assert await audit_actions(db, problem) == ["rerouted"]
    before = await state(db)
    assert [r.split("'")[1] for r in before["outbox_event"]] == ["problem.rerouted"]
    await handle(db, handlers.on_project, registered, changed)  # revision 1 again, then 2 again
    assert await state(db) == before


async def test_an_org_change_moves_holders_once_and_an_older_or_repeated_one_changes_nothing(db):
    org, _registered, problem = await world(db)
    handover = c.OrgChanged(
        aggregate_id=uuid.UUID(int=1),
        revision=9,
        effective_at=AT,
        lines=(
            c.LineSnapshot(
                id=org.line,
                revision=2,
                valid_from=AT.date(),  # a stale snapshot dated before it must not take the line away
                number=2,
                name="第二线",
                leader_post_id=org.top_post,
                service_unit_id=org.service_dept,
            ),
        ),
    )
    await handle(db, handlers.on_org_changed, handover)
    assert await audit_actions(db, problem) == ["holders_changed"]
    before = await state(db)
    await handle(db, handlers.on_org_changed, org.event(), handover)
    assert await state(db) == before


async def test_a_termination_again_changes_nothing(db):
    org, registered, problem = await world(db)
    async with db.transaction() as session:
        await session.execute(sa.update(matter).where(matter.c.id == problem).values(origin="system"))
    terminated = c.ProjectTerminated(
        effective_at=AT,
        project_id=registered.project.id,
        project_name=registered.project.name,
        responsible_unit_id=org.street,
        cause="other",
        reason="企业主动解约",
        terminated_on=AT.date(),
    )
    await handle(db, handlers.on_project_terminated, terminated)
    assert await audit_actions(db, problem) == ["withdrawn"]
    before = await state(db)
    await handle(db, handlers.on_project_terminated, terminated)
    assert await state(db) == before


def signals(org: Org, project: c.ProjectSnapshot) -> list[tuple[Any, Any]]:
    common = {"effective_at": AT, "project_id": project.id, "project_name": project.name}
    item = c.ApprovalItemRef(
        approval_item_id=uuid.uuid4(),
        item_name="施工许可证",
        handling_unit_id=DEPT_B,
        handling_unit_name="区住建局",
    )
    return [
        (
            handlers.on_approval_stalled,
            c.ApprovalStalled(
                **common,
                approval_item_id=item.approval_item_id,
                catalogue_item_id=uuid.uuid4(),
                item_name="施工许可证",
                handling_unit_id=DEPT_B,
                handling_unit_name="区住建局",
                due_at=datetime(2020, 5, 6, tzinfo=TZ),
            ),
        ),
        (
            handlers.on_start_at_risk,
            c.ApprovalStartAtRisk(
                **common,
                responsible_unit_id=org.street,
                planned_start_date=date(2020, 6, 30),
                blocking_items=(item,),
            ),
        ),
        (
            handlers.on_milestone_missed,
            c.MilestoneMissed(
                **common,
                responsible_unit_id=org.street,
                milestone=c.MilestoneSnapshot(
                    id=uuid.uuid4(), type="construction_start", label="开工", planned_date=date(2020, 5, 5)
                ),
            ),
        ),
        (
            handlers.on_commitment_overdue,
            c.CommitmentOverdue(
                **common,
                responsible_unit_id=org.street,
                commitment_id=uuid.uuid4(),
                side="government",
                description="三通一平",
                due_date=date(2020, 5, 5),
                obligor_unit_id=DEPT_B,
                obligor_unit_name="区住建局",
            ),
        ),
    ]


async def test_a_signal_again_under_a_new_event_id_changes_nothing(db):
    org, registered, _problem = await world(db)
    for handler, event in signals(org, registered.project):
        await handle(db, handler, event)
        before = await state(db)
        await handle(db, handler, event)
        assert await state(db) == before, handler.__name__
    async with db.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(matter_signal)) == 4
    # A later signal of the same cause is a new one (it attaches to the open problem or opens another).
    handler, event = signals(org, registered.project)[0]
    await handle(db, handler, event.model_copy(update={"effective_at": datetime(2020, 5, 13, 9, tzinfo=TZ)}))
    async with db.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(matter_signal)) == 5


async def test_a_ranking_request_again_changes_nothing(db):
    org, _registered, _problem = await world(db)
    requested = c.RedCardRequested(
        effective_at=AT,
        request_id=uuid.uuid4(),
        ranking_id=uuid.uuid4(),
        period=c.Period(kind="month", start=date(2020, 4, 1), end=date(2020, 4, 30)),
        target=c.RedCardTarget(unit_id=org.street, unit_name="金银湖街道", kind="responsible_unit"),
        rank=8,
        ranked_count=8,
        evidence=(c.EvidenceRef(kind="ranking", id=str(uuid.uuid4()), note="月度排名末位"),),
    )
    await handle(db, handlers.on_red_card_requested, requested)
    before = await state(db)
    assert len(before["red_card"]) == 1
    await handle(db, handlers.on_red_card_requested, requested)
    assert await state(db) == before
