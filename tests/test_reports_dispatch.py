"""The 日调度 dispatch board over HTTP through May 2020 (issue 16; policy §一(三) 日调度, §三(二), §五(一)): a
problem shows as due today, is accepted, runs past its reply limit and goes up to the line leader, then is
answered; an approval stalls; a project waits unrouted; and each project's state on the battle map follows,
with what changed since the previous working day. The board is filtered by the caller's reach.

The calendar is the official one: 2020-05-09 is a Saturday worked in exchange for the May Day holiday, so
on Friday 05-08 the next working day is that Saturday."""

from __future__ import annotations

from datetime import date, datetime

import pytest_asyncio
from scoring_world import Org, Problem, at, project, publish, scoring_world, stalled

from lkg.common.auth import Role
from lkg.common.calendar import end_of_day
from lkg.common.events import contracts as c
from lkg.scoring.app import SPEC as SCORING

BOARD = "/api/v1/reports/dispatch-board"


def end_of(day: date) -> datetime:
    """A clock's due time: the exclusive end of its last day (24:00)."""
    return end_of_day(day)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def world(db_factory, nats_url, nats_prefix):
    org = Org(
        [("金银湖街", "street"), ("长青街", "street"), ("慈惠街", "street"), ("区行政审批局", "department")]
    )
    async with scoring_world(db_factory, nats_url, nats_prefix, [SCORING], org) as system:
        a = project(org, "金银湖街", "甲项目", 签约=date(2020, 6, 20))
        b = project(org, "长青街", "乙项目", 开工=date(2020, 6, 15))
        d = project(org, "慈惠街", "丁项目", 开工=date(2020, 5, 13))
        u = project(
            org,
            "慈惠街",
            "戊项目",
            {"line_id": None, "routing_basis": "unrouted", "routing_reason": "无适用的分线规则"},
        )
        await publish(system, a.registered(), b.registered(), d.registered(), u.registered())
        system.org, system.a, system.b, system.d, system.u = org, a, b, d, u  # type: ignore[attr-defined]
        yield system


def states(board: dict) -> dict[str, tuple[str, str]]:
    return {p["name"]: (p["state"], p["reason"]) for p in board["projects"]}


def line_of(board: dict, org: Org) -> dict:
    return next(x for x in board["lines"] if x["line_id"] == str(org.line))


