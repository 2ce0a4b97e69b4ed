"""The rest of a matter's life cycle over HTTP, with the shared clock moved across the Labour Day holiday of
2020: a warning at the configured share of a clock, once (``problem.warned``); a meeting matter's clocks,
its acceptance (签收) by the resolving unit and its escalation from the deciding layer (§五(一)); merge,
return and withdrawal; and a provisional clock recomputed when the year's official schedule is loaded
(docs/calendar.md)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import pytest_asyncio
from issues_world import dept, etag_of, get, issues_world, report_and_assign, street

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.runtime import shared_time
from lkg.common.testing import eventually

REPO = Path(__file__).resolve().parents[1]


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


async def report(system, title: str = "用地指标未落实") -> dict:
    created = await system.client.post(
        "/api/v1/problems",
        json={
            "project_id": str(system.project.id),
            "title": title,
            "topic": "土地",
            "description": "二期用地",
        },
        headers=street(system),
    )
    assert created.status_code == 201, created.text
    return created.json()


async def act(system, kind: str, matter_id: str, verb: str, body: dict, headers: dict):
    path = "problems" if kind == "problem" else "meeting-matters"
    etag = (await system.client.get(f"/api/v1/{path}/{matter_id}", headers=system.operator)).headers["ETag"]
    return await system.client.post(
        f"/api/v1/{path}/{matter_id}/{verb}", json=body, headers={**headers, "If-Match": etag}
    )


def clocks(matter: dict) -> list[tuple]:
    return [(k["kind"], k["layer"], k["state"], k["due_at"]) for k in matter["clocks"]]


async def test_a_warning_fires_once_at_the_configured_share_of_the_clock(world):
    problem = await report_and_assign(world)
    # Reply clock: assigned 05-01 (holiday), due at the end of 05-08; 60 % of 3 days = 1 day: end of 05-06.
    await world.move_clock(set=datetime(2020, 5, 6, 23, tzinfo=TZ))
    assert [k["warned_at"] for k in (await get(world, problem["id"]))["clocks"] if k["kind"] == "reply"] == [
        None
    ]
    await world.move_clock(set=datetime(2020, 5, 7, 9, tzinfo=TZ))
    await world.move_clock(set=datetime(2020, 5, 8, 9, tzinfo=TZ))
    reply = next(k for k in (await get(world, problem["id"]))["clocks"] if k["kind"] == "reply")
    assert (reply["warn_at"], reply["warned_at"], reply["state"]) == (
        "2020-05-07T00:00:00+08:00",
        "2020-05-07T00:00:00+08:00",
        "running",
    )
    # One event (the stream keeps one per event id, however often the relay sent it).
    warned = await world.published("issues", "problem.warned")
    assert [(str(e.matter_id), e.clock.kind, e.effective_at.isoformat()) for e in warned] == [
        (problem["id"], "reply", "2020-05-07T00:00:00+08:00")
    ]


async def register_meeting_matter(system) -> dict:
    created = await system.client.post(
        "/api/v1/meeting-matters",
        json={
            "title": "二期供水接入",
            "topic": "水电",
            "description": "区水务局会同街道完成二期供水接入。",
            "meeting_title": "第二线包保领导专题协调会",
            "meeting_date": "2020-04-30",
            "deciding_layer": 2,
            "resolving_unit_id": str(system.org.service_dept),
            "resolving_unit_name": "区科经局",
            "deadline_on": "2020-05-20",
            "project_id": str(system.project.id),
        },
        headers={**system.operator, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_a_meeting_matter_is_accepted_by_its_resolving_unit_and_climbs_from_its_deciding_layer(world):
    matter = await register_meeting_matter(world)
    assert (matter["state"], matter["layer"]) == ("reported", 2)
    # Acceptance (1 working day), reply (3 working days, §五(一)) and resolution (the decided day), all from
    # the decision on 05-01 and charged to the resolving unit.
    assert clocks(matter) == [
        ("acceptance", 2, "running", "2020-05-07T00:00:00+08:00"),
        ("reply", 2, "running", "2020-05-09T00:00:00+08:00"),
        ("resolution", 2, "running", "2020-05-21T00:00:00+08:00"),
    ]
    assert {k["charged_unit_id"] for k in matter["clocks"]} == {str(world.org.service_dept)}
    early = await act(world, "meeting_matter", matter["id"], "answers", {"opinion": "已对接"}, dept(world))
    assert (early.status_code, early.json()["code"]) == (409, "invalid_state")
    refused = await act(world, "meeting_matter", matter["id"], "acceptance", {}, street(world))
    assert refused.status_code == 403
    accepted = await act(world, "meeting_matter", matter["id"], "acceptance", {"note": "已签收"}, dept(world))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "assigned"
    assert [k["state"] for k in accepted.json()["clocks"] if k["kind"] == "acceptance"] == ["met"]

    misaddressed = await register_meeting_matter(world)
    sent_back = await act(
        world, "meeting_matter", misaddressed["id"], "return", {"reason": "属区水务局职责"}, dept(world)
    )
    assert sent_back.status_code == 200, sent_back.text
    assert (sent_back.json()["state"], sent_back.json()["closure_outcome"]) == ("returned", "returned")
    assert {k["state"] for k in sent_back.json()["clocks"]} == {"cancelled"}
    after = await act(world, "meeting_matter", matter["id"], "return", {"reason": "x"}, dept(world))
    assert (after.status_code, after.json()["code"]) == (409, "invalid_state")  # acknowledged already

    unaccepted = await register_meeting_matter(world)
    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
    up = (await world.client.get(f"/api/v1/meeting-matters/{matter['id']}", headers=world.operator)).json()
    assert (up["layer"], [(b["layer"], b["kind"]) for b in up["breaches"]]) == (3, [(2, "reply")])
    assert up["holder_post_ids"] == [str(world.org.top_post)]
    assert [(k["kind"], k["layer"], k["due_at"]) for k in up["clocks"] if k["state"] == "running"] == [
        ("resolution", 2, "2020-05-21T00:00:00+08:00"),
        ("reply", 3, "2020-05-14T00:00:00+08:00"),
    ]
    other = (
        await world.client.get(f"/api/v1/meeting-matters/{unaccepted['id']}", headers=world.operator)
    ).json()
    # Not acknowledged by the end of 05-06: breached and escalated to layer 3, where the acceptance clock
    # restarts from the breach, still charged to the resolving unit (it is the one that must acknowledge),
    # and runs out with the reply clock at the end of 05-08; at layer 3 both are recorded and it stays there.
    assert sorted((b["layer"], b["kind"], b["breached_at"]) for b in other["breaches"]) == [
        (2, "acceptance", "2020-05-07T00:00:00+08:00"),
        (3, "acceptance", "2020-05-09T00:00:00+08:00"),
        (3, "reply", "2020-05-09T00:00:00+08:00"),
    ]
    assert other["layer"] == 3
    restarted = [k for k in other["clocks"] if k["kind"] == "acceptance" and k["layer"] == 3]
    assert [(k["charged_unit_id"], k["due_at"]) for k in restarted] == [
        (str(world.org.service_dept), "2020-05-09T00:00:00+08:00")
    ]
    actions = [
        e["action"]
        for e in (
            await world.client.get(f"/api/v1/meeting-matters/{matter['id']}/audit", headers=world.operator)
        ).json()["items"]
    ]
    assert actions == ["reported", "accepted", "breached", "escalated"]


async def test_a_duplicate_is_merged_into_an_open_matter_and_keeps_its_history(world):
    first, duplicate = await report(world), await report(world, "用地指标仍未落实")
    by_street = await act(
        world, "problem", duplicate["id"], "merge", {"into_id": first["id"], "reason": "重复"}, street(world)
    )
    assert by_street.status_code == 403
    merged = await act(
        world,
        "problem",
        duplicate["id"],
        "merge",
        {"into_id": first["id"], "reason": "与前一问题重复"},
        dept(world),
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert (body["state"], body["merged_into_id"], body["closure_reason"]) == (
        "merged",
        first["id"],
        "与前一问题重复",
    )
    assert [k["state"] for k in body["clocks"]] == ["cancelled"]
    back = await act(
        world, "problem", first["id"], "merge", {"into_id": duplicate["id"], "reason": "x"}, dept(world)
    )
    assert (back.status_code, back.json()["code"]) == (409, "invalid_merge_target")
    assert (await get(world, first["id"]))["state"] == "reported"


async def test_a_reported_problem_is_returned_with_a_reason_and_cannot_be_accepted_after(world):
    problem = await report(world)
    returned = await act(
        world, "problem", problem["id"], "return", {"reason": "不属于项目推进问题"}, dept(world)
    )
    assert returned.status_code == 200, returned.text
    body = returned.json()
    assert (body["state"], body["closure_outcome"], body["closure_reason"]) == (
        "returned",
        "returned",
        "不属于项目推进问题",
    )
    assert [(k["kind"], k["state"]) for k in body["clocks"]] == [("acceptance", "cancelled")]
    late = await act(world, "problem", problem["id"], "acceptance", {}, dept(world))
    assert (late.status_code, late.json()["code"]) == (409, "invalid_state")


async def test_the_reporting_unit_withdraws_its_problem_others_may_not(world):
    problem = await report_and_assign(world)
    stranger = world.auth(Role.UNIT_USER, person=str(uuid.uuid4()))
    hidden = await act(world, "problem", problem["id"], "withdrawal", {"reason": "x"}, stranger)
    assert hidden.status_code == 404
    not_reporter = await act(world, "problem", problem["id"], "withdrawal", {"reason": "x"}, dept(world))
    assert not_reporter.status_code == 403
    withdrawn = await act(
        world, "problem", problem["id"], "withdrawal", {"reason": "企业已自行解决"}, street(world)
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["state"], withdrawn.json()["closure_outcome"]) == ("withdrawn", "withdrawn")
    assert {k["state"] for k in withdrawn.json()["clocks"]} == {"met", "cancelled"}
    again = await world.client.post(
        f"/api/v1/problems/{problem['id']}/withdrawal",
        json={"reason": "x"},
        headers={**street(world), "If-Match": await etag_of(world, problem["id"])},
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")


async def test_loading_a_years_official_schedule_recomputes_its_provisional_clocks(world):
    await world.move_clock(set=datetime(2027, 1, 29, 9, tzinfo=TZ))  # Friday; 2027 is not official yet
    problem = await report(world)
    assert [(k["kind"], k["due_at"], k["provisional"]) for k in problem["clocks"]] == [
        ("acceptance", "2027-02-02T00:00:00+08:00", True)
    ]
    platform = world.platform
    kv = await shared_time.calendar_bucket(platform.js, platform.names)
    await kv.put("year.2027", (REPO / "docs" / "calendar-2027.example.json").read_bytes())

    async def official() -> dict:
        now = await get(world, problem["id"])
        assert not now["clocks"][0]["provisional"]
        return now

    now = await eventually(official)
    # The (example) schedule makes Sunday 2027-01-31 a make-up working day: the day's budget ends there.
    assert [(k["kind"], k["due_at"], k["provisional"]) for k in now["clocks"]] == [
        ("acceptance", "2027-02-01T00:00:00+08:00", False)
    ]
    trail = (await world.client.get(f"/api/v1/problems/{problem['id']}/audit", headers=world.operator)).json()
    recomputed = [e["detail"] for e in trail["items"] if e["action"] == "clock_recomputed"]
    assert recomputed == [
        {
            "clock": "acceptance",
            "deadline_id": now["clocks"][0]["id"],
            "year": 2027,
            "due_at_before": "2027-02-02T00:00:00+08:00",
            "due_at": "2027-02-01T00:00:00+08:00",
            "provisional": False,
        }
    ]
    # Now it breaches where the official calendar puts it.
    await world.move_clock(set=datetime(2027, 2, 1, 9, tzinfo=TZ))
    assert [(b["kind"], b["breached_at"]) for b in (await get(world, problem["id"]))["breaches"]] == [
        ("acceptance", "2027-02-01T00:00:00+08:00")
    ]


async def test_two_scans_racing_act_once_per_clock(world):
    """Two replicas scanning at once (``FOR UPDATE SKIP LOCKED``): each warning and each breach happens
    once, in due order."""
    from lkg.issues.matters.clocks import scan_clocks

    problems = [await report_and_assign(world) for _ in range(3)]
    runtime = world.platform.runtimes["issues"]
    until = datetime(2020, 5, 9, 9, tzinfo=TZ)
    first, second = await asyncio.gather(scan_clocks(runtime, until), scan_clocks(runtime, until))
    assert first + second == 6  # 3 warnings (end of 05-06) and 3 breaches (end of 05-08)
    for problem in problems:
        landed = await get(world, problem["id"])
        assert [(b["layer"], b["kind"], b["breached_at"]) for b in landed["breaches"]] == [
            (1, "reply", "2020-05-09T00:00:00+08:00")
        ]
        assert landed["layer"] == 2
