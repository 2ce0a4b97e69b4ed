"""Use cases of the plan workbook (《重大产业项目推进计划》): export what a caller sees, import a plan.

An import goes through the same use cases as the API, row by row: a new project is registered
(``register_project``: routed by the rule table, its planned dates the frozen baseline,
``project.registered``);
an existing one (matched by 项目ID, else by 项目代码) is changed with ``update_project`` (facts),
``set_flags`` (省市重大项目 / 批前提速, 重大项目办's) and ``replan_milestone`` / ``add_milestone`` (planned
dates), each writing history and staging ``project.changed``. A row that changes nothing emits nothing.

Each row runs in a savepoint, so a row the registry refuses (an unknown unit, a code another project holds, a
re-plan without a reason) leaves nothing behind. Mode ``all`` (the default) is all-or-nothing: if any row is
bad, :class:`PlanImportRejected` is raised and the caller's transaction, with every row applied so far,
rolls back. Mode ``valid_rows`` keeps the good rows and reports the bad ones. Like every use case this
never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import MilestoneType, ProjectStatus, UnitSnapshot
from lkg.common.http.problems import Conflict, DomainError
from lkg.registry.access import Caller
from lkg.registry.org import service as org
from lkg.registry.plan.reading import ParsedPlan, PlanRow, RowError
from lkg.registry.plan.schemas import PlanImportMode
from lkg.registry.plan.workbook import BY_HEADER_KEY, MILESTONE_HEADERS, ExportRow
from lkg.registry.projects import milestones, service
from lkg.registry.projects.changes import milestones_of
from lkg.registry.projects.filters import ListQuery, filtered_projects
from lkg.registry.projects.models import Milestone, Project
from lkg.registry.projects.schemas import MilestonePlan, ProjectCreate, ProjectUpdate

#: An export larger than this is refused (filter it): a workbook is for people, not for syncing systems.
MAX_EXPORT_ROWS = 20_000


class PlanImportRejected(DomainError):
    code = "plan_import_rejected"
    status = 422
    title = "推进计划有错误行，未导入任何项目"


@dataclass(frozen=True)
class RowResult:
    row: int
    project_id: uuid.UUID
    action: str  # created | updated | unchanged


@dataclass
class ImportReport:
    mode: PlanImportMode
    rows: int
    results: list[RowResult] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    @property
    def rejected(self) -> int:
        return len({e.row for e in self.errors})


class _RowRefused(Exception):
    def __init__(self, key: str | None, code: str, message: str) -> None:
        super().__init__(message)
        self.key, self.code, self.message = key, code, message


def _unit_names(units: Sequence[UnitSnapshot], day: date) -> dict[str, list[uuid.UUID]]:
    names: dict[str, list[uuid.UUID]] = {}
    for unit in units:
        if unit.in_force(day):
            names.setdefault(unit.name, []).append(unit.id)
    return names


async def import_plan(
    session: AsyncSession,
    clock: Clock,
    plan: ParsedPlan,
    *,
    mode: PlanImportMode,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Apply the parsed plan (see the module docstring). ``progress`` is called with each row number done
    (the CLI's progress bar)."""
    report = ImportReport(mode=mode, rows=plan.total, errors=list(plan.errors))
    directory = await org.load_directory(session, kinds=["unit"])
    units = _unit_names(list(directory.units.values()), clock.now().date())
    for row in plan.rows:
        try:
            async with session.begin_nested():
                report.results.append(await _apply(session, clock, row, units, actor=actor))
        except _RowRefused as exc:
            report.errors.append(_error(row, exc.key, exc.code, exc.message))
        except DomainError as exc:
            report.errors.append(_error(row, _key_of(exc), exc.code, exc.detail))
        if progress is not None:
            progress(row.row)
    report.errors.sort(key=lambda e: e.row)  # stable: a row's cell errors stay in column order
    if mode is PlanImportMode.ALL and report.errors:
        raise PlanImportRejected(
            f"推进计划共{report.rows}行，其中{report.rejected}行有错误；未导入任何项目",
            extra={
                "rows": report.rows,
                "rejected": report.rejected,
                "row_errors": [e.as_dict() for e in report.errors],
            },
        )
    return report


def _key_of(exc: DomainError) -> str | None:
    return {
        "project_code_taken": "project_code",
        "project_code_invalid": "project_code",
        "responsible_unit_unknown": "responsible_unit",
    }.get(exc.code)


