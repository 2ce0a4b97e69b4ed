"""Use cases of the project register: they change rows and stage events in the caller's transaction, never
commit and never speak HTTP (STYLE.md).

Every change to a project bumps its revision, writes a history row (who, what, when on the shared clock,
why) and stages ``project.changed`` with the full snapshot (DESIGN §4); facts (a milestone achieved, a
termination) go out beside it in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ, Clock
from lkg.common.events.contracts import (
    CommitmentOverdue,
    CommitmentSide,
    EnrolmentFailed,
    EnrolmentStatus,
    IntegrityFlag,
    InvestmentReported,
    MilestoneAchieved,
    MilestoneMissed,
    MilestoneSnapshot,
    MilestoneType,
    ProjectChanged,
    ProjectRegistered,
    ProjectSnapshot,
    ProjectStage,
    ProjectStatus,
    ProjectTerminated,
    RoutingBasis,
    RoutingRuleSnapshot,
    TerminationCause,
)
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lkg.registry.models import (
    Commitment,
    EnrolmentFailure,
    InvestmentReport,
    Milestone,
    Project,
    ProjectChange,
)
from lkg.registry.org import service as org
from lkg.registry.projectcode import check_project_code
from lkg.registry.routing import Route, route
from lkg.registry.schemas import MilestonePlan, ProjectCreate, ProjectFilters, ProjectSort, ProjectUpdate
from lkg.registry.stage import derive_stage, refresh_stage

BY_CREATED = Keyset(sort=Project.created_at, id=Project.id, name="created")
BY_UPDATED = Keyset(sort=Project.updated_at, id=Project.id, name="updated")
#: The list's ``sort=`` fields: each a NOT NULL column, tie-broken by id, so keyset pages stay exact. The
#: names written into cursors keep the two orderings that existed before ``sort=`` (``created``,
#: ``updated``), so cursors handed out earlier still work; a cursor of another ordering is 400.
_SORTABLE = {
    "created_at": (Project.created_at, "created"),
    "updated_at": (Project.updated_at, "updated"),
    "name": (Project.name, "name"),
    "total_investment": (Project.total_investment, "total_investment"),
}

#: The labels the plan uses for each milestone type (节点); ``other`` takes its label from the plan.
MILESTONE_LABELS = {
    MilestoneType.NEGOTIATION: "洽谈",
    MilestoneType.SIGNING: "签约",
    MilestoneType.LAND_DEPOSIT: "缴纳土地保证金",
    MilestoneType.CAPITAL_INJECTION: "进资",
    MilestoneType.CONSTRUCTION_START: "开工",
    MilestoneType.COMPLETION: "竣工",
    MilestoneType.PRODUCTION_START: "投产",
    MilestoneType.FULL_PRODUCTION: "达产",
    MilestoneType.OTHER: "其他",
}


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _json(value: Any) -> Any:
    if isinstance(value, Decimal | date | datetime | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def passed_at(day: date) -> datetime:
    """When a planned date has passed: the start of the next day on the shared clock's zone."""
    return datetime.combine(day + timedelta(days=1), time.min, TZ)


# ---- snapshots and history -------------------------------------------------------------------------


def _project_fact(project: Project, clock: Clock) -> dict[str, Any]:
    """What every registry fact about a project carries: when (on the shared clock) and which project."""
    return {
        "effective_at": clock.now(),
        "project_id": project.id,
        "project_name": project.name,
        "responsible_unit_id": project.responsible_unit_id,
    }


async def milestones_of(session: AsyncSession, project_id: uuid.UUID) -> list[Milestone]:
    rows = await session.execute(
        sa.select(Milestone).where(Milestone.project_id == project_id).order_by(Milestone.position)
    )
    return list(rows.scalars())


def milestone_snapshot(m: Milestone) -> MilestoneSnapshot:
    return MilestoneSnapshot(
        id=m.id,
        type=MilestoneType(m.type),
        label=m.label,
        planned_date=m.planned_date,
        baseline_date=m.baseline_date,
        actual_date=m.actual_date,
    )


