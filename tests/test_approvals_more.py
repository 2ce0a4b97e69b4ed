"""More approvals scenarios over HTTP with the shared clock moved (issue #4): who sees and acts on what
(docs/approvals.md "Access": 404 for what a caller may not see, 403 for what it may see but not do),
核准类 in two waves (policy §三(一)), a 批前提速 project's plan (§四(二)), a project switching 备案类 →
核准类, the weekly report on a holiday Friday, provisional 2027 deadlines recomputed when the official
year is loaded, and stale or repeated snapshots that change nothing.

The org directory and the projects arrive as the registry would send them (``org.changed``,
``project.registered`` / ``project.changed``), staged into the bus from the test, so each scenario controls
exactly which units, people and project facts exist.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest_asyncio
import sqlalchemy as sa

from lkg.approvals.app import SPEC as APPROVALS
from lkg.approvals.models import ApprovalItemChange
from lkg.common.auth import Role
from lkg.common.calendar import YearSchedule
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.events.outbox import stage
from lkg.common.runtime import shared_time
from lkg.common.testing import eventually
from lkg.common.testing.system import running_system

_systems = itertools.count(1)
START = datetime(2020, 5, 1, 9, tzinfo=TZ)
D0 = date(2020, 1, 1)
EXAMPLE_2027 = Path(__file__).resolve().parents[1] / "docs" / "calendar-2027.example.json"


def _id() -> uuid.UUID:
    return uuid.uuid4()


class Org:
    """Two streets and four departments, one staff member each; 区行政审批局 by its role."""

    def __init__(self) -> None:
        self.street, self.other_street, self.env, self.planning, self.bureau, self.tech = (
            _id() for _ in range(6)
        )
        self.posts = {name: _id() for name in ("street", "other_street", "env", "planning", "tech")}
        self.people = {name: _id() for name in self.posts}

    def event(self) -> c.OrgChanged:
        unit = c.UnitSnapshot
        units = {
            "street": (self.street, "金银湖街道", "street"),
            "other_street": (self.other_street, "长青街道", "street"),
            "env": (self.env, "区生态环境局", "department"),
            "planning": (self.planning, "区自然资源和规划局", "department"),
            "tech": (self.tech, "区科经局", "department"),
        }
        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=1,
            effective_at=START,
            units=(
                *(unit(id=i, revision=1, valid_from=D0, name=n, kind=k) for i, n, k in units.values()),
                unit(
                    id=self.bureau,
                    revision=1,
                    valid_from=D0,
                    name="区行政审批局",
                    kind="department",
                    roles=(c.UnitRole.APPROVAL_BUREAU,),
                ),
            ),
            posts=tuple(
                c.PostSnapshot(
                    id=self.posts[key],
                    revision=1,
                    valid_from=D0,
                    title="专员",
                    unit_id=units[key][0],
                    kind="staff",
                )
                for key in self.posts
            ),
            people=tuple(c.PersonSnapshot(id=p, revision=1, name=f"{k}员") for k, p in self.people.items()),
            holdings=tuple(
                c.PostHoldingSnapshot(
                    id=_id(), revision=1, valid_from=D0, post_id=self.posts[k], person_id=self.people[k]
                )
                for k in self.posts
            ),
            lines=(),
        )


def project(org: Org, *, revision: int = 1, at: datetime = START, **changes) -> c.ProjectSnapshot:
    planned_start = changes.pop("planned_start", None)
    return c.ProjectSnapshot(
        id=changes.pop("id", None) or _id(),
        name=changes.pop("name", "临空港智能制造产业园项目"),
        enterprise="武汉某智能装备有限公司",
        category="industrial",
        project_class=changes.pop("project_class", "new_start"),
        responsible_unit_id=changes.pop("responsible_unit_id", org.street),
        responsible_unit_name="金银湖街道",
        line_id=None,
        routing_basis="unrouted",
        routing_reason="无适用的包保规则",
        approval_type=changes.pop("approval_type", "filing"),
        total_investment="150000000.00",
        plan_year=at.year,
        planned_annual_investment="50000000.00",
        milestones=(
            (
                c.MilestoneSnapshot(
                    id=_id(), type="construction_start", label="开工", planned_date=planned_start
                ),
            )
            if planned_start
            else ()
        ),
        effective_at=at,
        **changes,
    )


async def publish(system, *events) -> None:
    runtime = system.platform.runtimes["approvals"]
    async with runtime.db.transaction() as session:
        for event in events:
            await stage(session, event)
    runtime.relay.wake()
    await system.settle()


async def register(system, snapshot: c.ProjectSnapshot) -> c.ProjectSnapshot:
    await publish(system, c.ProjectRegistered(aggregate_id=snapshot.id, revision=1, project=snapshot))
    return snapshot


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}apm{next(_systems)}",
        specs=[APPROVALS],
    ) as system:
        org = Org()
        await publish(system, org.event())
        system.org = org  # type: ignore[attr-defined]
        yield system


def bureau(system) -> dict[str, str]:
    return system.auth(Role.APPROVAL_BUREAU, person="bureau")


def staff(system, key: str, role: Role = Role.SERVICE_DEPARTMENT) -> dict[str, str]:
    return system.auth(role, person=str(system.org.people[key]))


async def plan_of(system, project_id: uuid.UUID, headers: dict[str, str] | None = None) -> dict:
    listed = await system.client.get(
        f"/api/v1/approval-plans?project_id={project_id}", headers=headers or bureau(system)
    )
    assert listed.status_code == 200, listed.text
    [summary] = listed.json()["items"]
    plan = await system.client.get(
        f"/api/v1/approval-plans/{summary['id']}", headers=headers or bureau(system)
    )
    assert plan.status_code == 200, plan.text
    return plan.json()


def item(plan: dict, code: str) -> dict:
    return next(i for i in plan["items"] if i["code"] == code)


async def act(
    system, item_id: str, action: str, headers: dict[str, str] | None = None, body: dict | None = None
):
    current = await system.client.get(f"/api/v1/approval-items/{item_id}", headers=bureau(system))
    return await system.client.post(
        f"/api/v1/approval-items/{item_id}/{action}",
        json=body or {},
        headers={**(headers or bureau(system)), "If-Match": current.headers["ETag"]},
    )


async def chain_of(system, plan_id: str) -> dict:
    found = await system.client.get(
        f"/api/v1/approval-plans/{plan_id}/critical-chain", headers=bureau(system)
    )
    assert found.status_code == 200, found.text
    return found.json()


# ---- access ---------------------------------------------------------------------------------------


async def test_a_department_acts_only_on_the_items_it_handles(world):
    org = world.org
    mine = await register(world, project(org))
    theirs = await register(world, project(org, responsible_unit_id=org.other_street, name="长青街某项目"))
    plan = await plan_of(world, mine.id)
    eia, planning_permit = item(plan, "environmental_assessment"), item(plan, "construction_planning_permit")
    assert (eia["handling_unit_id"], planning_permit["handling_unit_id"]) == (str(org.env), str(org.planning))
    env = staff(world, "env")

    # The project's unit applies, the department decides; neither does the other's part (403, no change).
    street = staff(world, "street", Role.UNIT_USER)
    assert (await act(world, eia["id"], "submissions", street)).status_code == 200
    refused = await act(world, eia["id"], "acceptances", street)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    accepted = await act(world, eia["id"], "acceptances", env)
    assert (accepted.status_code, accepted.json()["state"]) == (200, "accepted")

    # 区生态环境局 reads the whole plan (the parallel picture) and a sibling item, but may not act on it.
    assert [i["code"] for i in (await plan_of(world, mine.id, env))["items"]] == [
        i["code"] for i in plan["items"]
    ]
    sibling = await world.client.get(f"/api/v1/approval-items/{planning_permit['id']}", headers=env)
    assert sibling.status_code == 200
    await act(world, planning_permit["id"], "submissions")
    before = (
        await world.client.get(f"/api/v1/approval-items/{planning_permit['id']}", headers=bureau(world))
    ).json()
    refused = await act(world, planning_permit["id"], "acceptances", env)
    assert refused.status_code == 403
    fresh = await world.client.get(f"/api/v1/approval-items/{planning_permit['id']}", headers=env)
    edit = await world.client.patch(
        f"/api/v1/approval-items/{planning_permit['id']}",
        json={"notes": "代为修改"},
        headers={**env, "If-Match": fresh.headers["ETag"]},
    )
    assert edit.status_code == 403
    after = (
        await world.client.get(f"/api/v1/approval-items/{planning_permit['id']}", headers=bureau(world))
    ).json()
    assert (after["state"], after["revision"], after["notes"]) == ("submitted", before["revision"], None)

    # Its work list holds only what it handles: one 环评 per plan, not its siblings.
    listed = (await world.client.get("/api/v1/approval-items", headers=env)).json()["items"]
    assert sorted((i["project_id"], i["code"]) for i in listed) == sorted(
        [(str(mine.id), "environmental_assessment"), (str(theirs.id), "environmental_assessment")]
    )
    departments = (await world.client.get("/api/v1/approval-reports/departments", headers=env)).json()
    assert [(r["handling_unit_name"], r["open"]) for r in departments["departments"]] == [("区生态环境局", 1)]

    # A unit with no part in a project does not see it at all: 404, for reading and for acting.
    tech = staff(world, "tech")
    other_street = staff(world, "other_street", Role.UNIT_USER)
    for headers in (tech, other_street):
        assert (
            await world.client.get(f"/api/v1/approval-plans/{plan['id']}", headers=headers)
        ).status_code == 404
        hidden = await world.client.get(f"/api/v1/approval-items/{eia['id']}", headers=headers)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "approval_item_not_found")
        assert (await act(world, eia["id"], "grants", headers)).status_code == 404
        listed = await world.client.get(f"/api/v1/approval-plans?project_id={mine.id}", headers=headers)
        assert listed.json()["items"] == []
    assert (await world.client.get(f"/api/v1/approval-items/{eia['id']}", headers=bureau(world))).json()[
        "state"
    ] == "accepted"


# ---- 核准类 in two waves, 批前提速 -----------------------------------------------------------------------


async def test_a_ratification_project_runs_in_two_waves(world):
    await world.move_clock(set=datetime(2020, 6, 1, 9, tzinfo=TZ))
    snapshot = await register(
        world, project(world.org, approval_type="ratification", at=datetime(2020, 6, 1, 9, tzinfo=TZ))
    )
    plan = await plan_of(world, snapshot.id)
    prerequisites = {i["code"]: i["prerequisites"] for i in plan["items"]}
    first_wave = ["site_selection", "land_pre_review"]
    # Policy §三(一): 规划选址 and 用地预审 first, then 规划, 用地, 环评, 节能 (and 核准, 安评) in parallel.
    assert prerequisites["site_selection"] == prerequisites["land_pre_review"] == []
    for code in (
        "ratification_approval",
        "land_use_planning_permit",
        "environmental_assessment",
        "energy_review",
    ):
        assert sorted(prerequisites[code]) == sorted(first_wave), code
    assert "filing_certificate" not in prerequisites

    # Nothing applied for on 06-01: wave one takes 20 working days to 06-30 (端午 06-25..27 off, Sunday 06-28
    # worked), wave two (用地规划 20) to 07-28, then 工程规划 (20) 08-25, 施工图审查 (20) 09-22 and 施工许可证
    # (7, Sunday 09-27 worked) 09-30. Of two prerequisites done the same day the chain names the later code.
    chain = await chain_of(world, plan["id"])
    assert [(s["code"], s["expected_start"], s["expected_finish"]) for s in chain["chain"]] == [
        ("site_selection", "2020-06-01", "2020-06-30"),
        ("land_use_planning_permit", "2020-06-30", "2020-07-28"),
        ("construction_planning_permit", "2020-07-28", "2020-08-25"),
        ("drawing_review", "2020-08-25", "2020-09-22"),
        ("construction_permit", "2020-09-22", "2020-09-30"),
    ]
    assert chain["earliest_start"] == "2020-09-30"

    # Wave one granted on 06-10: wave two starts that day, and so does everything after it.
    await world.move_clock(set=datetime(2020, 6, 10, 9, tzinfo=TZ))
    for code in first_wave:
        for action in ("submissions", "acceptances", "grants"):
            assert (await act(world, item(plan, code)["id"], action)).status_code == 200
    chain = await chain_of(world, plan["id"])
    assert [(s["code"], s["expected_start"], s["expected_finish"]) for s in chain["chain"]] == [
        ("land_use_planning_permit", "2020-06-10", "2020-07-09"),
        ("construction_planning_permit", "2020-07-09", "2020-08-06"),
        ("drawing_review", "2020-08-06", "2020-09-03"),
        ("construction_permit", "2020-09-03", "2020-09-14"),
    ]
    assert chain["earliest_start"] == "2020-09-14"
    items = {i["code"]: i for i in (await plan_of(world, snapshot.id))["items"]}
    assert [items[code]["state"] for code in first_wave] == ["granted", "granted"]


async def test_a_fast_track_project_shows_pre_review_dates_and_time_saved(world):
    await world.move_clock(set=datetime(2020, 7, 1, 9, tzinfo=TZ))
    at = datetime(2020, 7, 1, 9, tzinfo=TZ)
    snapshot = await register(
        world, project(world.org, fast_track=True, at=at, planned_start=date(2020, 8, 31))
    )
    plan = await plan_of(world, snapshot.id)
    assert plan["fast_track"] is True
    # §四(二): every item pre-reviewed in parallel for 5 working days from joining the track (07-02..07-08).
    assert {(i["prereview_from"], i["prereview_to"]) for i in plan["items"]} == {("2020-07-01", "2020-07-08")}
    # Then 3 working days of formal processing each (07-13), and the start gate 3 more (07-16); the normal
    # route is 30 calendar days of 环评 (07-31, a Friday) then 7 working days of 施工许可证 (08-11).
    assert plan["earliest_start"] == "2020-07-16"
    assert plan["time_saved_days"] == 26
    assert plan["start_at_risk"] is False
    chain = await chain_of(world, plan["id"])
    assert [(s["code"], s["expected_start"], s["expected_finish"]) for s in chain["chain"]] == [
        ("survey_review", "2020-07-08", "2020-07-13"),
        ("construction_permit", "2020-07-13", "2020-07-16"),
    ]


# ---- the approval type changes ------------------------------------------------------------------------


async def test_switching_filing_to_ratification_keeps_started_items_and_adds_the_first_wave(world):
    """Decision (docs/approvals.md): an item already applied for keeps its state, clock and history (a
    reclassification does not undo an application a department holds); an untouched item that no longer
    applies is withdrawn with a note; the items of the new type are added as planned; every item takes the
    prerequisites of the new type."""
    at = datetime(2020, 8, 3, 9, tzinfo=TZ)
    await world.move_clock(set=at)
    snapshot = await register(world, project(world.org, at=at))
    plan = await plan_of(world, snapshot.id)
    eia = item(plan, "environmental_assessment")
    await act(world, eia["id"], "submissions")
    accepted = (await act(world, eia["id"], "acceptances")).json()
    assert accepted["clocks"][0]["due_at"] == "2020-09-03T00:00:00+08:00"

    changed_at = datetime(2020, 8, 5, 9, tzinfo=TZ)
    await world.move_clock(set=changed_at)
    changed = snapshot.model_copy(
        update={"approval_type": c.ApprovalType.RATIFICATION, "effective_at": changed_at}
    )
    await publish(world, c.ProjectChanged(aggregate_id=snapshot.id, revision=2, project=changed))
    after = await plan_of(world, snapshot.id)
    assert after["approval_type"] == "ratification"
    states = {i["code"]: i["state"] for i in after["items"]}
    assert states == {
        "filing_certificate": "withdrawn",
        "ratification_approval": "planned",
        "site_selection": "planned",
        "land_pre_review": "planned",
        "land_use_planning_permit": "planned",
        "construction_planning_permit": "planned",
        "environmental_assessment": "accepted",
        "safety_assessment": "planned",
        "energy_review": "planned",
        "project_registration": "planned",
        "survey_review": "planned",
        "drawing_review": "planned",
        "construction_permit": "planned",
    }
    kept = item(after, "environmental_assessment")
    assert [(k["state"], k["due_at"]) for k in kept["clocks"]] == [("running", "2020-09-03T00:00:00+08:00")]
    assert sorted(kept["prerequisites"]) == ["land_pre_review", "site_selection"]
    assert item(after, "construction_planning_permit")["prerequisites"] == ["land_use_planning_permit"]
    history = await world.client.get(
        f"/api/v1/approval-items/{item(after, 'filing_certificate')['id']}/history", headers=bureau(world)
    )
    assert [(h["action"], h["note"]) for h in history.json()["items"]][-1] == (
        "withdraw",
        "审批类型变更，本事项不再适用",
    )

    # A late, older snapshot (the registry's revision 1 redelivered) changes nothing.
    await publish(world, c.ProjectRegistered(aggregate_id=snapshot.id, revision=1, project=snapshot))
    again = await plan_of(world, snapshot.id)
    assert (again["approval_type"], again["revision"]) == ("ratification", after["revision"])


# ---- stale and repeated snapshots (issue #11 item 9) ----------------------------------------------------


async def _everything_of(system, project_id: uuid.UUID) -> tuple[dict, str, list[list[dict]], dict]:
    """The plan as read, its ETag, every item's history and the read copy: what a replay must not change."""
    plan = await plan_of(system, project_id)
    etag = (await system.client.get(f"/api/v1/approval-plans/{plan['id']}", headers=bureau(system))).headers[
        "ETag"
    ]
    histories = []
    for entry in plan["items"]:
        found = await system.client.get(
            f"/api/v1/approval-items/{entry['id']}/history", headers=bureau(system)
        )
        histories.append(found.json()["items"])
    copy = await system.client.get(
        f"/api/v1/read-copies/approvals/projects/{project_id}", headers=system.auth(Role.ADMIN)
    )
    assert copy.status_code == 200, copy.text
    return plan, etag, histories, copy.json()