def _error(row: PlanRow, key: str | None, code: str, message: str) -> RowError:
    header = BY_HEADER_KEY[key].header if key else None
    return RowError(row.row, row.columns.get(key) if key else None, header, code, message)


def _unit_of(row: PlanRow, units: dict[str, list[uuid.UUID]]) -> uuid.UUID:
    found = units.get(row.responsible_unit, [])
    if not found:
        raise _RowRefused("responsible_unit", "responsible_unit_unknown", "组织目录中没有此单位")
    if len(found) > 1:
        raise _RowRefused("responsible_unit", "responsible_unit_ambiguous", "组织目录中有多个同名单位")
    return found[0]


async def _match(session: AsyncSession, row: PlanRow) -> Project | None:
    if row.project_id is not None:
        project = await session.get(Project, row.project_id)
        if project is None:
            raise _RowRefused("project_id", "project_not_found", "项目库中没有此项目ID的项目")
        if row.project_code is not None and row.project_code != project.project_code:
            holder = await _by_code(session, row.project_code)
            if holder is not None and holder.id != project.id:
                raise _RowRefused("project_code", "project_code_taken", "项目代码已被其他项目使用")
        return project
    if row.project_code is not None:
        return await _by_code(session, row.project_code)
    # Neither id nor code: a new project. The same name at the same unit is most likely the plan imported
    # again without its ids (a second copy would be registered): refused, never guessed at.
    same = await session.execute(
        sa.select(Project.id).where(
            Project.name == row.name,
            Project.responsible_unit_name == row.responsible_unit,
            Project.status == ProjectStatus.ACTIVE.value,
        )
    )
    if same.first() is not None:
        raise _RowRefused(
            "name", "project_exists", "该责任单位已有同名项目；要更新它，请填写项目ID（可先导出取得）"
        )
    return None