def snapshot(project: Project, milestones: Sequence[Milestone] = ()) -> ProjectSnapshot:
    return ProjectSnapshot(
        id=project.id,
        project_code=project.project_code,
        name=project.name,
        enterprise=project.enterprise,
        enterprise_credit_code=project.enterprise_credit_code,
        category=project.category,
        project_class=project.project_class,
        responsible_unit_id=project.responsible_unit_id,
        responsible_unit_name=project.responsible_unit_name,
        line_id=project.line_id,
        routing_basis=project.routing_basis,
        routing_rule_id=project.routing_rule_id,
        routing_reason=project.routing_reason,
        provincial_municipal=project.provincial_municipal,
        fast_track=project.fast_track,
        approval_type=project.approval_type,
        total_investment=project.total_investment,
        plan_year=project.plan_year,
        planned_annual_investment=project.planned_annual_investment,
        milestones=tuple(milestone_snapshot(m) for m in milestones),
        enrolment_status=project.enrolment_status,
        statistics_contact_id=project.statistics_contact_id,
        integrity_flags=tuple(IntegrityFlag(f) for f in project.integrity_flags),
        status=project.status,
        stage=ProjectStage(project.stage),
        effective_at=project.effective_at,
    )


async def full_snapshot(session: AsyncSession, project: Project) -> ProjectSnapshot:
    return snapshot(project, await milestones_of(session, project.id))


def _history(
    session: AsyncSession,
    project: Project,
    *,
    action: str,
    actor: str,
    changes: dict[str, Any],
    reason: str | None,
    now: datetime,
) -> None:
    session.add(
        ProjectChange(
            id=uuid.uuid4(),
            project_id=project.id,
            revision=project.revision,
            action=action,
            actor=actor,
            reason=reason,
            changes={k: [_json(a), _json(b)] for k, (a, b) in changes.items()},
            changed_at=now,
        )
    )


async def _bump(
    session: AsyncSession,
    clock: Clock,
    project: Project,
    *,
    action: str,
    actor: str,
    changes: dict[str, tuple[Any, Any]],
    reason: str | None = None,
    expected_revision: int | None = None,
) -> ProjectSnapshot:
    """Advance the project's revision, write history and stage ``project.changed`` with the full snapshot."""
    now = clock.now()
    if expected_revision is not None and project.revision != expected_revision:
        raise PreconditionFailed()
    project.revision += 1
    project.updated_at = now
    project.effective_at = now
    await session.flush()
    _history(session, project, action=action, actor=actor, changes=changes, reason=reason, now=now)
    snap = await full_snapshot(session, project)
    await stage(
        session,
        ProjectChanged(
            aggregate_id=project.id,
            revision=project.revision,
            project=snap,
            changes=tuple(sorted(k.partition(".")[0] for k in changes)),
            reason=reason,
        ),
    )
    return snap


# ---- routing ---------------------------------------------------------------------------------------


async def _route_for(
    session: AsyncSession, clock: Clock, project: Project, directory: org.Directory | None = None
) -> Route:
    directory = directory or await org.load_directory(session, kinds=["line", "routing_rule"])
    return route(
        project_id=project.id,
        category=project.category,
        responsible_unit_id=project.responsible_unit_id,
        responsible_unit_name=project.responsible_unit_name,
        rules=directory.routing_rules.values(),
        lines=directory.lines,
        day=clock.now().date(),
    )


def _routing_changes(project: Project, decided: Route) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in (
        ("line_id", decided.line_id),
        ("routing_basis", decided.basis.value),
        ("routing_rule_id", decided.rule_id),
        ("routing_reason", decided.reason),
    ):
        if getattr(project, name) != value:
            changes[name] = (getattr(project, name), value)
            setattr(project, name, value)
    return changes


async def reroute_all(session: AsyncSession, clock: Clock, *, actor: str, reason: str) -> int:
    """After the rules or lines changed: every active project whose route changed gets ``project.changed``."""
    directory = await org.load_directory(session, kinds=["line", "routing_rule"])
    projects = (
        await session.execute(sa.select(Project).where(Project.status == ProjectStatus.ACTIVE.value))
    ).scalars()
    moved = 0
    for project in list(projects):
        changes = _routing_changes(project, await _route_for(session, clock, project, directory))
        if changes:
            await _bump(
                session, clock, project, action="rerouted", actor=actor, changes=changes, reason=reason
            )
            moved += 1
    return moved


