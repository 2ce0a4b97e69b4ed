"""Routes of a plan's items: ``/api/v1/approval-items``. Each action on an item is a sub-resource
(``POST /{item_id}/<verb>``) and takes ``If-Match``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.deps import CurrentCaller, Reads, Runtime, Session, UnitOfWork
from lkg.approvals.items import actions, service, views
from lkg.approvals.items.actions import Act, Acted, Timekeeping
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
from lkg.approvals.settings import ApprovalsRuntime
from lkg.common.http.actions import route_signature
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import PageQuery

router = APIRouter(prefix="/api/v1/approval-items", tags=["approval-items"])

ACTION_DESCRIPTION = "需要 `If-Match`；两人同时操作时后到者得到 412（或 409 状态不允许）。"


def _timekeeping(runtime: ApprovalsRuntime) -> Timekeeping:
    share = runtime.settings.due_soon_share
    return Timekeeping(clock=runtime.clock, calendar=runtime.calendar, due_soon_share=share)


async def _respond(
    session: AsyncSession, runtime: ApprovalsRuntime, item: ApprovalItem, response: Response
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
    item_id: UUID, response: Response, runtime: Runtime, caller: CurrentCaller, reads: Reads
) -> ItemOut:
    # ``reads`` last: FastAPI solves dependencies in order, so the connection is taken once the caller is
    # known (and not at all when the caller is refused).
    read = await service.read_item(reads, caller=caller, item_id=item_id)
    response.headers.update(etag_header(read.fields["id"], read.fields["revision"]))
    return views.read_out(read, runtime.calendar, runtime.clock.now())


@router.get("/{item_id}/history", response_model=ChangeList, summary="变更记录 Every change of an item")
async def history(item_id: UUID, session: Session, caller: CurrentCaller) -> ChangeList:
    changes = await service.history_of(session, caller=caller, item_id=item_id)
    return ChangeList(items=[ChangeOut.model_validate(c, from_attributes=True) for c in changes])


@router.patch("/{item_id}", response_model=ItemOut, summary="修改审批事项 Change an item (If-Match)")
async def update_item(
    item_id: UUID,
    body: ItemUpdate,
    response: Response,
    session: UnitOfWork,
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
    return await _respond(session, runtime, item, response)


ActionUseCase = Callable[..., Awaitable[Acted]]


@dataclass(frozen=True)
class ItemAction:
    """``POST /{item_id}/<verb>``: the use case it runs, the body it takes (an empty one is the body's
    defaults unless ``required``) and what of the body goes to the use case besides the note and documents."""

    verb: str
    use_case: ActionUseCase
    summary: str
    body: type[ActionBody] = ActionBody
    required: bool = False
    extra: Callable[[Any], dict[str, Any]] = lambda _body: {}
    #: The route's name (its OpenAPI operation id is made from it).
    name: str | None = None
    description: str | None = ACTION_DESCRIPTION


ACTIONS = (
    ItemAction("submissions", actions.submit, "申报 Submit"),
    ItemAction("acceptances", actions.accept, "受理 Accept (the time limit starts)"),
    ItemAction(
        "supplement-requests", actions.request_supplement, "要求补正 Request a supplement (the clock pauses)"
    ),
    ItemAction("resubmissions", actions.resubmit, "补正后重新提交 Resubmit (the clock resumes)"),
    ItemAction("withdrawals", actions.withdraw, "撤回 Withdraw"),
    ItemAction("verifications", actions.verify, "承诺核查/事后验收完成 Verify a commitment or inspection"),
    ItemAction(
        "grants",
        actions.grant,
        "准予许可 Grant (If-Match)",
        GrantBody,
        extra=lambda body: {"certificate_no": body.certificate_no},
        name="grant",
        description=None,
    ),
    ItemAction(
        "rejections",
        actions.reject,
        "不予许可 Reject (If-Match)",
        RejectBody,
        required=True,
        extra=lambda body: {"reason": body.reason},
        name="reject",
        description=None,
    ),
)


def _action_route(action: ItemAction) -> Callable[..., Awaitable[ItemOut]]:
    """The route of one action: find the item the caller may see (404 otherwise), check the revision it saw,
    run the use case in the unit of work, answer the item with its new ETag."""

    async def endpoint(**kwargs: Any) -> ItemOut:
        session, runtime, caller = kwargs["session"], kwargs["runtime"], kwargs["caller"]
        body = kwargs["body"] or action.body()
        item, plan, clocks = await service.get_item_to_act(session, caller=caller, item_id=kwargs["item_id"])
        check_if_match(kwargs["if_match"], etag_for(item.id, item.revision))
        act = Act(
            caller=caller,
            item=item,
            plan=plan,
            clocks=clocks,
            expected_revision=item.revision,
            note=body.note,
            document_refs=body.document_refs,
        )
        acted = await action.use_case(
            session, timekeeping=_timekeeping(runtime), act=act, **action.extra(body)
        )
        kwargs["response"].headers.update(etag_header(acted.item.id, acted.item.revision))
        return views.item_out(acted.item, acted.clocks, runtime.calendar, runtime.clock.now())

    body = action.body if action.required else (action.body | None, None)
    route_signature(
        endpoint,
        action.name or f"item_{action.use_case.__name__}",
        item_id=UUID,
        response=Response,
        session=UnitOfWork,
        runtime=Runtime,
        caller=CurrentCaller,
        body=body,
        if_match=(IfMatch, None),
    )
    return endpoint


for _action in ACTIONS:
    router.add_api_route(
        f"/{{item_id}}/{_action.verb}",
        _action_route(_action),
        methods=["POST"],
        response_model=ItemOut,
        summary=_action.summary,
        description=_action.description,
    )
