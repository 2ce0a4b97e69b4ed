"""HTTP routes of problems and meeting matters: thin — validate, call one use case, return a schema; the
unit of work commits a write.

Problems and meeting matters share their verbs (actions as sub-resources with ``If-Match``)::

    POST /api/v1/problems                      report (Idempotency-Key)
    POST /api/v1/problems/{id}/acceptance      accept (受理), optionally assigning the resolving unit
    POST /api/v1/problems/{id}/return          return (退回)          POST .../assignments  assign (交办)
    POST /api/v1/problems/{id}/answers         handling opinion       POST .../progress-reports
    POST /api/v1/problems/{id}/resolution      solved                 POST .../closure      销号
    POST /api/v1/problems/{id}/escalations     escalate by hand       POST .../withdrawal, .../merge
    GET  /api/v1/problems, /{id}, /{id}/audit, /ledger.xlsx
    POST, GET /api/v1/problems/{id}/attachments, GET .../attachments/{aid}[/content]  (lkg.issues.attachments)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.actions import ACTION_RESPONSES, ActionRoutes, route_signature
from lkg.common.http.concurrency import etag_header
from lkg.common.http.idempotency import IdempotencyKey, request_hash
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.http.query import StrictQuery
from lkg.common.xlsx import XLSX_MEDIA_TYPE
from lkg.issues.access import Caller
from lkg.issues.attachments.api import add_attachment_routes
from lkg.issues.deps import CallerDep, Runtime, Session, UnitOfWork, create_once
from lkg.issues.matters import closure, intake, queries, service
from lkg.issues.matters.clocks import working_days_left
from lkg.issues.matters.ledger import FILENAME, ledger_workbook
from lkg.issues.matters.schemas import (
    Acceptance,
    Answer,
    Assignment,
    AuditOut,
    AuditPage,
    BreachOut,
    ClockOut,
    Closure,
    MatterOut,
    MatterPage,
    MatterState,
    MeetingAcceptance,
    MeetingMatterCreate,
    Merge,
    ProblemCreate,
    ProgressReport,
    Reasoned,
    Resolution,
)
from lkg.issues.settings import IssuesRuntime


async def matter_out(session: AsyncSession, runtime: IssuesRuntime, m: Any) -> MatterOut:
    """The matter with every clock (and its working days left, on the official calendar at the shared
    clock's now) and its breaches."""
    now = runtime.clock.now()
    clocks = [
        ClockOut.model_validate(
            {
                **r._mapping,
                "working_days_left": working_days_left(runtime.calendar, r.due_at, r.ended_at, now),
            }
        )
        for r in await queries.clocks_of(session, m.id)
    ]
    breaches = [
        BreachOut.model_validate(r, from_attributes=True) for r in await queries.breaches_of(session, m.id)
    ]
    out = MatterOut.model_validate(m, from_attributes=True)
    return out.model_copy(update={"clocks": clocks, "breaches": breaches})


def _json(out: MatterOut, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=status,
        headers={**etag_header(out.id, out.revision), **headers},
    )


async def _render(session: AsyncSession, done: tuple[Any, IssuesRuntime]) -> JSONResponse:
    m, runtime = done
    return _json(await matter_out(session, runtime, m))


def _answering_with_runtime(use_case: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The use case of an action route, answering its matter with the runtime (the clocks' working days
    left are read on the runtime's calendar and clock)."""

    async def run(session: AsyncSession, runtime: IssuesRuntime, *args: Any, **kwargs: Any) -> Any:
        return await use_case(session, runtime, *args, **kwargs), runtime

    return run


def matter_router(kind: str, prefix: str, label: str) -> APIRouter:
    """The shared verbs of one kind of matter under ``prefix``."""
    r = APIRouter(prefix=prefix, tags=[kind], dependencies=[StrictQuery])

    async def load(session: AsyncSession, matter_id: UUID, caller: Caller) -> Any:
        return await queries.get_matter(session, kind, matter_id, caller)

    routes = ActionRoutes[Caller, Any](
        router=r,
        base="/{matter_id}",
        param="matter_id",
        name=kind,
        load=load,
        render=_render,
        response_model=MatterOut,
        session=UnitOfWork,
        runtime=Runtime,
        caller=CallerDep,
    )

    def action(
        verb: str, body: type[BaseModel], summary: str, use_case: Callable[..., Awaitable[Any]]
    ) -> None:
        routes(verb, body, summary, _answering_with_runtime(use_case))

    @r.get("", response_model=MatterPage, summary=f"{label}列表 List")
    async def list_matters(
        session: Session,
        runtime: Runtime,
        caller: CallerDep,
        page: PageQuery,
        updated_since: UpdatedSince = None,
        project_id: UUID | None = None,
        unit_id: UUID | None = Query(default=None, description="反映、解决或负责的单位 / unit"),
        line_id: UUID | None = None,
        layer: int | None = Query(default=None, ge=1, le=3),
        state: MatterState | None = None,
        overdue: bool | None = Query(default=None, description="有超时未办的时限 / has a clock past due"),
        awaiting_me: bool | None = Query(
            default=None,
            description=(
                "待我处理：下一步须由调用者所在单位、包保线或岗位办理的未结事项（待受理→受理单位、已受理→交办、"
                "已交办/已答复/办理中→问题解决单位、已解决→所在层级销号）；false 为其余可见事项。重大项目办与"
                "区主要领导也只得到本单位、本岗位承办的事项。/ open matters whose next step is for a unit, "
                "line or post the caller acts for (accept, assign, answer, report, resolve, close); false: "
                "the others the caller sees"
            ),
        ),
    ) -> MatterPage:
        rows, cursor = await queries.list_matters(
            session,
            kind,
            caller,
            page,
            now=runtime.clock.now(),
            project_id=project_id,
            unit_id=unit_id,
            line_id=line_id,
            layer=layer,
            state=state,
            overdue=overdue,
            awaiting_me=awaiting_me,
            updated_since=updated_since,
        )
        return MatterPage(items=[await matter_out(session, runtime, m) for m in rows], next_cursor=cursor)

    if kind == "problem":

        @r.get(
            "/ledger.xlsx",
            summary="问题台账（Excel）Problem ledger",
            response_class=Response,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
        )
        async def ledger(
            session: Session, runtime: Runtime, caller: CallerDep, line_id: UUID | None = None
        ) -> Response:
            now = runtime.clock.now()
            rows = await queries.ledger_rows(session, caller, line_id=line_id)
            return Response(
                ledger_workbook(rows, now=now),
                media_type=XLSX_MEDIA_TYPE,
                headers={"Content-Disposition": f'attachment; filename="{FILENAME}"'},
            )

    @r.get(
        "/{matter_id}",
        response_model=MatterOut,
        summary=f"{label}详情（含全部时限）Get",
        responses=ACTION_RESPONSES,
    )
    async def get_matter(
        matter_id: UUID, session: Session, runtime: Runtime, caller: CallerDep
    ) -> JSONResponse:
        return _json(await matter_out(session, runtime, await load(session, matter_id, caller)))

    @r.get(
        "/{matter_id}/audit",
        response_model=AuditPage,
        summary="操作记录 Audit trail",
        responses=ACTION_RESPONSES,
    )
    async def audit(matter_id: UUID, session: Session, caller: CallerDep) -> AuditPage:
        entries = await queries.audit_of(session, kind, matter_id, caller)
        return AuditPage(items=[AuditOut.model_validate(e, from_attributes=True) for e in entries])

    add_attachment_routes(r, kind, prefix, load)
    if kind == "problem":
        action("acceptance", Acceptance, "受理 Accept", service.accept)
        action("return", Reasoned, "不予受理退回 Return", closure.return_problem)
    else:
        action("acceptance", MeetingAcceptance, "签收 Accept", service.accept_meeting_matter)
        action("return", Reasoned, "退回（未签收前）Return", closure.return_meeting_matter)
    action("assignments", Assignment, "交办 Assign the resolving unit", service.assign)
    action("answers", Answer, "反馈处理意见 Answer", service.answer)
    action("progress-reports", ProgressReport, "报送进展 Report progress", service.report_progress)
    action("resolution", Resolution, "报告办结 Resolved", service.resolve)
    action("closure", Closure, "销号 Close", closure.close)
    action("escalations", Reasoned, "报请上一层协调 Escalate", service.escalate_by_hand)
    action("withdrawal", Reasoned, "撤回 Withdraw", closure.withdraw)
    action("merge", Merge, "合并 Merge into another", closure.merge)
    return r


def problems_router() -> APIRouter:
    r = matter_router("problem", "/api/v1/problems", "问题")
    report = "项目责任单位（或重大项目办代为）反映难点、堵点问题；支持 `Idempotency-Key`。"
    add_create(
        r, "report_problem", ProblemCreate, "反映问题 Report a problem", report, "无权为该项目反映问题"
    )
    return r


def meeting_matters_router() -> APIRouter:
    r = matter_router("meeting_matter", "/api/v1/meeting-matters", "会议议定事项")
    add_create(
        r, "register_meeting_matter", MeetingMatterCreate, "登记会议议定事项 Register a meeting matter"
    )
    return r


#: The use case behind each create route.
_CREATE: dict[str, Callable[..., Awaitable[Any]]] = {
    "report_problem": intake.report_problem,
    "register_meeting_matter": intake.register_meeting_matter,
}


def add_create(
    r: APIRouter,
    name: str,
    body: type[BaseModel],
    summary: str,
    description: str | None = None,
    forbidden: str = "无权登记",
) -> None:
    """``POST ""`` on ``r``: the use case ``name`` (``use_case(session, runtime, caller, **body)``), 201 with
    the new matter and its ``Location``; a repeated ``Idempotency-Key`` replays the first answer."""
    prefix, use_case = r.prefix, _CREATE[name]

    async def create(**kwargs: Any) -> Response:
        request, session, caller, body_in = (
            kwargs["request"],
            kwargs["session"],
            kwargs["caller"],
            kwargs["body"],
        )

        async def created() -> Response:
            m = await use_case(session, kwargs["runtime"], caller, **body_in.model_dump())
            return _json(await matter_out(session, kwargs["runtime"], m), 201, Location=f"{prefix}/{m.id}")

        return await create_once(
            request, session, caller, kwargs["idempotency_key"], request_hash(body_in), created
        )

    route_signature(
        create,
        name,
        request=Request,
        body=body,
        session=UnitOfWork,
        runtime=Runtime,
        caller=CallerDep,
        idempotency_key=(IdempotencyKey, None),
    )
    r.add_api_route(
        "",
        create,
        methods=["POST"],
        status_code=201,
        response_model=MatterOut,
        summary=summary,
        description=description,
        responses={
            403: {"description": forbidden},
            404: {"description": "项目不存在或尚未同步 / unknown_project"},
        },
    )