async def apply_org_changes(
    session: AsyncSession,
    clock: Clock,
    entries: Sequence[tuple[str | None, org.Snapshot]],
    *,
    actor: str,
    reason: str,
) -> int:
    """Change the directory, then re-route projects if lines or rules changed; returns projects moved."""
    event = await org.apply_changes(session, clock, entries, actor=actor, reason=reason)
    if event is None or not (event.lines or event.routing_rules):
        return 0
    return await reroute_all(session, clock, actor=actor, reason=reason)


async def load_org_document(session: AsyncSession, clock: Clock, document, *, actor: str, reason: str) -> int:
    event = await org.load_document(session, clock, document, actor=actor, reason=reason)
    if event is None:
        return 0
    if event.lines or event.routing_rules:
        await reroute_all(session, clock, actor=actor, reason=reason)
    return (
        len(event.units)
        + len(event.posts)
        + len(event.people)
        + len(event.holdings)
        + len(event.lines)
        + len(event.routing_rules)
    )


async def assign_line(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    line_id: uuid.UUID,
    reason: str,
    actor: str,
    expected_revision: int | None = None,
) -> Project:
    """明确指定包保线: 重大项目办 puts a project on a line (settling the unrouted queue, or overriding the
    category/unit rule). Recorded as an explicit routing rule (precedence over every other rule) whose
    note is the reason; a previous explicit rule for the project is end-dated, so history keeps both."""
    project = await get_project(session, project_id)
    if expected_revision is not None and project.revision != expected_revision:
        raise PreconditionFailed()
    directory = await org.load_directory(session, kinds=["line", "routing_rule"])
    today = clock.now().date()
    line = directory.lines.get(line_id)
    if line is None or not line.in_force(today):
        raise NotFound("包保线不存在或已停用", code="line_not_found")
    entries: list[tuple[str | None, org.Snapshot]] = []
    for rule in directory.routing_rules.values():
        if rule.basis is RoutingBasis.EXPLICIT and rule.project_id == project_id and rule.in_force(today):
            entries.append((None, rule.model_copy(update={"valid_to": today - timedelta(days=1)})))
    entries.append(
        (
            None,
            RoutingRuleSnapshot(
                id=uuid.uuid4(),
                revision=1,
                valid_from=today,
                basis=RoutingBasis.EXPLICIT,
                line_id=line_id,
                project_id=project_id,
                note=reason,
            ),
        )
    )
    await org.apply_changes(session, clock, entries, actor=actor, reason=reason)
    changes = _routing_changes(project, await _route_for(session, clock, project))
    await _bump(session, clock, project, action="line_assigned", actor=actor, changes=changes, reason=reason)
    return project


# ---- projects --------------------------------------------------------------------------------------


def _code(raw: str | None) -> tuple[str | None, list[str]]:
    if raw is None:
        return None, []
    checked = check_project_code(raw)
    if not checked.ok:
        raise ValidationFailed(
            checked.errors[0],
            code="project_code_invalid",
            errors=[
                {"loc": ["body", "project_code"], "msg": e, "type": "project_code_invalid"}
                for e in checked.errors
            ],
        )
    return checked.code, [f"form:{checked.form}", *checked.warnings]


def _new_milestone(project_id: uuid.UUID, plan: MilestonePlan, position: int, *, baseline: bool) -> Milestone:
    kind = MilestoneType(plan.type)
    return Milestone(
        id=uuid.uuid4(),
        project_id=project_id,
        type=kind.value,
        label=plan.label or MILESTONE_LABELS[kind],
        planned_date=plan.planned_date,
        baseline_date=plan.planned_date if baseline else None,
        actual_date=plan.actual_date,
        missed_due_at=None if plan.actual_date else passed_at(plan.planned_date),
        position=position,
    )


