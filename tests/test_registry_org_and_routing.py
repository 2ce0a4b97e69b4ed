"""The registry over HTTP, as 重大项目办 uses it: the 2020 directory loaded once, projects routed by the rule
table with precedence (explicit > category > responsible unit), the unrouted queue, overrides with a reason,
handovers effective at once, and a planned 开工 date that passes: ``milestone.missed`` exactly once."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest_asyncio

from lkg.common.auth import Role
from lkg.common.testing.system import System, running_system
from lkg.registry.app import SPEC
from lkg.registry.org.document import default_document, org_id

_n = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """The registry alone (its scenarios need no other service), with the 2020 directory loaded."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}r{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["changed_entries"] == 170
        yield system


def project(name: str, unit: str, category: str = "industrial", **extra) -> dict:
    return {
        "name": name,
        "enterprise": "【演示】某企业",
        "category": category,
        "project_class": "new_start",
        "responsible_unit_id": str(org_id(unit)),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
        **extra,
    }


async def _events(system: System, event_type: str) -> list:
    return await system.published("registry", event_type)


async def test_loading_the_directory_again_changes_nothing(registry: System) -> None:
    again = await registry.client.post(
        "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=registry.operator
    )
    assert again.json() == {"changed_entries": 0}
    lines = (await registry.client.get("/api/v1/org/lines", headers=registry.operator)).json()
    assert [line["number"] for line in lines] == [1, 2, 3, 4, 5, 6, 7, 8]
    # The line's name is its own; who leads it is the leader post's holder, apart from the name (#11 item 21).
    assert lines[5]["name"] == "第六线"
    assert [(x["name"], x["acting"]) for x in lines[5]["leaders"]] == [("郭小平", False)]
    assert lines[5]["service_unit_id"] == str(org_id("dept.housing"))


async def test_routing_follows_the_precedence_and_says_why(registry: System) -> None:
    c, h = registry.client, registry.operator
    by_unit = (
        await c.post("/api/v1/projects", json=project("【演示】金银湖工业项目", "street.jinyinhu"), headers=h)
    ).json()
    assert by_unit["line_id"] == str(org_id("line.2")) and by_unit["routing_basis"] == "responsible_unit"
    assert by_unit["responsible_unit_name"] == "金银湖街"

    # Every real-estate project is line 6's, wherever it is (category beats responsible unit).
    estate = (
        await c.post(
            "/api/v1/projects",
            json=project("【演示】金银湖住宅", "street.jinyinhu", "real_estate"),
            headers=h,
        )
    ).json()
    assert estate["line_id"] == str(org_id("line.6")) and estate["routing_basis"] == "category"
    why = (await c.get(f"/api/v1/projects/{estate['id']}/line", headers=h)).json()
    assert why["line_number"] == 6 and why["routing_basis"] == "category"
    assert why["routing_reason"].startswith("按项目类型：房地产项目统一由第六线包保")

    # 机电产业办 has no unit rule: its project waits in the unrouted queue, never silently on a line.
    machine = (
        await c.post(
            "/api/v1/projects", json=project("【演示】机电项目", "office.electromechanical"), headers=h
        )
    ).json()
    assert machine["line_id"] is None and machine["routing_basis"] == "unrouted"
    queue = (await c.get("/api/v1/projects?unrouted=true", headers=h)).json()["items"]
    assert machine["id"] in [p["id"] for p in queue] and by_unit["id"] not in [p["id"] for p in queue]

    # 重大项目办 settles it on line 1 with a reason; explicit beats everything and the history keeps why.
    etag = (await c.get(f"/api/v1/projects/{machine['id']}", headers=h)).headers["ETag"]
    settled = await c.post(
        f"/api/v1/projects/{machine['id']}/line-assignments",
        json={"line_id": str(org_id("line.1")), "reason": "机电产业办2020年部分续建项目，由徐贻功包保"},
        headers={**h, "If-Match": etag},
    )
    assert settled.status_code == 200, settled.text
    assert settled.json()["routing_basis"] == "explicit" and settled.json()["line_id"] == str(
        org_id("line.1")
    )
    stale = await c.post(
        f"/api/v1/projects/{machine['id']}/line-assignments",
        json={"line_id": str(org_id("line.8")), "reason": "x"},
        headers={**h, "If-Match": etag},
    )
    assert stale.status_code == 412
    history = (await c.get(f"/api/v1/projects/{machine['id']}/history", headers=h)).json()
    assert [e["action"] for e in history] == ["registered", "line_assigned"]
    assert history[1]["reason"] == "机电产业办2020年部分续建项目，由徐贻功包保"
    assert history[1]["changes"]["routing_basis"] == ["unrouted", "explicit"]

    # Moving a project to another street re-routes it.
    etag = (await c.get(f"/api/v1/projects/{by_unit['id']}", headers=h)).headers["ETag"]
    moved = await c.patch(
        f"/api/v1/projects/{by_unit['id']}",
        json={"responsible_unit_id": str(org_id("street.changqing")), "reason": "项目选址调整"},
        headers={**h, "If-Match": etag},
    )
    assert moved.status_code == 200, moved.text
    assert (
        moved.json()["line_id"] == str(org_id("line.3")) and moved.json()["responsible_unit_name"] == "长青街"
    )


