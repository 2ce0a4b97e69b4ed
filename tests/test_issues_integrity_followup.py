"""诚信履约"回头看" findings followed up (§四(四), issue 15 item 2) over HTTP, registry and issues together:
a review that finds 逾期不开工 or 占而未建 opens one follow-up (督办) problem on the project's responsible
unit; a later review with findings while it is open adds to it rather than opening another; a review that
finds the contract performed opens nothing."""

from __future__ import annotations

import itertools

import pytest_asyncio

from lkg.common.auth import Role
from lkg.common.runtime.service import discover_specs
from lkg.common.testing.system import running_system
from lkg.issues.app import SPEC as ISSUES
from lkg.registry.demo_directory import person_of
from lkg.registry.org.document import default_document, org_id

_systems = itertools.count(1)

PROJECT = {
    "name": "【演示】招商引资回头看项目",
    "enterprise": "【演示】某企业",
    "category": "industrial",
    "project_class": "new_start",
    "responsible_unit_id": str(org_id("street.cihui")),
    "total_investment": "150000000.00",
    "plan_year": 2020,
    "planned_annual_investment": "50000000.00",
}


@pytest_asyncio.fixture(loop_scope="session")
async def system(db_factory, nats_url, nats_prefix):
    specs = [discover_specs()["registry"], ISSUES]
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}if{next(_systems)}", specs=specs
    ) as running:
        loaded = await running.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=running.operator
        )
        assert loaded.status_code == 200, loaded.text
        yield running


def supervision(system) -> dict[str, str]:
    return system.auth(Role.SUPERVISION_OFFICE, person=str(org_id(person_of("post.dept.supervision.staff"))))


async def review(system, pid: str, on: str, findings: list[str], evidence: str) -> None:
    await system.move_clock(set=f"{on}T10:00:00+08:00")
    recorded = await system.client.post(
        f"/api/v1/projects/{pid}/integrity-reviews",
        json={
            "reviewed_on": on,
            "reviewers": "【演示】督查室、商务局联合核查组",
            "findings": findings,
            "evidence": evidence,
        },
        headers=supervision(system),
    )
    assert recorded.status_code == 201, recorded.text
    await system.move_clock(advance="1h")  # the signal scan opens the problem on the shared clock


async def follow_ups(system, pid: str) -> list[dict]:
    listed = await system.client.get(f"/api/v1/problems?project_id={pid}", headers=system.operator)
    assert listed.status_code == 200, listed.text
    return [p for p in listed.json()["items"] if p["title"].startswith("回头看督办")]


async def test_findings_open_one_follow_up_on_the_responsible_unit_and_a_clean_review_opens_none(system):
    await system.move_clock(set="2020-06-01T09:00:00+08:00")
    pid = (await system.client.post("/api/v1/projects", json=PROJECT, headers=system.operator)).json()["id"]
    clean = (
        await system.client.post(
            "/api/v1/projects", json={**PROJECT, "name": "【演示】履约正常项目"}, headers=system.operator
        )
    ).json()["id"]

    await review(system, pid, "2020-06-30", ["overdue_start", "idle_land"], "土地已交付，现场未开工")
    [opened] = await follow_ups(system, pid)
    assert opened["resolving_unit_id"] == str(org_id("street.cihui"))
    # The unit's name comes from the directory (the event names the unit by id only; issue 11 item 20).
    units = (await system.client.get("/api/v1/org/units", headers=system.operator)).json()
    [street] = [u["name"] for u in units if u["id"] == str(org_id("street.cihui"))]
    assert opened["resolving_unit_name"] == street
    assert "逾期不开工" in opened["title"] and "占而未建" in opened["title"]
    assert "土地已交付，现场未开工" in opened["description"]

    # A later review finding the same while the follow-up is open adds to it: still one matter.
    await review(system, pid, "2020-07-15", ["overdue_start"], "仍未开工")
    assert [p["id"] for p in await follow_ups(system, pid)] == [opened["id"]]

    # A review that finds the contract performed opens nothing.
    await review(system, clean, "2020-07-16", [], "已开工，履约正常")
    assert await follow_ups(system, clean) == []
