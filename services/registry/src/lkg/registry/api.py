"""HTTP routes of the registry: thin — validate, call one use case, commit once, return a schema."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, Principal, Role, require_roles
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.http.query import StrictQuery
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry import access, plan_excel, plan_import, reads, service
from lkg.registry.models import Project
from lkg.registry.org import service as org
from lkg.registry.org.api import router as org_router
from lkg.registry.schemas import (
    ChangeOut,
    CommitmentIn,
    CommitmentOut,
    CountOut,
    Deregistration,
    EnrolmentFailureList,
    EnrolmentUpdate,
    FlagsUpdate,
    Fulfilment,
    InvestmentReportIn,
    InvestmentReportOut,
    LineAssignment,
    LineExplanation,
    MilestoneActual,
    MilestoneAdd,
    MilestoneOut,
    MilestoneReplan,
    PlanImportMode,
    PlanImportOut,
    PlanRowErrorOut,
    PlanRowResultOut,
    ProjectCreate,
    ProjectDetail,
    ProjectFilters,
    ProjectOut,
    ProjectPage,
    ProjectSort,
    ProjectUpdate,
    Termination,
)

Session = Annotated[AsyncSession, Depends(session_for("registry"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("registry"))]
Office = Annotated[Principal, Depends(require_roles(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))]
Statistics = Annotated[
    Principal, Depends(require_roles(Role.STATISTICS_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))
]
Filters = Annotated[ProjectFilters, Query()]
Sort = Annotated[
    ProjectSort | None,
    Query(
        description="排序字段，前加 - 为降序（同值按 id）/ order by a field, '-' for descending "
        "(ties by id); default: registration order, or update order with updated_since"
    ),
]
ImportModeQuery = Annotated[
    PlanImportMode,
    Query(
        description="all：有错误行则不导入任何项目（默认）；valid_rows：只导入无错误的行 / "
        "all-or-nothing (default), or import the valid rows only"
    ),
]
XLSX_BODY = {
    "requestBody": {
        "required": True,
        "description": "推进计划工作簿（.xlsx，请求体即文件）/ the plan workbook, the body is the file",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in plan_excel.UPLOAD_MEDIA_TYPES
        },
    }
}
NOT_FOUND = {404: {"description": "项目不存在或不在可见范围 / no such project within reach"}}


def _runtime(request: Request) -> ServiceRuntime:
    """The registry's runtime, as the ``Runtime`` dependency finds it, for the read routes."""
    return request.app.state.runtimes["registry"]


def _out(project: Project) -> ProjectOut:
    return ProjectOut.model_validate(project, from_attributes=True)


def _check(if_match: str | None, project: Project) -> int | None:
    """Actions take an optional If-Match: when given, a stale one is 412 and nothing changes."""
    if if_match is None:
        return None
    check_if_match(if_match, etag_for(project.id, project.revision))
    return project.revision


async def _idempotent(
    request: Request | str,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    body: object,
    create,
) -> Response:
    """Run ``create`` (a POST) once per Idempotency-Key (DESIGN §3: mobile networks retry), then commit
    once. ``request`` is the request, or its path."""
    response = await idempotent_create(
        session,
        principal=principal.key,
        key=key,
        method="POST",
        path=request if isinstance(request, str) else request.url.path,
        request_hash=request_hash(body),
        create=create,
    )
    await session.commit()
    return response


