"""HTTP routes of the project register (``/api/v1/projects``): thin — validate, ask the use-case layer who
may do it, call one use case, return a schema.

The list, the get by id and the look-up by code answer from the read path (:mod:`lkg.registry.projects.
reads`), without an ORM session. Every other route resolves the :class:`~lkg.registry.access.Caller` and
gets the project through :func:`~lkg.registry.projects.changes.visible_project` (404 outside the caller's
reach, as if it did not exist) or :func:`~lkg.registry.projects.changes.editable_project` (and 403 when
they may not change it) before anything else reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal
from lkg.common.clock import Clock
from lkg.common.events.contracts import RoutingBasis
from lkg.common.http.concurrency import IfMatch, OptionalIfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.http.query import StrictQuery
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry import access
from lkg.registry.access import Caller
from lkg.registry.deps import (
    AnyCaller,
    CommerceCaller,
    OfficeCaller,
    Runtime,
    Session,
    StatisticsCaller,
    UnitOfWork,
    created,
    idempotent,
)
from lkg.registry.plan.api import router as plan_router
from lkg.registry.projects import commitments, lines, milestones, reads, service
from lkg.registry.projects.changes import editable_project, visible_project
from lkg.registry.projects.filters import ListQuery
from lkg.registry.projects.models import Project
from lkg.registry.projects.schemas import (
    ChangeOut,
    CommitmentIn,
    CommitmentOut,
    CountOut,
    Deregistration,
    EnrolmentFailureList,
    EnrolmentUpdate,
    Filters,
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
    ProjectCreate,
    ProjectDetail,
    ProjectOut,
    ProjectPage,
    ProjectUpdate,
    Sort,
    Termination,
)
from lkg.registry.settings import RegistrySettings

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "项目不存在或不在可见范围 / no such project within reach"}
}
ProjectCode = Annotated[
    str, Path(min_length=24, max_length=24, pattern=r"^[0-9A-Za-z-]{24}$", description="项目代码 / code")
]

# Unknown query parameters are refused on every project route (a misspelt filter would otherwise export or
# list the whole district): lkg.common.http.query.
router = APIRouter(prefix="/api/v1/projects", responses=NOT_FOUND, dependencies=[StrictQuery])


def _runtime(request: Request) -> ServiceRuntime[RegistrySettings]:
    """The registry's runtime, as the ``Runtime`` dependency finds it, for the read routes (one dependency
    less to solve per request)."""
    runtime: ServiceRuntime[RegistrySettings] = request.app.state.runtimes["registry"]
    return runtime


def _out(project: Project, response: Response | None = None) -> ProjectOut:
    """The project as the API writes it; its ETag on ``response`` when given."""
    if response is not None:
        response.headers.update(etag_header(project.id, project.revision))
    return ProjectOut.model_validate(project, from_attributes=True)


def _expected(if_match: str | None, project: Project) -> int | None:
    """Actions take an optional If-Match: when given, a stale one is 412 and nothing changes."""
    if if_match is None:
        return None
    check_if_match(if_match, etag_for(project.id, project.revision))
    return project.revision


def _action(
    verb: str,
    body: type[BaseModel],
    name: str,
    summary: str,
    use_case: Callable[[AsyncSession, Clock, UUID, Any, str, int | None], Awaitable[Project]],
    *,
    description: str | None = None,
    who: Any = OfficeCaller,
) -> None:
    """``POST /{project_id}/<verb>``, an action of 重大项目办 on a project it sees: an optional If-Match (a
    stale one is 412 and nothing changes), then ``use_case(session, clock, project_id, body, actor,
    expected_revision)`` in the unit of work; the answer carries the new ETag."""

    async def action(
        project_id: UUID,
        body: Any,
        response: Response,
        session: AsyncSession,
        runtime: ServiceRuntime[RegistrySettings],
        caller: Caller,
        if_match: str | None = None,
    ) -> ProjectOut:
        project = await visible_project(session, caller, project_id)
        expected = _expected(if_match, project)
        return _out(
            await use_case(session, runtime.clock, project_id, body, caller.actor, expected), response
        )

    # The parameters as FastAPI reads them (this module's annotations are strings it would look up globally).
    action.__annotations__.update(
        {
            "project_id": UUID,
            "body": body,
            "response": Response,
            "session": UnitOfWork,
            "runtime": Runtime,
            "caller": who,
            "if_match": OptionalIfMatch,
            "return": ProjectOut,
        }
    )
    action.__name__ = action.__qualname__ = name
    router.post(
        f"/{{project_id}}/{verb}", response_model=ProjectOut, summary=summary, description=description
    )(action)


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def create() -> Response:
        project = await service.register_project(session, runtime.clock, body, actor=caller.actor)
        headers = etag_header(project.id, project.revision)
        return created(_out(project), f"/api/v1/projects/{project.id}", headers)

    return await idempotent(request, session, caller, idempotency_key, body, create)


@router.get("", response_model=ProjectPage, summary="项目列表 List projects")
async def list_projects(
    request: Request,
    principal: CurrentPrincipal,
    page: PageQuery,
    filters: Filters,
    updated_since: UpdatedSince = None,
    sort: Sort = None,
) -> Response:
    # The read path: one statement, no ORM session; the JSON is ProjectPage's.
    runtime = _runtime(request)
    today = runtime.clock.now().date()
    caller = await access.read_caller(runtime, principal, today)
    query = ListQuery(filters, today, updated_since, sort)
    body = await reads.page_json(runtime.db.engine, page, caller, query)
    return Response(body, media_type="application/json")


router.include_router(plan_router)


@router.get("/by-code/{project_code}", response_model=ProjectDetail, summary="按项目代码查找 Look up by code")
async def get_by_code(project_code: ProjectCode, request: Request, principal: CurrentPrincipal) -> Response:
    runtime = _runtime(request)
    caller = await access.read_caller(runtime, principal, runtime.clock.now().date())
    project, body = await reads.project_json_by_code(runtime.db.engine, project_code, caller)
    return Response(
        body, media_type="application/json", headers=etag_header(project["id"], project["revision"])
    )


# ``{project_id:uuid}``: only a UUID routes here, so ``/enrolment-failures`` with another method than POST
# is 405 (Allow: POST) rather than a 422 about a malformed project id.
@router.get("/{project_id:uuid}", response_model=ProjectDetail, summary="项目详情 Get a project")
async def get_project(project_id: UUID, request: Request, principal: CurrentPrincipal) -> Response:
    runtime = _runtime(request)
    caller = await access.read_caller(runtime, principal, runtime.clock.now().date())
    project, body = await reads.project_json(runtime.db.engine, project_id, caller)
    return Response(
        body, media_type="application/json", headers=etag_header(project["id"], project["revision"])
    )


@router.patch(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: AnyCaller,
    if_match: IfMatch = None,
) -> ProjectOut:
    current = await editable_project(session, caller, project_id)
    check_if_match(if_match, etag_for(current.id, current.revision))
    project = await service.update_project(
        session, runtime.clock, project_id, current.revision, body, actor=caller.actor
    )
    return _out(project, response)


@router.get("/{project_id}/line", response_model=LineExplanation, summary="包保线及分线依据 Why this line")
async def project_line(project_id: UUID, session: Session, caller: AnyCaller) -> LineExplanation:
    project = await visible_project(session, caller, project_id)
    line = await lines.line_of(session, project)
    return LineExplanation(
        project_id=project.id,
        line_id=project.line_id,
        line_number=line.number if line else None,
        line_name=line.name if line else None,
        leader_post_id=line.leader_post_id if line else None,
        service_unit_id=line.service_unit_id if line else None,
        routing_basis=RoutingBasis(project.routing_basis),
        routing_rule_id=project.routing_rule_id,
        routing_reason=project.routing_reason,
    )


_action(
    "line-assignments",
    LineAssignment,
    "assign_line",
    "指定包保线 Assign a line (重大项目办)",
    lambda session, clock, project_id, body, actor, expected: lines.assign_line(
        session,
        clock,
        project_id,
        line_id=body.line_id,
        reason=body.reason,
        actor=actor,
        expected_revision=expected,
    ),
    description="明确指定（优先于类型和责任单位规则），须说明原因，记入历史。",
)


@router.get("/{project_id}/history", response_model=list[ChangeOut], summary="变更历史 Change history")
async def project_history(project_id: UUID, session: Session, caller: AnyCaller) -> list[ChangeOut]:
    await visible_project(session, caller, project_id)
    return [
        ChangeOut.model_validate(c, from_attributes=True) for c in await service.history(session, project_id)
    ]


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    await visible_project(session, caller, project_id)

    async def create() -> Response:
        milestone = await milestones.add_milestone(
            session, runtime.clock, project_id, body.model_copy(), actor=caller.actor, reason=body.reason
        )
        return created(MilestoneOut.model_validate(milestone, from_attributes=True))

    return await idempotent(request, session, caller, idempotency_key, body, create)


@router.post(
    "/{project_id}/milestones/{milestone_id}/replans",
    response_model=MilestoneOut,
    summary="调整节点计划 Re-plan a milestone",
    description="须说明原因；年度基线不变。",
)
async def replan(
    project_id: UUID,
    milestone_id: UUID,
    body: MilestoneReplan,
    session: UnitOfWork,
    runtime: Runtime,
    caller: AnyCaller,
) -> MilestoneOut:
    await editable_project(session, caller, project_id)
    milestone = await milestones.replan_milestone(
        session,
        runtime.clock,
        project_id,
        milestone_id,
        planned_date=body.planned_date,
        reason=body.reason,
        actor=caller.actor,
    )
    return MilestoneOut.model_validate(milestone, from_attributes=True)


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: AnyCaller,
) -> MilestoneOut:
    await editable_project(session, caller, project_id)
    milestone = await milestones.record_actual(
        session, runtime.clock, project_id, milestone_id, actual_date=body.actual_date, actor=caller.actor
    )
    return MilestoneOut.model_validate(milestone, from_attributes=True)


_action(
    "flags",
    FlagsUpdate,
    "set_flags",
    "设置标记 Set flags (重大项目办)",
    lambda session, clock, project_id, body, actor, expected: service.set_flags(
        session,
        clock,
        project_id,
        values=body.model_dump(exclude_unset=True, exclude={"reason"}),
        reason=body.reason,
        actor=actor,
        expected_revision=expected,
    ),
)


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: AnyCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    await editable_project(session, caller, project_id)
    await access.ensure_acts_for(session, caller, body.reported_by_unit_id, runtime.clock.today())

    async def create() -> Response:
        report = await service.report_investment(
            session,
            runtime.clock,
            project_id,
            year=body.year,
            month=body.month,
            amount=body.amount,
            unit_id=body.reported_by_unit_id,
            actor=caller.actor,
        )
        return created(InvestmentReportOut.model_validate(report, from_attributes=True))

    # No ``request`` parameter here: lkg.common.auth hands a CurrentPrincipal route the Request under its
    # own name, and FastAPI gives a route only one Request parameter.
    path = f"/api/v1/projects/{project_id}/investment-reports"
    return await idempotent(path, session, caller, idempotency_key, body, create)


@router.post("/{project_id}/enrolment", response_model=ProjectOut, summary="统计入库状态 Enrolment status")
async def set_enrolment(
    project_id: UUID, body: EnrolmentUpdate, session: UnitOfWork, runtime: Runtime, caller: StatisticsCaller
) -> ProjectOut:
    await visible_project(session, caller, project_id)
    project = await service.set_enrolment(
        session,
        runtime.clock,
        project_id,
        status=body.status,
        statistics_contact_id=body.statistics_contact_id,
        actor=caller.actor,
    )
    return _out(project)


@router.post(
    "/enrolment-failures",
    response_model=CountOut,
    summary="统计局月度未入库清单 The bureau's monthly list",
    description="每月28日前（遇非工作日提前）报送上月未能通过审核入库的项目及原因；"
    "每项发布 `enrolment.failed`。",
)
async def enrolment_failures(
    body: EnrolmentFailureList, session: UnitOfWork, runtime: Runtime, caller: StatisticsCaller
) -> CountOut:
    await access.ensure_acts_for(session, caller, body.reported_by_unit_id, runtime.clock.today())
    count = await service.report_enrolment_failures(
        session,
        runtime.clock,
        year=body.year,
        month=body.month,
        failures=[(f.project_id, f.reason) for f in body.failures],
        unit_id=body.reported_by_unit_id,
        actor=caller.actor,
    )
    return CountOut(count=count)


@router.get("/{project_id}/commitments", response_model=list[CommitmentOut], summary="承诺事项 Commitments")
async def list_commitments(
    project_id: UUID, session: Session, runtime: Runtime, caller: AnyCaller
) -> list[CommitmentOut]:
    await visible_project(session, caller, project_id)
    rows = await commitments.commitments_of(session, project_id)
    return await commitments.views(session, runtime.clock, rows)


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    await visible_project(session, caller, project_id)

    async def create() -> Response:
        commitment = await commitments.add_commitment(
            session,
            runtime.clock,
            project_id,
            side=body.side,
            description=body.description,
            due_date=body.due_date,
            obligor_unit_id=body.obligor_unit_id,
            obligor_post_id=body.obligor_post_id,
        )
        [view] = await commitments.views(session, runtime.clock, [commitment])
        return created(view)

    return await idempotent(request, session, caller, idempotency_key, body, create)


@router.post(
    "/{project_id}/commitments/{commitment_id}/fulfilments",
    response_model=CommitmentOut,
    summary="承诺已履行 Commitment fulfilled",
)
async def fulfil(
    project_id: UUID,
    commitment_id: UUID,
    body: Fulfilment,
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
) -> CommitmentOut:
    await visible_project(session, caller, project_id)
    commitment = await commitments.fulfil_commitment(
        session, runtime.clock, project_id, commitment_id, on=body.fulfilled_on
    )
    [view] = await commitments.views(session, runtime.clock, [commitment])
    return view


_action(
    "terminations",
    Termination,
    "terminate",
    "解约 Terminate (区商务局或重大项目办)",
    lambda session, clock, project_id, body, actor, expected: service.terminate(
        session,
        clock,
        project_id,
        cause=body.cause,
        reason=body.reason,
        on=body.terminated_on,
        actor=actor,
        expected_revision=expected,
    ),
    description="先解约、再到市商务局销号（§四(四)）：区商务局（或重大项目办）解约；"
    "发布 `project.terminated`。项目不会被删除。",
    who=CommerceCaller,
)
_action(
    "deregistrations",
    Deregistration,
    "deregister",
    "销号 De-register (after termination; 区商务局或重大项目办)",
    lambda session, clock, project_id, body, actor, expected: service.deregister(
        session,
        clock,
        project_id,
        reason=body.reason,
        on=body.deregistered_on,
        actor=actor,
        expected_revision=expected,
    ),
    description="市商务局销号后由区商务局（或重大项目办）登记（先解约、再销号，§四(四)）。",
    who=CommerceCaller,
)