async def test_a_unit_user_sees_only_the_units_projects_and_a_line_leader_only_the_line(
    registry: System,
) -> None:
    c, h = registry.client, registry.operator
    mine = (
        await c.post("/api/v1/projects", json=project("【演示】慈惠项目", "street.cihui"), headers=h)
    ).json()
    other = (
        await c.post("/api/v1/projects", json=project("【演示】走马岭项目", "street.zoumaling"), headers=h)
    ).json()
    liu = str(org_id("person.liu_zhifu"))  # line 4 (慈惠街)
    leader = registry.auth(Role.LINE_LEADER, person=liu)
    assert (await c.get(f"/api/v1/projects/{mine['id']}", headers=leader)).status_code == 200
    assert (await c.get(f"/api/v1/projects/{other['id']}", headers=leader)).status_code == 404
    listed = (await c.get("/api/v1/projects?limit=200", headers=leader)).json()["items"]
    assert {p["id"] for p in listed} == {mine["id"]}

    # 换届: the post passes to a successor from 2020-05-02; the predecessor loses its powers that day.
    handed = await c.post(
        f"/api/v1/org/posts/{org_id('post.line4')}/handovers",
        json={"successor_name": "继任者", "on": "2020-05-02", "reason": "换届"},
        headers=h,
    )
    assert handed.status_code == 200, handed.text
    successor = next(x["person_id"] for x in handed.json()["holdings"] if x["valid_to"] is None)
    await registry.move_clock(set="2020-05-02T09:00:00+08:00")
    assert (await c.get(f"/api/v1/projects/{mine['id']}", headers=leader)).status_code == 404
    heir = registry.auth(Role.LINE_LEADER, person=successor)
    assert (await c.get(f"/api/v1/projects/{mine['id']}", headers=heir)).status_code == 200
    versions = (
        await c.get(f"/api/v1/org/entries/{org_id('holding.post.line4.person.liu_zhifu')}/history", headers=h)
    ).json()
    assert [v["entry"]["valid_to"] for v in versions] == [None, "2020-05-01"]


