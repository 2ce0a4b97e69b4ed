"""Regional assessments over HTTP with the clock moved (issue #15 item 5, policy §四(一): 运用好区域性统一评价
成果，审批事项结果互认): an area-wide assessment spares the projects sited in its area the items it names
(waived, or a shorter limit), the plan and its critical chain show what that saves on the earliest start,
a project moving into the area gets it and one moving out gets its items back, an assessment valid from a
later day applies on that day and what it did stays after it expires, and bad input changes nothing.

The org directory and the projects (with their sites) arrive as the registry sends them, staged into the
bus from the test.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from typing import ClassVar

import pytest_asyncio

from lkg.approvals.app import SPEC as APPROVALS
from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.testing.system import running_system

_systems = itertools.count(1)
START = datetime(2020, 5, 6, 9, tzinfo=TZ)  # a Wednesday
D0 = date(2020, 1, 1)
PARK = "临空港食品产业园"


def _id() -> uuid.UUID:
    return uuid.uuid4()


class Org:
    """Two streets, 区生态环境局 and 区行政审批局 with an agents' post (代办员) held by two people (the second
    from 2020-06-01), and a street's staff member."""

    UNITS: ClassVar[dict[str, tuple[str, str]]] = {
        "street_a": ("金银湖街道", "street"),
        "street_b": ("长青街道", "street"),
        "env": ("区生态环境局", "department"),
    }

    def __init__(self) -> None:
        self.units = {key: _id() for key in self.UNITS}
        self.bureau = _id()
        self.agent_post, self.staff_post = _id(), _id()
        self.people = {"agent1": _id(), "agent2": _id(), "staff": _id()}

    def event(self) -> c.OrgChanged:
        holdings = (
            ("agent1", self.agent_post, D0),
            ("agent2", self.agent_post, date(2020, 6, 1)),
            ("staff", self.staff_post, D0),
        )
        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=1,
            effective_at=START,
            units=(
                *(
                    c.UnitSnapshot(id=self.units[k], revision=1, valid_from=D0, name=n, kind=kind)
                    for k, (n, kind) in self.UNITS.items()
                ),
                c.UnitSnapshot(
                    id=self.bureau,
                    revision=1,
                    valid_from=D0,
                    name="区行政审批局",
                    kind="department",
                    roles=(c.UnitRole.APPROVAL_BUREAU,),
                ),
            ),
            posts=(
                c.PostSnapshot(
                    id=self.agent_post,
                    revision=1,
                    valid_from=D0,
                    title="代办员",
                    unit_id=self.bureau,
                    kind=c.PostKind.APPROVAL_AGENT,
                ),
                c.PostSnapshot(
                    id=self.staff_post,
                    revision=1,
                    valid_from=D0,
                    title="工作人员",
                    unit_id=self.units["street_a"],
                    kind=c.PostKind.STAFF,
                ),
            ),
            people=(
                c.PersonSnapshot(id=self.people["agent1"], revision=1, name="代办员甲"),
                c.PersonSnapshot(id=self.people["agent2"], revision=1, name="代办员乙"),
                c.PersonSnapshot(id=self.people["staff"], revision=1, name="街道工作人员"),
            ),
            holdings=tuple(
                c.PostHoldingSnapshot(
                    id=_id(), revision=1, valid_from=since, post_id=post, person_id=self.people[k]
                )
                for k, post, since in holdings
            ),
        )