async def test_an_older_or_repeated_project_snapshot_changes_no_plan(world):
    """``project.registered`` / ``project.changed``: revision 1 republished after revision 2, then revision 2
    itself, each with a new event id: the read copy keeps revision 2 and the plan, its items and their
    histories stay exactly as they were."""
    at = datetime(2020, 8, 3, 9, tzinfo=TZ)
    await world.move_clock(set=at)
    first = await register(world, project(world.org, at=at, name="重放项目", planned_start=date(2020, 12, 1)))
    changed_at = datetime(2020, 8, 5, 9, tzinfo=TZ)
    await world.move_clock(set=changed_at)
    second = first.model_copy(
        update={
            "name": "重放项目（更名）",
            "approval_type": c.ApprovalType.RATIFICATION,
            "effective_at": changed_at,
        }
    )
    revision_2 = c.ProjectChanged(aggregate_id=first.id, revision=2, project=second, changes=("name",))
    await publish(world, revision_2)
    before = await _everything_of(world, first.id)
    assert (before[0]["project_name"], before[0]["approval_type"], before[3]["revision"]) == (
        "重放项目（更名）",
        "ratification",
        2,
    )

    # The clock stays put: what a plan reads as depends on the day (its earliest start, its clocks).
    await publish(world, c.ProjectRegistered(aggregate_id=first.id, revision=1, project=first))
    assert await _everything_of(world, first.id) == before
    await publish(
        world, c.ProjectChanged(aggregate_id=first.id, revision=2, project=second, changes=("name",))
    )
    assert await _everything_of(world, first.id) == before


