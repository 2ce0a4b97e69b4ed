"""Approvals hardening over HTTP (issue #11): the weekly report and the department view hold only the
projects within the caller's reach (item 3), the item history refuses UPDATE and DELETE in the database
itself (item 7), a user's text in the weekly workbook is text, never a formula (item 12), and an explicit
``null`` for a field that may be omitted but not cleared is a 422 that changes nothing (item 14).

The org directory (two lines with their leaders' posts and service departments) and the projects arrive as
the registry would send them, staged into the bus from the test.
"""

from __future__ import annotations

import io
import itertools
import uuid
import zipfile
from datetime import date, datetime
from typing import ClassVar

import pytest
import pytest_asyncio
import sqlalchemy as sa
from openpyxl import load_workbook  # type: ignore[import-untyped]

from lkg.approvals.app import SPEC as APPROVALS
from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.testing.system import running_system

_systems = itertools.count(1)
START = datetime(2020, 5, 6, 9, tzinfo=TZ)  # a Wednesday; that week reports on Friday 05-08 at 17:00
D0 = date(2020, 1, 1)
INJECTED = '=HYPERLINK("http://evil.example/","点我")'


def _id() -> uuid.UUID:
    return uuid.uuid4()


class Org:
    """Two streets, two service departments (one per line), the two lines' leaders, 区生态环境局 and
    区行政审批局; one post and one person each."""

    UNITS: ClassVar[dict[str, tuple[str, str]]] = {
        "street_a": ("金银湖街道", "street"),
        "street_b": ("长青街道", "street"),
        "tech": ("区科经局", "department"),
        "commerce": ("区商务局", "department"),
        "leaders": ("区领导", "leadership"),
        "env": ("区生态环境局", "department"),
    }
    POSTS: ClassVar[dict[str, tuple[str, str]]] = {  # post -> (unit, kind)
        "street_a": ("street_a", "staff"),
        "street_b": ("street_b", "staff"),
        "tech": ("tech", "staff"),
        "commerce": ("commerce", "staff"),
        "leader1": ("leaders", "line_leader"),
        "leader2": ("leaders", "line_leader"),
    }

    def __init__(self) -> None:
        self.units = {key: _id() for key in self.UNITS}
        self.bureau = _id()
        self.posts = {key: _id() for key in self.POSTS}
        self.people = {key: _id() for key in self.POSTS}
        self.line1, self.line2 = _id(), _id()

    def event(self) -> c.OrgChanged:
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
            posts=tuple(
                c.PostSnapshot(
                    id=self.posts[k],
                    revision=1,
                    valid_from=D0,
                    title="专员",
                    unit_id=self.units[u],
                    kind=kind,
                )
                for k, (u, kind) in self.POSTS.items()
            ),
            people=tuple(c.PersonSnapshot(id=p, revision=1, name=f"{k}员") for k, p in self.people.items()),
            holdings=tuple(
                c.PostHoldingSnapshot(
                    id=_id(), revision=1, valid_from=D0, post_id=self.posts[k], person_id=self.people[k]
                )
                for k in self.posts
            ),
            lines=(
                c.LineSnapshot(
                    id=self.line1,
                    revision=1,
                    valid_from=D0,
                    number=1,
                    name="第一线",
                    leader_post_id=self.posts["leader1"],
                    service_unit_id=self.units["tech"],
                ),
                c.LineSnapshot(
                    id=self.line2,
                    revision=1,
                    valid_from=D0,
                    number=2,
                    name="第二线",
                    leader_post_id=self.posts["leader2"],
                    service_unit_id=self.units["commerce"],
                ),
            ),
        )