async def register_project(
    session: AsyncSession, clock: Clock, data: ProjectCreate, *, actor: str = "system"
) -> Project:
    """项目入库: routed by the rule table (or unrouted); the plan's milestones become the frozen baseline;
    emits ``project.registered``."""
    now = clock.now()
    directory = await org.load_directory(session, kinds=["unit", "line", "routing_rule"])
    unit = directory.units.get(data.responsible_unit_id)
    unit_name = data.responsible_unit_name or (unit.name if unit else None)
    if unit_name is None:
        # A unit the directory does not hold, and no name to register it under: the unit is not found.
        raise NotFound("责任单位不在组织目录中，请提供责任单位名称", code="responsible_unit_unknown")
    code, warnings = _code(data.project_code)
    fields = data.model_dump(exclude={"milestones", "responsible_unit_name", "project_code"})
    project = Project(
        id=uuid.uuid4(),
        revision=1,
        project_code=code,
        project_code_warnings=warnings,
        responsible_unit_name=unit_name,
        status=ProjectStatus.ACTIVE.value,
        # No investment is reported before a project is registered: its stage is its achieved milestones'.
        stage=derive_stage((m.type for m in data.milestones if m.actual_date), invested=False).value,
        enrolment_status=EnrolmentStatus.PENDING.value,
        integrity_flags=[],
        effective_at=now,
        created_at=now,
        updated_at=now,
        **{k: _plain(v) for k, v in fields.items()},
    )
    decided = await _route_for(session, clock, project, directory)
    project.line_id, project.routing_basis = decided.line_id, decided.basis.value
    project.routing_rule_id, project.routing_reason = decided.rule_id, decided.reason
    session.add(project)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("项目代码已被其他项目使用", code="project_code_taken") from exc
    milestones = [_new_milestone(project.id, m, i, baseline=True) for i, m in enumerate(data.milestones)]
    session.add_all(milestones)
    await session.flush()
    _history(session, project, action="registered", actor=actor, changes={}, reason=None, now=now)
    await stage(
        session, ProjectRegistered(aggregate_id=project.id, revision=1, project=snapshot(project, milestones))
    )
    return project


async def get_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("项目不存在", code="project_not_found")
    return project


async def get_by_code(session: AsyncSession, code: str) -> Project:
    project = (
        await session.execute(sa.select(Project).where(Project.project_code == code.strip().upper()))
    ).scalar_one_or_none()
    if project is None:
        raise NotFound("没有此项目代码的项目", code="project_not_found")
    return project


@dataclass(frozen=True)
class Visibility:
    """What a caller may see: everything, or the projects of these units and lines (DESIGN §3 Access)."""

    all: bool
    units: frozenset[uuid.UUID] = frozenset()
    lines: frozenset[uuid.UUID] = frozenset()

    def sees(self, project: Project) -> bool:
        return self.sees_row(project.responsible_unit_id, project.line_id)

    def sees_row(self, responsible_unit_id: uuid.UUID, line_id: uuid.UUID | None) -> bool:
        """:meth:`sees` for a project given by its unit and line (a row read without the ORM)."""
        return self.all or responsible_unit_id in self.units or line_id in self.lines

    def clause(self) -> sa.ColumnElement[bool]:
        if self.all:
            return sa.true()
        return sa.or_(Project.responsible_unit_id.in_(self.units), Project.line_id.in_(self.lines))


def _filtered(stmt: sa.Select, filters: ProjectFilters, today: date) -> sa.Select:
    if filters.line_id is not None:
        stmt = stmt.where(Project.line_id == filters.line_id)
    if filters.unrouted is not None:
        stmt = stmt.where((Project.line_id.is_(None)) == filters.unrouted)
    if filters.responsible_unit_id is not None:
        stmt = stmt.where(Project.responsible_unit_id == filters.responsible_unit_id)
    if filters.project_class is not None:
        stmt = stmt.where(Project.project_class == filters.project_class.value)
    if filters.category is not None:
        stmt = stmt.where(Project.category == filters.category.value)
    if filters.status is not None:
        stmt = stmt.where(Project.status == filters.status.value)
    if filters.provincial_municipal is not None:
        stmt = stmt.where(Project.provincial_municipal == filters.provincial_municipal)
    if filters.fast_track is not None:
        stmt = stmt.where(Project.fast_track == filters.fast_track)
    if filters.above_100m is not None:
        big = Project.total_investment >= Decimal(100_000_000)
        stmt = stmt.where(big if filters.above_100m else ~big)
    if filters.q:
        stmt = stmt.where(Project.name.contains(filters.q, autoescape=True))
    if filters.stage is not None:
        # The stored stage (kept by the use cases; tests check it against ``stage_condition``).
        stmt = stmt.where(Project.stage == filters.stage.value)
    if filters.overdue_milestones:
        overdue = (
            sa.select(Milestone.id)
            .where(
                Milestone.project_id == Project.id,
                Milestone.actual_date.is_(None),
                Milestone.planned_date < today,
            )
            .exists()
        )
        stmt = stmt.where(overdue)
    return stmt