async def test_an_older_or_repeated_org_snapshot_resolves_no_department(world):
    """``org.changed``: a department in force from 2020 to May (revision 1), then closed (revision 2); a
    catalogue item added later names it and stays unresolved. Revision 1 republished (with the day it was in
    force) and revision 2 republished, each with a new event id, leave the item without a department: the
    copy did not take them, so nothing follows from them."""
    office, name = _id(), "区人民防空办公室"

    def org_event(revision: int, valid_to: date | None, at: datetime) -> c.OrgChanged:
        unit = c.UnitSnapshot(
            id=office, revision=revision, valid_from=D0, valid_to=valid_to, name=name, kind="department"
        )
        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1), revision=1 + revision, effective_at=at, units=(unit,)
        )

    opened = org_event(1, None, START)
    closed_at = datetime(2020, 6, 1, 9, tzinfo=TZ)
    await world.move_clock(set=closed_at)
    closed = org_event(2, date(2020, 5, 31), closed_at)
    await publish(world, opened, closed)
    created = await world.client.post(
        "/api/v1/approval-catalogue",
        json={
            "code": "civil_air_defence",
            "name": "人防工程审批",
            "handling_unit_name": name,
            "limit_days": 10,
            "limit_unit": "working",
            "source": "演示",
            "applies_to": ["filing"],
        },
        headers=bureau(world),
    )
    assert created.status_code == 201, created.text
    assert created.json()["handling_unit_id"] is None

    for again in (org_event(1, None, START), org_event(2, date(2020, 5, 31), closed_at)):
        await publish(world, again)
        found = await world.client.get(
            f"/api/v1/approval-catalogue/{created.json()['id']}", headers=bureau(world)
        )
        assert (found.json()["handling_unit_id"], found.headers["ETag"]) == (None, created.headers["ETag"])


