"""Approvals scenarios over HTTP with the shared clock moved (issue #4): stalls exactly once, a supplement
pauses the clock across a public holiday, a stall on the critical chain puts the planned start at risk, and
racing scanners emit one stall."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime

import pytest_asyncio

from lkg.approvals.app import SPEC as APPROVALS
from lkg.approvals.scans import scan_clocks
from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.runtime.service import discover_specs
from lkg.common.testing.system import running_system

_systems = itertools.count(1)

PROJECT = {
    "name": "临空港冷链物流中心项目",
    "enterprise": "武汉某冷链物流有限公司",
    "category": "services",
    "project_class": "new_start",
    "responsible_unit_id": "00000000-0000-4000-8000-00000000a001",
    "responsible_unit_name": "金银湖街道",
    "approval_type": "filing",
    "total_investment": "150000000.00",
    "plan_year": 2020,
    "planned_annual_investment": "50000000.00",
}


@pytest_asyncio.fixture(loop_scope="session")
async def system(db_factory, nats_url, nats_prefix):
    specs = [discover_specs()["registry"], APPROVALS]
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}ap{next(_systems)}", specs=specs
    ) as running:
        yield running


def bureau(system) -> dict[str, str]:
    return system.auth(Role.APPROVAL_BUREAU, person="bureau")


async def register(system, **changes) -> str:
    """A project registered in the registry; returns its id once approvals made its plan."""
    created = await system.client.post(
        "/api/v1/projects", json={**PROJECT, **changes}, headers=system.operator
    )
    assert created.status_code == 201, created.text
    await system.settle()
    return created.json()["id"]


async def plan_of(system, project_id: str) -> dict:
    listed = await system.client.get(
        f"/api/v1/approval-plans?project_id={project_id}", headers=bureau(system)
    )
    assert listed.status_code == 200, listed.text
    [summary] = listed.json()["items"]
    plan = await system.client.get(f"/api/v1/approval-plans/{summary['id']}", headers=bureau(system))
    assert plan.status_code == 200, plan.text
    return plan.json()


def item(plan: dict, code: str) -> dict:
    return next(i for i in plan["items"] if i["code"] == code)


async def act(system, item_id: str, action: str, body: dict | None = None, etag: str | None = None):
    if etag is None:
        current = await system.client.get(f"/api/v1/approval-items/{item_id}", headers=bureau(system))
        etag = current.headers["ETag"]
    return await system.client.post(
        f"/api/v1/approval-items/{item_id}/{action}",
        json=body or {},
        headers={**bureau(system), "If-Match": etag},
    )


async def stalls(system, item_id: str) -> list[tuple]:
    """(due, days over, clock kind) of every ``approval.stalled`` published for an item."""
    return [
        (e.due_at.astimezone(TZ), e.days_over, e.clock_kind.value)
        for e in await events_of(system, "approval.stalled")
        if str(e.approval_item_id) == item_id
    ]


async def test_a_filing_project_gets_a_parallel_plan(system):
    project_id = await register(system)
    plan = await plan_of(system, project_id)
    assert plan["approval_type"] == "filing"
    codes = [i["code"] for i in plan["items"]]
    assert codes == [
        "filing_certificate",
        "land_use_planning_permit",
        "construction_planning_permit",
        "environmental_assessment",
        "safety_assessment",
        "energy_review",
        "project_registration",
        "survey_review",
        "drawing_review",
        "construction_permit",
    ]
    assert all(i["state"] == "planned" and i["clocks"] == [] for i in plan["items"])
    # 备案类: all in parallel; only the start gate waits for the rest.
    assert [i["code"] for i in plan["items"] if i["prerequisites"]] == ["construction_permit"]


async def events_of(system, event_type: str) -> list:
    """Every event of a type the approvals service published (read back from its JetStream stream)."""
    return await system.published("approvals", event_type)


async def test_a_filing_projects_environmental_assessment_stalls_exactly_once(system):
    project_id = await register(system)
    eia = item(await plan_of(system, project_id), "environmental_assessment")
    assert (await act(system, eia["id"], "submissions")).status_code == 200
    accepted = await act(system, eia["id"], "acceptances")
    assert accepted.status_code == 200, accepted.text
    [clock] = accepted.json()["clocks"]
    # 30 calendar days from 05-01 (环评法 §22) end on Sunday 05-31, so on Monday 06-01 (Civil Code §203).
    assert (clock["budget"], clock["unit"], clock["due_at"]) == (30, "calendar", "2020-06-02T00:00:00+08:00")

    await system.move_clock(set=datetime(2020, 6, 1, 9, tzinfo=TZ))
    assert [e.due_at for e in await events_of(system, "approval.due_soon")] == [
        datetime(2020, 6, 2, tzinfo=TZ)
    ]
    assert await stalls(system, eia["id"]) == []
    await system.move_clock(set=datetime(2020, 6, 10, 9, tzinfo=TZ))
    await system.move_clock(set=datetime(2020, 6, 20, 9, tzinfo=TZ))
    assert await stalls(system, eia["id"]) == [(datetime(2020, 6, 2, tzinfo=TZ), 9, "limit")]
    overdue = await system.client.get("/api/v1/approval-items?status=overdue", headers=bureau(system))
    assert [i["id"] for i in overdue.json()["items"]] == [eia["id"]]


async def test_a_supplement_pauses_the_clock_across_a_public_holiday(system):
    await system.move_clock(set=datetime(2020, 6, 22, 9, tzinfo=TZ))
    project_id = await register(system)
    filing = item(await plan_of(system, project_id), "project_registration")  # 5 working days
    await act(system, filing["id"], "submissions")
    accepted = (await act(system, filing["id"], "acceptances")).json()
    # Without a pause: 06-23, 06-24, make-up Sunday 06-28, 06-29, 06-30 (端午 06-25..06-27).
    assert accepted["clocks"][0]["due_at"] == "2020-07-01T00:00:00+08:00"

    await system.move_clock(set=datetime(2020, 6, 23, 10, tzinfo=TZ))
    paused = (
        await act(system, filing["id"], "supplement-requests", {"note": "缺少建设工程规划许可证复印件"})
    ).json()
    assert paused["state"] == "supplement_requested"
    assert (paused["clocks"][0]["paused"], paused["clocks"][0]["due_at"]) == (True, None)

    await system.move_clock(set=datetime(2020, 6, 29, 10, tzinfo=TZ))
    resumed = (await act(system, filing["id"], "resubmissions")).json()
    clock = resumed["clocks"][0]
    # 06-23 was used; the holiday and the days owed a supplement are not counted; 4 left from 06-30.
    assert (clock["paused"], clock["used"], clock["left"]) == (False, 1, 4)
    assert clock["due_at"] == "2020-07-04T00:00:00+08:00"
    await system.move_clock(set=datetime(2020, 7, 2, 9, tzinfo=TZ))
    assert await stalls(system, filing["id"]) == []
    history = await system.client.get(
        f"/api/v1/approval-items/{filing['id']}/history", headers=bureau(system)
    )
    assert [c["action"] for c in history.json()["items"]] == [
        "planned",
        "submit",
        "accept",
        "request_supplement",
        "resubmit",
    ]


async def test_a_stall_on_the_critical_chain_puts_the_start_at_risk_once(system):
    project_id = await register(system)
    plan = await plan_of(system, project_id)
    for entry in plan["items"]:
        if entry["code"] == "construction_permit":
            continue
        await act(system, entry["id"], "submissions")
        await act(system, entry["id"], "acceptances")
        if entry["code"] != "environmental_assessment":
            assert (await act(system, entry["id"], "grants")).status_code == 200
    # 环评 is due at the end of 06-01; 施工许可证 then needs 7 working days: 06-10 at the earliest.
    etag = (await system.client.get(f"/api/v1/approval-plans/{plan['id']}", headers=bureau(system))).headers[
        "ETag"
    ]
    changed = await system.client.patch(
        f"/api/v1/approval-plans/{plan['id']}",
        json={"planned_start_override": "2020-06-10"},
        headers={**bureau(system), "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["earliest_start"], changed.json()["start_at_risk"]) == ("2020-06-10", False)
    chain = (
        await system.client.get(f"/api/v1/approval-plans/{plan['id']}/critical-chain", headers=bureau(system))
    ).json()
    assert [s["code"] for s in chain["chain"]] == ["environmental_assessment", "construction_permit"]
    assert chain["slack_days"] == 0

    await system.move_clock(set=datetime(2020, 6, 3, 9, tzinfo=TZ))
    await system.move_clock(set=datetime(2020, 6, 5, 9, tzinfo=TZ))
    [risk] = await events_of(system, "approval.start_at_risk")
    assert risk.effective_at == datetime(2020, 6, 2, tzinfo=TZ)  # the instant of the stall
    assert (risk.planned_start_date, risk.earliest_start_date) == (date(2020, 6, 10), date(2020, 6, 11))
    assert [b.item_name for b in risk.blocking_items] == ["环评", "施工许可证"]
    assert len(await events_of(system, "approval.stalled")) == 1


async def test_two_racing_scanners_emit_one_stall_per_breach(system):
    project_id = await register(system)
    plan = await plan_of(system, project_id)
    for entry in plan["items"]:
        await act(system, entry["id"], "submissions")
        await act(system, entry["id"], "acceptances")
    runtime = system.platform.runtimes["approvals"]
    until = datetime(2020, 8, 1, tzinfo=TZ)
    await asyncio.gather(scan_clocks(runtime, until), scan_clocks(runtime, until))
    await system.settle()  # publish what the scanners staged
    stalled = await events_of(system, "approval.stalled")
    assert sorted(e.item_name for e in stalled) == sorted(i["name"] for i in plan["items"])
    await system.move_clock(set=until)
    assert len(await events_of(system, "approval.stalled")) == len(plan["items"])


async def test_two_officials_acting_on_one_item_one_wins(system):
    project_id = await register(system)
    eia = item(await plan_of(system, project_id), "environmental_assessment")
    etag = (await system.client.get(f"/api/v1/approval-items/{eia['id']}", headers=bureau(system))).headers[
        "ETag"
    ]
    first, second = await asyncio.gather(
        act(system, eia["id"], "submissions", etag=etag), act(system, eia["id"], "withdrawals", etag=etag)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412]


async def test_the_weekly_report_is_the_same_when_rendered_twice(system):
    # The week of 05-01 (a holiday Friday) reported on Thursday 04-30; this one reports on Friday 05-08.
    await system.move_clock(set=datetime(2020, 5, 6, 9, tzinfo=TZ))
    project_id = await register(system)
    eia = item(await plan_of(system, project_id), "filing_certificate")
    await act(system, eia["id"], "submissions")
    early = await system.client.get("/api/v1/approval-reports/weekly", headers=bureau(system))
    assert early.status_code == 409  # Friday 17:00 has not come yet
    await system.move_clock(set=datetime(2020, 5, 11, 9, tzinfo=TZ))
    await act(system, eia["id"], "acceptances")
    first = await system.client.get(
        "/api/v1/approval-reports/weekly?week_of=2020-05-06", headers=bureau(system)
    )
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["report_day"] == "2020-05-08"
    [row] = report["rows"]
    assert row["cells"]["备案证"]["state"] == "submitted"  # accepted only after the report time
    again = await system.client.get(
        "/api/v1/approval-reports/weekly?week_of=2020-05-08", headers=bureau(system)
    )
    assert again.json() == report
    xlsx = [
        (
            await system.client.get(
                "/api/v1/approval-reports/weekly.xlsx?week_of=2020-05-06", headers=bureau(system)
            )
        ).content
        for _ in range(2)
    ]
    assert xlsx[0] == xlsx[1] and xlsx[0][:2] == b"PK"
