"""The approval bureau's reports: what each department has open, and the weekly report.

The weekly report (policy §三(四): 区行政审批局 reports every Friday to 区重大项目办 on planned new-starts and
the 批前提速 / 承诺审批 / 先建后验 projects) reads each item's state *as at* the report time from the item
history, which is append-only, so a week rendered twice (or rendered late) gives the same content.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import schemas
from lkg.approvals.access import Caller, items_visible, plan_visible
from lkg.approvals.items.service import IN_PROGRESS, due_soon, overdue
from lkg.approvals.models import ApprovalItem, ApprovalItemChange, ApprovalPlan
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ
from lkg.common.http.problems import Conflict

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


async def department_view(session: AsyncSession, *, caller: Caller, now: datetime) -> schemas.DepartmentView:
    """Per handling department: items in progress, due soon, overdue, waiting for a supplement."""
    item = ApprovalItem
    in_progress = item.state.in_(IN_PROGRESS)
    stmt = (
        sa.select(
            item.handling_unit_id,
            item.handling_unit_name,
            sa.func.count().filter(in_progress).label("open"),
            sa.func.count().filter(in_progress, due_soon(now)).label("due_soon"),
            sa.func.count().filter(item.state.in_((*IN_PROGRESS, "granted")), overdue(now)).label("overdue"),
            sa.func.count().filter(item.state == "supplement_requested").label("paused"),
        )
        .where(items_visible(caller))
        .group_by(item.handling_unit_id, item.handling_unit_name)
        .order_by(item.handling_unit_name)
    )
    rows = (await session.execute(stmt)).all()
    return schemas.DepartmentView(
        now=now,
        departments=[schemas.from_row(schemas.DepartmentRow, r) for r in rows],
    )


# ---- the weekly report -----


def report_day_of(calendar: WorkingCalendar, day: date) -> date:
    """The report day of ``day``'s week: its Friday, or the last working day before it when the Friday is a
    holiday (policy §三(四); the cadence rule of docs/calendar.md)."""
    friday = day + timedelta(days=4 - day.weekday())
    return calendar.cadence_day(friday, "previous")


async def weekly_report(
    session: AsyncSession,
    calendar: WorkingCalendar,
    week_of: date,
    now: datetime,
    report_time: time,
    *,
    caller: Caller,
) -> schemas.WeeklyReport:
    """The week's report, holding the projects within ``caller``'s reach (:func:`plan_visible` without
    the departments' items: the bureau, 重大项目办, admin, top leaders and the supervision office every
    project; a line's leader or service department its line's; a unit its own)."""
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
            .where(ApprovalPlan.created_at <= as_of, plan_visible(caller, via_items=False))
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
        report_rows.append(schemas.from_row(schemas.ReportRow, plan, modes=modes, cells=cells))
    return schemas.WeeklyReport(
        report_day=report_day, as_of=as_of, columns=list(REPORT_COLUMNS), rows=report_rows
    )
