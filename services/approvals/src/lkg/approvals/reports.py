"""Read models: plans with their clocks, the critical chain, the department view and the weekly report.

The weekly report (policy §三(一): 区行政审批局 reports every Friday to 区重大项目办 on planned new-starts and
the 批前提速 / 承诺审批 / 先建后验 projects) reads each item's state *as at* the report time from the item
history, which is append-only, so a week rendered twice (or rendered late) gives the same content.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import clocks as clockmod
from lkg.approvals import schemas
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalItemChange, ApprovalPlan
from lkg.approvals.planning import Outlook, outlook, time_saved
from lkg.approvals.service import Caller, _plan_visible, clocks_of, nodes_of
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict
from lkg.common.xlsx import save_reproducible

IN_PROGRESS = ("submitted", "accepted", "supplement_requested", "resubmitted")

#: The columns of the weekly report, in the policy's order (§三(一)).
REPORT_COLUMNS = (
    "备案证",
    "用地规划许可证",
    "工程规划许可证",
    "项目报建",
    "勘察审查",
    "施工图审查",
    "施工许可证",
)

STATE_LABELS = {
    "planned": "未申报",
    "submitted": "已申报",
    "accepted": "已受理",
    "supplement_requested": "待补正",
    "resubmitted": "已补正",
    "granted": "已办结",
    "rejected": "不予许可",
    "withdrawn": "已撤回",
}
MODE_LABELS = {"standard": "", "commitment": "（承诺审批）", "build_first": "（先建后验）"}


def clock_out(clock: ApprovalClock, calendar: WorkingCalendar, now: datetime) -> schemas.ClockOut:
    v = clockmod.view(clock, calendar, now)
    return schemas.ClockOut(
        id=v.id,
        kind=v.kind,
        state=v.state,
        started_at=v.started_at,
        budget=v.budget,
        unit=v.unit,  # type: ignore[arg-type]
        used=v.used,
        left=v.left,
        due_at=v.due_at,
        provisional=v.provisional,
        paused=v.paused,
        overdue=v.overdue,
        warned_at=v.warned_at,
        breached_at=v.breached_at,
        ended_at=v.ended_at,
    )


def item_out(
    item: ApprovalItem,
    clocks: Sequence[ApprovalClock],
    calendar: WorkingCalendar,
    now: datetime,
    expected: Outlook | None = None,
) -> schemas.ItemOut:
    finish = None
    if expected is not None and item.code in expected.expected:
        finish = expected.expected[item.code].finish
    return schemas.ItemOut(
        id=item.id,
        revision=item.revision,
        plan_id=item.plan_id,
        project_id=item.project_id,
        catalogue_item_id=item.catalogue_item_id,
        code=item.code,
        name=item.name,
        handling_unit_id=item.handling_unit_id,
        handling_unit_name=item.handling_unit_name,
        state=item.state,
        mode=item.mode,
        limit_days=item.limit_days,
        limit_unit=item.limit_unit,  # type: ignore[arg-type]
        prerequisites=list(item.prerequisites),
        start_gate=item.start_gate,
        prereview_from=item.prereview_from,
        prereview_to=item.prereview_to,
        submitted_at=item.submitted_at,
        accepted_at=item.accepted_at,
        decided_at=item.decided_at,
        certificate_no=item.certificate_no,
        document_refs=list(item.document_refs),
        notes=item.notes,
        expected_finish=finish,
        clocks=[clock_out(c, calendar, now) for c in clocks],
        updated_at=item.updated_at,
    )


async def plan_out(
    session: AsyncSession,
    calendar: WorkingCalendar,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    now: datetime,
) -> schemas.PlanOut:
    clocks = await clocks_of(session, [i.id for i in items])
    nodes = nodes_of(items, clocks)
    today = local_date(now)
    seen = outlook(calendar, nodes, today, fast_track=plan.fast_track)
    return schemas.PlanOut(
        id=plan.id,
        revision=plan.revision,
        project_id=plan.project_id,
        project_name=plan.project_name,
        responsible_unit_id=plan.responsible_unit_id,
        line_id=plan.line_id,
        project_class=plan.project_class,
        approval_type=plan.approval_type,
        fast_track=plan.fast_track,
        project_status=plan.project_status,  # type: ignore[arg-type]
        planned_start=plan.planned_start,
        planned_start_override=plan.planned_start_override,
        earliest_start=seen.earliest_start,
        start_at_risk=plan.start_at_risk,
        time_saved_days=time_saved(calendar, nodes, today) if plan.fast_track else None,
        items=[item_out(i, clocks[i.id], calendar, now, seen) for i in items],
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def plan_summary(plan: ApprovalPlan) -> schemas.PlanSummary:
    return schemas.PlanSummary(
        id=plan.id,
        revision=plan.revision,
        project_id=plan.project_id,
        project_name=plan.project_name,
        approval_type=plan.approval_type,
        fast_track=plan.fast_track,
        planned_start=plan.planned_start,  # type: ignore[arg-type]
        earliest_start=plan.earliest_start,
        start_at_risk=plan.start_at_risk,
        updated_at=plan.updated_at,
    )


async def critical_chain(
    session: AsyncSession,
    calendar: WorkingCalendar,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    now: datetime,
) -> schemas.CriticalChainOut:
    clocks = await clocks_of(session, [i.id for i in items])
    nodes = nodes_of(items, clocks)
    today = local_date(now)
    seen = outlook(calendar, nodes, today, fast_track=plan.fast_track)
    by_code = {i.code: i for i in items}
    planned = plan.planned_start
    return schemas.CriticalChainOut(
        plan_id=plan.id,
        project_id=plan.project_id,
        today=today,
        planned_start=planned,
        earliest_start=seen.earliest_start,
        start_at_risk=bool(
            planned and seen.earliest_start and not seen.gate_done and seen.earliest_start > planned
        ),
        slack_days=(planned - seen.earliest_start).days if planned and seen.earliest_start else None,
        time_saved_days=time_saved(calendar, nodes, today) if plan.fast_track else None,
        chain=[
            schemas.ChainStep(
                item_id=by_code[code].id,
                code=code,
                name=by_code[code].name,
                handling_unit_name=by_code[code].handling_unit_name,
                state=by_code[code].state,  # type: ignore[arg-type]
                expected_start=seen.expected[code].start,
                expected_finish=seen.expected[code].finish,
                done=seen.expected[code].done,
            )
            for code in seen.chain
        ],
    )


# ---- the department view -----

ITEMS_BY_UPDATED = Keyset(sort=ApprovalItem.updated_at, id=ApprovalItem.id, name="updated")


def _overdue(now: datetime) -> sa.ColumnElement[bool]:
    c = ApprovalClock
    return sa.exists().where(
        c.item_id == ApprovalItem.id,
        sa.or_(
            sa.and_(c.state == "breached", c.ended_at.is_(None)),
            sa.and_(c.state == "running", c.due_at <= now),
        ),
    )


def _due_soon(now: datetime) -> sa.ColumnElement[bool]:
    c = ApprovalClock
    return sa.exists().where(
        c.item_id == ApprovalItem.id, c.state == "running", c.warn_at <= now, c.due_at > now
    )


def _items_visible(caller: Caller) -> sa.ColumnElement[bool]:
    if caller.reads_all:
        return sa.true()
    # A department's list holds the items it handles, not its sibling departments' (see _plan_visible).
    visible_plans = sa.select(ApprovalPlan.id).where(_plan_visible(caller, via_items=False))
    return sa.or_(
        ApprovalItem.handling_unit_id.in_(list(caller.reach.units)), ApprovalItem.plan_id.in_(visible_plans)
    )


async def list_items(
    session: AsyncSession,
    caller: Caller,
    page: PageParams,
    now: datetime,
    *,
    handling_unit_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    status: str | None = None,
) -> tuple[list[ApprovalItem], str | None]:
    stmt = sa.select(ApprovalItem).where(_items_visible(caller))
    if handling_unit_id is not None:
        stmt = stmt.where(ApprovalItem.handling_unit_id == handling_unit_id)
    if project_id is not None:
        stmt = stmt.where(ApprovalItem.project_id == project_id)
    if status == "open":
        stmt = stmt.where(ApprovalItem.state.in_(IN_PROGRESS))
    elif status == "overdue":
        stmt = stmt.where(ApprovalItem.state.in_((*IN_PROGRESS, "granted")), _overdue(now))
    elif status == "due_soon":
        stmt = stmt.where(_due_soon(now))
    elif status == "paused":
        stmt = stmt.where(ApprovalItem.state == "supplement_requested")
    return await fetch_page(session, stmt, ITEMS_BY_UPDATED, page)


async def department_view(session: AsyncSession, caller: Caller, now: datetime) -> schemas.DepartmentView:
    """Per handling department: items in progress, due soon, overdue, waiting for a supplement."""
    item = ApprovalItem
    in_progress = item.state.in_(IN_PROGRESS)
    stmt = (
        sa.select(
            item.handling_unit_id,
            item.handling_unit_name,
            sa.func.count().filter(in_progress).label("open"),
            sa.func.count().filter(in_progress, _due_soon(now)).label("due_soon"),
            sa.func.count().filter(item.state.in_((*IN_PROGRESS, "granted")), _overdue(now)).label("overdue"),
            sa.func.count().filter(item.state == "supplement_requested").label("paused"),
        )
        .where(_items_visible(caller))
        .group_by(item.handling_unit_id, item.handling_unit_name)
        .order_by(item.handling_unit_name)
    )
    rows = (await session.execute(stmt)).all()
    return schemas.DepartmentView(
        now=now,
        departments=[
            schemas.DepartmentRow(
                handling_unit_id=r.handling_unit_id,
                handling_unit_name=r.handling_unit_name,
                open=r.open,
                due_soon=r.due_soon,
                overdue=r.overdue,
                paused=r.paused,
            )
            for r in rows
        ],
    )


# ---- the weekly report -----


def report_day_of(calendar: WorkingCalendar, day: date) -> date:
    """The report day of ``day``'s week: its Friday, or the last working day before it when the Friday is a
    holiday (DESIGN §2 cadence rule)."""
    friday = day + timedelta(days=4 - day.weekday())
    return calendar.cadence_day(friday, "previous")


async def weekly_report(
    session: AsyncSession, calendar: WorkingCalendar, week_of: date, now: datetime, report_time: time
) -> schemas.WeeklyReport:
    report_day = report_day_of(calendar, week_of)
    as_of = datetime.combine(report_day, report_time, tzinfo=TZ)
    if now < as_of:
        raise Conflict(
            f"本周周报的报送时间（{as_of.isoformat()}）尚未到",
            code="report_not_ready",
            extra={"report_day": report_day.isoformat()},
        )
    # Each item's last change at or before the report time: its state then.
    latest = (
        sa.select(
            ApprovalItemChange.item_id,
            ApprovalItemChange.to_state,
            ApprovalItemChange.at,
            sa.func.row_number()
            .over(
                partition_by=ApprovalItemChange.item_id,
                order_by=(ApprovalItemChange.at.desc(), ApprovalItemChange.id.desc()),
            )
            .label("n"),
        )
        .where(ApprovalItemChange.at <= as_of, ApprovalItemChange.action != "stalled")
        .subquery()
    )
    rows = (
        await session.execute(
            sa.select(ApprovalPlan, ApprovalItem, latest.c.to_state, latest.c.at)
            .join(ApprovalItem, ApprovalItem.plan_id == ApprovalPlan.id)
            .join(latest, sa.and_(latest.c.item_id == ApprovalItem.id, latest.c.n == 1))
            .where(ApprovalPlan.created_at <= as_of)
            .order_by(ApprovalPlan.project_name, ApprovalPlan.project_id, ApprovalItem.position)
        )
    ).all()
    by_plan: dict[uuid.UUID, dict[str, Any]] = {}
    for plan, item, state, at in rows:
        entry = by_plan.setdefault(plan.id, {"plan": plan, "items": []})
        entry["items"].append((item, state, at))
    report_rows = []
    for entry in by_plan.values():
        plan = entry["plan"]
        modes = sorted({i.mode for i, _, _ in entry["items"] if i.mode != "standard"})
        if not (plan.project_class == "new_start" or plan.fast_track or modes):
            continue
        cells: dict[str, schemas.ReportCell] = {
            c: schemas.ReportCell(item_name=None, state=None, mode=None, on=None) for c in REPORT_COLUMNS
        }
        for item, state, at in entry["items"]:
            if item.report_column in cells and state != "withdrawn":
                cells[item.report_column] = schemas.ReportCell(
                    item_name=item.name, state=state, mode=item.mode, on=local_date(at)
                )
        report_rows.append(
            schemas.ReportRow(
                project_id=plan.project_id,
                project_name=plan.project_name,
                project_class=plan.project_class,
                fast_track=plan.fast_track,
                modes=modes,
                cells=cells,  # type: ignore[arg-type]
            )
        )
    return schemas.WeeklyReport(
        report_day=report_day, as_of=as_of, columns=list(REPORT_COLUMNS), rows=report_rows
    )


def weekly_report_xlsx(report: schemas.WeeklyReport) -> bytes:
    """The report as an Excel workbook, byte for byte the same for the same report (fixed document
    properties and zip entry times)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "审批进展"
    ws.append([f"计划新开工及批前提速、承诺审批、先建后验项目审批进展（{report.report_day.isoformat()}）"])
    ws["A1"].font = Font(bold=True)
    ws.append(["项目名称", "项目类别", "批前提速", "审批模式", *report.columns])
    for row in report.rows:
        cells = []
        for column in report.columns:
            cell = row.cells[column]
            if cell.state is None:
                cells.append("—")
            else:
                label = STATE_LABELS[cell.state] + MODE_LABELS.get(cell.mode or "standard", "")
                cells.append(f"{label} {cell.on.isoformat()}" if cell.on else label)
        ws.append(
            [
                row.project_name,
                {"new_start": "计划新开工", "preliminary": "前期项目"}.get(
                    row.project_class, row.project_class
                ),
                "是" if row.fast_track else "否",
                "、".join({"commitment": "承诺审批", "build_first": "先建后验"}[m] for m in row.modes)
                or "常规",
                *cells,
            ]
        )
    # Dated as of the report, not the wall clock: the same week rendered twice is the same file.
    return save_reproducible(wb, report.as_of)
