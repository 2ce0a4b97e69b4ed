"""Cause keys of system-opened problems and the month-end round's candidates (policy §五(三)), on a real
migrated issues database: the event handlers record signals under their documented keys, and the round
proposes cards to responsible units and to approval departments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from types import SimpleNamespace

import pytest_asyncio
import sqlalchemy as sa
from issues_world import D0, START, Org, project_event

from lkg.common.clock import TZ, SimulatedClock
from lkg.common.db import Database, migrate
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.orgcopy import apply_org_changed
from lkg.issues import handlers
from lkg.issues.app import SPEC
from lkg.issues.models import matter, matter_signal, org_copy
from lkg.issues.supervision.models import red_card
from lkg.issues.supervision.rounds import _candidates_from_project, open_round

ON = date(2020, 5, 25)


@pytest_asyncio.fixture(loop_scope="session")
async def db(db_factory):
    database = Database(await db_factory.fresh("issues", lambda url: migrate(SPEC.migrations, url)))
    yield database
    await database.dispose()


async def handle(db: Database, handler, *events) -> None:
    async with db.transaction() as session:
        for event in events:
            await handler(session, Envelope.wrap(event), event)


def stalled(project: c.ProjectSnapshot, item: uuid.UUID, unit: uuid.UUID) -> c.ApprovalStalled:
    return c.ApprovalStalled(
        effective_at=datetime(2020, 5, 6, 9, tzinfo=TZ),
        approval_item_id=item,
        catalogue_item_id=uuid.uuid4(),
        item_name="施工许可证",
        project_id=project.id,
        project_name=project.name,
        handling_unit_id=unit,
        handling_unit_name="区住建局",
        due_at=datetime(2020, 5, 6, tzinfo=TZ),
    )


async def test_each_signal_is_recorded_once_under_its_cause_key(db):
    org = Org()
    project = project_event(org).project
    item, milestone, commitment, dept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime(2020, 5, 6, 9, tzinfo=TZ)
    twice = stalled(project, item, dept)
    envelope = Envelope.wrap(twice)
    async with db.transaction() as session:  # the same event delivered again
        await handlers.on_approval_stalled(session, envelope, twice)
        await handlers.on_approval_stalled(session, envelope, twice)
    common = {"effective_at": at, "project_id": project.id, "project_name": project.name}
    await handle(
        db,
        handlers.on_start_at_risk,
        c.ApprovalStartAtRisk(
            **common,
            responsible_unit_id=org.street,
            planned_start_date=date(2020, 6, 30),
            blocking_items=(
                c.ApprovalItemRef(
                    approval_item_id=item,
                    item_name="施工许可证",
                    handling_unit_id=dept,
                    handling_unit_name="区住建局",
                ),
            ),
        ),
    )
    await handle(
        db,
        handlers.on_milestone_missed,
        c.MilestoneMissed(
            **common,
            responsible_unit_id=org.street,
            milestone=c.MilestoneSnapshot(
                id=milestone, type="construction_start", label="开工", planned_date=date(2020, 5, 5)
            ),
        ),
    )
    await handle(
        db,
        handlers.on_commitment_overdue,
        c.CommitmentOverdue(
            **common,
            responsible_unit_id=org.street,
            commitment_id=commitment,
            side="government",
            description="三通一平",
            due_date=date(2020, 5, 5),
            obligor_unit_id=dept,
            obligor_unit_name="区住建局",
        ),
    )
    async with db.sessions() as session:
        rows = (
            await session.execute(
                sa.select(matter_signal.c.event_type, matter_signal.c.cause_key, matter_signal.c.payload)
            )
        ).all()
    got = sorted((r.event_type, r.cause_key, r.payload["resolving_unit_id"]) for r in rows)
    assert got == sorted(
        [
            ("approval.stalled", f"approval.stalled:{item}", str(dept)),
            ("approval.start_at_risk", f"approval.start_at_risk:{project.id}:2020-06-30", str(dept)),
            ("milestone.missed", f"milestone.missed:{milestone}", str(org.street)),
            ("commitment.overdue", f"commitment.overdue:{commitment}", str(dept)),
        ]
    )


def snapshot(**kw) -> dict:
    org = Org()
    return project_event(org, **kw).project.model_dump(mode="json")


def late_start(planned: date = date(2020, 5, 15)) -> c.MilestoneSnapshot:
    return c.MilestoneSnapshot(id=uuid.uuid4(), type="construction_start", label="开工", planned_date=planned)


def test_the_four_categories_from_a_project_snapshot():
    assert _candidates_from_project(snapshot(milestones=(late_start(),)), ON) == [
        ("no_real_progress", "计划2020-05-15开工，至2020-05-25未开工")
    ]
    behind = c.MilestoneSnapshot(
        id=uuid.uuid4(), type="completion", label="竣工", planned_date=date(2020, 5, 1)
    )
    assert _candidates_from_project(snapshot(project_class="continuing", milestones=(behind,)), ON) == [
        ("behind_schedule", "竣工计划2020-05-01完成，至2020-05-25未完成")
    ]
    assert _candidates_from_project(snapshot(enrolment_status="failed"), ON) == [
        ("not_enrolled", "统计局报告项目未通过审核入库")
    ]
    # Under 100 million, not yet late, or terminated: no candidate.
    small = snapshot(milestones=(late_start(),), total_investment="99999999.99")
    assert _candidates_from_project(small, ON) == []
    assert _candidates_from_project(snapshot(milestones=(late_start(date(2020, 5, 25)),)), ON) == []
    assert _candidates_from_project(snapshot(milestones=(late_start(),), status="terminated"), ON) == []


async def test_the_round_proposes_the_approval_department_of_a_stalled_item_and_of_an_overdue_matter(db):
    org = Org()
    bureau = uuid.uuid4()
    await handle(
        db,
        lambda s, _e, event: apply_org_changed(s, org_copy, event),
        c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=1,
            effective_at=START,
            units=(
                c.UnitSnapshot(
                    id=bureau,
                    revision=1,
                    valid_from=D0,
                    name="区行政审批局",
                    kind="department",
                    roles=(c.UnitRole.APPROVAL_BUREAU,),
                ),
            ),
        ),
    )
    stuck = project_event(org, name="冷链物流中心", milestones=(late_start(),))
    fine = project_event(org, name="食品产业园")
    await handle(db, handlers.on_project, stuck, fine)
    housing, item, other_item = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime(2020, 5, 6, 9, tzinfo=TZ)
    base = {
        "kind": "problem",
        "revision": 1,
        "topic": "审批",
        "description": "施工许可证已超过办理时限（2020年5月5日24时）仍未办结。",
        "origin": "system",
        "reported_by_unit_id": org.street,
        "state": "assigned",
        "layer": 1,
        "resolving_unit_id": housing,
        "resolving_unit_name": "区住建局",
        "reported_at": at,
        "updated_at": at,
        "resolution_due_on": None,
    }
    meeting = {
        **base,
        "kind": "meeting_matter",
        "origin": "meeting",
        "topic": "水电",
        "description": "供水接入",
        "layer": 2,
        "resolution_due_on": date(2020, 5, 20),
        "project_id": None,
        "cause_key": None,
    }
    async with db.transaction() as session:
        await session.execute(
            sa.insert(matter),
            [
                {**base, "id": uuid.uuid4(), "title": "审批超时：施工许可证（区住建局）",
                 "project_id": stuck.project.id, "cause_key": f"approval.stalled:{item}"},
                # A stalled item on a project that is not behind proposes nothing by itself.
                {**base, "id": uuid.uuid4(), "title": "审批超时：环评（区住建局）",
                 "project_id": fine.project.id, "cause_key": f"approval.stalled:{other_item}"},
                {**meeting, "id": uuid.uuid4(), "title": "施工图审查提速",
                 "resolving_unit_id": bureau, "resolving_unit_name": "区行政审批局"},
                {**meeting, "id": uuid.uuid4(), "title": "道路接入",
                 "resolving_unit_id": org.street, "resolving_unit_name": "金银湖街道"},
            ],
        )  # fmt: skip
    runtime = SimpleNamespace(clock=SimulatedClock(datetime(2020, 5, 25, tzinfo=TZ)))
    async with db.transaction() as session:
        _, created = await open_round(session, runtime, 2020, 5)
    async with db.transaction() as session:
        _, again = await open_round(session, runtime, 2020, 5)
        cards = (
            await session.execute(sa.select(red_card).order_by(red_card.c.reason, red_card.c.target_kind))
        ).all()
    assert (created, again) == (4, 0)
    assert [(x.reason, x.target_kind, x.target_unit_id, x.project_id) for x in cards] == [
        ("meeting_matter_overdue", "approval_department", bureau, None),
        ("meeting_matter_overdue", "responsible_unit", org.street, None),
        ("no_real_progress", "approval_department", housing, stuck.project.id),
        ("no_real_progress", "responsible_unit", org.street, stuck.project.id),
    ]
    department_card = cards[2]
    assert [(e["kind"], e["id"]) for e in department_card.evidence] == [
        ("project", str(stuck.project.id)),
        ("approval_item", str(item)),
    ]
    assert department_card.state == "proposed" and department_card.source == "supervision"
