"""HTTP routes of the issues service: thin — validate, call one use case, commit once, return a schema.

Problems and meeting matters share their verbs (DESIGN §3: actions as sub-resources with ``If-Match``)::

    POST /api/v1/problems                      report (Idempotency-Key)
    POST /api/v1/problems/{id}/acceptance      accept (受理), optionally assigning the resolving unit
    POST /api/v1/problems/{id}/return          return (退回)          POST .../assignments  assign (交办)
    POST /api/v1/problems/{id}/answers         handling opinion       POST .../progress-reports
    POST /api/v1/problems/{id}/resolution      solved                 POST .../closure      销号
    POST /api/v1/problems/{id}/escalations     escalate by hand       POST .../withdrawal, .../merge
    GET  /api/v1/problems, /{id}, /{id}/audit, /ledger.xlsx
    POST, GET /api/v1/problems/{id}/attachments, GET .../attachments/{aid}[/content]  (attachments_api)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, CurrentReach
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.http.query import StrictQuery
from lkg.common.readcopy import read_copy_router
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues import service
from lkg.issues.access import Viewer
from lkg.issues.attachments_api import add_attachment_routes
from lkg.issues.audit import trail
from lkg.issues.models import project_copy
from lkg.issues.schemas import (
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

Session = Annotated[AsyncSession, Depends(session_for("issues"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("issues"))]

_ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "可见但无权执行 / visible but not allowed"},
    404: {"description": "不存在或不可见 / not found or not visible"},
    409: {"description": "状态不允许 / not allowed in this state"},
    412: {"description": "已被他人修改 / changed by someone else"},
    428: {"description": "缺少 If-Match / If-Match required"},
}


async def get_viewer(principal: CurrentPrincipal, reach: CurrentReach) -> Viewer:
    return Viewer(principal=principal, reach=reach)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def matter_out(session: AsyncSession, m: Any) -> MatterOut:
    clocks = [
        ClockOut.model_validate(r, from_attributes=True) for r in await service.clocks_of(session, m.id)
    ]
    breaches = [
        BreachOut.model_validate(r, from_attributes=True) for r in await service.breaches_of(session, m.id)
    ]
    out = MatterOut.model_validate(m, from_attributes=True)
    return out.model_copy(update={"clocks": clocks, "breaches": breaches})


def _json(out: MatterOut, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=status,
        headers={**etag_header(out.id, out.revision), **headers},
    )


def matter_router(kind: str, prefix: str, label: str) -> APIRouter:
    """The shared verbs of one kind of matter under ``prefix``."""
    r = APIRouter(prefix=prefix, tags=[kind], dependencies=[StrictQuery])

    def action(path: str, body_cls: type, summary: str, use_case: Callable[..., Awaitable[Any]]) -> None:
        async def act(
            matter_id: UUID,
            body: body_cls,  # type: ignore[valid-type]
            session: Session,
            runtime: Runtime,
            viewer: ViewerDep,
            if_match: IfMatch = None,
        ) -> JSONResponse:
            m = await service.get_matter(session, kind, matter_id, viewer)
            check_if_match(if_match, etag_for(m.id, m.revision))
            m = await use_case(session, runtime, viewer, m, expected_revision=m.revision, **body.model_dump())
            out = await matter_out(session, m)
            await session.commit()
            return _json(out)

        act.__annotations__["body"] = body_cls  # resolved here: annotations are strings in this module
        act.__name__ = f"{kind}_{path.strip('/').replace('-', '_')}"
        r.add_api_route(
            f"/{{matter_id}}/{path}",
            act,
            methods=["POST"],
            response_model=MatterOut,
            summary=summary,
            responses=_ACTION_RESPONSES,
        )

    @r.get("", response_model=MatterPage, summary=f"{label}列表 List")
    async def list_matters(
        session: Session,
        runtime: Runtime,
        viewer: ViewerDep,
        page: PageQuery,
        updated_since: UpdatedSince = None,
        project_id: UUID | None = None,
        unit_id: UUID | None = Query(default=None, description="反映、解决或负责的单位 / unit"),
        line_id: UUID | None = None,
        layer: int | None = Query(default=None, ge=1, le=3),
        state: MatterState | None = None,
        overdue: bool | None = Query(default=None, description="有超时未办的时限 / has a clock past due"),
    ) -> MatterPage:
        rows, cursor = await service.list_matters(
            session,
            kind,
            viewer,
            page,
            now=runtime.clock.now(),
            project_id=project_id,
            unit_id=unit_id,
            line_id=line_id,
            layer=layer,
            state=state,
            overdue=overdue,
            updated_since=updated_since,
        )
        return MatterPage(items=[await matter_out(session, m) for m in rows], next_cursor=cursor)

    if kind == "problem":
        from lkg.issues.ledger import ledger_response

        @r.get(
            "/ledger.xlsx",
            summary="问题台账（Excel）Problem ledger",
            response_class=Response,
            responses={200: {"content": {ledger_media_type(): {}}}},
        )
        async def ledger(
            session: Session, runtime: Runtime, viewer: ViewerDep, line_id: UUID | None = None
        ) -> Response:
            return await ledger_response(session, viewer, now=runtime.clock.now(), line_id=line_id)

    @r.get(
        "/{matter_id}",
        response_model=MatterOut,
        summary=f"{label}详情（含全部时限）Get",
        responses=_ACTION_RESPONSES,
    )
    async def get_matter(matter_id: UUID, session: Session, viewer: ViewerDep) -> JSONResponse:
        m = await service.get_matter(session, kind, matter_id, viewer)
        return _json(await matter_out(session, m))

    @r.get(
        "/{matter_id}/audit",
        response_model=AuditPage,
        summary="操作记录 Audit trail",
        responses=_ACTION_RESPONSES,
    )
    async def audit(matter_id: UUID, session: Session, viewer: ViewerDep) -> AuditPage:
        m = await service.get_matter(session, kind, matter_id, viewer)
        return AuditPage(
            items=[AuditOut.model_validate(e, from_attributes=True) for e in await trail(session, m.id)]
        )

    add_attachment_routes(r, kind, prefix)
    if kind == "problem":
        action("acceptance", Acceptance, "受理 Accept", service.accept)
        action("return", Reasoned, "不予受理退回 Return", service.return_problem)
    else:
        action("acceptance", MeetingAcceptance, "签收 Accept", service.accept_meeting_matter)
        action("return", Reasoned, "退回（未签收前）Return", service.return_meeting_matter)
    action("assignments", Assignment, "交办 Assign the resolving unit", service.assign)
    action("answers", Answer, "反馈处理意见 Answer", service.answer)
    action("progress-reports", ProgressReport, "报送进展 Report progress", service.report_progress)
    action("resolution", Resolution, "报告办结 Resolved", service.resolve)
    action("closure", Closure, "销号 Close", service.close)
    action("escalations", Reasoned, "报请上一层协调 Escalate", service.escalate_by_hand)
    action("withdrawal", Reasoned, "撤回 Withdraw", service.withdraw)
    action("merge", Merge, "合并 Merge into another", service.merge)
    return r


def ledger_media_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def router() -> APIRouter:
    r = APIRouter()
    problems = matter_router("problem", "/api/v1/problems", "问题")

    @problems.post(
        "",
        status_code=201,
        response_model=MatterOut,
        summary="反映问题 Report a problem",
        description="项目责任单位（或重大项目办代为）反映难点、堵点问题；支持 `Idempotency-Key`。",
        responses={
            403: {"description": "无权为该项目反映问题"},
            404: {"description": "项目不存在或尚未同步 / unknown_project"},
        },
    )
    async def report_problem(
        request: Request,
        body: ProblemCreate,
        session: Session,
        runtime: Runtime,
        viewer: ViewerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def create() -> Response:
            m = await service.report_problem(
                session,
                runtime,
                viewer,
                **body.model_dump(),
                actor=viewer.actor,
                actor_name=viewer.principal.name,
                person_id=viewer.principal.person_id,
            )
            out = await matter_out(session, m)
            return _json(out, 201, Location=f"/api/v1/problems/{m.id}")

        response = await idempotent_create(
            session,
            principal=viewer.principal.key,
            key=idempotency_key,
            method="POST",
            path=request.url.path,
            request_hash=request_hash(body),
            create=create,
        )
        await session.commit()
        return response

    meeting = matter_router("meeting_matter", "/api/v1/meeting-matters", "会议议定事项")

    @meeting.post(
        "",
        status_code=201,
        response_model=MatterOut,
        summary="登记会议议定事项 Register a meeting matter",
        responses={
            403: {"description": "无权登记"},
            404: {"description": "项目不存在或尚未同步 / unknown_project"},
        },
    )
    async def register_meeting_matter(
        request: Request,
        body: MeetingMatterCreate,
        session: Session,
        runtime: Runtime,
        viewer: ViewerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def create() -> Response:
            m = await service.register_meeting_matter(session, runtime, viewer, **body.model_dump())
            out = await matter_out(session, m)
            return _json(out, 201, Location=f"/api/v1/meeting-matters/{m.id}")

        response = await idempotent_create(
            session,
            principal=viewer.principal.key,
            key=idempotency_key,
            method="POST",
            path=request.url.path,
            request_hash=request_hash(body),
            create=create,
        )
        await session.commit()
        return response

    r.include_router(problems)
    r.include_router(meeting)
    from lkg.issues.supervision_api import router as supervision_router

    r.include_router(supervision_router())
    r.include_router(read_copy_router("issues", project_copy))
    return r


__all__ = ["datetime", "router"]