# ---- the weekly report ------------------------------------------------------------------------------


async def test_the_weekly_report_of_a_holiday_friday_falls_on_the_last_working_day_before_it(world):
    # Friday 2020-10-02 is in the National Day holiday (10-01..10-08): the report is on Wednesday 09-30.
    await world.move_clock(set=datetime(2020, 9, 30, 10, tzinfo=TZ))
    snapshot = await register(
        world, project(world.org, at=datetime(2020, 9, 30, 10, tzinfo=TZ), name="国庆周报告项目")
    )
    filing = item(await plan_of(world, snapshot.id), "filing_certificate")
    await act(world, filing["id"], "submissions")
    await world.move_clock(set=datetime(2020, 9, 30, 18, tzinfo=TZ))
    await act(world, filing["id"], "acceptances")  # after the report time: not in that week's report
    await world.move_clock(set=datetime(2020, 10, 9, 9, tzinfo=TZ))
    report = await world.client.get(
        "/api/v1/approval-reports/weekly?week_of=2020-10-01", headers=bureau(world)
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["report_day"], body["as_of"]) == ("2020-09-30", "2020-09-30T17:00:00+08:00")
    [row] = [r for r in body["rows"] if r["project_id"] == str(snapshot.id)]
    assert row["cells"]["备案证"]["state"] == "submitted"
    same_week = await world.client.get(
        "/api/v1/approval-reports/weekly?week_of=2020-09-28", headers=bureau(world)
    )
    assert same_week.json() == body


