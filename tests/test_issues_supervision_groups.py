"""四督四促 over HTTP with the shared clock moved (policy §三(三)三; issue 15 item 6): the ≥100M projects in
four groups, each group's 督办 list with its evidence, and 督查室's follow-ups. Supervision, not a sanction:
a follow-up issues no red card.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest_asyncio
from issues_world import _id, issues_world, project_event, publish

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def _milestone(kind: str, label: str, planned: date) -> c.MilestoneSnapshot:
    return c.MilestoneSnapshot(id=_id(), type=kind, label=label, planned_date=planned)


def _entries(listed: dict) -> list[tuple]:
    return [(e["project_name"], e["status"], [x["note"] for x in e["evidence"]]) for e in listed["items"]]


async def test_each_group_lists_its_big_projects_with_the_evidence_and_the_follow_ups(world):
    org = world.org
    start = project_event(
        org,
        name="临空港冷链物流中心项目",
        milestones=(_milestone("construction_start", "开工", date(2020, 5, 20)),),
    )
    small = project_event(org, name="临空港小微企业园项目", total_investment="50000000.00")
    preliminary = project_event(
        org,
        name="临空港生物医药产业园项目",
        project_class="preliminary",
        line_id=None,
        routing_basis="unrouted",
        routing_reason="无适用规则，待重大项目办确定",
    )
    continuing = project_event(
        org,
        name="临空港食品产业园项目",
        project_class="continuing",
        milestones=(_milestone("completion", "竣工", date(2020, 12, 31)),),
    )
    completing = project_event(
        org,
        name="临空港汽车零部件产业园项目",
        project_class="completing",
        milestones=(_milestone("production_start", "投产", date(2020, 6, 15)),),
    )
    await publish(world, start, small, preliminary, continuing, completing)
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))

    got = await world.client.get("/api/v1/supervision-groups", headers=supervisor)
    assert got.status_code == 200, got.text
    groups = got.json()["items"]
    assert [(g["group"], g["label"], g["goal"], g["projects"], g["lagging"]) for g in groups] == [
        ("preliminary", "前期项目", "促抓紧办理手续", 1, 0),
        ("new_start", "计划新开工项目", "促尽早开工", 2, 0),
        ("continuing", "结转续建项目", "促建设进度", 1, 0),
        ("completing", "完工投产项目", "促尽快投产", 1, 0),
    ]

    # 05-21: the start planned for 05-20 has not happened; an approval of the preliminary project stalls.
    await world.move_clock(set=datetime(2020, 5, 21, 9, tzinfo=TZ))
    await publish(
        world,
        c.ApprovalStalled(
            effective_at=datetime(2020, 5, 21, 9, tzinfo=TZ),
            approval_item_id=_id(),
            catalogue_item_id=_id(),
            item_name="用地规划许可证",
            project_id=preliminary.project.id,
            project_name=preliminary.project.name,
            handling_unit_id=org.service_dept,
            handling_unit_name="区自然资源和规划局",
            due_at=datetime(2020, 5, 21, tzinfo=TZ),
        ),
    )
    new_starts = (await world.client.get("/api/v1/supervision-groups/new_start", headers=supervisor)).json()
    assert (new_starts["as_of"], new_starts["goal"]) == ("2020-05-21", "促尽早开工")
    assert _entries(new_starts) == [
        ("临空港冷链物流中心项目", "lagging", ["开工计划2020-05-20完成，至2020-05-21未完成"]),
        ("临空港智能制造产业园项目", "on_track", []),
    ]
    assert (new_starts["items"][0]["line_name"], new_starts["items"][0]["total_investment"]) == (
        "第二线",
        "150000000.00",
    )
    pre = (await world.client.get("/api/v1/supervision-groups/preliminary", headers=supervisor)).json()
    assert _entries(pre) == [
        ("临空港生物医药产业园项目", "lagging", ["审批超时：用地规划许可证（区自然资源和规划局）"])
    ]
    lagging = await world.client.get(
        "/api/v1/supervision-groups/new_start?status=lagging", headers=supervisor
    )
    assert [e["project_name"] for e in lagging.json()["items"]] == ["临空港冷链物流中心项目"]

    # 督查室 follows the lagging start up; a follow-up is not a red card.
    path = "/api/v1/supervision-groups/new_start/follow-ups"
    body = {
        "project_id": str(start.project.id),
        "method": "on_site_verification",
        "note": "现场核实：施工许可证待办",
    }
    recorded = await world.client.post(path, json=body, headers={**supervisor, "Idempotency-Key": "dd-1"})
    assert recorded.status_code == 201, recorded.text
    assert (recorded.json()["method"], recorded.json()["at"]) == (
        "on_site_verification",
        "2020-05-21T09:00:00+08:00",
    )
    replay = await world.client.post(path, json=body, headers={**supervisor, "Idempotency-Key": "dd-1"})
    assert replay.json()["id"] == recorded.json()["id"]
    followed = (await world.client.get("/api/v1/supervision-groups/new_start", headers=supervisor)).json()
    assert [(f["method"], f["note"]) for f in followed["items"][0]["follow_ups"]] == [
        ("on_site_verification", "现场核实：施工许可证待办")
    ]
    assert (await world.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"] == []

    # Refused, and nothing recorded: not 督查室, a project of another group or under 100M, an unknown one.
    street = world.auth(Role.UNIT_USER, person=str(org.street_staff))
    assert (await world.client.post(path, json=body, headers=street)).status_code == 403
    for project in (continuing.project.id, small.project.id):
        wrong = await world.client.post(path, json={**body, "project_id": str(project)}, headers=supervisor)
        assert (wrong.status_code, wrong.json()["code"]) == (409, "not_in_group")
    unknown = await world.client.post(
        path, json={**body, "project_id": str(uuid.uuid4())}, headers=supervisor
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_project")
    followed = (await world.client.get("/api/v1/supervision-groups/new_start", headers=supervisor)).json()
    assert len(followed["items"][0]["follow_ups"]) == 1
    missing = await world.client.get("/api/v1/supervision-groups/other", headers=supervisor)
    assert missing.status_code == 422

    # Each reader sees the projects they see: the line's service department not the unrouted project.
    dept = world.auth(Role.SERVICE_DEPARTMENT, person=str(org.dept_staff))
    theirs = (await world.client.get("/api/v1/supervision-groups", headers=dept)).json()["items"]
    assert [(g["group"], g["projects"], g["lagging"]) for g in theirs] == [
        ("preliminary", 0, 0),
        ("new_start", 2, 1),
        ("continuing", 1, 0),
        ("completing", 1, 0),
    ]

    # 06-16: the production start of 06-15 is missed; the continuing project is still on track.
    await world.move_clock(set=datetime(2020, 6, 16, 9, tzinfo=TZ))
    done = (await world.client.get("/api/v1/supervision-groups/completing", headers=supervisor)).json()
    assert _entries(done) == [
        ("临空港汽车零部件产业园项目", "lagging", ["投产计划2020-06-15完成，至2020-06-16未完成"])
    ]
    going = (await world.client.get("/api/v1/supervision-groups/continuing", headers=supervisor)).json()
    assert _entries(going) == [("临空港食品产业园项目", "on_track", [])]
