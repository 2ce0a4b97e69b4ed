"""Use cases of the project register: registration, changes of a project's facts and flags, investment
reports, statistical enrolment, termination and de-registration. They change rows and stage events in the
caller's transaction, never commit and never speak HTTP (docs/architecture.md). Milestones are in
:mod:`lkg.registry.projects.milestones`, commitments in :mod:`~lkg.registry.projects.commitments`, lines and
routing in :mod:`~lkg.registry.projects.routing`; every change goes through
:func:`lkg.registry.projects.changes.bump`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    EnrolmentFailed,
    EnrolmentStatus,
    InvestmentReported,
    ProjectChanged,
    ProjectRegistered,
    ProjectStatus,
    ProjectTerminated,
    TerminationCause,
)
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.problems import Conflict, NotFound, ValidationFailed
from lkg.registry.org import service as org
from lkg.registry.projects.changes import (
    bump,
    full_snapshot,
    get_project,
    new_milestone,
    plain,
    project_fact,
    record_history,
    snapshot,
    snapshot_field,
)
from lkg.registry.projects.contacts import person_columns, site_columns
from lkg.registry.projects.lines import route_for, routing_changes
from lkg.registry.projects.models import (
    EnrolmentFailure,
    InvestmentReport,
    Project,
    ProjectChange,
)
from lkg.registry.projects.projectcode import check_project_code
from lkg.registry.projects.schemas import (
    ProjectCreate,
    ProjectUpdate,
)
from lkg.registry.projects.stage import derive_stage, refresh_stage
from lkg.registry.statistics import service as statistics

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


async def register_project(
    session: AsyncSession, clock: Clock, data: ProjectCreate, *, actor: str = "system"
) -> Project:
    """项目入库: routed by the rule table (or unrouted); the plan's milestones become the frozen baseline;
    emits ``project.registered``."""
    now = clock.now()
    directory = await org.load_directory(
        session, kinds=["unit", "line", "routing_rule", "post", "person", "holding"]
    )
    unit = directory.units.get(data.responsible_unit_id)
    # A unit the directory holds is named as the directory names it, whatever the body says (issue 11 item
    # 2: one unit's id with another's name made the routing explanation name the wrong unit); a name is
    # taken as given only for a unit the directory does not hold.
    unit_name = unit.name if unit else data.responsible_unit_name
    if unit_name is None:
        # A unit the directory does not hold, and no name to register it under: the unit is not found.
        raise NotFound("责任单位不在组织目录中，请提供责任单位名称", code="responsible_unit_unknown")
    code, warnings = _code(data.project_code)
    named = {"site", "service_contact_id", "agent_id", "statistics_contact_id"}
    fields = data.model_dump(exclude={"milestones", "responsible_unit_name", "project_code", *named})
    day = now.date()
    fields.update(site_columns(directory, data.site, day))
    fields.update(person_columns(directory, "service_contact", data.service_contact_id, day))
    fields.update(person_columns(directory, "agent", data.agent_id, day))
    fields.update(person_columns(directory, "statistics_contact", data.statistics_contact_id, day))
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
        **{k: plain(v) for k, v in fields.items()},
    )
    decided = await route_for(session, clock, project, directory)
    project.line_id, project.routing_basis = decided.line_id, decided.basis.value
    project.routing_rule_id, project.routing_reason = decided.rule_id, decided.reason
    session.add(project)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("项目代码已被其他项目使用", code="project_code_taken") from exc
    milestones = [new_milestone(project.id, m, i, baseline=True) for i, m in enumerate(data.milestones)]
    session.add_all(milestones)
    await session.flush()
    record_history(session, project, action="registered", actor=actor, changes={}, reason=None, now=now)
    await stage(
        session, ProjectRegistered(aggregate_id=project.id, revision=1, project=snapshot(project, milestones))
    )
    return project


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
    changes_in: dict[str, Any] = {k: plain(v) for k, v in data.model_dump(exclude_unset=True).items()}
    reason = changes_in.pop("reason", None)
    project = await get_project(session, project_id)
    changes_in.pop("site", None)
    changes_in.update(await _contact_columns(session, clock, data))
    if "project_code" in changes_in:
        code, warnings = _code(changes_in["project_code"])
        changes_in["project_code"] = code
        changes_in["project_code_warnings"] = warnings
    if "responsible_unit_id" in changes_in or "responsible_unit_name" in changes_in:
        directory = await org.load_directory(session, kinds=["unit"])
        unit_id = changes_in.get("responsible_unit_id", project.responsible_unit_id)
        unit = directory.units.get(unit_id)
        if unit is not None:  # the directory's name, as at registration
            changes_in["responsible_unit_name"] = unit.name
        elif "responsible_unit_name" not in changes_in and "responsible_unit_id" in changes_in:
            raise NotFound("责任单位不在组织目录中，请提供责任单位名称", code="responsible_unit_unknown")
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
        changes.update(routing_changes(project, await route_for(session, clock, project)))
        await session.flush()
    record_history(session, project, action="changed", actor=actor, changes=changes, reason=reason, now=now)
    await stage(
        session,
        ProjectChanged(
            aggregate_id=project.id,
            revision=revision,
            project=await full_snapshot(session, project),
            changes=tuple(sorted({snapshot_field(k) for k in changes})),
            reason=reason,
        ),
    )
    return project


async def _contact_columns(session: AsyncSession, clock: Clock, data: ProjectUpdate) -> dict[str, Any]:
    """The columns of the site and people a change names (taken from the directory, checked against it);
    the request's own ``site`` / ``*_id`` keys are replaced by them."""
    given = data.model_fields_set & {"site", "service_contact_id", "agent_id", "statistics_contact_id"}
    if not given:
        return {}
    directory = await org.load_directory(session, kinds=["unit", "post", "person", "holding"])
    day = clock.now().date()
    columns: dict[str, Any] = {}
    if "site" in given:
        columns.update(site_columns(directory, data.site, day))
    for role in ("service_contact", "agent", "statistics_contact"):
        if f"{role}_id" in given:
            columns.update(person_columns(directory, role, getattr(data, f"{role}_id"), day))
    return columns