# ---- the calendar ----------------------------------------------------------------------------------


async def test_provisional_2027_deadlines_are_recomputed_when_the_official_year_is_loaded(world):
    at = datetime(2027, 9, 28, 10, tzinfo=TZ)
    await world.move_clock(set=at)
    snapshot = await register(world, project(world.org, at=at, name="二〇二七年项目"))
    plan = await plan_of(world, snapshot.id)
    filing, registration = item(plan, "filing_certificate"), item(plan, "project_registration")
    for entry in (registration, filing):
        await act(world, entry["id"], "submissions")
        await act(world, entry["id"], "acceptances")

    async def clocks() -> list[tuple[str, str, bool]]:
        found = await plan_of(world, snapshot.id)
        return [
            (i["code"], k["due_at"], k["provisional"])
            for code in ("filing_certificate", "project_registration")
            for i in [item(found, code)]
            for k in i["clocks"]
        ]

    # The provisional 2027 (weekends + rule-based holidays, 10-01..10-07 off, no make-up days): 3 working days
    # from 09-28 end on 10-06, 5 on 10-08.
    assert await clocks() == [
        ("filing_certificate", "2027-10-07T00:00:00+08:00", True),
        ("project_registration", "2027-10-09T00:00:00+08:00", True),
    ]

    # `lkg calendar load docs/calendar-2027.example.json`: the schedule goes into the deployment's bucket and
    # every process applies it (its make-up Saturday 10-09 is worked).
    schedule = YearSchedule.model_validate_json(EXAMPLE_2027.read_text(encoding="utf-8"))
    platform = world.platform
    kv = await shared_time.calendar_bucket(platform.js, platform.names)
    await kv.put("year.2027", schedule.model_dump_json().encode())
    expected = [
        ("filing_certificate", "2027-10-09T00:00:00+08:00", False),
        ("project_registration", "2027-10-12T00:00:00+08:00", False),
    ]

    async def recomputed() -> None:
        assert await clocks() == expected

    await eventually(recomputed)

    # Recomputed once each, in due order, with a line in each item's history.
    runtime = platform.runtimes["approvals"]
    async with runtime.db.sessions() as session:
        recomputed = (
            await session.execute(
                sa.select(ApprovalItemChange.item_id, ApprovalItemChange.details)
                .where(ApprovalItemChange.action == "deadline_recomputed")
                .order_by(ApprovalItemChange.id)
            )
        ).all()
    assert [(str(r.item_id), r.details["due_at_before"], r.details["due_at"]) for r in recomputed] == [
        (filing["id"], "2027-10-07T00:00:00+08:00", "2027-10-09T00:00:00+08:00"),
        (registration["id"], "2027-10-09T00:00:00+08:00", "2027-10-12T00:00:00+08:00"),
    ]
    assert await APPROVALS.on_calendar_loaded(runtime, 2027) == 0  # a replica or a restart changes nothing

    # The stall comes at the recomputed due time, not the provisional one.
    await world.move_clock(set=datetime(2027, 10, 8, 9, tzinfo=TZ))
    overdue = await world.client.get("/api/v1/approval-items?status=overdue", headers=bureau(world))
    assert [i["id"] for i in overdue.json()["items"] if i["project_id"] == str(snapshot.id)] == []
    await world.move_clock(set=datetime(2027, 10, 9, 9, tzinfo=TZ))
    overdue = await world.client.get("/api/v1/approval-items?status=overdue", headers=bureau(world))
    assert [i["id"] for i in overdue.json()["items"] if i["project_id"] == str(snapshot.id)] == [filing["id"]]
    history = await world.client.get(f"/api/v1/approval-items/{filing['id']}/history", headers=bureau(world))
    [stalled] = [h for h in history.json()["items"] if h["action"] == "stalled"]
    assert {k: v for k, v in stalled.items() if k != "details"} == {
        "at": "2027-10-09T00:00:00+08:00",
        "action": "stalled",
        "from_state": "accepted",
        "to_state": "accepted",
        "actor": "system",
        "note": "备案证超过办理时限",
    }
    [listed] = [i for i in overdue.json()["items"] if i["id"] == filing["id"]]
    [limit_clock] = [c for c in listed["clocks"] if c["kind"] == "limit"]
    assert stalled["details"] == {
        "clock_id": limit_clock["id"],
        "clock_kind": "limit",
        "due_at": "2027-10-09T00:00:00+08:00",
    }
    assert [h["action"] for h in history.json()["items"]] == [
        "planned",
        "submit",
        "accept",
        "deadline_recomputed",
        "stalled",
    ]


