"""诚信履约"回头看" (§四(四)) over HTTP: 督查室 with 商务局 review a project's contract performance; each
review is recorded (who, when, findings, evidence), its findings become the project's integrity flags and go
out for the follow-up, 重大项目办 cannot type the flags in alone, and 商务局 terminates, then records the
city's de-registration (先解约、再到市商务局销号)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest_asyncio

from lkg.common.auth import Role
from lkg.common.testing.system import System, running_system
from lkg.registry.accounts.seed import seed_demo_accounts
from lkg.registry.app import SPEC
from lkg.registry.demo_directory import person_of
from lkg.registry.org.document import default_document, org_id

_n = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}ri{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        runtime = system.platform.runtimes["registry"]
        async with runtime.db.transaction() as session:
            await seed_demo_accounts(session, runtime.settings, runtime.clock)
        yield system


def supervision(system: System) -> dict[str, str]:
    return system.auth(Role.SUPERVISION_OFFICE, person=str(org_id(person_of("post.dept.supervision.staff"))))


def commerce(system: System) -> dict[str, str]:
    return system.auth(Role.COMMERCE_BUREAU, person=str(org_id(person_of("post.dept.commerce.staff"))))


async def test_a_review_sets_the_findings_and_commerce_terminates_then_deregisters(registry: System) -> None:
    c, h = registry.client, registry.operator
    body = {
        "name": "【演示】招商引资回头看项目",
        "enterprise": "【演示】某企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": str(org_id("street.cihui")),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
    }
    pid = (await c.post("/api/v1/projects", json=body, headers=h)).json()["id"]
    await registry.move_clock(set="2020-06-30T10:00:00+08:00")
    path = f"/api/v1/projects/{pid}/integrity-reviews"
    review = {
        "reviewed_on": "2020-06-30",
        "reviewers": "【演示】督查室、商务局联合核查组",
        "findings": ["overdue_start", "idle_land"],
        "evidence": "实地核查：土地已于2020年3月交付，现场未开工",
    }
    # 重大项目办 alone neither records a review nor types the flags in.
    assert (await c.post(path, json=review, headers=h)).status_code == 403
    etag = (await c.get(f"/api/v1/projects/{pid}", headers=h)).headers["ETag"]
    typed = await c.post(
        f"/api/v1/projects/{pid}/flags",
        json={"integrity_flags": ["idle_land"], "reason": "手工标记"},
        headers={**h, "If-Match": etag},
    )
    assert (typed.status_code, typed.json()["code"]) == (422, "integrity_flags_by_review")
    future = await c.post(path, json={**review, "reviewed_on": "2020-07-01"}, headers=supervision(registry))
    assert (future.status_code, future.json()["code"]) == (422, "review_in_future")

    recorded = await c.post(path, json=review, headers=supervision(registry))
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["findings"] == ["idle_land", "overdue_start"]
    assert recorded.json()["reviewer_unit_ids"] == [str(org_id("dept.supervision"))]
    shown = (await c.get(f"/api/v1/projects/{pid}", headers=h)).json()
    assert shown["integrity_flags"] == ["idle_land", "overdue_start"]
    [event] = [
        e
        for e in await registry.published("registry", "integrity_review.recorded")
        if str(e.project_id) == pid
    ]
    assert ([f.value for f in event.findings], str(event.responsible_unit_id)) == (
        ["idle_land", "overdue_start"],
        str(org_id("street.cihui")),
    )
    assert event.effective_at.isoformat() == "2020-06-30T10:00:00+08:00"

    # A later review by 商务局 finds the contract performed: the flags follow it; both reviews stay.
    await registry.move_clock(set="2020-09-30T10:00:00+08:00")
    cleared = await c.post(
        path,
        json={**review, "reviewed_on": "2020-09-30", "findings": [], "evidence": "已开工，履约正常"},
        headers=commerce(registry),
    )
    assert cleared.status_code == 201, cleared.text
    assert (await c.get(f"/api/v1/projects/{pid}", headers=h)).json()["integrity_flags"] == []
    listed = (await c.get(path, headers=h)).json()
    assert [(r["reviewed_on"], r["findings"]) for r in listed] == [
        ("2020-06-30", ["idle_land", "overdue_start"]),
        ("2020-09-30", []),
    ]
    changed = [e for e in await registry.published("registry", "project.changed") if str(e.project.id) == pid]
    assert [e.changes for e in changed] == [("integrity_flags",), ("integrity_flags",)]

    # 先解约、再到市商务局销号: 商务局 terminates, then records the city's de-registration; a street may not.
    street = registry.auth(Role.UNIT_USER, person=str(org_id(person_of("post.street.cihui.staff"))))
    ended = {"cause": "enterprise_fault", "reason": "企业原因无法履约落地", "terminated_on": "2020-09-30"}
    assert (
        await c.post(f"/api/v1/projects/{pid}/terminations", json=ended, headers=street)
    ).status_code == 403
    terminated = await c.post(f"/api/v1/projects/{pid}/terminations", json=ended, headers=commerce(registry))
    assert (terminated.status_code, terminated.json()["status"]) == (200, "terminated"), terminated.text
    gone = await c.post(
        f"/api/v1/projects/{pid}/deregistrations",
        json={"reason": "市商务局已销号", "deregistered_on": "2020-09-30"},
        headers=commerce(registry),
    )
    assert (gone.status_code, gone.json()["status"]) == (200, "deregistered"), gone.text
    after = await c.post(path, json={**review, "reviewed_on": "2020-09-30"}, headers=supervision(registry))
    assert (after.status_code, after.json()["code"]) == (409, "project_not_active")


async def test_rounds_of_reviews_are_due_half_yearly_and_a_round_with_a_project_not_reviewed_is_missed(
    registry: System,
) -> None:
    # Runs after the scenario above: its project was reviewed on 06-30 (the first half's round is met).
    c, h = registry.client, registry.operator
    body = {
        "name": "【演示】下半年未核查项目",
        "enterprise": "【演示】某企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": str(org_id("street.cihui")),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
    }
    pid = (await c.post("/api/v1/projects", json=body, headers=h)).json()["id"]
    await registry.move_clock(set="2021-01-05T09:00:00+08:00")
    listed = await c.get("/api/v1/projects/integrity-rounds", headers=h)
    assert listed.status_code == 200, listed.text
    current, second, first = listed.json()
    assert (current["starts_on"], current["due_on"], current["outcome"]) == ("2021-01-01", "2021-06-30", None)
    assert (first["starts_on"], first["due_on"], first["outcome"]) == ("2020-01-01", "2020-06-30", "met")
    assert (second["starts_on"], second["due_on"], second["outcome"]) == (
        "2020-07-01",
        "2020-12-31",
        "missed",
    )
    assert (second["unit_id"], second["unreviewed_project_ids"]) == (str(org_id("dept.supervision")), [pid])
    # 督查室 was reminded ten working days before each due day, then told of the missed round.
    due = [
        (e.due_on.isoformat(), e.effective_at.isoformat())
        for e in await registry.published("registry", "integrity_round.due_soon")
    ]
    assert due == [("2020-06-30", "2020-06-15T00:00:00+08:00"), ("2020-12-31", "2020-12-17T00:00:00+08:00")]
    [missed] = await registry.published("registry", "integrity_round.missed")
    assert ([str(p) for p in missed.project_ids], missed.effective_at.isoformat()) == (
        [pid],
        "2021-01-01T00:00:00+08:00",
    )
    street = registry.auth(Role.UNIT_USER, person=str(org_id(person_of("post.street.cihui.staff"))))
    assert (await c.get("/api/v1/projects/integrity-rounds", headers=street)).status_code == 403