def project(
    org: Org,
    name: str,
    *,
    street: str | None,
    park: str | None = None,
    agent: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    at: datetime = START,
) -> c.ProjectSnapshot:
    site = None
    if street is not None:
        site = c.ProjectSite(
            street_id=org.units[street], street_name=Org.UNITS[street][0], park=park, plot=None
        )
    return c.ProjectSnapshot(
        id=project_id or _id(),
        name=name,
        enterprise="武汉某食品有限公司",
        category="industrial",
        project_class="new_start",
        responsible_unit_id=org.units["street_a"],
        responsible_unit_name="金银湖街道",
        line_id=None,
        routing_basis="unrouted",
        routing_reason="无适用的包保规则",
        approval_type="filing",
        total_investment="150000000.00",
        plan_year=2020,
        planned_annual_investment="50000000.00",
        milestones=(
            c.MilestoneSnapshot(
                id=uuid.UUID(int=7), type="construction_start", label="开工", planned_date=date(2020, 7, 1)
            ),
        ),
        site=site,
        agent_id=agent,
        effective_at=at,
    )


async def publish(system, *events) -> None:
    runtime = system.platform.runtimes["approvals"]
    async with runtime.db.transaction() as session:
        for event in events:
            await stage(session, event)
    runtime.relay.wake()
    await system.settle()


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}ara{next(_systems)}",
        specs=[APPROVALS],
    ) as system:
        await system.move_clock(set=START)
        org = Org()
        await publish(system, org.event())
        system.org = org  # type: ignore[attr-defined]
        system.projects = {  # type: ignore[attr-defined]
            "park": project(
                org, "食品产业园某项目", street="street_a", park=PARK, agent=org.people["agent1"]
            ),
            "other_street": project(org, "长青街道某项目", street="street_b"),
            "no_site": project(org, "选址未定项目", street=None),
        }
        await publish(
            system,
            *(
                c.ProjectRegistered(aggregate_id=p.id, revision=1, project=p)
                for p in system.projects.values()  # type: ignore[attr-defined]
            ),
        )
        yield system


def bureau(system) -> dict[str, str]:
    return system.auth(Role.APPROVAL_BUREAU, person="bureau")


async def plan_of(system, project_id: uuid.UUID) -> dict:
    listed = await system.client.get(
        f"/api/v1/approval-plans?project_id={project_id}", headers=bureau(system)
    )
    [summary] = listed.json()["items"]
    plan = await system.client.get(f"/api/v1/approval-plans/{summary['id']}", headers=bureau(system))
    assert plan.status_code == 200, plan.text
    return {**plan.json(), "etag": plan.headers["ETag"]}


async def chain_of(system, plan: dict) -> dict:
    found = await system.client.get(
        f"/api/v1/approval-plans/{plan['id']}/critical-chain", headers=bureau(system)
    )
    assert found.status_code == 200, found.text
    return found.json()


def item(plan: dict, code: str) -> dict:
    return next(i for i in plan["items"] if i["code"] == code)


def regional_eia(org: Org, **changes) -> dict:
    return {
        "kind": "environmental_impact",
        "title": "金银湖街区域环境影响评价",
        "issuing_unit_id": str(org.units["env"]),
        "issuing_unit_name": "区生态环境局",
        "issued_on": "2020-04-20",
        "valid_from": "2020-05-01",
        "valid_to": "2025-04-30",
        "document_ref": "武环审〔2020〕12号",
        "streets": [str(org.units["street_a"])],
        "effects": [{"code": "environmental_assessment", "effect": "waive"}],
        **changes,
    }


async def record(system, body: dict, headers: dict | None = None):
    return await system.client.post(
        "/api/v1/regional-assessments", json=body, headers=headers or bureau(system)
    )


async def history_actions(system, item_id: str) -> list[tuple[str, str, str]]:
    found = await system.client.get(f"/api/v1/approval-items/{item_id}/history", headers=bureau(system))
    return [(h["action"], h["to_state"], h["actor"]) for h in found.json()["items"]]