async def _by_code(session: AsyncSession, code: str) -> Project | None:
    stmt = sa.select(Project).where(Project.project_code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _apply(
    session: AsyncSession, clock: Clock, row: PlanRow, units: dict[str, list[uuid.UUID]], *, actor: str
) -> RowResult:
    unit_id = _unit_of(row, units)
    project = await _match(session, row)
    if project is None:
        return await _register(session, clock, row, unit_id, actor=actor)
    return await _update(session, clock, row, project, unit_id, actor=actor)


async def _register(
    session: AsyncSession, clock: Clock, row: PlanRow, unit_id: uuid.UUID, *, actor: str
) -> RowResult:
    data = ProjectCreate(
        name=row.name,
        enterprise=row.enterprise,
        project_code=row.project_code,
        category=row.category,
        project_class=row.project_class,
        responsible_unit_id=unit_id,
        provincial_municipal=bool(row.provincial_municipal),
        fast_track=bool(row.fast_track),
        approval_type=row.approval_type,
        total_investment=row.total_investment,
        plan_year=row.plan_year,
        planned_annual_investment=row.planned_annual_investment,
        enterprise_credit_code=row.enterprise_credit_code,
        milestones=[
            MilestonePlan(type=kind, planned_date=day)
            for kind in MILESTONE_HEADERS
            if (day := row.milestones.get(kind)) is not None
        ],
    )
    project = await service.register_project(session, clock, data, actor=actor)
    return RowResult(row.row, project.id, "created")


async def _update(
    session: AsyncSession, clock: Clock, row: PlanRow, project: Project, unit_id: uuid.UUID, *, actor: str
) -> RowResult:
    if project.status != ProjectStatus.ACTIVE.value:
        raise _RowRefused("project_id", "project_not_active", "项目已解约或已销号，不能通过导入修改")
    if row.plan_year != project.plan_year:
        raise _RowRefused(
            "plan_year",
            "plan_year_differs",
            f"与项目库的计划年度（{project.plan_year}）不一致，不能通过导入修改",
        )
    facts: dict[str, Any] = {
        "name": row.name,
        "enterprise": row.enterprise,
        "category": row.category.value,
        "project_class": row.project_class.value,
        "responsible_unit_id": unit_id,
        "total_investment": row.total_investment,
        "planned_annual_investment": row.planned_annual_investment,
    }
    # A blank optional cell leaves the fact as it is (the workbook never erases).
    for name in ("project_code", "approval_type", "enterprise_credit_code"):
        value = getattr(row, name)
        if value is not None:
            facts[name] = value.value if hasattr(value, "value") else value
    changed = {k: v for k, v in facts.items() if getattr(project, k) != v}
    if "responsible_unit_id" in changed:
        changed["responsible_unit_name"] = row.responsible_unit
    flags = {
        name: value
        for name in ("provincial_municipal", "fast_track")
        if (value := getattr(row, name)) is not None and getattr(project, name) != value
    }
    planned = await milestones_of(session, project.id)
    replans: list[tuple[Milestone, date]] = []
    additions: list[tuple[MilestoneType, date]] = []
    for kind, day in row.milestones.items():
        current = next((m for m in planned if m.type == kind.value), None)
        if current is None:
            additions.append((kind, day))
        elif current.planned_date != day:
            if current.actual_date is not None:
                raise _RowRefused(
                    f"milestone.{kind.value}", "milestone_achieved", "节点已完成，不能再调整计划日期"
                )
            replans.append((current, day))
    if (replans or additions) and row.reason is None:
        # Re-planning needs a reason and leaves the baseline as it was (policy §三(一)); so does adding a
        # milestone to an approved plan (as POST .../milestones asks).
        kind = MilestoneType(replans[0][0].type) if replans else additions[0][0]
        raise _RowRefused(
            "reason", "reason_required", f"调整计划节点（{MILESTONE_HEADERS[kind]}）须填写变更原因"
        )
    if not (changed or flags or replans or additions):
        return RowResult(row.row, project.id, "unchanged")
    if changed:
        await service.update_project(
            session,
            clock,
            project.id,
            project.revision,
            ProjectUpdate(**changed, reason=row.reason),
            actor=actor,
        )
    if flags:
        await service.set_flags(
            session,
            clock,
            project.id,
            values=flags,
            reason=row.reason,
            actor=actor,
            expected_revision=None,
        )
    for milestone, day in replans:
        await milestones.replan_milestone(
            session, clock, project.id, milestone.id, planned_date=day, reason=str(row.reason), actor=actor
        )
    for kind, day in additions:
        await milestones.add_milestone(
            session,
            clock,
            project.id,
            MilestonePlan(type=kind, planned_date=day),
            actor=actor,
            reason=str(row.reason),
        )
    return RowResult(row.row, project.id, "updated")


# ---- export ---------------------------------------------------------------------------------------


async def export_rows(session: AsyncSession, caller: Caller, query: ListQuery) -> list[ExportRow]:
    """The projects the caller sees, filtered and sorted as the list is, flattened for the workbook."""
    stmt = filtered_projects(caller, query).limit(MAX_EXPORT_ROWS + 1)
    projects = list((await session.execute(stmt)).scalars())
    if len(projects) > MAX_EXPORT_ROWS:
        raise Conflict(
            f"符合条件的项目超过{MAX_EXPORT_ROWS}个，请加筛选条件后再导出", code="export_too_large"
        )
    planned: dict[uuid.UUID, dict[MilestoneType, date]] = {p.id: {} for p in projects}
    if projects:
        rows = await session.execute(
            sa.select(Milestone)
            .where(Milestone.project_id.in_(list(planned)), Milestone.type != MilestoneType.OTHER.value)
            .order_by(Milestone.project_id, Milestone.position)
        )
        for m in rows.scalars():
            planned[m.project_id].setdefault(MilestoneType(m.type), m.planned_date)
    lines = (await org.load_directory(session, kinds=["line"])).lines
    return [
        ExportRow(
            project_id=p.id,
            project_code=p.project_code,
            name=p.name,
            enterprise=p.enterprise,
            enterprise_credit_code=p.enterprise_credit_code,
            category=p.category,
            project_class=p.project_class,
            responsible_unit=p.responsible_unit_name,
            approval_type=p.approval_type,
            provincial_municipal=p.provincial_municipal,
            fast_track=p.fast_track,
            total_investment=p.total_investment,
            planned_annual_investment=p.planned_annual_investment,
            plan_year=p.plan_year,
            milestones=planned[p.id],
            line=lines[p.line_id].name if p.line_id in lines else None,
            routing_reason=p.routing_reason,
            status=p.status,
            stage=p.stage,
        )
        for p in projects
    ]