async def history(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectChange]:
    await get_project(session, project_id)
    rows = await session.execute(
        sa.select(ProjectChange)
        .where(ProjectChange.project_id == project_id)
        .order_by(ProjectChange.revision)
    )
    return list(rows.scalars())


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
    """省市重大项目 / 批前提速: 重大项目办's to set. The integrity flags come from reviews
    (lkg.registry.integrity): a body that would change them is 422 ``integrity_flags_by_review``."""
    project = await get_project(session, project_id)
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in values.items():
        if name == "integrity_flags":
            value = sorted({plain(v) for v in value})
            if value != project.integrity_flags:
                # §四(四): the four findings are set by a 回头看 review, not typed in by 重大项目办 alone.
                raise ValidationFailed(
                    "诚信标记由督查室会同商务局的回头看核查设定（/integrity-reviews）",
                    code="integrity_flags_by_review",
                )
        if getattr(project, name) != value:
            changes[name] = (getattr(project, name), value)
            setattr(project, name, value)
    await bump(
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
        await bump(session, clock, project, action="investment_reported", actor=actor, changes=moved)
    await stage(
        session,
        InvestmentReported(
            **project_fact(project, clock),
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
        # A real directory person holding a statistics-contact post (§三(四) 联系人制度).
        directory = await org.load_directory(session, kinds=["post", "person", "holding"])
        day = clock.now().date()
        role = "statistics_contact"
        named = person_columns(directory, role, statistics_contact_id, day, f"{role}_id")
        changes["statistics_contact_id"] = (project.statistics_contact_id, statistics_contact_id)
        project.statistics_contact_id = statistics_contact_id
        project.statistics_contact_name = named["statistics_contact_name"]
    await bump(session, clock, project, action="enrolment_set", actor=actor, changes=changes)
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
    """The statistics bureau's monthly list (by the 28th, §三(四)): each project failed, with the reason. An
    empty list (none failed) is a list too: either meets the month's duty (lkg.registry.statistics)."""
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
            await bump(
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
                **project_fact(project, clock),
                year=year,
                month=month,
                reason=reason,
                reported_by_unit_id=unit_id,
                statistics_contact_id=project.statistics_contact_id,
            ),
        )
        count += 1
    await statistics.list_submitted(session, clock, year=year, month=month, unit_id=unit_id, failures=count)
    return count


async def _end_step(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    step: tuple[ProjectStatus, ProjectStatus, str],
    refused: Conflict,
    on: date,
    reason: str,
    actor: str,
    expected_revision: int | None,
) -> Project:
    """One step of a project's end (先解约、再销号, §四(四)): from the status ``step`` names to the next, on
    the day ``on``, recorded in its ``*_on`` column and the history; ``refused`` from any other status."""
    before, after, action = step
    project = await get_project(session, project_id)
    if project.status != before.value:
        raise refused
    project.status = after.value
    setattr(project, f"{action}_on", on)
    await bump(
        session,
        clock,
        project,
        action=action,
        actor=actor,
        reason=reason,
        changes={"status": (before.value, after.value)},
        expected_revision=expected_revision,
    )
    return project


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
    project = await _end_step(
        session,
        clock,
        project_id,
        step=(ProjectStatus.ACTIVE, ProjectStatus.TERMINATED, "terminated"),
        refused=Conflict("项目已解约或已销号", code="project_not_active"),
        on=on,
        reason=reason,
        actor=actor,
        expected_revision=expected_revision,
    )
    await stage(
        session,
        ProjectTerminated(**project_fact(project, clock), cause=cause, reason=reason, terminated_on=on),
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
    return await _end_step(
        session,
        clock,
        project_id,
        step=(ProjectStatus.TERMINATED, ProjectStatus.DEREGISTERED, "deregistered"),
        refused=Conflict("须先解约，再销号", code="project_not_terminated"),
        on=on,
        reason=reason,
        actor=actor,
        expected_revision=expected_revision,
    )