async def test_a_year_loaded_while_the_service_was_not_listening_is_caught_up_at_the_next_scan(world):
    """At start a process reads the loaded years before its services run, so no hook is called for them: the
    first scan recomputes what is still provisional for a loaded year, once."""
    at = datetime(2027, 9, 28, 10, tzinfo=TZ)
    await world.move_clock(set=at)
    snapshot = await register(world, project(world.org, at=at, name="重启后补算项目"))
    filing = item(await plan_of(world, snapshot.id), "filing_certificate")
    await act(world, filing["id"], "submissions")
    accepted = (await act(world, filing["id"], "acceptances")).json()
    assert [(k["due_at"], k["provisional"]) for k in accepted["clocks"]] == [
        ("2027-10-07T00:00:00+08:00", True)
    ]

    # What Platform._load_calendar does at start: the year is in the calendar, no hook has run.
    world.platform.calendar.load(YearSchedule.model_validate_json(EXAMPLE_2027.read_text(encoding="utf-8")))
    await world.settle()
    shown = (await world.client.get(f"/api/v1/approval-items/{filing['id']}", headers=bureau(world))).json()
    assert [(k["due_at"], k["provisional"]) for k in shown["clocks"]] == [
        ("2027-10-09T00:00:00+08:00", False)
    ]
    await world.settle()
    history = await world.client.get(f"/api/v1/approval-items/{filing['id']}/history", headers=bureau(world))
    assert [h["action"] for h in history.json()["items"]].count("deadline_recomputed") == 1