def ordering(sort: ProjectSort | None, *, updated_since: datetime | None = None) -> Keyset:
    """The list's order: ``sort`` (a field, ``-`` for descending), else registration order, or update
    order when syncing with ``updated_since``."""
    if sort is None:
        return BY_UPDATED if updated_since is not None else BY_CREATED
    descending = sort.value.startswith("-")
    column, name = _SORTABLE[sort.value.lstrip("-")]
    return Keyset(sort=column, id=Project.id, name=f"-{name}" if descending else name, descending=descending)


def order_by(keyset: Keyset) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """The keyset's ORDER BY, for reading every row at once (the workbook export)."""
    if keyset.descending:
        return keyset.sort.desc(), keyset.id.desc()
    return keyset.sort.asc(), keyset.id.asc()


def filtered_projects(*, visibility: Visibility, filters: ProjectFilters, today: date) -> sa.Select:
    """The projects a caller sees that pass the list's filters (unordered)."""
    return _filtered(sa.select(Project).where(visibility.clause()), filters, today)


async def list_projects(
    session: AsyncSession,
    page: PageParams,
    *,
    visibility: Visibility,
    filters: ProjectFilters,
    today: date,
    updated_since: datetime | None = None,
    sort: ProjectSort | None = None,
) -> tuple[list[Project], str | None]:
    """A keyset page of the projects a caller sees, in the order of :func:`ordering`."""
    keyset = ordering(sort, updated_since=updated_since)
    stmt = filtered_projects(visibility=visibility, filters=filters, today=today)
    stmt = apply_updated_since(stmt, Project.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page)


async def update_project(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    expected_revision: int,
    data: ProjectUpdate,
    *,
    actor: str = "system",
) -> Project:
    """Change a project's facts; one of two officials acting at once wins (revision check). A change of
    category or responsible unit re-routes the project."""
    changes_in: dict[str, Any] = {k: _plain(v) for k, v in data.model_dump(exclude_unset=True).items()}
    reason = changes_in.pop("reason", None)
    project = await get_project(session, project_id)
    if "project_code" in changes_in:
        code, warnings = _code(changes_in["project_code"])
        changes_in["project_code"] = code
        changes_in["project_code_warnings"] = warnings
    if "responsible_unit_id" in changes_in and "responsible_unit_name" not in changes_in:
        directory = await org.load_directory(session, kinds=["unit"])
        unit = directory.units.get(changes_in["responsible_unit_id"])
        if unit is None:
            raise NotFound("责任单位不在组织目录中，请提供责任单位名称", code="responsible_unit_unknown")
        changes_in["responsible_unit_name"] = unit.name
    changes = {k: (getattr(project, k), v) for k, v in changes_in.items() if getattr(project, k) != v}
    changes.pop("project_code_warnings", None)
    now = clock.now()
    try:
        revision = await update_if_revision(
            session,
            Project,
            project_id,
            expected_revision,
            {**changes_in, "updated_at": now, "effective_at": now},
        )
    except IntegrityError as exc:
        raise Conflict("项目代码已被其他项目使用", code="project_code_taken") from exc
    project = await get_project(session, project_id)
    await session.refresh(project)
    if {"category", "responsible_unit_id", "responsible_unit_name"} & changes.keys():
        changes.update(_routing_changes(project, await _route_for(session, clock, project)))
        await session.flush()
    _history(session, project, action="changed", actor=actor, changes=changes, reason=reason, now=now)
    await stage(
        session,
        ProjectChanged(
            aggregate_id=project.id,
            revision=revision,
            project=await full_snapshot(session, project),
            changes=tuple(sorted(changes)),
            reason=reason,
        ),
    )
    return project


async def history(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectChange]:
    await get_project(session, project_id)
    rows = await session.execute(
        sa.select(ProjectChange)
        .where(ProjectChange.project_id == project_id)
        .order_by(ProjectChange.revision)
    )
    return list(rows.scalars())


