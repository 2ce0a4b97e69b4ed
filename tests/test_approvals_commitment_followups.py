"""承诺审批 and 先建后验 followed up over HTTP with the shared clock moved (policy §三(一), §四(一); issue 15
item 7): registry, approvals and issues running together.

A commitment grant starts a verification clock (20 working days, counted on the official calendar), a
build-first grant an inspection clock (60 calendar days). A verification done in time ends its clock and
nothing more happens; a missed one stalls once (``approval.stalled`` with ``clock_kind`` verification), the
issues service opens one problem on the handling department, and that problem, left unanswered, escalates
like any other breach: its reply clock runs out and it goes up to layer 2.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest_asyncio

from lkg.approvals.app import SPEC as APPROVALS
from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.runtime.service import discover_specs
from lkg.common.testing.system import running_system
from lkg.issues.app import SPEC as ISSUES
from lkg.registry.org.document import default_document, line_key, org_id

_systems = itertools.count(1)

PROJECT = {
    "name": "临空港智能终端产业园项目",
    "enterprise": "武汉某智能终端有限公司",
    "category": "industrial",
    "project_class": "new_start",
    "responsible_unit_id": str(org_id("street.jinyinhu")),
    "approval_type": "filing",
    "total_investment": "150000000.00",
    "plan_year": 2020,
    "planned_annual_investment": "50000000.00",
}


@pytest_asyncio.fixture(loop_scope="session")
async def system(db_factory, nats_url, nats_prefix):
    specs = [discover_specs()["registry"], APPROVALS, ISSUES]
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}cf{next(_systems)}", specs=specs
    ) as running:
        loaded = await running.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=running.operator
        )
        assert loaded.status_code == 200, loaded.text
        yield running


def bureau(system) -> dict[str, str]:
    return system.auth(Role.APPROVAL_BUREAU, person="bureau")


async def item_of(system, code: str) -> dict:
    """The plan item ``code`` of a freshly registered project (approvals made its plan from the event)."""
    created = await system.client.post("/api/v1/projects", json=PROJECT, headers=system.operator)
    assert created.status_code == 201, created.text
    await system.settle()
    listed = await system.client.get(
        f"/api/v1/approval-plans?project_id={created.json()['id']}", headers=bureau(system)
    )
    [summary] = listed.json()["items"]
    plan = (await system.client.get(f"/api/v1/approval-plans/{summary['id']}", headers=bureau(system))).json()
    return next(i for i in plan["items"] if i["code"] == code)


async def act(system, item_id: str, action: str, body: dict | None = None) -> dict:
    etag = (await system.client.get(f"/api/v1/approval-items/{item_id}", headers=bureau(system))).headers[
        "ETag"
    ]
    done = await system.client.post(
        f"/api/v1/approval-items/{item_id}/{action}",
        json=body or {},
        headers={**bureau(system), "If-Match": etag},
    )
    assert done.status_code == 200, done.text
    return done.json()


async def set_mode(system, item_id: str, mode: str) -> None:
    etag = (await system.client.get(f"/api/v1/approval-items/{item_id}", headers=bureau(system))).headers[
        "ETag"
    ]
    changed = await system.client.patch(
        f"/api/v1/approval-items/{item_id}", json={"mode": mode}, headers={**bureau(system), "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text


def clocks(item: dict) -> list[tuple]:
    return [(k["kind"], k["budget"], k["unit"], k["due_at"], k["state"]) for k in item["clocks"]]


async def stalls(system, item_id: str) -> list[tuple]:
    return [
        (e.clock_kind.value, e.due_at.astimezone(TZ))
        for e in await system.published("approvals", "approval.stalled")
        if str(e.approval_item_id) == item_id
    ]


async def problems_of(system, item_id: str) -> list[dict]:
    listed = await system.client.get("/api/v1/problems", headers=system.operator)
    assert listed.status_code == 200, listed.text
    found = []
    for summary in listed.json()["items"]:
        problem = (
            await system.client.get(f"/api/v1/problems/{summary['id']}", headers=system.operator)
        ).json()
        if problem.get("cause_key") == f"approval.stalled:{item_id}":
            found.append(problem)
    return found


async def test_a_missed_verification_stalls_once_and_its_problem_escalates_like_any_breach(system):
    # 项目报建 (区住建局), granted on the applicant's commitment straight from submission.
    registration = await item_of(system, "project_registration")
    await set_mode(system, registration["id"], "commitment")
    await act(system, registration["id"], "submissions")
    granted = await act(system, registration["id"], "grants", {"certificate_no": "武临建承〔2020〕1号"})
    assert granted["state"] == "granted"
    # 20 working days after Friday 05-01 (the Labour Day holiday to 05-05; Saturday 05-09 a make-up
    # working day) end with Monday 06-01.
    assert clocks(granted) == [("verification", 20, "working", "2020-06-02T00:00:00+08:00", "running")]

    await system.move_clock(set=datetime(2020, 6, 1, 9, tzinfo=TZ))
    assert await stalls(system, registration["id"]) == []
    await system.move_clock(set=datetime(2020, 6, 2, 9, tzinfo=TZ))
    assert await stalls(system, registration["id"]) == [("verification", datetime(2020, 6, 2, tzinfo=TZ))]
    [problem] = await problems_of(system, registration["id"])
    assert problem["title"] == "承诺核查逾期：项目报建（区住建局）"
    assert (problem["layer"], problem["state"], problem["resolving_unit_id"]) == (
        1,
        "assigned",
        str(org_id("dept.housing")),
    )
    assert problem["line_id"] == str(org_id(line_key(2)))
    assert problem["reported_at"] == "2020-06-02T00:00:00+08:00"

    # Nobody answers: 3 working days after Tuesday 06-02 end with Friday 06-05; the breach at 06-06 00:00
    # takes it up to layer 2.
    await system.move_clock(set=datetime(2020, 6, 8, 9, tzinfo=TZ))
    [problem] = await problems_of(system, registration["id"])
    assert [(b["layer"], b["kind"], b["breached_at"]) for b in problem["breaches"]] == [
        (1, "reply", "2020-06-06T00:00:00+08:00")
    ]
    # Layer 2 of 第二线 (金银湖街): the line leader's post and its service department 区科经局 hold it.
    assert (problem["layer"], problem["holder_post_ids"], problem["holder_unit_ids"]) == (
        2,
        [str(org_id("post.line2"))],
        [str(org_id("dept.science_economy"))],
    )
    # The stall is told once however far the clock moves; the problem stays one.
    await system.move_clock(set=datetime(2020, 6, 30, 9, tzinfo=TZ))
    assert len(await stalls(system, registration["id"])) == 1
    assert len(await problems_of(system, registration["id"])) == 1


async def test_a_verification_done_in_time_and_an_inspection_done_in_time_end_their_clocks(system):
    await system.move_clock(set=datetime(2020, 7, 1, 9, tzinfo=TZ))
    planning = await item_of(system, "land_use_planning_permit")
    await set_mode(system, planning["id"], "commitment")
    await act(system, planning["id"], "submissions")
    await act(system, planning["id"], "grants")
    verified = await act(system, planning["id"], "verifications", {"note": "承诺材料已补齐，核查通过"})
    assert [(k["kind"], k["state"]) for k in verified["clocks"]] == [("verification", "met")]

    survey = await item_of(system, "survey_review")
    await set_mode(system, survey["id"], "build_first")
    await act(system, survey["id"], "submissions")
    await act(system, survey["id"], "acceptances")
    granted = await act(system, survey["id"], "grants")
    # 先建后验: 60 calendar days from 07-01 end on Sunday 08-30, so on Monday 08-31 (Civil Code §203).
    assert [c for c in clocks(granted) if c[0] == "inspection"] == [
        ("inspection", 60, "calendar", "2020-09-01T00:00:00+08:00", "running")
    ]
    await system.move_clock(set=datetime(2020, 8, 20, 9, tzinfo=TZ))
    inspected = await act(system, survey["id"], "verifications", {"note": "事后验收合格"})
    assert [(k["kind"], k["state"]) for k in inspected["clocks"] if k["kind"] == "inspection"] == [
        ("inspection", "met")
    ]
    again = await system.client.post(
        f"/api/v1/approval-items/{survey['id']}/verifications",
        json={},
        headers={
            **bureau(system),
            "If-Match": (
                await system.client.get(f"/api/v1/approval-items/{survey['id']}", headers=bureau(system))
            ).headers["ETag"],
        },
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    await system.move_clock(set=datetime(2020, 10, 1, 9, tzinfo=TZ))
    assert await stalls(system, planning["id"]) == []
    assert await stalls(system, survey["id"]) == []
    assert await problems_of(system, survey["id"]) == []


async def test_a_missed_inspection_after_building_first_opens_one_problem(system):
    await system.move_clock(set=datetime(2020, 11, 2, 9, tzinfo=TZ))
    drawing = await item_of(system, "drawing_review")
    await set_mode(system, drawing["id"], "build_first")
    await act(system, drawing["id"], "submissions")
    await act(system, drawing["id"], "acceptances")
    granted = await act(system, drawing["id"], "grants")
    [inspection] = [c for c in clocks(granted) if c[0] == "inspection"]
    # 60 calendar days from 11-02 end on Friday 01-01 (New Year's Day), so on Monday 2021-01-04.
    assert inspection == ("inspection", 60, "calendar", "2021-01-05T00:00:00+08:00", "running")
    await system.move_clock(set=datetime(2021, 1, 6, 9, tzinfo=TZ))
    assert await stalls(system, drawing["id"]) == [("inspection", datetime(2021, 1, 5, tzinfo=TZ))]
    [problem] = await problems_of(system, drawing["id"])
    assert problem["title"] == "事后验收逾期：施工图审查（区住建局）"
