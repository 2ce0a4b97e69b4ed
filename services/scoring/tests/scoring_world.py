"""The scoring service's world for tests: a small org directory and projects as the registry would send
them, staged into the bus (so a scenario does not depend on the registry's seed data), and helpers that
build the facts other services would publish."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.runtime.service import ServiceSpec
from lkg.common.testing.system import System, running_system

_systems = itertools.count(1)
START = datetime(2020, 5, 1, 9, tzinfo=TZ)
D0 = date(2020, 1, 1)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


@dataclass
class Unit:
    name: str
    kind: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    head_post: uuid.UUID = field(default_factory=uuid.uuid4)
    head: uuid.UUID = field(default_factory=uuid.uuid4)
    staff_post: uuid.UUID = field(default_factory=uuid.uuid4)
    staff: uuid.UUID = field(default_factory=uuid.uuid4)


class Org:
    """Streets and offices on one line, 重大项目办, the line's service department and leader post."""

    def __init__(self, names: Sequence[tuple[str, str]]) -> None:
        self.units = {name: Unit(name, kind) for name, kind in names}
        self.office = Unit("区重大项目办（区发改局）", "department")
        self.service_dept = Unit("区科经局", "department")
        self.leadership = uuid.uuid4()
        self.leader_post = uuid.uuid4()
        self.leader_a, self.leader_b = uuid.uuid4(), uuid.uuid4()
        self.holding_a = uuid.uuid4()
        self.line = uuid.uuid4()

    def __getitem__(self, name: str) -> Unit:
        return self.units[name]

    def event(self, revision: int = 1) -> c.OrgChanged:
        units, posts, people, holdings = [], [], [], []
        for u in [*self.units.values(), self.office, self.service_dept]:
            roles = (c.UnitRole.MAJOR_PROJECTS_OFFICE,) if u is self.office else ()
            units.append(
                c.UnitSnapshot(id=u.id, revision=1, valid_from=D0, name=u.name, kind=u.kind, roles=roles)
            )
            for post, person, kind, title in (
                (u.head_post, u.head, "unit_head", "主要负责同志"),
                (u.staff_post, u.staff, "staff", "工作人员"),
            ):
                posts.append(
                    c.PostSnapshot(id=post, revision=1, valid_from=D0, title=title, unit_id=u.id, kind=kind)
                )
                people.append(c.PersonSnapshot(id=person, revision=1, name=f"{u.name}{title}"))
                holdings.append(
                    c.PostHoldingSnapshot(
                        id=uuid.uuid4(), revision=1, valid_from=D0, post_id=post, person_id=person
                    )
                )
        units.append(
            c.UnitSnapshot(id=self.leadership, revision=1, valid_from=D0, name="区政府", kind="leadership")
        )
        posts.append(
            c.PostSnapshot(
                id=self.leader_post,
                revision=1,
                valid_from=D0,
                title="常务副区长",
                unit_id=self.leadership,
                kind="line_leader",
            )
        )
        people += [
            c.PersonSnapshot(id=self.leader_a, revision=1, name="李丽"),
            c.PersonSnapshot(id=self.leader_b, revision=1, name="王强"),
        ]
        holdings.append(
            c.PostHoldingSnapshot(
                id=self.holding_a,
                revision=1,
                valid_from=D0,
                post_id=self.leader_post,
                person_id=self.leader_a,
            )
        )
        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=revision,
            effective_at=START,
            units=tuple(units),
            posts=tuple(posts),
            people=tuple(people),
            holdings=tuple(holdings),
            lines=(
                c.LineSnapshot(
                    id=self.line,
                    revision=1,
                    valid_from=D0,
                    number=2,
                    name="第二线",
                    leader_post_id=self.leader_post,
                    service_unit_id=self.service_dept.id,
                ),
            ),
        )

    def handover(self, on: date, revision: int) -> c.OrgChanged:
        """李丽 leaves the line leader's post the day before ``on``; 王强 holds it from ``on``."""
        from datetime import timedelta

        return c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=revision,
            effective_at=at(on, 9),
            holdings=(
                c.PostHoldingSnapshot(
                    id=self.holding_a,
                    revision=2,
                    valid_from=D0,
                    valid_to=on - timedelta(days=1),
                    post_id=self.leader_post,
                    person_id=self.leader_a,
                ),
                c.PostHoldingSnapshot(
                    id=uuid.uuid4(),
                    revision=1,
                    valid_from=on,
                    post_id=self.leader_post,
                    person_id=self.leader_b,
                ),
            ),
        )


