"""Routes of a plan's items: ``/api/v1/approval-items``. Each action on an item is a sub-resource
(``POST /{item_id}/<verb>``) and takes ``If-Match``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.deps import CurrentCaller, Runtime, Session
from lkg.approvals.items import actions, service, views
from lkg.approvals.items.actions import Act, Timekeeping
from lkg.approvals.models import ApprovalItem
from lkg.approvals.schemas import (
    ActionBody,
    ChangeList,
    ChangeOut,
    GrantBody,
    ItemOut,
    ItemPage,
    ItemUpdate,
    RejectBody,
)
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import PageQuery
from lkg.common.runtime.service import ServiceRuntime

router = APIRouter(prefix="/api/v1/approval-items", tags=["approval-items"])

ACTION_DESCRIPTION = "需要 `If-Match`；两人同时操作时后到者得到 412（或 409 状态不允许）。"


def _timekeeping(runtime: ServiceRuntime) -> Timekeeping:
    share = float(getattr(runtime.settings, "due_soon_share", 0.8))
    return Timekeeping(clock=runtime.clock, calendar=runtime.calendar, due_soon_share=share)


async def _respond(
    session: AsyncSession, runtime: ServiceRuntime, item: ApprovalItem, response: Response
) -> ItemOut:
    result = await views.one_item_out(session, item, runtime.calendar, runtime.clock.now())
    response.headers.update(etag_header(item.id, item.revision))
    return result


@router.get(
    "", response_model=ItemPage, summary="审批事项（部门视图）Items: a department's open, due soon, overdue"
)
async def list_items(
    session: Session,
    runtime: Runtime,
    caller: CurrentCaller,
    page: PageQuery,
    handling_unit_id: UUID | None = None,
    project_id: UUID | None = None,
    status: Literal["open", "due_soon", "overdue", "paused"] | None = Query(
        default=None, description="open 在办 / due_soon 临期 / overdue 超期 / paused 待补正"
    ),
) -> ItemPage:
    now = runtime.clock.now()
    items, next_cursor = await service.list_items(
        session,
        caller=caller,
        page=page,
        now=now,
        handling_unit_id=handling_unit_id,
        project_id=project_id,
        status=status,
    )
    return ItemPage(
        items=await views.items_out(session, items, runtime.calendar, now), next_cursor=next_cursor
    )


@router.get("/{item_id}", response_model=ItemOut, summary="审批事项 One item with its clocks")
async def get_item(
    item_id: UUID, response: Response, session: Session, runtime: Runtime, caller: CurrentCaller
) -> ItemOut:
    item, _plan = await service.get_item(session, caller=caller, item_id=item_id)
    return await _respond(session, runtime, item, response)


@router.get("/{item_id}/history", response_model=ChangeList, summary="变更记录 Every change of an item")
async def history(item_id: UUID, session: Session, caller: CurrentCaller) -> ChangeList:
    changes = await service.history_of(session, caller=caller, item_id=item_id)
    return ChangeList(items=[ChangeOut.model_validate(c, from_attributes=True) for c in changes])


@router.patch("/{item_id}", response_model=ItemOut, summary="修改审批事项 Change an item (If-Match)")
async def update_item(
    item_id: UUID,
    body: ItemUpdate,
    response: Response,
    session: Session,
    runtime: Runtime,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> ItemOut:
    item, plan = await service.get_item(session, caller=caller, item_id=item_id)
    check_if_match(if_match, etag_for(item.id, item.revision))
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "handling_unit_id" in changes:
        changes["handling_unit_id"] = body.handling_unit_id
    item = await service.update_item(
        session,
        caller=caller,
        calendar=runtime.calendar,
        clock=runtime.clock,
        item=item,
        plan=plan,
        expected_revision=item.revision,
        changes=changes,
    )
    result = await _respond(session, runtime, item, response)
    await session.commit()
    return result


ActionUseCase = Callable[..., Awaitable[ApprovalItem]]


async def _act(
    use_case: ActionUseCase,
    item_id: UUID,
    body: ActionBody,
    response: Response,
    session: AsyncSession,
    runtime: ServiceRuntime,
    caller: Caller,
    if_match: str | None,
    **extra: Any,
) -> ItemOut:
    """Find the item the caller may see, check the revision it saw, and take the action."""
    item, plan = await service.get_item(session, caller=caller, item_id=item_id)
    check_if_match(if_match, etag_for(item.id, item.revision))
    act = Act(
        caller=caller,
        item=item,
        plan=plan,
        expected_revision=item.revision,
        note=body.note,
        document_refs=body.document_refs,
    )
    item = await use_case(session, timekeeping=_timekeeping(runtime), act=act, **extra)
    result = await _respond(session, runtime, item, response)
    await session.commit()
    return result


#: ``POST /{item_id}/<verb>`` with an optional note and documents: the verb, its use case, its summary.
ACTIONS: dict[str, tuple[ActionUseCase, str]] = {
    "submissions": (actions.submit, "申报 Submit"),
    "acceptances": (actions.accept, "受理 Accept (the time limit starts)"),
    "supplement-requests": (actions.request_supplement, "要求补正 Request a supplement (the clock pauses)"),
    "resubmissions": (actions.resubmit, "补正后重新提交 Resubmit (the clock resumes)"),
    "withdrawals": (actions.withdraw, "撤回 Withdraw"),
    "verifications": (actions.verify, "承诺核查/事后验收完成 Verify a commitment or inspection"),
}


def _action_route(use_case: ActionUseCase) -> Callable[..., Awaitable[ItemOut]]:
    async def endpoint(
        item_id: UUID,
        response: Response,
        session: Session,
        runtime: Runtime,
        caller: CurrentCaller,
        body: ActionBody | None = None,
        if_match: IfMatch = None,
    ) -> ItemOut:
        return await _act(
            use_case, item_id, body or ActionBody(), response, session, runtime, caller, if_match
        )

    endpoint.__name__ = f"item_{use_case.__name__}"
    return endpoint


for _verb, (_use_case, _summary) in ACTIONS.items():
    router.add_api_route(
        f"/{{item_id}}/{_verb}",
        _action_route(_use_case),
        methods=["POST"],
        response_model=ItemOut,
        summary=_summary,
        description=ACTION_DESCRIPTION,
    )


@router.post("/{item_id}/grants", response_model=ItemOut, summary="准予许可 Grant (If-Match)")
async def grant(
    item_id: UUID,
    response: Response,
    session: Session,
    runtime: Runtime,
    caller: CurrentCaller,
    body: GrantBody | None = None,
    if_match: IfMatch = None,
) -> ItemOut:
    body = body or GrantBody()
    return await _act(
        actions.grant,
        item_id,
        body,
        response,
        session,
        runtime,
        caller,
        if_match,
        certificate_no=body.certificate_no,
    )


@router.post("/{item_id}/rejections", response_model=ItemOut, summary="不予许可 Reject (If-Match)")
async def reject(
    item_id: UUID,
    body: RejectBody,
    response: Response,
    session: Session,
    runtime: Runtime,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> ItemOut:
    return await _act(
        actions.reject, item_id, body, response, session, runtime, caller, if_match, reason=body.reason
    )