# ---- milestones ------------------------------------------------------------------------------------


async def _milestone(session: AsyncSession, project_id: uuid.UUID, milestone_id: uuid.UUID) -> Milestone:
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.project_id != project_id:
        raise NotFound("节点不存在", code="milestone_not_found")
    return milestone


async def add_milestone(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    plan: MilestonePlan,
    *,
    actor: str,
    reason: str,
) -> Milestone:
    """A milestone added after the plan was approved: it has no baseline date."""
    project = await get_project(session, project_id)
    position = len(await milestones_of(session, project_id))
    milestone = _new_milestone(project_id, plan, position, baseline=False)
    session.add(milestone)
    await session.flush()
    key = f"milestones.{milestone.id}"
    # A milestone added with its actual date may move the project on.
    moved = await refresh_stage(session, project)
    await _bump(
        session,
        clock,
        project,
        action="milestone_added",
        actor=actor,
        reason=reason,
        changes={key: (None, plan.planned_date), **moved},
    )
    return milestone


async def replan_milestone(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    planned_date: date,
    reason: str,
    actor: str,
) -> Milestone:
    """调整计划: a new planned date, with a reason; the baseline stays as it was. A milestone already
    reported missed may be missed again at its new date (one event per planned date)."""
    project = await get_project(session, project_id)
    milestone = await _milestone(session, project_id, milestone_id)
    if milestone.actual_date is not None:
        raise Conflict("节点已完成，不能再调整计划", code="milestone_achieved")
    before = milestone.planned_date
    milestone.planned_date = planned_date
    milestone.missed_due_at = passed_at(planned_date)
    await _bump(
        session,
        clock,
        project,
        action="milestone_replanned",
        actor=actor,
        reason=reason,
        changes={f"milestones.{milestone.id}.planned_date": (before, planned_date)},
    )
    return milestone


async def record_actual(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    actual_date: date,
    actor: str,
) -> Milestone:
    """实际完成: records the actual date; emits ``milestone.achieved`` (and ``project.changed``)."""
    project = await get_project(session, project_id)
    milestone = await _milestone(session, project_id, milestone_id)
    if actual_date > clock.now().date():
        raise ValidationFailed("实际完成日期不能晚于今天", code="actual_date_in_future")
    before = milestone.actual_date
    milestone.actual_date = actual_date
    milestone.missed_due_at = None
    moved = await refresh_stage(session, project)
    await _bump(
        session,
        clock,
        project,
        action="milestone_achieved",
        actor=actor,
        changes={f"milestones.{milestone.id}.actual_date": (before, actual_date), **moved},
    )
    await stage(
        session,
        MilestoneAchieved(
            **_project_fact(project, clock),
            milestone=milestone_snapshot(milestone),
        ),
    )
    return milestone


async def mark_missed(session: AsyncSession, clock: Clock, milestone_id: uuid.UUID) -> None:
    """The planned date passed without an actual date: ``milestone.missed``, once (the scan's handler)."""
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.missed_due_at is None or milestone.actual_date is not None:
        return
    project = await get_project(session, milestone.project_id)
    milestone.missed_due_at = None
    milestone.missed_at = clock.now()
    if project.status != ProjectStatus.ACTIVE.value:
        return
    await stage(
        session,
        MilestoneMissed(
            **_project_fact(project, clock),
            milestone=milestone_snapshot(milestone),
        ),
    )


# ---- flags, reports, enrolment, commitments, termination ---------------------------------------------


async def set_flags(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    values: dict[str, Any],
    reason: str | None,
    actor: str,
    expected_revision: int | None,
) -> Project:
    """省市重大项目 / 批前提速 / integrity flags: 重大项目办's to set."""
    project = await get_project(session, project_id)
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in values.items():
        if name == "integrity_flags":
            value = sorted({_plain(v) for v in value})
        if getattr(project, name) != value:
            changes[name] = (getattr(project, name), value)
            setattr(project, name, value)
    await _bump(
        session,
        clock,
        project,
        action="flags_set",
        actor=actor,
        changes=changes,
        reason=reason,
        expected_revision=expected_revision,
    )
    return project


