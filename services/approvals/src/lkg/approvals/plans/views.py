"""What a plan reads as on the API: its items and clocks, its earliest possible start and critical chain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import schemas
from lkg.approvals.clocks import clocks_of
from lkg.approvals.items.views import item_out
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalPlan, RegionalAssessment
from lkg.approvals.planning import Outlook, assessment_saving, outlook, time_saved
from lkg.approvals.risk import items_of, nodes_of
from lkg.common.calendar import WorkingCalendar, local_date


@dataclass(frozen=True)
class _Seen:
    """A plan as seen today: its items' clocks, the outlook and the days the fast track saves."""

    today: date
    clocks: dict[uuid.UUID, list[ApprovalClock]]
    outlook: Outlook
    time_saved_days: int | None
    assessment_saved_days: int | None


async def _seen(
    session: AsyncSession,
    calendar: WorkingCalendar,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    now: datetime,
) -> _Seen:
    clocks = await clocks_of(session, [i.id for i in items])
    nodes = nodes_of(items, clocks)
    today = local_date(now)
    return _Seen(
        today=today,
        clocks=clocks,
        outlook=outlook(calendar, nodes, today, fast_track=plan.fast_track),
        time_saved_days=time_saved(calendar, nodes, today) if plan.fast_track else None,
        assessment_saved_days=assessment_saving(calendar, nodes, today, fast_track=plan.fast_track),
    )


async def applied_assessments(
    session: AsyncSession, items: Sequence[ApprovalItem]
) -> list[schemas.PlanAssessmentOut]:
    """The regional assessments the plan's items carry, each with what it waived and shortened here."""
    ids = sorted({i.assessment_id for i in items if i.assessment_id is not None})
    if not ids:
        return []
    found = {
        a.id: a
        for a in await session.scalars(sa.select(RegionalAssessment).where(RegionalAssessment.id.in_(ids)))
    }
    return [
        schemas.PlanAssessmentOut(
            id=found[i].id,
            kind=found[i].kind,
            title=found[i].title,
            waived=[x.code for x in items if x.assessment_id == i and x.state == "waived"],
            shortened={
                x.code: x.limit_saved_days for x in items if x.assessment_id == i and x.limit_saved_days
            },
        )
        for i in ids
        if i in found
    ]


async def plan_out(
    session: AsyncSession,
    calendar: WorkingCalendar,
    plan: ApprovalPlan,
    now: datetime,
    items: Sequence[ApprovalItem] | None = None,
) -> schemas.PlanOut:
    """The plan with every item and clock at ``now`` (its items read again unless given)."""
    if items is None:
        items = await items_of(session, plan.id)
    seen = await _seen(session, calendar, plan, items, now)
    return schemas.from_row(
        schemas.PlanOut,
        plan,
        earliest_start=seen.outlook.earliest_start,
        time_saved_days=seen.time_saved_days,
        site=schemas.PlanSiteOut(street_id=plan.site_street_id, park=plan.site_park, plot=plan.site_plot),
        assessment_saved_days=seen.assessment_saved_days,
        regional_assessments=await applied_assessments(session, items),
        items=[item_out(i, seen.clocks[i.id], calendar, now, seen.outlook) for i in items],
    )


def plan_summary(plan: ApprovalPlan) -> schemas.PlanSummary:
    return schemas.from_row(schemas.PlanSummary, plan)


async def critical_chain(
    session: AsyncSession,
    calendar: WorkingCalendar,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    now: datetime,
) -> schemas.CriticalChainOut:
    seen = await _seen(session, calendar, plan, items, now)
    expected = seen.outlook
    by_code = {i.code: i for i in items}
    planned = plan.planned_start
    return schemas.CriticalChainOut(
        plan_id=plan.id,
        project_id=plan.project_id,
        today=seen.today,
        planned_start=planned,
        earliest_start=expected.earliest_start,
        start_at_risk=bool(
            planned
            and expected.earliest_start
            and not expected.gate_done
            and expected.earliest_start > planned
        ),
        slack_days=(planned - expected.earliest_start).days if planned and expected.earliest_start else None,
        time_saved_days=seen.time_saved_days,
        assessment_saved_days=seen.assessment_saved_days,
        chain=[
            schemas.ChainStep(
                item_id=by_code[code].id,
                code=code,
                name=by_code[code].name,
                handling_unit_name=by_code[code].handling_unit_name,
                state=by_code[code].state,
                expected_start=expected.expected[code].start,
                expected_finish=expected.expected[code].finish,
                done=expected.expected[code].done,
            )
            for code in expected.chain
        ],
    )