@dataclass
class Project:
    """A project of one unit on the line, with its milestones (id → (label, baseline date))."""

    org: Org
    unit: Unit
    name: str
    milestones: dict[str, tuple[uuid.UUID, date]]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    revision: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    """Overrides of the snapshot (``provincial_municipal``, ``total_investment``, ``project_class``...)."""
    kinds: dict[str, str] = field(default_factory=dict)
    """Milestone types by label (e.g. 开工 → ``construction_start``); ``other`` when not given."""

    def snapshot(self, at_time: datetime, planned: dict[str, date] | None = None) -> c.ProjectSnapshot:
        planned = planned or {}
        snapshot = c.ProjectSnapshot(
            id=self.id,
            name=self.name,
            enterprise="武汉某产业有限公司",
            category="industrial",
            project_class="new_start",
            responsible_unit_id=self.unit.id,
            responsible_unit_name=self.unit.name,
            line_id=self.org.line,
            routing_basis="responsible_unit",
            routing_reason="→ 第二线",
            total_investment="150000000.00",
            plan_year=2020,
            planned_annual_investment="50000000.00",
            milestones=tuple(
                c.MilestoneSnapshot(
                    id=mid,
                    type=self.kinds.get(label, "other"),
                    label=label,
                    planned_date=planned.get(label, base),
                    baseline_date=base,
                )
                for label, (mid, base) in self.milestones.items()
            ),
            effective_at=at_time,
        )
        return c.ProjectSnapshot.model_validate({**snapshot.model_dump(), **self.fields})

    def registered(self) -> c.ProjectRegistered:
        self.revision = 1
        return c.ProjectRegistered(aggregate_id=self.id, revision=1, project=self.snapshot(START))

    def replanned(self, when: datetime, label: str, to: date) -> c.ProjectChanged:
        """Re-planning moves the planned date with a reason; the baseline stays (docs/registry.md)."""
        self.revision += 1
        return c.ProjectChanged(
            aggregate_id=self.id,
            revision=self.revision,
            project=self.snapshot(when, {label: to}),
            changes=("milestones",),
            reason="企业申请调整计划",
        )

    def achieved(self, label: str, on: date, recorded: datetime) -> c.MilestoneAchieved:
        mid, base = self.milestones[label]
        return c.MilestoneAchieved(
            effective_at=recorded,
            project_id=self.id,
            project_name=self.name,
            responsible_unit_id=self.unit.id,
            milestone=c.MilestoneSnapshot(
                id=mid,
                type=self.kinds.get(label, "other"),
                label=label,
                planned_date=base,
                baseline_date=base,
                actual_date=on,
            ),
        )


def project(
    org: Org, unit: str, name: str, fields: dict[str, Any] | None = None, **milestones: date
) -> Project:
    return Project(
        org,
        org[unit],
        name,
        {label: (uuid.uuid4(), d) for label, d in milestones.items()},
        fields=fields or {},
    )


def investment(
    p: Project, month: int, amount: str, recorded: datetime, supersedes: uuid.UUID | None = None
) -> c.InvestmentReported:
    return c.InvestmentReported(
        effective_at=recorded,
        project_id=p.id,
        project_name=p.name,
        responsible_unit_id=p.unit.id,
        report_id=uuid.uuid4(),
        year=2020,
        month=month,
        amount=amount,
        year_to_date=amount,
        reported_by_unit_id=p.unit.id,
        supersedes=supersedes,
    )


def stalled(org: Org, unit: str, p: Project, due: datetime, item: str = "施工许可") -> c.ApprovalStalled:
    """An approval past its limit at ``due``, charged to ``unit`` (the handling department)."""
    return c.ApprovalStalled(
        effective_at=due,
        approval_item_id=uuid.uuid4(),
        catalogue_item_id=uuid.uuid4(),
        item_name=item,
        project_id=p.id,
        project_name=p.name,
        handling_unit_id=org[unit].id,
        handling_unit_name=unit,
        due_at=due,
    )