async def report_investment(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    year: int,
    month: int,
    amount: Decimal,
    unit_id: uuid.UUID,
    actor: str = "system",
) -> InvestmentReport:
    """投资完成情况: the month's amount; year-to-date is the sum of the year's current reports. A report
    that moves the project's stage (the first amount above 0 after 开工, or a correction to 0) is also a
    change of the project: ``project.changed`` before ``investment.reported``."""
    project = await get_project(session, project_id)
    previous = (
        await session.execute(
            sa.select(InvestmentReport).where(
                InvestmentReport.project_id == project_id,
                InvestmentReport.year == year,
                InvestmentReport.month == month,
                InvestmentReport.superseded.is_(False),
            )
        )
    ).scalar_one_or_none()
    if previous is not None:
        previous.superseded = True
    earlier = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(InvestmentReport.amount), 0)).where(
                InvestmentReport.project_id == project_id,
                InvestmentReport.year == year,
                InvestmentReport.month < month,
                InvestmentReport.superseded.is_(False),
            )
        )
    ).scalar_one()
    report = InvestmentReport(
        id=uuid.uuid4(),
        project_id=project_id,
        year=year,
        month=month,
        amount=amount,
        year_to_date=Decimal(earlier) + amount,
        reported_by_unit_id=unit_id,
        supersedes=previous.id if previous else None,
        superseded=False,
        reported_at=clock.now(),
    )
    session.add(report)
    await session.flush()
    moved = await refresh_stage(session, project)
    if moved:
        await _bump(session, clock, project, action="investment_reported", actor=actor, changes=moved)
    await stage(
        session,
        InvestmentReported(
            **_project_fact(project, clock),
            report_id=report.id,
            year=year,
            month=month,
            amount=amount,
            year_to_date=report.year_to_date,
            reported_by_unit_id=unit_id,
            supersedes=report.supersedes,
        ),
    )
    return report


async def set_enrolment(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    status: EnrolmentStatus | None,
    statistics_contact_id: uuid.UUID | None,
    actor: str,
) -> Project:
    project = await get_project(session, project_id)
    changes: dict[str, tuple[Any, Any]] = {}
    if status is not None and project.enrolment_status != status.value:
        changes["enrolment_status"] = (project.enrolment_status, status.value)
        project.enrolment_status = status.value
    if statistics_contact_id is not None and project.statistics_contact_id != statistics_contact_id:
        changes["statistics_contact_id"] = (project.statistics_contact_id, statistics_contact_id)
        project.statistics_contact_id = statistics_contact_id
    await _bump(session, clock, project, action="enrolment_set", actor=actor, changes=changes)
    return project


async def report_enrolment_failures(
    session: AsyncSession,
    clock: Clock,
    *,
    year: int,
    month: int,
    failures: Iterable[tuple[uuid.UUID, str]],
    unit_id: uuid.UUID,
    actor: str,
) -> int:
    """The statistics bureau's monthly list (by the 28th, §三(四)): each project failed, with the reason."""
    count = 0
    for project_id, reason in failures:
        project = await get_project(session, project_id)
        session.add(
            EnrolmentFailure(
                id=uuid.uuid4(),
                project_id=project_id,
                year=year,
                month=month,
                reason=reason,
                reported_by_unit_id=unit_id,
                reported_at=clock.now(),
            )
        )
        if project.enrolment_status != EnrolmentStatus.FAILED.value:
            before = project.enrolment_status
            project.enrolment_status = EnrolmentStatus.FAILED.value
            await _bump(
                session,
                clock,
                project,
                action="enrolment_failed",
                actor=actor,
                reason=reason,
                changes={"enrolment_status": (before, project.enrolment_status)},
            )
        await stage(
            session,
            EnrolmentFailed(
                **_project_fact(project, clock),
                year=year,
                month=month,
                reason=reason,
                reported_by_unit_id=unit_id,
                statistics_contact_id=project.statistics_contact_id,
            ),
        )
        count += 1
    return count