# ---- a clock jump -------------------------------------------------------------------------------------


async def test_one_jump_over_warnings_and_breaches_handles_them_in_due_order(world):
    """The scan works batch by batch, but a warning whose breach also falls within the jump is followed by a
    fresh select, so the events come out in due order, each dated when it fell due (docs/approvals.md)."""
    at = datetime(2020, 6, 1, 10, tzinfo=TZ)
    await world.move_clock(set=at)
    snapshot = await register(world, project(world.org, at=at, name="跳跃项目"))
    plan = await plan_of(world, snapshot.id)
    names = {}
    for code in ("project_registration", "filing_certificate"):  # 5 and 3 working days
        names[item(plan, code)["id"]] = item(plan, code)["name"]
        await act(world, item(plan, code)["id"], "submissions")
        await act(world, item(plan, code)["id"], "acceptances")

    await world.move_clock(set=datetime(2020, 6, 20, 9, tzinfo=TZ))
    platform = world.platform
    stream = platform.names.stream("approvals")
    info = await platform.js.stream_info(stream)
    timeline = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        envelope = Envelope.from_bytes((await platform.js.get_msg(stream, seq)).data)
        if envelope.type in ("approval.due_soon", "approval.stalled"):
            event = envelope.event()
            timeline.append((envelope.type, event.item_name, event.effective_at.astimezone(TZ)))
    # 备案证: 80% of 3 = 2 working days (06-02, 06-03), due after 06-04; 项目报建: 4 (to 06-05), due 06-08.
    assert timeline == [
        ("approval.due_soon", "备案证", datetime(2020, 6, 4, tzinfo=TZ)),
        ("approval.stalled", "备案证", datetime(2020, 6, 5, tzinfo=TZ)),
        ("approval.due_soon", "项目报建", datetime(2020, 6, 6, tzinfo=TZ)),
        ("approval.stalled", "项目报建", datetime(2020, 6, 9, tzinfo=TZ)),
    ]