async def test_a_planned_start_that_passes_is_missed_exactly_once(registry: System) -> None:
    c, h = registry.client, registry.operator
    body = project(
        "【演示】开工节点项目",
        "street.jiangjunlu",
        milestones=[{"type": "construction_start", "planned_date": "2020-05-20"}],
    )
    created = (await c.post("/api/v1/projects", json=body, headers=h)).json()
    detail = (await c.get(f"/api/v1/projects/{created['id']}", headers=h)).json()
    milestone = detail["milestones"][0]
    assert milestone["label"] == "开工" and milestone["baseline_date"] == "2020-05-20"

    await registry.move_clock(set="2020-05-20T18:00:00+08:00")
    assert not [e for e in await _events(registry, "milestone.missed") if e.project_id == created["id"]]
    await registry.move_clock(set="2020-05-21T09:00:00+08:00")
    await registry.move_clock(set="2020-05-25T09:00:00+08:00")
    missed = [e for e in await _events(registry, "milestone.missed") if str(e.project_id) == created["id"]]
    assert len(missed) == 1
    assert missed[0].milestone.planned_date.isoformat() == "2020-05-20"
    assert missed[0].effective_at.isoformat() == "2020-05-21T00:00:00+08:00"

    # Re-planning needs a reason and leaves the baseline as it was; achieving emits milestone.achieved.
    no_reason = await c.post(
        f"/api/v1/projects/{created['id']}/milestones/{milestone['id']}/replans",
        json={"planned_date": "2020-06-10"},
        headers=h,
    )
    assert no_reason.status_code == 422
    replanned = await c.post(
        f"/api/v1/projects/{created['id']}/milestones/{milestone['id']}/replans",
        json={"planned_date": "2020-06-10", "reason": "施工许可证延后"},
        headers=h,
    )
    assert (
        replanned.json()["planned_date"] == "2020-06-10" and replanned.json()["baseline_date"] == "2020-05-20"
    )
    done = await c.post(
        f"/api/v1/projects/{created['id']}/milestones/{milestone['id']}/achievements",
        json={"actual_date": "2020-05-25"},
        headers=h,
    )
    assert done.status_code == 200, done.text
    await registry.move_clock(set="2020-06-15T09:00:00+08:00")
    missed = [e for e in await _events(registry, "milestone.missed") if str(e.project_id) == created["id"]]
    achieved = [
        e for e in await _events(registry, "milestone.achieved") if str(e.project_id) == created["id"]
    ]
    assert len(missed) == 1 and len(achieved) == 1


async def test_terminate_then_deregister_and_the_code_is_checked_but_never_rejected_for_its_check_char(
    registry: System,
) -> None:
    c, h = registry.client, registry.operator
    coded = await c.post(
        "/api/v1/projects",
        json=project("【演示】代码项目", "street.dongshan", project_code="2020-420112-47-03-012345"),
        headers=h,
    )
    assert coded.status_code == 201, coded.text
    assert coded.json()["project_code_warnings"] == ["form:hyphenated"]
    compact = await c.post(
        "/api/v1/projects",
        json=project("【演示】新码项目", "street.dongshan", project_code="2107420112040112345678AX"),
        headers=h,
    )
    assert compact.status_code == 201, compact.text
    assert compact.json()["project_code_warnings"][0] == "form:gbt40058"
    bad = await c.post(
        "/api/v1/projects",
        json=project("【演示】坏码", "street.dongshan", project_code="ABCD-420112-47-03-01234X"),
        headers=h,
    )
    # Neither form: the documented pattern refuses it, so the schema check answers (422 on project_code).
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    assert [e["loc"] for e in bad.json()["errors"]] == [["body", "project_code"]]
    found = await c.get("/api/v1/projects/by-code/2020-420112-47-03-012345", headers=h)
    assert found.json()["id"] == coded.json()["id"]

    pid = coded.json()["id"]
    early = await c.post(
        f"/api/v1/projects/{pid}/deregistrations",
        json={"reason": "x", "deregistered_on": "2020-06-20"},
        headers=h,
    )
    assert early.status_code == 409 and early.json()["code"] == "project_not_terminated"
    ended = await c.post(
        f"/api/v1/projects/{pid}/terminations",
        json={"cause": "enterprise_fault", "reason": "企业逾期不开工", "terminated_on": "2020-06-20"},
        headers=h,
    )
    assert ended.json()["status"] == "terminated"
    gone = await c.post(
        f"/api/v1/projects/{pid}/deregistrations",
        json={"reason": "市商务局销号", "deregistered_on": "2020-06-21"},
        headers=h,
    )
    assert gone.json()["status"] == "deregistered"
    assert (await c.get(f"/api/v1/projects/{pid}", headers=h)).status_code == 200  # never hard-deleted