def problem_breached(
    org: Org, unit: str, p: Project, title: str, reported: datetime, breached: datetime, kind: str = "reply"
) -> list[Any]:
    """A problem on ``p`` that ``unit`` must solve, reported at ``reported``, whose ``kind`` clock ran out at
    ``breached`` (as the issues service would tell it)."""
    matter_id = uuid.uuid4()
    common: dict[str, Any] = {
        "matter_id": matter_id,
        "title": title,
        "layer": 1,
        "line_id": org.line,
        "resolving_unit_id": org[unit].id,
        "resolving_unit_name": unit,
        "project_id": p.id,
        "project_name": p.name,
    }
    clock = c.ClockSnapshot(
        deadline_id=uuid.uuid4(),
        kind=kind,
        charged_unit_id=org[unit].id,
        started_at=reported,
        due_at=breached,
    )
    return [
        c.ProblemReported(
            effective_at=reported, reported_by_unit_id=p.unit.id, topic="审批", description=title, **common
        ),
        c.ProblemBreached(effective_at=breached, breach_id=uuid.uuid4(), clock=clock, **common),
    ]


class Problem:
    """A problem as the issues service tells it, step by step."""

    def __init__(self, org: Org, p: Project, unit: str, title: str) -> None:
        self.org, self.unit = org, org[unit]
        self.common: dict[str, Any] = {
            "matter_id": uuid.uuid4(),
            "title": title,
            "line_id": org.line,
            "resolving_unit_id": self.unit.id,
            "resolving_unit_name": unit,
            "project_id": p.id,
            "project_name": p.name,
        }
        self.p = p

    def clock(self, kind: str, started: datetime, due: datetime) -> c.ClockSnapshot:
        return c.ClockSnapshot(
            deadline_id=uuid.uuid4(), kind=kind, charged_unit_id=self.unit.id, started_at=started, due_at=due
        )

    def reported(self, when: datetime, *clocks: c.ClockSnapshot) -> c.ProblemReported:
        return c.ProblemReported(
            effective_at=when,
            layer=1,
            reported_by_unit_id=self.p.unit.id,
            topic="土地",
            description=self.common["title"],
            clocks=clocks,
            **self.common,
        )

    def accepted(self, when: datetime, *clocks: c.ClockSnapshot) -> c.ProblemAccepted:
        return c.ProblemAccepted(
            effective_at=when, layer=1, accepted_by_unit_id=self.unit.id, clocks=clocks, **self.common
        )

    def breached_and_escalated(
        self, clock: c.ClockSnapshot, *clocks: c.ClockSnapshot
    ) -> list[c.ProblemBreached | c.ProblemEscalated]:
        breach = uuid.uuid4()
        assert clock.due_at is not None
        return [
            c.ProblemBreached(
                effective_at=clock.due_at, layer=1, breach_id=breach, clock=clock, **self.common
            ),
            c.ProblemEscalated(
                effective_at=clock.due_at,
                layer=2,
                from_layer=1,
                cause="breach",
                breach_id=breach,
                holder_post_ids=(self.org.leader_post,),
                clocks=clocks,
                **self.common,
            ),
        ]

    def closed(self, when: datetime, outcome: str = "resolved", layer: int = 1) -> list[Any]:
        """Solved (when ``outcome`` is resolved) and closed (销号) at ``when``."""
        closed = c.ProblemClosed(
            effective_at=when, layer=layer, outcome=outcome, closed_by_unit_id=self.unit.id, **self.common
        )
        if outcome != "resolved":
            return [closed]
        solved = c.ProblemResolved(
            effective_at=when,
            layer=layer,
            resolved_by_unit_id=self.unit.id,
            summary="已解决",
            on_time=True,
            **self.common,
        )
        return [solved, closed]

    def answered(self, when: datetime, *clocks: c.ClockSnapshot) -> c.ProblemAnswered:
        return c.ProblemAnswered(
            effective_at=when,
            layer=2,
            answered_by_unit_id=self.unit.id,
            opinion="已协调区自然资源局办理",
            on_time=False,
            clocks=clocks,
            **self.common,
        )


async def publish(system: Any, *events: Any) -> None:
    """Stage events into the bus (through the scoring service's outbox: the subject follows the contract)
    and wait until every service has applied them."""
    runtime = system.platform.runtimes["scoring"]
    async with runtime.db.transaction() as session:
        for event in events:
            await stage(session, event)
    runtime.relay.wake()
    await system.settle()


@asynccontextmanager
async def scoring_world(
    db_factory: Any, nats_url: str, prefix: str, specs: Sequence[ServiceSpec], org: Org
) -> AsyncIterator[System]:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{prefix}sc{next(_systems)}", specs=list(specs)
    ) as system:
        await publish(system, org.event())
        yield system
