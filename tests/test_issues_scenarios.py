"""Issues scenarios over HTTP with the shared clock moved across the Labour Day holiday of 2020 and its
make-up working Saturday (2020-05-09): problems climb the three layers by themselves (policy §五(一);
docs/time.md), system signals open exactly one problem, a handover moves open matters, and the month-end
round proposes red cards (§五(三)).

The org directory and the project arrive as the registry would send them (``org.changed``,
``project.registered``), staged into the bus from the test (``issues_world``) so the scenario does not
depend on the registry's own seed data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest_asyncio
from issues_world import (
    D0,
    START,
    _id,
    breaches,
    dept,
    etag_of,
    get,
    issues_world,
    project_event,
    publish,
    report_and_assign,
)

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


async def test_an_unanswered_problem_climbs_to_layer_2_then_layer_3(world):
    problem = await report_and_assign(world)
    reply = next(k for k in problem["clocks"] if k["kind"] == "reply" and k["state"] == "running")
    # Assigned on 2020-05-01 (Labour Day): 3 working days are 05-06, 05-07, 05-08.
    assert reply["due_at"] == "2020-05-09T00:00:00+08:00"

    await world.move_clock(working_days=3)  # 2020-05-08 09:00: the last day, not yet breached
    assert (await get(world, problem["id"]))["layer"] == 1

    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))  # the make-up working Saturday
    at_l2 = await get(world, problem["id"])
    assert at_l2["layer"] == 2
    assert breaches(at_l2) == [(1, "reply", "2020-05-09T00:00:00+08:00")]
    assert set(at_l2["holder_post_ids"]) == {str(world.org.leader_post)}
    assert at_l2["holder_unit_ids"] == [str(world.org.service_dept)]
    # The new reply clock starts from the breach: 05-11, 05-12, 05-13 (05-09 is its start day).
    running = [k for k in at_l2["clocks"] if k["state"] == "running"]
    assert [(k["kind"], k["layer"], k["due_at"]) for k in running] == [
        ("reply", 2, "2020-05-14T00:00:00+08:00")
    ]

    await world.move_clock(set=datetime(2020, 5, 15, 9, tzinfo=TZ))
    at_l3 = await get(world, problem["id"])
    assert at_l3["layer"] == 3
    assert breaches(at_l3) == [
        (1, "reply", "2020-05-09T00:00:00+08:00"),
        (2, "reply", "2020-05-14T00:00:00+08:00"),
    ]
    assert at_l3["holder_post_ids"] == [str(world.org.top_post)]
    assert at_l3["holder_unit_ids"] == [str(world.org.office)]
    actions = [
        e["action"]
        for e in (
            await world.client.get(f"/api/v1/problems/{problem['id']}/audit", headers=world.operator)
        ).json()["items"]
    ]
    assert actions == ["reported", "accepted", "assigned", "breached", "escalated", "breached", "escalated"]


async def test_one_jump_lands_where_day_by_day_would(world):
    problem = await report_and_assign(world)
    moved = await world.move_clock(set=datetime(2020, 5, 15, 9, tzinfo=TZ))
    assert moved["now"] == "2020-05-15T09:00:00+08:00"
    landed = await get(world, problem["id"])
    assert landed["layer"] == 3
    assert breaches(landed) == [
        (1, "reply", "2020-05-09T00:00:00+08:00"),
        (2, "reply", "2020-05-14T00:00:00+08:00"),
    ]


async def test_a_progress_report_restarts_the_five_day_clock(world):
    problem = await report_and_assign(world)
    answered = await world.client.post(
        f"/api/v1/problems/{problem['id']}/answers",
        json={"opinion": "已协调自然资源部门，二期用地指标本月内落实。"},
        headers={**dept(world), "If-Match": await etag_of(world, problem["id"])},
    )
    assert answered.status_code == 200, answered.text
    progress = [k for k in answered.json()["clocks"] if k["kind"] == "progress" and k["state"] == "running"]
    # Answered 05-01: 5 working days are 05-06, 05-07, 05-08, 05-09 (make-up), 05-11.
    assert [k["due_at"] for k in progress] == ["2020-05-12T00:00:00+08:00"]

    await world.move_clock(set=datetime(2020, 5, 11, 10, tzinfo=TZ))
    etag = (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=world.operator)).headers[
        "ETag"
    ]
    reported = await world.client.post(
        f"/api/v1/problems/{problem['id']}/progress-reports",
        json={"summary": "指标已报市局审批。"},
        headers={**dept(world), "If-Match": etag},
    )
    assert reported.status_code == 200, reported.text
    running = [k for k in reported.json()["clocks"] if k["state"] == "running"]
    # Restarted 05-11: 05-12 .. 05-18 minus the weekend = 05-12, 13, 14, 15, 18.
    assert [(k["kind"], k["due_at"]) for k in running] == [("progress", "2020-05-19T00:00:00+08:00")]
    await world.move_clock(set=datetime(2020, 5, 18, 9, tzinfo=TZ))
    still = await get(world, problem["id"])
    assert still["layer"] == 1 and still["breaches"] == []


async def test_two_officials_acting_at_once_one_wins(world):
    problem = await report_and_assign(world)
    etag = (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=world.operator)).headers[
        "ETag"
    ]
    first = await world.client.post(
        f"/api/v1/problems/{problem['id']}/escalations",
        json={"reason": "需包保领导协调"},
        headers={**dept(world), "If-Match": etag},
    )
    second = await world.client.post(
        f"/api/v1/problems/{problem['id']}/escalations",
        json={"reason": "需包保领导协调"},
        headers={**dept(world), "If-Match": etag},
    )
    assert first.status_code == 200, first.text
    assert second.status_code == 412
    assert (await get(world, problem["id"]))["layer"] == 2


async def test_hidden_is_404_and_visible_but_not_allowed_is_403(world):
    problem = await report_and_assign(world)
    stranger = world.auth(Role.UNIT_USER, person=str(uuid.uuid4()))
    assert (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=stranger)).status_code == 404
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    seen = await world.client.get(f"/api/v1/problems/{problem['id']}", headers=supervisor)
    assert seen.status_code == 200
    refused = await world.client.post(
        f"/api/v1/problems/{problem['id']}/answers",
        json={"opinion": "x"},
        headers={**supervisor, "If-Match": seen.headers["ETag"]},
    )
    assert refused.status_code == 403
    assert (await get(world, problem["id"]))["revision"] == problem["revision"]


async def test_a_stalled_approval_opens_exactly_one_problem(world):
    org = world.org
    item = _id()
    stalled = dict(
        effective_at=datetime(2020, 5, 6, 9, tzinfo=TZ),
        approval_item_id=item,
        catalogue_item_id=_id(),
        item_name="施工许可证",
        project_id=world.project.id,
        project_name=world.project.name,
        handling_unit_id=org.service_dept,
        handling_unit_name="区住建局",
        due_at=datetime(2020, 5, 6, tzinfo=TZ),
    )
    await world.move_clock(set=datetime(2020, 5, 6, 9, tzinfo=TZ))
    await publish(world, c.ApprovalStalled(**stalled), c.ApprovalStalled(**stalled))
    listed = (
        await world.client.get(f"/api/v1/problems?project_id={world.project.id}", headers=world.operator)
    ).json()["items"]
    opened = [p for p in listed if p["origin"] == "system"]
    assert len(opened) == 1
    assert opened[0]["cause_key"] == f"approval.stalled:{item}"
    assert opened[0]["state"] == "assigned" and opened[0]["resolving_unit_id"] == str(org.service_dept)

    await world.move_clock(set=datetime(2020, 5, 7, 9, tzinfo=TZ))
    await publish(
        world,
        c.ProjectTerminated(
            effective_at=datetime(2020, 5, 7, 9, tzinfo=TZ),
            project_id=world.project.id,
            project_name=world.project.name,
            responsible_unit_id=org.street,
            cause="enterprise_fault",
            reason="企业原因无法履约",
            terminated_on=date(2020, 5, 7),
        ),
    )
    closed = await get(world, opened[0]["id"])
    assert closed["state"] == "withdrawn" and "项目已解约" in closed["closure_reason"]


async def test_a_handover_moves_open_matters_to_the_successor(world):
    org = world.org
    problem = await report_and_assign(world)
    etag = (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=world.operator)).headers[
        "ETag"
    ]
    up = await world.client.post(
        f"/api/v1/problems/{problem['id']}/escalations",
        json={"reason": "需包保领导协调"},
        headers={**dept(world), "If-Match": etag},
    )
    assert up.status_code == 200
    leader_a = world.auth(Role.LINE_LEADER, person=str(org.leader_a))
    leader_b = world.auth(Role.LINE_LEADER, person=str(org.leader_b))
    assert (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=leader_a)).status_code == 200
    assert (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=leader_b)).status_code == 404

    handover = c.OrgChanged(
        aggregate_id=uuid.UUID(int=1),
        revision=2,
        effective_at=START,
        holdings=(
            c.PostHoldingSnapshot(
                id=org.holding_a,
                revision=2,
                valid_from=D0,
                valid_to=date(2020, 4, 30),
                post_id=org.leader_post,
                person_id=org.leader_a,
            ),
            c.PostHoldingSnapshot(
                id=_id(),
                revision=2,
                valid_from=date(2020, 5, 1),
                post_id=org.leader_post,
                person_id=org.leader_b,
            ),
        ),
    )
    await publish(world, handover)
    assert (await world.client.get(f"/api/v1/problems/{problem['id']}", headers=leader_a)).status_code == 404
    seen = await world.client.get(f"/api/v1/problems/{problem['id']}", headers=leader_b)
    assert seen.status_code == 200 and seen.json()["layer"] == 2


async def test_the_month_end_round_proposes_candidates_and_a_confirmed_one_is_one_card(world):
    org = world.org
    late = c.MilestoneSnapshot(
        id=_id(), type="construction_start", label="开工", planned_date=date(2020, 5, 15)
    )
    stuck = project_event(org, name="临空港冷链物流中心项目", milestones=(late,))
    enrolled_ok = project_event(org, name="临空港食品产业园项目", project_class="continuing")
    await publish(world, stuck, enrolled_ok)
    await world.move_clock(set=datetime(2020, 5, 24, 23, tzinfo=TZ))
    assert (await world.client.get("/api/v1/supervision-rounds", headers=world.operator)).json()[
        "items"
    ] == []
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))  # the last week of May begins
    rounds = (await world.client.get("/api/v1/supervision-rounds", headers=world.operator)).json()["items"]
    assert [(r["year"], r["month"], r["opened_at"]) for r in rounds] == [
        (2020, 5, "2020-05-25T00:00:00+08:00")
    ]
    cards = (await world.client.get("/api/v1/red-cards", headers=world.operator)).json()["items"]
    assert [(card["reason"], card["project_id"], card["state"]) for card in cards] == [
        ("no_real_progress", str(stuck.project.id), "proposed")
    ]
    card = cards[0]
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    etag = (await world.client.get(f"/api/v1/red-cards/{card['id']}", headers=supervisor)).headers["ETag"]
    confirmed = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/confirmation", headers={**supervisor, "If-Match": etag}
    )
    assert confirmed.status_code == 200, confirmed.text
    again = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/confirmation",
        headers={**supervisor, "If-Match": confirmed.headers["ETag"]},
    )
    assert again.status_code == 409
    issued = (await world.client.get("/api/v1/red-cards?state=issued", headers=world.operator)).json()[
        "items"
    ]
    assert [x["id"] for x in issued] == [card["id"]]
    # Referral to 区纪委监委 only after the line leader's consent.
    refused = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/referral",
        json={"note": "移交"},
        headers={**supervisor, "If-Match": confirmed.headers["ETag"]},
    )
    assert refused.status_code == 409
    leader = world.auth(Role.LINE_LEADER, person=str(org.leader_a))
    consent = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/referral-consent",
        json={"note": "同意"},
        headers={**leader, "If-Match": confirmed.headers["ETag"]},
    )
    assert consent.status_code == 200, consent.text
    referred = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/referral",
        json={"note": "移交"},
        headers={**supervisor, "If-Match": consent.headers["ETag"]},
    )
    assert referred.status_code == 200 and referred.json()["referral_state"] == "referred"


async def test_the_problem_ledger_is_an_excel_workbook(world):
    import io

    from openpyxl import load_workbook

    await report_and_assign(world)
    got = await world.client.get("/api/v1/problems/ledger.xlsx", headers=world.operator)
    assert got.status_code == 200, got.text
    sheet = load_workbook(io.BytesIO(got.content)).active
    assert sheet["A2"].value == "序号" and sheet["C3"].value == "用地指标未落实"
    assert sheet["I3"].value == "已交办"