async def _refusals(registry: System, paths: list[str]) -> dict[str, tuple]:
    answers = {}
    for path in paths:
        assert (await registry.client.get(path, headers=registry.operator)).status_code == 200, path
        refused = await registry.client.get(f"{path}?stat=active", headers=registry.operator)
        problem = refused.json() if refused.status_code == 422 else {}
        answers[path] = (refused.status_code, problem.get("code"), problem.get("errors"))
    return answers


REFUSED = (
    422,
    "unknown_query_parameter",
    [{"loc": ["query", "stat"], "msg": "未定义的查询参数", "type": "extra_forbidden"}],
)


async def test_the_project_lists_refuse_unknown_query_parameters(registry: System) -> None:
    """A misspelt filter must not answer 200 with the unfiltered list or export (lkg.common.http.query)."""
    c, h = registry.client, registry.operator
    created = (
        await c.post("/api/v1/projects", json=project("【演示】严格查询", "street.cihui"), headers=h)
    ).json()
    pid = created["id"]
    paths = [
        "/api/v1/projects",
        "/api/v1/projects/plan.xlsx",
        f"/api/v1/projects/{pid}/history",
        f"/api/v1/projects/{pid}/commitments",
    ]
    assert await _refusals(registry, paths) == dict.fromkeys(paths, REFUSED)


async def test_the_org_lists_refuse_unknown_query_parameters_alike(registry: System) -> None:
    paths = [
        "/api/v1/org/units",
        "/api/v1/org/posts",
        "/api/v1/org/people",
        "/api/v1/org/holdings",
        "/api/v1/org/lines",
        "/api/v1/org/routing-rules",
        f"/api/v1/org/entries/{org_id('line.1')}/history",
    ]
    assert await _refusals(registry, paths) == dict.fromkeys(paths, REFUSED)


async def test_a_milestone_missed_before_the_deployments_history_starts_announces_nothing(
    registry: System,
) -> None:
    """Issue 11 item 19: on a simulated clock the history starts at the clock's start (2020-05-01); a
    milestone planned before it and never achieved (the demo's 2017–2019 dates) is not a miss the platform
    saw, so no ``milestone.missed`` goes out and no problem dated years back is opened. One planned after
    it is."""
    c, h = registry.client, registry.operator
    body = project(
        "【演示】历史节点项目",
        "street.jiangjunlu",
        milestones=[
            {"type": "signing", "planned_date": "2019-03-01"},
            {"type": "construction_start", "planned_date": "2020-07-01"},
        ],
    )
    created = await c.post("/api/v1/projects", json=body, headers=h)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    await registry.move_clock(set="2020-07-03T09:00:00+08:00")
    missed = [e for e in await _events(registry, "milestone.missed") if str(e.project_id) == pid]
    assert [e.milestone.planned_date.isoformat() for e in missed] == ["2020-07-01"]


async def test_a_units_name_comes_from_the_directory_not_the_body(registry: System) -> None:
    """Issue 11 item 2: 金银湖街's id registered under 长青街's name is stored, routed and explained as
    金银湖街; a rename in a change is the directory's too."""
    c, h = registry.client, registry.operator
    body = {**project("【演示】名称不符项目", "street.jinyinhu"), "responsible_unit_name": "长青街"}
    created = await c.post("/api/v1/projects", json=body, headers=h)
    assert created.status_code == 201, created.text
    assert created.json()["responsible_unit_name"] == "金银湖街"
    why = (await c.get(f"/api/v1/projects/{created.json()['id']}/line", headers=h)).json()
    assert "金银湖街" in why["routing_reason"] and "长青街" not in why["routing_reason"]
    etag = (await c.get(f"/api/v1/projects/{created.json()['id']}", headers=h)).headers["ETag"]
    renamed = await c.patch(
        f"/api/v1/projects/{created.json()['id']}",
        json={"responsible_unit_name": "长青街", "reason": "改名"},
        headers={**h, "If-Match": etag},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["responsible_unit_name"] == "金银湖街"