async def test_a_regional_assessment_spares_the_projects_in_its_area(world):
    org, projects = world.org, world.projects
    before = await plan_of(world, projects["park"].id)
    chain_before = await chain_of(world, before)
    assert "environmental_assessment" in [s["code"] for s in chain_before["chain"]]
    assert (before["assessment_saved_days"], before["regional_assessments"]) == (0, [])
    assert before["site"] == {"street_id": str(org.units["street_a"]), "park": PARK, "plot": None}

    eia = await record(world, regional_eia(org), headers={**bureau(world), "Idempotency-Key": "eia-1"})
    assert eia.status_code == 201, eia.text
    energy = await record(
        world,
        regional_eia(
            org,
            kind="energy",
            title="食品产业园区域节能评价",
            streets=[],
            parks=[PARK],
            effects=[{"code": "energy_review", "effect": "shorten", "days": 10}],
        ),
    )
    assert energy.status_code == 201, energy.text
    # A retry with the same key replays the first answer and records nothing more.
    again = await record(world, regional_eia(org), headers={**bureau(world), "Idempotency-Key": "eia-1"})
    assert (again.status_code, again.json()["id"]) == (201, eia.json()["id"])
    listed = await world.client.get("/api/v1/regional-assessments", headers=bureau(world))
    assert sorted((a["kind"], a["plans_applied"], a["in_force"]) for a in listed.json()["items"]) == [
        ("energy", 1, True),
        ("environmental_impact", 1, True),
    ]

    after = await plan_of(world, projects["park"].id)
    waived, shortened = item(after, "environmental_assessment"), item(after, "energy_review")
    assert (waived["state"], waived["assessment_id"]) == ("waived", eia.json()["id"])
    assert (shortened["state"], shortened["limit_days"], shortened["limit_saved_days"]) == ("planned", 10, 10)
    applied = {a["id"]: a for a in after["regional_assessments"]}
    assert applied == {
        eia.json()["id"]: {
            "id": eia.json()["id"],
            "kind": "environmental_impact",
            "title": "金银湖街区域环境影响评价",
            "waived": ["environmental_assessment"],
            "shortened": {},
        },
        energy.json()["id"]: {
            "id": energy.json()["id"],
            "kind": "energy",
            "title": "食品产业园区域节能评价",
            "waived": [],
            "shortened": {"energy_review": 10},
        },
    }
    # The 30-calendar-day 环评 was the longest wait before the 施工许可证: the start comes sooner by exactly
    # the days the plan says the assessments save, and the chain no longer runs through it.
    saved = (date.fromisoformat(before["earliest_start"]) - date.fromisoformat(after["earliest_start"])).days
    assert saved > 0 and after["assessment_saved_days"] == saved
    chain_after = await chain_of(world, after)
    assert chain_after["assessment_saved_days"] == saved
    assert chain_after["earliest_start"] == after["earliest_start"]
    assert "environmental_assessment" not in [s["code"] for s in chain_after["chain"]]
    assert await history_actions(world, waived["id"]) == [
        ("planned", "planned", "system"),
        ("waived", "waived", "system"),
    ]
    # A waived item is done: nothing to apply for.
    current = await world.client.get(f"/api/v1/approval-items/{waived['id']}", headers=bureau(world))
    refused = await world.client.post(
        f"/api/v1/approval-items/{waived['id']}/submissions",
        json={},
        headers={**bureau(world), "If-Match": current.headers["ETag"]},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition"), refused.text

    # Projects outside the area, or with no site yet, keep every item.
    for key in ("other_street", "no_site"):
        untouched = await plan_of(world, projects[key].id)
        assert {(i["state"], i["assessment_id"], i["limit_saved_days"]) for i in untouched["items"]} == {
            ("planned", None, 0)
        }, key

    # A repeated or stale snapshot changes nothing.
    park = projects["park"]
    await publish(world, c.ProjectRegistered(aggregate_id=park.id, revision=1, project=park))
    assert (await plan_of(world, park.id))["etag"] == after["etag"]

    # A project moving into the area gets it; moving out gives the items back (each step in the history).
    moved_in = project(org, "长青街道某项目", street="street_a", project_id=projects["other_street"].id)
    await publish(world, c.ProjectChanged(aggregate_id=moved_in.id, revision=2, project=moved_in))
    gained = await plan_of(world, moved_in.id)
    assert item(gained, "environmental_assessment")["state"] == "waived"
    assert item(gained, "energy_review")["limit_saved_days"] == 0  # not in the park
    moved_out = project(org, "食品产业园某项目", street="street_b", project_id=park.id)
    await publish(world, c.ProjectChanged(aggregate_id=park.id, revision=2, project=moved_out))
    lost = await plan_of(world, park.id)
    back = item(lost, "environmental_assessment")
    assert (back["state"], back["assessment_id"]) == ("planned", None)
    assert (item(lost, "energy_review")["limit_days"], lost["assessment_saved_days"]) == (20, 0)
    assert lost["earliest_start"] == before["earliest_start"]
    assert (await history_actions(world, back["id"]))[-1] == ("waiver_revoked", "planned", "system")
    # The same snapshot again: nothing moves.
    await publish(world, c.ProjectChanged(aggregate_id=park.id, revision=2, project=moved_out))
    assert (await plan_of(world, park.id))["etag"] == lost["etag"]

    # Changing the assessment's area (If-Match) brings the plans of the old and the new area in step.
    current = await world.client.get(
        f"/api/v1/regional-assessments/{eia.json()['id']}", headers=bureau(world)
    )
    widened = await world.client.patch(
        f"/api/v1/regional-assessments/{eia.json()['id']}",
        json={"streets": [str(org.units["street_b"])]},
        headers={**bureau(world), "If-Match": current.headers["ETag"]},
    )
    assert (widened.status_code, widened.json()["plans_applied"]) == (200, 1), widened.text
    assert item(await plan_of(world, park.id), "environmental_assessment")["state"] == "waived"
    assert item(await plan_of(world, moved_in.id), "environmental_assessment")["state"] == "planned"


async def test_an_assessment_valid_from_a_later_day_applies_on_that_day_and_stays_after_it_expires(world):
    org = world.org
    safety = await record(
        world,
        regional_eia(
            org,
            kind="safety",
            title="长青街区域安全评价",
            streets=[str(org.units["street_b"])],
            valid_from="2020-05-11",
            valid_to="2020-05-31",
            effects=[{"code": "safety_assessment", "effect": "waive"}],
        ),
    )
    assert safety.status_code == 201, safety.text
    assert (safety.json()["in_force"], safety.json()["plans_applied"]) == (False, 0)
    other = world.projects["other_street"].id
    assert item(await plan_of(world, other), "safety_assessment")["state"] == "planned"

    await world.move_clock(set=datetime(2020, 5, 11, 9, tzinfo=TZ))
    waived = item(await plan_of(world, other), "safety_assessment")
    assert (waived["state"], waived["decided_at"]) == ("waived", "2020-05-11T00:00:00+08:00")

    # After it expires, what it did stays; a project sited there afterwards is not covered.
    await world.move_clock(set=datetime(2020, 6, 2, 9, tzinfo=TZ))
    assert item(await plan_of(world, other), "safety_assessment")["state"] == "waived"
    late = project(org, "长青街道新项目", street="street_b", at=datetime(2020, 6, 2, 9, tzinfo=TZ))
    await publish(world, c.ProjectRegistered(aggregate_id=late.id, revision=1, project=late))
    assert item(await plan_of(world, late.id), "safety_assessment")["state"] == "planned"
    found = await world.client.get(
        f"/api/v1/regional-assessments/{safety.json()['id']}", headers=bureau(world)
    )
    assert (found.json()["in_force"], found.json()["plans_applied"]) == (False, 1)


async def test_bad_assessments_are_refused_and_record_nothing(world):
    org = world.org
    street_user = world.auth(Role.UNIT_USER, person=str(org.people["staff"]))
    cases = [
        (regional_eia(org), street_user, 403, "forbidden"),
        (
            regional_eia(org, effects=[{"code": "no_such_item", "effect": "waive"}]),
            None,
            409,
            "unknown_catalogue_item",
        ),
        (regional_eia(org, streets=[str(org.units["env"])]), None, 409, "unknown_street"),
        (regional_eia(org, streets=[]), None, 409, "assessment_area_empty"),
        (
            regional_eia(org, effects=[{"code": "energy_review", "effect": "shorten"}]),
            None,
            422,
            "validation_failed",
        ),
        (regional_eia(org, valid_to="2020-04-01"), None, 409, "validity_reversed"),
        (
            regional_eia(
                org,
                effects=[
                    {"code": "energy_review", "effect": "waive"},
                    {"code": "energy_review", "effect": "shorten", "days": 5},
                ],
            ),
            None,
            409,
            "duplicate_effect",
        ),
        (
            regional_eia(org, effects=[{"code": "energy_review", "effect": "waive", "days": 5}]),
            None,
            422,
            "validation_failed",
        ),
        (regional_eia(org, issuing_unit_id=str(_id())), None, 409, "unknown_unit"),
    ]
    for body, headers, status, code in cases:
        refused = await record(world, body, headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), (body, refused.text)
    listed = await world.client.get("/api/v1/regional-assessments", headers=street_user)
    assert listed.status_code == 200 and listed.json()["items"] == []
    plan = await plan_of(world, world.projects["park"].id)
    assert {i["state"] for i in plan["items"]} == {"planned"}
    missing = await world.client.get(f"/api/v1/regional-assessments/{_id()}", headers=street_user)
    assert (missing.status_code, missing.json()["code"]) == (404, "regional_assessment_not_found")


# ---- the agents' team, its training, and the agent told of a stall (issue #15 item 4, policy §四(三)) ----


async def test_the_agents_team_its_training_and_the_agent_on_a_stall(world):
    org = world.org
    agent1, agent2, staff = (org.people[k] for k in ("agent1", "agent2", "staff"))
    team = await world.client.get("/api/v1/approval-agents", headers=bureau(world))
    assert team.status_code == 200, team.text
    assert [
        (a["name"], a["post_title"], a["trainings_attended"], a["training_due"]) for a in team.json()["items"]
    ] == [("代办员甲", "代办员", 0, True)]
    assert team.json()["training_every_days"] == 90

    trainings = "/api/v1/agent-trainings"
    body = {
        "held_on": "2020-05-06",
        "topic": "从立项到开工的申办流程",
        "attendees": [str(agent1), str(staff)],
    }
    street_user = world.auth(Role.UNIT_USER, person=str(staff))
    for bad, headers, status, code in [
        (body, street_user, 403, "forbidden"),
        ({**body, "held_on": "2020-05-07"}, bureau(world), 409, "training_in_future"),
        ({**body, "attendees": [str(agent1), str(_id())]}, bureau(world), 409, "unknown_person"),
        ({**body, "attendees": []}, bureau(world), 422, "validation_failed"),
    ]:
        refused = await world.client.post(trainings, json=bad, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), (bad, refused.text)
    assert (await world.client.get(trainings, headers=bureau(world))).json()["items"] == []

    held = await world.client.post(trainings, json=body, headers=bureau(world))
    assert held.status_code == 201, held.text
    assert [(a["name"], a["on_team"]) for a in held.json()["attendees"]] == [
        ("代办员甲", True),
        ("街道工作人员", False),
    ]
    one = await world.client.get(held.headers["Location"], headers=street_user)
    assert one.json() == held.json()
    mine = await world.client.get(f"{trainings}?person_id={agent1}", headers=street_user)
    assert [t["id"] for t in mine.json()["items"]] == [held.json()["id"]]
    assert (await world.client.get(f"{trainings}?person_id={agent2}", headers=bureau(world))).json()[
        "items"
    ] == []

    # From 2020-06-01 the second agent holds the post too, untrained.
    later = await world.client.get("/api/v1/approval-agents?on=2020-06-02", headers=bureau(world))
    assert [
        (a["name"], a["trainings_attended"], a["last_trained_on"], a["training_due"])
        for a in later.json()["items"]
    ] == [("代办员乙", 0, None, True), ("代办员甲", 1, "2020-05-06", False)]
    # Trained on 05-06, due again once more than 90 days have passed (the setting; 定期 in the policy).
    due = await world.client.get("/api/v1/approval-agents?on=2020-08-05", headers=bureau(world))
    assert [(a["name"], a["training_due"]) for a in due.json()["items"]] == [
        ("代办员乙", True),
        ("代办员甲", True),
    ]
    held_back = await world.client.get("/api/v1/approval-agents?on=2020-08-04", headers=bureau(world))
    assert [a["training_due"] for a in held_back.json()["items"]] == [True, False]

    # The 环评 of the project with an agent, and of one without, accepted and left to stall.
    for key in ("park", "other_street"):
        eia = item(await plan_of(world, world.projects[key].id), "environmental_assessment")
        for action in ("submissions", "acceptances"):
            current = await world.client.get(f"/api/v1/approval-items/{eia['id']}", headers=bureau(world))
            done = await world.client.post(
                f"/api/v1/approval-items/{eia['id']}/{action}",
                json={},
                headers={**bureau(world), "If-Match": current.headers["ETag"]},
            )
            assert done.status_code == 200, done.text
    await world.move_clock(set=datetime(2020, 6, 9, 9, tzinfo=TZ))
    stalled = await world.published("approvals", "approval.stalled")
    assert sorted((e.project_name, e.agent_id) for e in stalled) == sorted(
        [("食品产业园某项目", agent1), ("长青街道某项目", None)]
    )


# ---- the site as the registry records it, over HTTP (registry and approvals running together) ----------


@pytest_asyncio.fixture(loop_scope="session")
async def registry_world(db_factory, nats_url, nats_prefix):
    from lkg.common.runtime.service import discover_specs
    from lkg.registry.org.document import default_document

    specs = [discover_specs()["registry"], APPROVALS]
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}arr{next(_systems)}", specs=specs
    ) as system:
        await system.move_clock(set=START)
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        await system.settle()
        yield system


