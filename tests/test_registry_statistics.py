"""The statistics work (§三(四)二) over HTTP on the shared clock: 统计局's list of last month's failed
enrolments is due by the 28th (the last working day on or before it, on the official calendar), with a
warning three working days before; a missed 28th is recorded against 统计局 and shown to 重大项目办. Each
statistics contact visits their projects every month; the visits are recorded against the projects, and a
month with a project not visited is recorded against the contact's unit."""

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
BUREAU = str(org_id("dept.statistics"))
CONTACT = str(org_id(person_of("post.street.jinyinhu.statistics_contact")))
STREET = str(org_id("street.jinyinhu"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}rs{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        runtime = system.platform.runtimes["registry"]
        async with runtime.db.transaction() as session:
            await seed_demo_accounts(session, runtime.settings, runtime.clock)
        yield system


def bureau(system: System) -> dict[str, str]:
    return system.auth(Role.STATISTICS_BUREAU, person=str(org_id(person_of("post.dept.statistics.staff"))))


async def duties(system: System, **query: object) -> list[dict]:
    response = await system.client.get(
        "/api/v1/projects/statistics-duties", params=query, headers=system.operator
    )
    assert response.status_code == 200, response.text
    return response.json()


async def events(system: System, event_type: str) -> list:
    return await system.published("registry", event_type)


async def test_the_list_is_due_by_the_28th_and_a_missed_one_is_recorded_against_the_bureau(
    registry: System,
) -> None:
    c = registry.client
    await registry.move_clock(set="2020-05-20T09:00:00+08:00")
    # April's list (nobody failed) on 05-20: May's duty is met, no reminder, nothing missed.
    sent = await c.post(
        "/api/v1/projects/enrolment-failures",
        json={"year": 2020, "month": 4, "reported_by_unit_id": BUREAU, "failures": []},
        headers=bureau(registry),
    )
    assert (sent.status_code, sent.json()) == (200, {"count": 0}), sent.text
    [may] = await duties(registry, kind="enrolment_list", year=2020, month=5)
    assert (may["due_on"], may["outcome"], may["unit_name"]) == ("2020-05-28", "met", "区统计局")

    # June: the 28th is a Sunday, but a make-up working day (端午调休) on the official calendar, so the list
    # is due that day; the reminder comes three working days before (06-25..27 are the holiday): 06-22.
    await registry.move_clock(set="2020-06-23T09:00:00+08:00")
    [warned] = [e for e in await events(registry, "enrolment_list.due_soon") if e.month == 6]
    assert (warned.reported_year, warned.reported_month, str(warned.unit_id)) == (2020, 5, BUREAU)
    assert (warned.effective_at.isoformat(), warned.due_at.isoformat()) == (
        "2020-06-22T00:00:00+08:00",
        "2020-06-29T00:00:00+08:00",
    )
    assert not await events(registry, "enrolment_list.missed")

    await registry.move_clock(set="2020-06-30T09:00:00+08:00")
    [missed] = await events(registry, "enrolment_list.missed")
    assert (missed.month, missed.reported_month, missed.effective_at.isoformat()) == (
        6,
        5,
        "2020-06-29T00:00:00+08:00",
    )
    # Recorded against 统计局 and shown to 重大项目办 (no layer to escalate to); a unit user may not look.
    [june] = await duties(registry, kind="enrolment_list", outcome="missed")
    assert (june["month"], june["unit_id"], june["due_on"], june["warned_at"]) == (
        6,
        BUREAU,
        "2020-06-28",
        "2020-06-22T00:00:00+08:00",
    )
    street = registry.auth(Role.UNIT_USER, person=CONTACT)
    assert (await c.get("/api/v1/projects/statistics-duties", headers=street)).status_code == 403
    # A late list is still recorded, but the missed 28th stays missed.
    late = await c.post(
        "/api/v1/projects/enrolment-failures",
        json={"year": 2020, "month": 5, "reported_by_unit_id": BUREAU, "failures": []},
        headers=bureau(registry),
    )
    assert late.status_code == 200
    assert [d["outcome"] for d in await duties(registry, kind="enrolment_list", month=6)] == ["missed"]


async def test_a_contacts_monthly_visits_and_the_project_left_unvisited(registry: System) -> None:
    c, h = registry.client, registry.operator
    ids = []
    for name in ("【演示】统计上门甲", "【演示】统计上门乙"):
        body = {
            "name": name,
            "enterprise": "【演示】某企业",
            "category": "industrial",
            "project_class": "continuing",
            "responsible_unit_id": STREET,
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
            "statistics_contact_id": CONTACT,
        }
        created = await c.post("/api/v1/projects", json=body, headers=h)
        assert created.status_code == 201, created.text
        assert created.json()["statistics_contact"]["id"] == CONTACT
        ids.append(created.json()["id"])
    first, second = ids
    await registry.move_clock(set="2020-07-10T09:00:00+08:00")
    contact = registry.auth(Role.UNIT_USER, person=CONTACT)
    visit = {"visited_on": "2020-07-10", "note": "指导入库资料准备"}
    recorded = await c.post(f"/api/v1/projects/{first}/statistics-visits", json=visit, headers=contact)
    assert recorded.status_code == 201, recorded.text
    assert (recorded.json()["person_id"], recorded.json()["month"]) == (CONTACT, 7)
    future = await c.post(
        f"/api/v1/projects/{first}/statistics-visits",
        json={**visit, "visited_on": "2020-07-11"},
        headers=contact,
    )
    assert (future.status_code, future.json()["code"]) == (422, "visit_in_future")
    other = registry.auth(Role.UNIT_USER, person=str(org_id(person_of("post.street.cihui.staff"))))
    assert (
        await c.post(f"/api/v1/projects/{first}/statistics-visits", json=visit, headers=other)
    ).status_code == 404

    # The month's visits are due by its last working day (07-31), with a reminder five working days before.
    await registry.move_clock(set="2020-07-27T09:00:00+08:00")
    [due] = [e for e in await events(registry, "statistics_visit.due_soon") if str(e.person_id) == CONTACT]
    assert ([str(p) for p in due.project_ids], due.effective_at.isoformat()) == (
        [second],
        "2020-07-24T00:00:00+08:00",
    )
    await registry.move_clock(set="2020-08-03T09:00:00+08:00")
    [missed] = [e for e in await events(registry, "statistics_visit.missed") if str(e.person_id) == CONTACT]
    assert ([str(p) for p in missed.project_ids], str(missed.unit_id), missed.month) == ([second], STREET, 7)
    [july] = await duties(registry, kind="visits", year=2020, month=7)
    assert (july["subject_id"], july["outcome"], july["missed_project_ids"]) == (CONTACT, "missed", [second])
    listed = (await c.get(f"/api/v1/projects/{first}/statistics-visits", headers=h)).json()
    assert [(v["visited_on"], v["note"]) for v in listed] == [("2020-07-10", "指导入库资料准备")]


async def test_a_28th_on_a_weekend_falls_on_the_friday_before(registry: System) -> None:
    await registry.move_clock(set="2020-11-02T09:00:00+08:00")
    [november] = await duties(registry, kind="enrolment_list", year=2020, month=11)
    assert (november["due_on"], november["warn_at"]) == ("2020-11-27", "2020-11-24T00:00:00+08:00")
