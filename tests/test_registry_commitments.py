"""新官理旧账 (§四(四)四) over HTTP, the whole system on the shared clock: a government commitment binds a
post, not the person who made it; a handover passes it to the successor with nothing moved; when it falls
due unfulfilled, ``commitment.overdue`` names the post and its holder then, and the problem it opens is
held by the post's unit."""

from __future__ import annotations

import pytest_asyncio

from lkg.common.testing.system import System
from lkg.common.testing.waiting import eventually
from lkg.registry.accounts.seed import seed_demo_accounts
from lkg.registry.demo_directory import person_of
from lkg.registry.org.document import default_document, org_id

HEAD_POST = "post.dept.natural_resources.head"  # 区自然资源和规划局主要负责同志
HEAD = str(org_id(person_of(HEAD_POST)))
BUREAU = str(org_id("dept.natural_resources"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(lkg_system: System) -> System:
    loaded = await lkg_system.client.post(
        "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=lkg_system.operator
    )
    assert loaded.status_code == 200, loaded.text
    runtime = lkg_system.platform.runtimes["registry"]
    async with runtime.db.transaction() as session:
        await seed_demo_accounts(session, runtime.settings, runtime.clock)
    return lkg_system


async def _project(world: System, name: str) -> str:
    body = {
        "name": name,
        "enterprise": "【演示】某企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": str(org_id("street.jinyinhu")),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
    }
    created = await world.client.post("/api/v1/projects", json=body, headers=world.operator)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_a_commitment_binds_the_post_and_its_successor_answers_when_it_falls_due(world: System) -> None:
    c, h = world.client, world.operator
    pid = await _project(world, "【演示】承诺随岗项目")
    promised = await c.post(
        f"/api/v1/projects/{pid}/commitments",
        json={
            "side": "government",
            "description": "2020年5月20日前完成项目用地规划条件核定",
            "due_date": "2020-05-20",
            "obligor_post_id": str(org_id(HEAD_POST)),
        },
        headers=h,
    )
    assert promised.status_code == 201, promised.text
    commitment = promised.json()
    # The unit comes from the post; the post's holder today answers for it.
    assert (commitment["obligor_unit_id"], commitment["obligor_unit_name"]) == (BUREAU, "区自然资源和规划局")
    assert commitment["obligor_post_title"] == "区自然资源和规划局主要负责同志"
    assert commitment["answerable"] == [{"id": HEAD, "name": "【演示】区自然资源和规划局主要负责同志"}]

    # 换届 on 05-15: the successor holds the post; the open commitment is now theirs, nothing was moved.
    handed = await c.post(
        f"/api/v1/org/posts/{org_id(HEAD_POST)}/handovers",
        json={"successor_name": "【演示】继任局长", "on": "2020-05-15", "reason": "换届"},
        headers=h,
    )
    assert handed.status_code == 200, handed.text
    heir = next(x["person_id"] for x in handed.json()["holdings"] if x["valid_to"] is None)
    await world.move_clock(set="2020-05-15T09:00:00+08:00")
    [listed] = (await c.get(f"/api/v1/projects/{pid}/commitments", headers=h)).json()
    assert listed["answerable"] == [{"id": heir, "name": "【演示】继任局长"}]
    assert listed["obligor_post_id"] == commitment["obligor_post_id"] and listed["overdue_at"] is None

    # Past due unfulfilled (05-21 00:00): once, naming the post and its holder on that day.
    await world.move_clock(set="2020-05-25T09:00:00+08:00")
    overdue = [e for e in await world.published("registry", "commitment.overdue") if str(e.project_id) == pid]
    assert len(overdue) == 1
    event = overdue[0]
    assert (str(event.obligor_post_id), event.obligor_post_title) == (
        str(org_id(HEAD_POST)),
        "区自然资源和规划局主要负责同志",
    )
    assert [str(p) for p in event.answerable_person_ids] == [heir]
    assert (str(event.obligor_unit_id), event.effective_at.isoformat()) == (
        BUREAU,
        "2020-05-21T00:00:00+08:00",
    )

    # The problem it opens is held by the post's unit, not the project's street.
    async def opened() -> dict:
        found = (await c.get(f"/api/v1/problems?project_id={pid}", headers=h)).json()["items"]
        assert len(found) == 1, found
        return found[0]

    problem = await eventually(opened)
    assert (problem["cause_key"], problem["resolving_unit_id"]) == (
        f"commitment.overdue:{commitment['id']}",
        BUREAU,
    )


async def test_a_government_commitment_needs_its_post_and_an_enterprise_one_names_none(world: System) -> None:
    c, h = world.client, world.operator
    pid = await _project(world, "【演示】承诺校验项目")
    path = f"/api/v1/projects/{pid}/commitments"
    cases = [
        ({"side": "government", "obligor_unit_id": BUREAU}, 422, "obligor_post_required"),
        (
            {
                "side": "government",
                "obligor_post_id": str(org_id(HEAD_POST)),
                "obligor_unit_id": str(org_id("dept.housing")),
            },
            422,
            "obligor_post_not_in_unit",
        ),
        (
            {"side": "government", "obligor_post_id": str(org_id("post.nowhere"))},
            404,
            "obligor_post_not_found",
        ),
        (
            {"side": "enterprise", "obligor_post_id": str(org_id(HEAD_POST))},
            422,
            "obligor_not_for_enterprise",
        ),
    ]
    for extra, status, code in cases:
        body = {"description": "某承诺", "due_date": "2020-12-31", **extra}
        refused = await c.post(path, json=body, headers=h)
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert (await c.get(path, headers=h)).json() == []