def _created(model, location: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    extra = {"Location": location} if location else {}
    return JSONResponse(model.model_dump(mode="json"), status_code=201, headers={**extra, **(headers or {})})


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(org_router())
    # Unknown query parameters are refused on every project route (a misspelt filter would otherwise
    # export or list the whole district): lkg.common.http.query.
    p = APIRouter(prefix="/api/v1/projects", responses=NOT_FOUND, dependencies=[StrictQuery])

    async def visible(session: AsyncSession, runtime: ServiceRuntime, principal: Principal, project_id: UUID):
        project = await service.get_project(session, project_id)
        seen = await access.visibility(session, principal, runtime.clock.now().date())
        access.ensure_visible(project, seen)
        return project, seen

    @p.post(
        "",
        status_code=201,
        response_model=ProjectOut,
        summary="登记项目 Register a project",
        description="新项目进入项目库，按分线规则确定包保线（或进入待分线队列），发布 `project.registered`；"
        "计划节点成为冻结的年度基线。支持 `Idempotency-Key`。",
    )
    async def register_project(
        request: Request,
        body: ProjectCreate,
        session: Session,
        runtime: Runtime,
        principal: Office,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def create() -> Response:
            project = await service.register_project(session, runtime.clock, body, actor=principal.key)
            return _created(
                _out(project),
                f"/api/v1/projects/{project.id}",
                etag_header(project.id, project.revision),
            )

        return await _idempotent(request, session, principal, idempotency_key, body, create)

    @p.get("", response_model=ProjectPage, summary="项目列表 List projects")
    async def list_projects(
        request: Request,
        principal: CurrentPrincipal,
        page: PageQuery,
        filters: Filters,
        updated_since: UpdatedSince = None,
        sort: Sort = None,
    ) -> Response:
        # The read path (lkg.registry.reads): one statement, no ORM session; the JSON is ProjectPage's. The
        # runtime is read from the request, not solved as a dependency (one less per request).
        runtime = _runtime(request)
        today = runtime.clock.now().date()
        seen = await access.read_visibility(runtime, principal, today)
        body = await reads.page_json(
            runtime.db.engine,
            page,
            visibility=seen,
            filters=filters,
            today=today,
            updated_since=updated_since,
            sort=sort,
        )
        return Response(body, media_type="application/json")

    @p.get(
        "/plan.xlsx",
        summary="导出推进计划 Export the plan as Excel",
        description="《重大产业项目推进计划》：调用者可见范围内、按列表同样的筛选和排序的项目，一行一个项目，"
        "金额单位万元，计划节点日期；可原样修改后导入。",
        response_class=Response,
        responses={
            200: {
                "description": "推进计划工作簿 / the plan as an XLSX workbook",
                "content": {plan_excel.XLSX: {"schema": {"type": "string", "format": "binary"}}},
            },
            409: {"description": "符合条件的项目过多，请加筛选 / too many projects: filter the export"},
        },
    )
    async def export_plan(
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        filters: Filters,
        sort: Sort = None,
    ) -> Response:
        now = runtime.clock.now()
        seen = await access.visibility(session, principal, now.date())
        rows = await plan_import.export_rows(
            session, visibility=seen, filters=filters, today=now.date(), order=service.ordering(sort)
        )
        # Building a workbook is CPU work (seconds for thousands of rows): off the event loop, which every
        # service of the process shares.
        workbook = await run_in_threadpool(
            plan_excel.write_plan,
            rows,
            title=f"临空港重大产业项目推进计划（{now.date().isoformat()}导出）",
            as_of=now,
        )
        return Response(
            workbook,
            media_type=plan_excel.XLSX,
            headers={"Content-Disposition": f'attachment; filename="plan-{now.date().isoformat()}.xlsx"'},
        )

    @p.post(
        "/plan-imports",
        response_model=PlanImportOut,
        summary="导入推进计划 Import the plan (重大项目办)",
        description="请求体为 .xlsx 文件（Content-Type: "
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet 或 application/octet-stream，"
        "大小受 LKG_MAX_BODY_BYTES 限制）。"
        "按项目ID、其次按项目代码匹配：匹配到则更新，否则新建；与 API 相同的用例（分线、历史、事件）。"
        "逐行校验，错误行给出行号、列和原因；默认有错误行则不导入任何项目（422 plan_import_rejected），"
        "`mode=valid_rows` 只导入无错误的行。支持 `Idempotency-Key`。",
        openapi_extra=XLSX_BODY,
        responses={
            415: {"description": "不是 .xlsx 文件类型 / not an XLSX content type"},
            422: {"description": "工作簿无法读取或有错误行 / unreadable workbook, or bad rows (mode=all)"},
        },
    )
    async def import_plan(
        request: Request,
        session: Session,
        runtime: Runtime,
        principal: Office,
        mode: ImportModeQuery = PlanImportMode.ALL,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in plan_excel.UPLOAD_MEDIA_TYPES:
            raise plan_excel.UnsupportedMediaType(f"请以 {plan_excel.XLSX} 上传 .xlsx 文件")
        data = await request.body()

        async def run() -> Response:
            parsed = await run_in_threadpool(plan_excel.read_plan, data)
            report = await plan_import.import_plan(
                session, runtime.clock, parsed, mode=mode, actor=principal.key
            )
            out = PlanImportOut(
                mode=mode,
                rows=report.rows,
                created=report.count("created"),
                updated=report.count("updated"),
                unchanged=report.count("unchanged"),
                rejected=report.rejected,
                results=[PlanRowResultOut(**vars(r)) for r in report.results],
                errors=[PlanRowErrorOut(**e.as_dict()) for e in report.errors],
            )
            return JSONResponse(out.model_dump(mode="json"))

        return await _idempotent(request, session, principal, idempotency_key, mode.encode() + data, run)

    @p.get("/by-code/{project_code}", response_model=ProjectDetail, summary="按项目代码查找 Look up by code")
    async def get_by_code(
        project_code: Annotated[str, service_code_path()],
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        runtime = _runtime(request)
        seen = await access.read_visibility(runtime, principal, runtime.clock.now().date())
        project, body = await reads.project_json_by_code(runtime.db.engine, project_code, seen)
        return Response(
            body, media_type="application/json", headers=etag_header(project["id"], project["revision"])
        )

    # ``{project_id:uuid}``: only a UUID routes here, so ``/enrolment-failures`` with another method than
    # POST is 405 (Allow: POST) rather than a 422 about a malformed project id.
    @p.get("/{project_id:uuid}", response_model=ProjectDetail, summary="项目详情 Get a project")
    async def get_project(project_id: UUID, request: Request, principal: CurrentPrincipal) -> Response:
        runtime = _runtime(request)
        seen = await access.read_visibility(runtime, principal, runtime.clock.now().date())
        project, body = await reads.project_json(runtime.db.engine, project_id, seen)
        return Response(
            body, media_type="application/json", headers=etag_header(project["id"], project["revision"])
        )

    @p.patch(
        "/{project_id:uuid}",
        response_model=ProjectOut,
        summary="修改项目信息 Change a project",
        description="需要 `If-Match`（取自 ETag）；两人同时修改时后到者得到 412。"
        "责任单位或项目类型变化时重新分线。发布 `project.changed`。",
    )
    async def update_project(
        project_id: UUID,
        body: ProjectUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        current, seen = await visible(session, runtime, principal, project_id)
        access.ensure_unit_editor(current, principal, seen)
        check_if_match(if_match, etag_for(current.id, current.revision))
        project = await service.update_project(
            session, runtime.clock, project_id, current.revision, body, actor=principal.key
        )
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    @p.get("/{project_id}/line", response_model=LineExplanation, summary="包保线及分线依据 Why this line")
    async def project_line(
        project_id: UUID, session: Session, runtime: Runtime, principal: CurrentPrincipal
    ) -> LineExplanation:
        project, _ = await visible(session, runtime, principal, project_id)
        directory = await org.load_directory(session, kinds=["line"])
        line = directory.lines.get(project.line_id) if project.line_id else None
        return LineExplanation(
            project_id=project.id,
            line_id=project.line_id,
            line_number=line.number if line else None,
            line_name=line.name if line else None,
            leader_post_id=line.leader_post_id if line else None,
            service_unit_id=line.service_unit_id if line else None,
            routing_basis=project.routing_basis,
            routing_rule_id=project.routing_rule_id,
            routing_reason=project.routing_reason,
        )

    @p.post(
        "/{project_id}/line-assignments",
        response_model=ProjectOut,
        summary="指定包保线 Assign a line (重大项目办)",
        description="明确指定（优先于类型和责任单位规则），须说明原因，记入历史。",
    )
    async def assign_line(
        project_id: UUID,
        body: LineAssignment,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: Office,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        project, _ = await visible(session, runtime, principal, project_id)
        expected = _check(if_match, project)
        project = await service.assign_line(
            session,
            runtime.clock,
            project_id,
            line_id=body.line_id,
            reason=body.reason,
            actor=principal.key,
            expected_revision=expected,
        )
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    @p.get("/{project_id}/history", response_model=list[ChangeOut], summary="变更历史 Change history")
    async def project_history(
        project_id: UUID, session: Session, runtime: Runtime, principal: CurrentPrincipal
    ) -> list[ChangeOut]:
        await visible(session, runtime, principal, project_id)
        return [
            ChangeOut.model_validate(c, from_attributes=True)
            for c in await service.history(session, project_id)
        ]

    @p.post(
        "/{project_id}/milestones",
        status_code=201,
        response_model=MilestoneOut,
        summary="增加节点",
        description="计划批准后增加的节点没有基线日期；须说明原因。支持 `Idempotency-Key`。",
    )
    async def add_milestone(
        project_id: UUID,
        body: MilestoneAdd,
        request: Request,
        session: Session,
        runtime: Runtime,
        principal: Office,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        await visible(session, runtime, principal, project_id)

        async def create() -> Response:
            milestone = await service.add_milestone(
                session, runtime.clock, project_id, body.model_copy(), actor=principal.key, reason=body.reason
            )
            return _created(MilestoneOut.model_validate(milestone, from_attributes=True))

        return await _idempotent(request, session, principal, idempotency_key, body, create)

    @p.post(
        "/{project_id}/milestones/{milestone_id}/replans",
        response_model=MilestoneOut,
        summary="调整节点计划 Re-plan a milestone",
        description="须说明原因；年度基线不变。",
    )
    async def replan(
        project_id: UUID,
        milestone_id: UUID,
        body: MilestoneReplan,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
    ) -> MilestoneOut:
        project, seen = await visible(session, runtime, principal, project_id)
        access.ensure_unit_editor(project, principal, seen)
        milestone = await service.replan_milestone(
            session,
            runtime.clock,
            project_id,
            milestone_id,
            planned_date=body.planned_date,
            reason=body.reason,
            actor=principal.key,
        )
        await session.commit()
        return MilestoneOut.model_validate(milestone, from_attributes=True)

    @p.post(
        "/{project_id}/milestones/{milestone_id}/achievements",
        response_model=MilestoneOut,
        summary="填报实际完成日期 Record the actual date",
        description="发布 `milestone.achieved`；项目阶段随之更新（签约→审批，开工→开工，竣工/投产→竣工，"
        "达产→达产达效）。",
    )
    async def achieve(
        project_id: UUID,
        milestone_id: UUID,
        body: MilestoneActual,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
    ) -> MilestoneOut:
        project, seen = await visible(session, runtime, principal, project_id)
        access.ensure_unit_editor(project, principal, seen)
        milestone = await service.record_actual(
            session,
            runtime.clock,
            project_id,
            milestone_id,
            actual_date=body.actual_date,
            actor=principal.key,
        )
        await session.commit()
        return MilestoneOut.model_validate(milestone, from_attributes=True)

    @p.post("/{project_id}/flags", response_model=ProjectOut, summary="设置标记 Set flags (重大项目办)")
    async def set_flags(
        project_id: UUID,
        body: FlagsUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: Office,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        project, _ = await visible(session, runtime, principal, project_id)
        expected = _check(if_match, project)
        values = body.model_dump(exclude_unset=True, exclude={"reason"})
        project = await service.set_flags(
            session,
            runtime.clock,
            project_id,
            values=values,
            reason=body.reason,
            actor=principal.key,
            expected_revision=expected,
        )
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    @p.post(
        "/{project_id}/investment-reports",
        status_code=201,
        response_model=InvestmentReportOut,
        summary="月度投资上报 Report the month's investment",
        description="同一月份再次上报即取代前一次；发布 `investment.reported`。项目阶段因此改变时（开工后"
        "首次有投资为“投资”，更正为0则回到“开工”），项目修订号加1并发布 `project.changed`。支持 "
        "`Idempotency-Key`（重试不会重复上报）。",
    )
    async def report_investment(
        project_id: UUID,
        body: InvestmentReportIn,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        project, seen = await visible(session, runtime, principal, project_id)
        access.ensure_unit_editor(project, principal, seen)

        async def create() -> Response:
            report = await service.report_investment(
                session,
                runtime.clock,
                project_id,
                year=body.year,
                month=body.month,
                amount=body.amount,
                unit_id=body.reported_by_unit_id,
                actor=principal.key,
            )
            return _created(InvestmentReportOut.model_validate(report, from_attributes=True))

        # No ``request`` parameter here: lkg.common.auth hands a CurrentPrincipal route the Request under
        # its own name, and FastAPI gives a route only one Request parameter.
        path = f"/api/v1/projects/{project_id}/investment-reports"
        return await _idempotent(path, session, principal, idempotency_key, body, create)

    @p.post("/{project_id}/enrolment", response_model=ProjectOut, summary="统计入库状态 Enrolment status")
    async def set_enrolment(
        project_id: UUID, body: EnrolmentUpdate, session: Session, runtime: Runtime, principal: Statistics
    ) -> ProjectOut:
        await visible(session, runtime, principal, project_id)
        project = await service.set_enrolment(
            session,
            runtime.clock,
            project_id,
            status=body.status,
            statistics_contact_id=body.statistics_contact_id,
            actor=principal.key,
        )
        await session.commit()
        return _out(project)

    @p.post(
        "/enrolment-failures",
        response_model=CountOut,
        summary="统计局月度未入库清单 The bureau's monthly list",
        description="每月28日前（遇非工作日提前）报送上月未能通过审核入库的项目及原因；"
        "每项发布 `enrolment.failed`。",
    )
    async def enrolment_failures(
        body: EnrolmentFailureList, session: Session, runtime: Runtime, principal: Statistics
    ) -> CountOut:
        count = await service.report_enrolment_failures(
            session,
            runtime.clock,
            year=body.year,
            month=body.month,
            failures=[(f.project_id, f.reason) for f in body.failures],
            unit_id=body.reported_by_unit_id,
            actor=principal.key,
        )
        await session.commit()
        return CountOut(count=count)

    @p.get("/{project_id}/commitments", response_model=list[CommitmentOut], summary="承诺事项 Commitments")
    async def list_commitments(
        project_id: UUID, session: Session, runtime: Runtime, principal: CurrentPrincipal
    ) -> list[CommitmentOut]:
        await visible(session, runtime, principal, project_id)
        rows = await service.commitments_of(session, project_id)
        return [CommitmentOut.model_validate(c, from_attributes=True) for c in rows]

    @p.post(
        "/{project_id}/commitments",
        status_code=201,
        response_model=CommitmentOut,
        summary="登记承诺事项 Record a commitment",
        description="政府承诺绑定单位和岗位（新官要理旧账）；逾期未履行发布 `commitment.overdue`（一次）。"
        "支持 `Idempotency-Key`。",
    )
    async def add_commitment(
        project_id: UUID,
        body: CommitmentIn,
        request: Request,
        session: Session,
        runtime: Runtime,
        principal: Office,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        await visible(session, runtime, principal, project_id)

        async def create() -> Response:
            commitment = await service.add_commitment(
                session,
                runtime.clock,
                project_id,
                side=body.side,
                description=body.description,
                due_date=body.due_date,
                obligor_unit_id=body.obligor_unit_id,
                obligor_post_id=body.obligor_post_id,
            )
            return _created(CommitmentOut.model_validate(commitment, from_attributes=True))

        return await _idempotent(request, session, principal, idempotency_key, body, create)

    @p.post(
        "/{project_id}/commitments/{commitment_id}/fulfilments",
        response_model=CommitmentOut,
        summary="承诺已履行 Commitment fulfilled",
    )
    async def fulfil(
        project_id: UUID,
        commitment_id: UUID,
        body: Fulfilment,
        session: Session,
        runtime: Runtime,
        principal: Office,
    ) -> CommitmentOut:
        await visible(session, runtime, principal, project_id)
        commitment = await service.fulfil_commitment(
            session, runtime.clock, project_id, commitment_id, on=body.fulfilled_on
        )
        await session.commit()
        return CommitmentOut.model_validate(commitment, from_attributes=True)

    @p.post(
        "/{project_id}/terminations",
        response_model=ProjectOut,
        summary="解约 Terminate (重大项目办)",
        description="先解约、再到市商务局销号（§四(四)）；发布 `project.terminated`。项目不会被删除。",
    )
    async def terminate(
        project_id: UUID,
        body: Termination,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: Office,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        project, _ = await visible(session, runtime, principal, project_id)
        project = await service.terminate(
            session,
            runtime.clock,
            project_id,
            cause=body.cause,
            reason=body.reason,
            on=body.terminated_on,
            actor=principal.key,
            expected_revision=_check(if_match, project),
        )
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    @p.post(
        "/{project_id}/deregistrations",
        response_model=ProjectOut,
        summary="销号 De-register (after termination)",
    )
    async def deregister(
        project_id: UUID,
        body: Deregistration,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: Office,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        project, _ = await visible(session, runtime, principal, project_id)
        project = await service.deregister(
            session,
            runtime.clock,
            project_id,
            reason=body.reason,
            on=body.deregistered_on,
            actor=principal.key,
            expected_revision=_check(if_match, project),
        )
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    r.include_router(p)
    return r


def service_code_path():
    from fastapi import Path

    return Path(min_length=24, max_length=24, pattern=r"^[0-9A-Za-z-]{24}$", description="项目代码 / code")