async def test_the_board_follows_a_problem_from_due_today_through_escalation_to_its_answer(world):
    org, a, b = world.org, world.a, world.b
    p = Problem(org, a, "金银湖街", "用地指标未落实")
    acceptance = p.clock("acceptance", at(date(2020, 5, 6)), end_of(date(2020, 5, 7)))
    await world.move_clock(set=at(date(2020, 5, 7), 10))
    await publish(world, p.reported(at(date(2020, 5, 6)), acceptance))

    got = await world.client.get(BOARD, headers=world.operator)
    assert got.status_code == 200, got.text
    board = got.json()
    assert (board["day"], board["next_working_day"]) == ("2020-05-07", "2020-05-08")
    assert states(board) == {
        "戊项目": ("unrouted", "未分线，待区重大项目办确定包保线"),
        "甲项目": ("warning", "问题「用地指标未落实」即将到期"),
        "乙项目": ("on_track", "无超时、预警事项"),
        "丁项目": ("on_track", "无超时、预警事项"),
    }
    assert board["counts"] == {
        "unrouted": 1,
        "breached": 0,
        "stalled_approval": 0,
        "warning": 1,
        "on_track": 2,
    }
    line = line_of(board, org)
    assert [(m["title"], m["clock"], m["layer"]) for m in line["due_today"]] == [
        ("用地指标未落实", "acceptance", 1)
    ]
    assert line["due_tomorrow"] == line["overdue"] == line["escalated"] == []
    unrouted = next(x for x in board["lines"] if x["line_id"] is None)
    assert unrouted["due_today"] == []

    # Accepted the same afternoon: the reply clock runs 3 working days (05-08, the make-up Saturday 05-09,
    # 05-11), §五(一).
    reply = p.clock("reply", at(date(2020, 5, 7), 15), end_of(date(2020, 5, 11)))
    await publish(world, p.accepted(at(date(2020, 5, 7), 15), reply))
    await world.move_clock(set=at(date(2020, 5, 8), 9))
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert (board["day"], board["next_working_day"]) == ("2020-05-08", "2020-05-09")
    assert states(board)["甲项目"] == ("on_track", "无超时、预警事项")
    a_state = next(x for x in board["projects"] if x["name"] == "甲项目")
    assert a_state["previous_state"] == "warning"
    line = line_of(board, org)
    assert line["due_today"] == line["due_tomorrow"] == []
    assert [(x["what"], x["text"]) for x in line["changes"]] == [
        ("problem.accepted", "问题「用地指标未落实」受理"),
        ("project.state", "甲项目：预警 → 正常（无超时、预警事项）"),
    ]

    # Nobody answers: the reply clock runs out at the end of 05-11 and the problem goes up to the line
    # leader, with the clock restarted from the breach.
    again = p.clock("reply", end_of(date(2020, 5, 11)), end_of(date(2020, 5, 14)))
    await world.move_clock(set=at(date(2020, 5, 12), 10))
    await publish(world, *p.breached_and_escalated(reply, again))
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["甲项目"] == ("breached", "问题「用地指标未落实」反馈处理意见超时")
    line = line_of(board, org)
    assert [(m["title"], m["clock"], m["layer"], m["breached_at"]) for m in line["overdue"]] == [
        ("用地指标未落实", "reply", 2, "2020-05-12T00:00:00+08:00")
    ]
    assert [(m["title"], m["escalated_at"]) for m in line["escalated"]] == [
        ("用地指标未落实", "2020-05-12T00:00:00+08:00")
    ]
    assert ("problem.escalated", "问题「用地指标未落实」上报至第2层") in [
        (x["what"], x["text"]) for x in line["changes"]
    ]
    # 丁项目's 开工 is planned on Wednesday 05-13 of this week.
    assert [(m["project_name"], m["label"], m["planned_date"]) for m in line["milestones_this_week"]] == [
        ("丁项目", "开工", "2020-05-13")
    ]

    # The answer comes that afternoon: the matter is no longer overdue; it stays on the escalated list today.
    progress = p.clock("progress", at(date(2020, 5, 12), 14), end_of(date(2020, 5, 19)))
    await publish(world, p.answered(at(date(2020, 5, 12), 14), progress))
    await world.move_clock(set=at(date(2020, 5, 12), 15))
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["甲项目"] == ("on_track", "无超时、预警事项")
    line = line_of(board, org)
    assert line["overdue"] == []
    assert [m["title"] for m in line["escalated"]] == ["用地指标未落实"]

    # An approval of 乙项目 stalls: 审批超时 on the map and in the line's stalled approvals.
    stall = stalled(org, "区行政审批局", b, end_of(date(2020, 5, 12)), item="施工许可")
    await world.move_clock(set=at(date(2020, 5, 13), 10))
    await publish(world, stall)
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["乙项目"][0] == "stalled_approval"
    assert [(x["project_name"], x["handling_unit_id"]) for x in line_of(board, org)["stalled_approvals"]] == [
        ("乙项目", str(org["区行政审批局"].id))
    ]
    granted = c.ApprovalGranted(
        effective_at=at(date(2020, 5, 13), 16),
        approval_item_id=stall.approval_item_id,
        catalogue_item_id=stall.catalogue_item_id,
        item_name="施工许可",
        project_id=b.id,
        project_name=b.name,
        handling_unit_id=org["区行政审批局"].id,
        handling_unit_name="区行政审批局",
    )
    await publish(world, granted)
    await world.move_clock(set=at(date(2020, 5, 13), 17))
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["乙项目"] == ("on_track", "无超时、预警事项")
    assert line_of(board, org)["stalled_approvals"] == []

    # A refusal decides a stalled item too: it leaves the board.
    other = stalled(org, "区行政审批局", b, end_of(date(2020, 5, 13)), item="工程规划许可证")
    await world.move_clock(set=at(date(2020, 5, 14), 10))
    await publish(world, other)
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["乙项目"][0] == "stalled_approval"
    refused = c.ApprovalRejected(
        effective_at=at(date(2020, 5, 14), 11),
        approval_item_id=other.approval_item_id,
        catalogue_item_id=other.catalogue_item_id,
        item_name="工程规划许可证",
        project_id=b.id,
        project_name=b.name,
        handling_unit_id=org["区行政审批局"].id,
        handling_unit_name="区行政审批局",
        reason="不符合控制性详细规划",
    )
    await publish(world, refused, refused)  # told twice: changes nothing more
    await world.move_clock(set=at(date(2020, 5, 14), 12))
    board = (await world.client.get(BOARD, headers=world.operator)).json()
    assert states(board)["乙项目"][0] == "on_track"
    assert ("approval.rejected", "乙项目：超时审批事项不予许可") in [
        (x["what"], x["text"]) for x in line_of(board, org)["changes"]
    ]


async def test_the_board_shows_each_caller_what_their_reach_covers(world):
    org = world.org
    street = world.auth(Role.UNIT_USER, person=str(org["长青街"].staff))
    board = (await world.client.get(BOARD, headers=street)).json()
    assert [p["name"] for p in board["projects"]] == [world.b.name]
    assert all(x["line_id"] is not None for x in board["lines"])

    leader = world.auth(Role.LINE_LEADER, person=str(org.leader_a))
    board = (await world.client.get(BOARD, headers=leader)).json()
    assert sorted(p["name"] for p in board["projects"]) == [
        "丁项目",
        "乙项目",
        "甲项目",
    ]  # not the unrouted one
    assert [x["line_id"] for x in board["lines"]] == [str(org.line)]

    only = await world.client.get(BOARD, params={"line": str(org.line)}, headers=world.operator)
    assert sorted(p["name"] for p in only.json()["projects"]) == ["丁项目", "乙项目", "甲项目"]
    bad = await world.client.get(BOARD, params={"line": "第二线"}, headers=world.operator)
    assert bad.status_code == 422