async def add_commitment(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    side: CommitmentSide,
    description: str,
    due_date: date,
    obligor_unit_id: uuid.UUID | None,
    obligor_post_id: uuid.UUID | None,
) -> Commitment:
    """承诺事项 (§四(四)): a government commitment binds a unit (and post), so it binds the successor."""
    await get_project(session, project_id)
    name = None
    if side is CommitmentSide.GOVERNMENT:
        if obligor_unit_id is None:
            raise ValidationFailed("政府承诺须指明承诺单位", code="obligor_unit_required")
        unit = (await org.load_directory(session, kinds=["unit"])).units.get(obligor_unit_id)
        if unit is None:
            raise ValidationFailed("承诺单位不在组织目录中", code="obligor_unit_unknown")
        name = unit.name
    commitment = Commitment(
        id=uuid.uuid4(),
        project_id=project_id,
        side=side.value,
        description=description,
        due_date=due_date,
        obligor_unit_id=obligor_unit_id,
        obligor_unit_name=name,
        obligor_post_id=obligor_post_id,
        overdue_due_at=passed_at(due_date),
        created_at=clock.now(),
    )
    session.add(commitment)
    await session.flush()
    return commitment


async def fulfil_commitment(
    session: AsyncSession, clock: Clock, project_id: uuid.UUID, commitment_id: uuid.UUID, *, on: date
) -> Commitment:
    commitment = await session.get(Commitment, commitment_id)
    if commitment is None or commitment.project_id != project_id:
        raise NotFound("承诺事项不存在", code="commitment_not_found")
    commitment.fulfilled_on = on
    commitment.overdue_due_at = None
    return commitment


async def mark_commitment_overdue(session: AsyncSession, clock: Clock, commitment_id: uuid.UUID) -> None:
    """A commitment past due without fulfilment: ``commitment.overdue``, once (the scan's handler)."""
    commitment = await session.get(Commitment, commitment_id)
    if commitment is None or commitment.overdue_due_at is None or commitment.fulfilled_on is not None:
        return
    project = await get_project(session, commitment.project_id)
    commitment.overdue_due_at = None
    commitment.overdue_at = clock.now()
    if project.status != ProjectStatus.ACTIVE.value:
        return
    await stage(
        session,
        CommitmentOverdue(
            **_project_fact(project, clock),
            commitment_id=commitment.id,
            side=CommitmentSide(commitment.side),
            description=commitment.description,
            due_date=commitment.due_date,
            obligor_unit_id=commitment.obligor_unit_id,
            obligor_unit_name=commitment.obligor_unit_name,
        ),
    )


async def commitments_of(session: AsyncSession, project_id: uuid.UUID) -> list[Commitment]:
    await get_project(session, project_id)
    rows = await session.execute(
        sa.select(Commitment).where(Commitment.project_id == project_id).order_by(Commitment.due_date)
    )
    return list(rows.scalars())


async def terminate(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    cause: TerminationCause,
    reason: str,
    on: date,
    actor: str,
    expected_revision: int | None,
) -> Project:
    """解约 (先解约、再到市商务局销号, §四(四)): the first of two explicit steps; ``project.terminated``."""
    project = await get_project(session, project_id)
    if project.status != ProjectStatus.ACTIVE.value:
        raise Conflict("项目已解约或已销号", code="project_not_active")
    project.status, project.terminated_on = ProjectStatus.TERMINATED.value, on
    await _bump(
        session,
        clock,
        project,
        action="terminated",
        actor=actor,
        reason=reason,
        changes={"status": (ProjectStatus.ACTIVE.value, project.status)},
        expected_revision=expected_revision,
    )
    await stage(
        session,
        ProjectTerminated(
            **_project_fact(project, clock),
            cause=cause,
            reason=reason,
            terminated_on=on,
        ),
    )
    return project


async def deregister(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    reason: str,
    on: date,
    actor: str,
    expected_revision: int | None,
) -> Project:
    """销号: only after termination (先解约、再销号). The project stays in the register, never deleted."""
    project = await get_project(session, project_id)
    if project.status != ProjectStatus.TERMINATED.value:
        raise Conflict("须先解约，再销号", code="project_not_terminated")
    project.status, project.deregistered_on = ProjectStatus.DEREGISTERED.value, on
    await _bump(
        session,
        clock,
        project,
        action="deregistered",
        actor=actor,
        reason=reason,
        changes={"status": (ProjectStatus.TERMINATED.value, project.status)},
        expected_revision=expected_revision,
    )
    return project
