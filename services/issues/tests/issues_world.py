"""The issues service's world for tests (test code, not shipped in the package): a small 三层八线 org
directory and projects as the registry would send them (``org.changed``, ``project.registered``), staged
into the bus so a scenario does not depend on the registry's own seed data, and helpers to act over HTTP as
the people of that org. Importable as ``issues_world`` from every test module (``pythonpath`` in the
workspace's pytest settings)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.testing.system import System, running_system
from lkg.issues.app import SPEC as ISSUES

_systems = itertools.count(1)
START = datetime(2020, 5, 1, 9, tzinfo=TZ)
D0 = date(2020, 1, 1)


def _id() -> uuid.UUID:
    return uuid.uuid4()


class Org:
    """A small 三层八线 directory: one street, one line (leader post + service department),
    重大项目办, 督查室."""

    def __init__(self) -> None:
        self.street, self.service_dept, self.office, self.supervision, self.leadership = (
            _id() for _ in range(5)
        )
        self.leader_post, self.top_post, self.street_post, self.dept_post = (_id() for _ in range(4))
        self.leader_a, self.leader_b, self.street_staff, self.dept_staff = (_id() for _ in range(4))
        self.line = _id()
        self.holding_a, self.holding_street, self.holding_dept = (_id() for _ in range(3))

    def event(self) -> c.OrgChanged:
        dated = {"revision": 1, "valid_from": D0}
        units = [
            (self.street, "金银湖街道", "street", ()),
            (self.service_dept, "区科经局", "department", ()),
            (self.office, "区重大项目办（区发改局）", "department", (c.UnitRole.MAJOR_PROJECTS_OFFICE,)),
            (self.supervision, "区政府督查室", "department", (c.UnitRole.SUPERVISION_OFFICE,)),
            (self.leadership, "区政府", "leadership", ()),
        ]
        posts = [
            (self.leader_post, "常务副区长", self.leadership, "line_leader"),
            (self.top_post, "区长", self.leadership, "district_leader"),
            (self.street_post, "项目专员", self.street, "staff"),
            (self.dept_post, "协调专员", self.service_dept, "staff"),
        ]
        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=1,
            effective_at=START,
            units=tuple(c.UnitSnapshot(id=i, name=n, kind=k, roles=r, **dated) for i, n, k, r in units),
            posts=tuple(c.PostSnapshot(id=i, title=t, unit_id=u, kind=k, **dated) for i, t, u, k in posts),
            people=tuple(
                c.PersonSnapshot(id=p, revision=1, name=n)
                for p, n in [
                    (self.leader_a, "李丽"),
                    (self.leader_b, "王强"),
                    (self.street_staff, "张三"),
                    (self.dept_staff, "赵四"),
                ]
            ),
            holdings=tuple(
                c.PostHoldingSnapshot(id=i, post_id=post, person_id=person, **dated)
                for i, post, person in [
                    (self.holding_a, self.leader_post, self.leader_a),
                    (self.holding_street, self.street_post, self.street_staff),
                    (self.holding_dept, self.dept_post, self.dept_staff),
                ]
            ),
            lines=(
                c.LineSnapshot(
                    id=self.line,
                    revision=1,
                    valid_from=D0,
                    number=2,
                    name="第二线",
                    leader_post_id=self.leader_post,
                    service_unit_id=self.service_dept,
                ),
            ),
        )


def project_event(org: Org, **changes) -> c.ProjectRegistered:
    pid = changes.pop("id", None) or _id()
    snapshot = c.ProjectSnapshot(
        id=pid,
        name=changes.pop("name", "临空港智能制造产业园项目"),
        enterprise="武汉某智能装备有限公司",
        category="industrial",
        project_class=changes.pop("project_class", "new_start"),
        responsible_unit_id=org.street,
        responsible_unit_name="金银湖街道",
        line_id=changes.pop("line_id", org.line),
        routing_basis=changes.pop("routing_basis", "responsible_unit"),
        routing_reason=changes.pop("routing_reason", "金银湖街 → 第二线"),
        total_investment=changes.pop("total_investment", "150000000.00"),
        plan_year=2020,
        planned_annual_investment="50000000.00",
        effective_at=START,
        **changes,
    )
    return c.ProjectRegistered(aggregate_id=pid, revision=1, project=snapshot)


async def publish(system: Any, *events: Any) -> None:
    runtime = system.platform.runtimes["issues"]
    async with runtime.db.transaction() as session:
        for event in events:
            await stage(session, event)
    runtime.relay.wake()
    await system.settle()


@asynccontextmanager
async def issues_world(db_factory: Any, nats_url: str, prefix: str) -> AsyncIterator[System]:
    """A fresh issues deployment (its own clock at 2020-05-01 09:00) with the org and one routed project;
    the other services are left out on purpose: the registry's and approvals' events are staged by the
    test."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{prefix}i{next(_systems)}", specs=[ISSUES]
    ) as system:
        org = Org()
        project = project_event(org)
        await publish(system, org.event(), project)
        system.org = org  # type: ignore[attr-defined]
        system.project = project.project  # type: ignore[attr-defined]
        yield system


def street(system: Any) -> dict[str, str]:
    """A member of the project's responsible unit (金银湖街道)."""
    return system.auth(Role.UNIT_USER, person=str(system.org.street_staff))


def dept(system: Any) -> dict[str, str]:
    """A member of the line's service department (区科经局), the coordination office."""
    return system.auth(Role.SERVICE_DEPARTMENT, person=str(system.org.dept_staff))


async def report_and_assign(system: Any) -> dict:
    """A problem reported by the street and accepted by the line's service department, which assigns it to
    itself as the resolving unit (the reply clock starts)."""
    created = await system.client.post(
        "/api/v1/problems",
        json={
            "project_id": str(system.project.id),
            "title": "用地指标未落实",
            "topic": "土地",
            "description": "项目二期用地指标尚未落实，影响开工。",
        },
        headers=street(system),
    )
    assert created.status_code == 201, created.text
    problem = created.json()
    assert [k["kind"] for k in problem["clocks"]] == ["acceptance"]
    accepted = await system.client.post(
        f"/api/v1/problems/{problem['id']}/acceptance",
        json={"resolving_unit_id": str(system.org.service_dept), "resolving_unit_name": "区科经局"},
        headers={**dept(system), "If-Match": created.headers["ETag"]},
    )
    assert accepted.status_code == 200, accepted.text
    return accepted.json()


async def get(system: Any, problem_id: str) -> dict:
    found = await system.client.get(f"/api/v1/problems/{problem_id}", headers=system.operator)
    assert found.status_code == 200, found.text
    return found.json()


async def etag_of(system: Any, problem_id: str) -> str:
    return (await system.client.get(f"/api/v1/problems/{problem_id}", headers=system.operator)).headers[
        "ETag"
    ]


def breaches(problem: dict) -> list[tuple[int, str, str]]:
    return [(b["layer"], b["kind"], b["breached_at"]) for b in problem["breaches"]]