def project(
    org: Org, name: str, unit: str, line: uuid.UUID | None, *, project_class: str = "new_start"
) -> c.ProjectSnapshot:
    return c.ProjectSnapshot(
        id=_id(),
        name=name,
        enterprise="武汉某智能装备有限公司",
        category="industrial",
        project_class=project_class,
        responsible_unit_id=org.units[unit],
        responsible_unit_name=Org.UNITS[unit][0],
        line_id=line,
        routing_basis="responsible_unit" if line else "unrouted",
        routing_reason="责任单位所在线" if line else "无适用的包保规则",
        approval_type="filing",
        total_investment="150000000.00",
        plan_year=2020,
        planned_annual_investment="50000000.00",
        milestones=(),
        effective_at=START,
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
        prefix=f"{nats_prefix}aph{next(_systems)}",
        specs=[APPROVALS],
    ) as system:
        await system.move_clock(set=START)
        org = Org()
        await publish(system, org.event())
        system.org = org  # type: ignore[attr-defined]
        # On line 1 (its name typed as a formula), on line 2, and unrouted (no line yet).
        system.projects = {  # type: ignore[attr-defined]
            key: project(org, name, unit, line)
            for key, name, unit, line in (
                ("line1", INJECTED, "street_a", org.line1),
                ("line2", "长青街道某项目", "street_b", org.line2),
                ("unrouted", "=1+2*3", "street_b", None),
            )
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


def person(system, key: str, role: Role) -> dict[str, str]:
    return system.auth(role, person=str(system.org.people[key]))


async def plan_of(system, project_id: uuid.UUID) -> dict:
    listed = await system.client.get(
        f"/api/v1/approval-plans?project_id={project_id}", headers=bureau(system)
    )
    [summary] = listed.json()["items"]
    plan = await system.client.get(f"/api/v1/approval-plans/{summary['id']}", headers=bureau(system))
    assert plan.status_code == 200, plan.text
    return {**plan.json(), "etag": plan.headers["ETag"]}


def item(plan: dict, code: str) -> dict:
    return next(i for i in plan["items"] if i["code"] == code)


async def submit(system, item_id: str) -> None:
    current = await system.client.get(f"/api/v1/approval-items/{item_id}", headers=bureau(system))
    done = await system.client.post(
        f"/api/v1/approval-items/{item_id}/submissions",
        json={},
        headers={**bureau(system), "If-Match": current.headers["ETag"]},
    )
    assert done.status_code == 200, done.text


# ---- item 3: reports hold what the caller may see ------------------------------------------------------


async def test_reports_hold_only_the_projects_within_the_callers_reach(world):
    projects = world.projects
    for p in projects.values():
        await submit(world, item(await plan_of(world, p.id), "filing_certificate")["id"])
    await world.move_clock(set=datetime(2020, 5, 11, 9, tzinfo=TZ))

    everyone = {INJECTED, "长青街道某项目", "=1+2*3"}
    expected = {
        "approval bureau": (bureau(world), everyone),
        "重大项目办": (world.auth(Role.MAJOR_PROJECTS_OFFICE, person="office"), everyone),
        "top leader": (world.auth(Role.TOP_LEADER, person="top"), everyone),
        "line 1's leader": (person(world, "leader1", Role.LINE_LEADER), {INJECTED}),
        "line 2's service department": (
            person(world, "commerce", Role.SERVICE_DEPARTMENT),
            {"长青街道某项目"},
        ),
        "line 1's service department": (person(world, "tech", Role.SERVICE_DEPARTMENT), {INJECTED}),
        "a unit (its own projects)": (
            person(world, "street_b", Role.SERVICE_DEPARTMENT),
            {"长青街道某项目", "=1+2*3"},
        ),
        "a leader with no line today": (world.auth(Role.LINE_LEADER, person=str(_id())), set()),
    }
    for who, (headers, names) in expected.items():
        weekly = await world.client.get("/api/v1/approval-reports/weekly?week_of=2020-05-06", headers=headers)
        assert weekly.status_code == 200, (who, weekly.text)
        assert {r["project_name"] for r in weekly.json()["rows"]} == names, who

        xlsx = await world.client.get(
            "/api/v1/approval-reports/weekly.xlsx?week_of=2020-05-06", headers=headers
        )
        assert xlsx.status_code == 200, (who, xlsx.text)
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert {row[0] for row in sheet.iter_rows(min_row=3, values_only=True)} == names, who

        # The department view counts the open items of those projects only (one 备案证 submitted in each).
        view = await world.client.get("/api/v1/approval-reports/departments", headers=headers)
        assert view.status_code == 200, (who, view.text)
        assert [(r["handling_unit_name"], r["open"]) for r in view.json()["departments"] if r["open"]] == (
            [("区行政审批局", len(names))] if names else []
        ), who

    # A unit's user is not a reader of the bureau's report at all.
    refused = await world.client.get(
        "/api/v1/approval-reports/weekly?week_of=2020-05-06",
        headers=person(world, "street_a", Role.UNIT_USER),
    )
    assert refused.status_code == 403


# ---- item 12: text is text in the weekly workbook -------------------------------------------------------


async def test_a_project_named_as_a_formula_is_text_in_the_weekly_workbook(world):
    await world.move_clock(set=datetime(2020, 5, 11, 9, tzinfo=TZ))
    xlsx = await world.client.get(
        "/api/v1/approval-reports/weekly.xlsx?week_of=2020-05-06", headers=bureau(world)
    )
    assert xlsx.status_code == 200, xlsx.text
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as archive:
        sheets = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/")]
    assert sheets and not any("<f>" in s or "<f " in s for s in sheets)  # no formula anywhere
    cells = {
        (cell.value, cell.data_type)
        for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(min_row=3)
        for cell in row[:1]
    }
    assert cells == {(INJECTED, "s"), ("长青街道某项目", "s"), ("=1+2*3", "s")}


# ---- item 7: the item history is append-only in the database ---------------------------------------------


async def test_the_item_history_refuses_update_and_delete(world):
    eia = item(await plan_of(world, world.projects["line2"].id), "environmental_assessment")
    history = f"/api/v1/approval-items/{eia['id']}/history"
    before = (await world.client.get(history, headers=bureau(world))).json()
    assert before["items"], before
    db = world.platform.runtimes["approvals"].db
    for statement in (
        "UPDATE approval_item_change SET note = '改写', actor = 'person:nobody' WHERE item_id = :item",
        "DELETE FROM approval_item_change WHERE item_id = :item",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="approval_item_change is append-only"):
            async with db.transaction() as session:
                await session.execute(sa.text(statement), {"item": eia["id"]})
    assert (await world.client.get(history, headers=bureau(world))).json() == before


# ---- item 14: null where a field may be omitted but not cleared --------------------------------------------


async def _refuses_nulls(world, path: str, fields: list[str]) -> None:
    current = await world.client.get(path, headers=bureau(world))
    assert current.status_code == 200, current.text
    for field in fields:
        refused = await world.client.patch(
            path, json={field: None}, headers={**bureau(world), "If-Match": current.headers["ETag"]}
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed"), (
            field,
            refused.text,
        )
        [error] = refused.json()["errors"]
        assert (error["loc"], error["type"]) == (["body", field], "null_not_allowed"), field
        assert error["msg"] == "此字段不可为 null；不修改请省略该字段"
    after = await world.client.get(path, headers=bureau(world))
    assert (after.headers["ETag"], after.json()) == (current.headers["ETag"], current.json())


async def test_an_explicit_null_for_a_field_that_cannot_be_cleared_is_a_422_that_changes_nothing(world):
    catalogue = (await world.client.get("/api/v1/approval-catalogue", headers=bureau(world))).json()
    entry = next(e for e in catalogue["items"] if e["code"] == "filing_certificate")
    await _refuses_nulls(
        world,
        f"/api/v1/approval-catalogue/{entry['id']}",
        [
            "name",
            "handling_unit_name",
            "limit_days",
            "limit_unit",
            "source",
            "applies_to",
            "prerequisites",
            "modes",
            "prereview_days",
            "prereviewed_days",
            "verification_days",
            "inspection_days",
        ],
    )
    plan = await plan_of(world, world.projects["line1"].id)
    eia = item(plan, "environmental_assessment")
    await _refuses_nulls(
        world,
        f"/api/v1/approval-items/{eia['id']}",
        ["mode", "handling_unit_name", "document_refs", "prerequisites"],
    )

    # What may be cleared is cleared by null: an item's notes, a plan's own target start.
    path = f"/api/v1/approval-items/{eia['id']}"
    current = await world.client.get(path, headers=bureau(world))
    noted = await world.client.patch(
        path, json={"notes": "待补材料"}, headers={**bureau(world), "If-Match": current.headers["ETag"]}
    )
    cleared = await world.client.patch(
        path, json={"notes": None}, headers={**bureau(world), "If-Match": noted.headers["ETag"]}
    )
    assert (noted.json()["notes"], cleared.status_code, cleared.json()["notes"]) == ("待补材料", 200, None)
    plan_path = f"/api/v1/approval-plans/{plan['id']}"
    moved = await world.client.patch(
        plan_path,
        json={"planned_start_override": "2020-09-01"},
        headers={**bureau(world), "If-Match": plan["etag"]},
    )
    assert moved.status_code == 200, moved.text
    back = await world.client.patch(
        plan_path,
        json={"planned_start_override": None},
        headers={**bureau(world), "If-Match": moved.headers["ETag"]},
    )
    assert (back.status_code, back.json()["planned_start_override"]) == (200, None)

    # The document says the same: only the clearable fields admit null.
    schemas = (await world.client.get("/openapi.json")).json()["components"]["schemas"]
    nullable = {
        name: sorted(
            field
            for field, spec in schemas[name]["properties"].items()
            if {"type": "null"} in spec.get("anyOf", ())
        )
        for name in ("CatalogueItemUpdate", "ItemUpdate", "PlanUpdate")
    }
    assert nullable == {
        "CatalogueItemUpdate": ["handling_unit_id", "report_column"],
        "ItemUpdate": ["handling_unit_id", "notes"],
        "PlanUpdate": ["planned_start_override"],
    }