async def test_a_project_registered_in_an_assessed_street_and_moved_out_over_http(registry_world):
    from lkg.registry.org.document import org_id

    world = registry_world
    jinyinhu, changqing = org_id("street.jinyinhu"), org_id("street.changqing")
    recorded = await record(
        world,
        {
            "kind": "environmental_impact",
            "title": "金银湖街区域环境影响评价",
            "issuing_unit_name": "区生态环境局",
            "issued_on": "2020-04-20",
            "valid_from": "2020-05-01",
            "streets": [str(jinyinhu)],
            "effects": [{"code": "environmental_assessment", "effect": "waive"}],
        },
    )
    assert recorded.status_code == 201, recorded.text
    created = await world.client.post(
        "/api/v1/projects",
        json={
            "name": "金银湖街某项目",
            "enterprise": "武汉某智能终端有限公司",
            "category": "industrial",
            "project_class": "new_start",
            "responsible_unit_id": str(jinyinhu),
            "approval_type": "filing",
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
            "site": {"street_id": str(jinyinhu), "park": PARK},
        },
        headers=world.operator,
    )
    assert created.status_code == 201, created.text
    await world.settle()
    plan = await plan_of(world, created.json()["id"])
    assert plan["site"] == {"street_id": str(jinyinhu), "park": PARK, "plot": None}
    assert item(plan, "environmental_assessment")["state"] == "waived"

    project = await world.client.get(f"/api/v1/projects/{created.json()['id']}", headers=world.operator)
    moved = await world.client.patch(
        f"/api/v1/projects/{created.json()['id']}",
        json={"site": {"street_id": str(changqing)}},
        headers={**world.operator, "If-Match": project.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    await world.settle()
    plan = await plan_of(world, created.json()["id"])
    assert (plan["site"]["street_id"], item(plan, "environmental_assessment")["state"]) == (
        str(changqing),
        "planned",
    )
