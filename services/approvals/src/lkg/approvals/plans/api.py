"""Routes of the approval plans: ``/api/v1/approval-plans``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from lkg.approvals.deps import CurrentCaller, Runtime, Session, UnitOfWork
from lkg.approvals.plans import service, views
from lkg.approvals.schemas import CriticalChainOut, PlanOut, PlanPage, PlanUpdate
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import PageQuery, UpdatedSince

router = APIRouter(prefix="/api/v1/approval-plans", tags=["approval-plans"])


@router.get("", response_model=PlanPage, summary="审批计划列表 Approval plans (filter by project_id)")
async def list_plans(
    session: Session,
    caller: CurrentCaller,
    page: PageQuery,
    project_id: UUID | None = None,
    updated_since: UpdatedSince = None,
) -> PlanPage:
    plans, next_cursor = await service.list_plans(
        session, caller=caller, page=page, project_id=project_id, updated_since=updated_since
    )
    return PlanPage(items=[views.plan_summary(p) for p in plans], next_cursor=next_cursor)


@router.get("/{plan_id}", response_model=PlanOut, summary="项目审批计划 A project's approval plan and clocks")
async def get_plan(
    plan_id: UUID, response: Response, session: Session, runtime: Runtime, caller: CurrentCaller
) -> PlanOut:
    plan, items = await service.get_plan(session, caller=caller, plan_id=plan_id)
    response.headers.update(etag_header(plan.id, plan.revision))
    return await views.plan_out(session, runtime.calendar, plan, runtime.clock.now(), items)


@router.patch("/{plan_id}", response_model=PlanOut, summary="修改审批计划 Change a plan (If-Match)")
async def update_plan(
    plan_id: UUID,
    body: PlanUpdate,
    response: Response,
    session: UnitOfWork,
    runtime: Runtime,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> PlanOut:
    plan, _items = await service.get_plan(session, caller=caller, plan_id=plan_id)
    check_if_match(if_match, etag_for(plan.id, plan.revision))
    plan = await service.update_plan(
        session,
        caller=caller,
        calendar=runtime.calendar,
        clock=runtime.clock,
        plan=plan,
        expected_revision=plan.revision,
        changes=body.model_dump(exclude_unset=True),
    )
    response.headers.update(etag_header(plan.id, plan.revision))
    return await views.plan_out(session, runtime.calendar, plan, runtime.clock.now())


@router.get(
    "/{plan_id}/critical-chain",
    response_model=CriticalChainOut,
    summary="关键路径与最早开工 The critical chain and the earliest possible start",
)
async def critical_chain(
    plan_id: UUID, session: Session, runtime: Runtime, caller: CurrentCaller
) -> CriticalChainOut:
    plan, items = await service.get_plan(session, caller=caller, plan_id=plan_id)
    return await views.critical_chain(session, runtime.calendar, plan, items, runtime.clock.now())
