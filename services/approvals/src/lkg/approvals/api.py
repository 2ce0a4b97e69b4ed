"""HTTP routes of the approvals service: thin — validate, call one use case, commit once, return a schema.

Nouns (DESIGN §3): ``/api/v1/approval-catalogue``, ``/api/v1/approval-plans``, ``/api/v1/approval-items``,
``/api/v1/approval-reports``. Actions on an item are sub-resources and take ``If-Match``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import reports, service
from lkg.approvals.models import project_copy
from lkg.approvals.schemas import (
    ActionBody,
    CatalogueItemCreate,
    CatalogueItemOut,
    CatalogueItemUpdate,
    CatalogueList,
    ChangeList,
    ChangeOut,
    CriticalChainOut,
    Day,
    DepartmentView,
    GrantBody,
    ItemOut,
    ItemPage,
    ItemUpdate,
    PlanOut,
    PlanPage,
    PlanUpdate,
    RejectBody,
    WeeklyReport,
)
from lkg.common.auth import CurrentPrincipal, CurrentReach, Principal, Role, require_roles
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE
from lkg.common.http.query import StrictQuery
from lkg.common.readcopy import read_copy_router
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime

Session = Annotated[AsyncSession, Depends(session_for("approvals"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("approvals"))]
CatalogueEditor = Annotated[
    Principal, Depends(require_roles(Role.APPROVAL_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Reader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.APPROVAL_BUREAU,
            Role.MAJOR_PROJECTS_OFFICE,
            Role.ADMIN,
            Role.TOP_LEADER,
            Role.SUPERVISION_OFFICE,
            Role.SERVICE_DEPARTMENT,
            Role.LINE_LEADER,
        )
    ),
]

WeekOf = Annotated[
    Day | None,
    Query(
        description="该周任一天（YYYY-MM-DD，2000-01-01 至 2100-12-31），默认本周 / any day of the week "
        "(2000-01-01 to 2100-12-31), this week by default"
    ),
]

#: The weekly report refuses a week whose report time has not come (409 ``report_not_ready``).
NOT_YET = {
    409: {
        "description": "本周报送时间未到（report_not_ready）/ the report day has not come yet",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _caller(principal: Principal, reach) -> service.Caller:
    return service.Caller(principal=principal, reach=reach)


def _share(runtime: ServiceRuntime) -> float:
    return float(getattr(runtime.settings, "due_soon_share", 0.8))


def router() -> APIRouter:
    r = APIRouter(dependencies=[StrictQuery])
    r.include_router(read_copy_router("approvals", project_copy))
    r.include_router(_catalogue())
    r.include_router(_plans())
    r.include_router(_items())
    r.include_router(_reports())
    return r


def _catalogue() -> APIRouter:
    r = APIRouter(prefix="/api/v1/approval-catalogue", tags=["approval-catalogue"])

    def out(entry) -> CatalogueItemOut:
        return CatalogueItemOut.model_validate(entry, from_attributes=True)

    @r.get("", response_model=CatalogueList, summary="审批事项目录 The approval catalogue")
    async def list_catalogue(session: Session, _: CurrentPrincipal) -> CatalogueList:
        return CatalogueList(items=[out(e) for e in await service.list_catalogue(session)])

    @r.post("", status_code=201, response_model=CatalogueItemOut, summary="新增审批事项 Add an approval kind")
    async def create_catalogue_item(
        body: CatalogueItemCreate, response: Response, session: Session, runtime: Runtime, _: CatalogueEditor
    ) -> CatalogueItemOut:
        values = body.model_dump(mode="json")
        values["handling_unit_id"] = body.handling_unit_id
        entry = await service.create_catalogue_item(session, runtime.clock, values)
        await session.commit()
        response.headers.update(etag_header(entry.id, entry.revision))
        return out(entry)

    @r.get("/{item_id}", response_model=CatalogueItemOut, summary="审批事项 One approval kind")
    async def get_catalogue_item(
        item_id: UUID, response: Response, session: Session, _: CurrentPrincipal
    ) -> CatalogueItemOut:
        entry = await service.get_catalogue_item(session, item_id)
        response.headers.update(etag_header(entry.id, entry.revision))
        return out(entry)

    @r.patch(
        "/{item_id}",
        response_model=CatalogueItemOut,
        summary="修改审批事项 Change an approval kind",
        description="需要 `If-Match`。已生成的审批计划保留原值 / plans already made keep their copy.",
    )
    async def update_catalogue_item(
        item_id: UUID,
        body: CatalogueItemUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        _: CatalogueEditor,
        if_match: IfMatch = None,
    ) -> CatalogueItemOut:
        current = await service.get_catalogue_item(session, item_id)
        check_if_match(if_match, etag_for(current.id, current.revision))
        changes = body.model_dump(mode="json", exclude_unset=True)
        if "handling_unit_id" in changes:
            changes["handling_unit_id"] = body.handling_unit_id
        entry = await service.update_catalogue_item(
            session, runtime.clock, item_id, current.revision, changes
        )
        await session.commit()
        response.headers.update(etag_header(entry.id, entry.revision))
        return out(entry)

    return r


def _plans() -> APIRouter:
    r = APIRouter(prefix="/api/v1/approval-plans", tags=["approval-plans"])

    @r.get("", response_model=PlanPage, summary="审批计划列表 Approval plans (filter by project_id)")
    async def list_plans(
        session: Session,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        page: PageQuery,
        project_id: UUID | None = None,
        updated_since: UpdatedSince = None,
    ) -> PlanPage:
        plans, next_cursor = await service.list_plans(
            session, _caller(principal, reach), page, project_id=project_id, updated_since=updated_since
        )
        return PlanPage(items=[reports.plan_summary(p) for p in plans], next_cursor=next_cursor)

    @r.get("/{plan_id}", response_model=PlanOut, summary="项目审批计划 A project's approval plan and clocks")
    async def get_plan(
        plan_id: UUID,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
    ) -> PlanOut:
        plan, items = await service.get_plan(session, _caller(principal, reach), plan_id)
        response.headers.update(etag_header(plan.id, plan.revision))
        return await reports.plan_out(session, runtime.calendar, plan, items, runtime.clock.now())

    @r.patch("/{plan_id}", response_model=PlanOut, summary="修改审批计划 Change a plan (If-Match)")
    async def update_plan(
        plan_id: UUID,
        body: PlanUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        if_match: IfMatch = None,
    ) -> PlanOut:
        caller = _caller(principal, reach)
        plan, _items = await service.get_plan(session, caller, plan_id)
        check_if_match(if_match, etag_for(plan.id, plan.revision))
        plan = await service.update_plan(
            session,
            caller,
            runtime.calendar,
            runtime.clock,
            plan,
            plan.revision,
            body.model_dump(exclude_unset=True),
        )
        items = await service.items_of(session, plan.id)
        result = await reports.plan_out(session, runtime.calendar, plan, items, runtime.clock.now())
        await session.commit()
        response.headers.update(etag_header(plan.id, plan.revision))
        return result

    @r.get(
        "/{plan_id}/critical-chain",
        response_model=CriticalChainOut,
        summary="关键路径与最早开工 The critical chain and the earliest possible start",
    )
    async def critical_chain(
        plan_id: UUID, session: Session, runtime: Runtime, principal: CurrentPrincipal, reach: CurrentReach
    ) -> CriticalChainOut:
        plan, items = await service.get_plan(session, _caller(principal, reach), plan_id)
        return await reports.critical_chain(session, runtime.calendar, plan, items, runtime.clock.now())

    return r


ACTIONS: dict[str, tuple[str, str]] = {
    "submissions": ("submit", "申报 Submit"),
    "acceptances": ("accept", "受理 Accept (the time limit starts)"),
    "supplement-requests": ("request_supplement", "要求补正 Request a supplement (the clock pauses)"),
    "resubmissions": ("resubmit", "补正后重新提交 Resubmit (the clock resumes)"),
    "withdrawals": ("withdraw", "撤回 Withdraw"),
    "verifications": ("verify", "承诺核查/事后验收完成 Verify a commitment or inspection"),
}


def _items() -> APIRouter:
    r = APIRouter(prefix="/api/v1/approval-items", tags=["approval-items"])

    async def respond(session, runtime, item, response: Response) -> ItemOut:
        clocks = (await service.clocks_of(session, [item.id]))[item.id]
        result = reports.item_out(item, clocks, runtime.calendar, runtime.clock.now())
        response.headers.update(etag_header(item.id, item.revision))
        return result

    @r.get(
        "",
        response_model=ItemPage,
        summary="审批事项（部门视图）Items: a department's open, due soon, overdue",
    )
    async def list_items(
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        page: PageQuery,
        handling_unit_id: UUID | None = None,
        project_id: UUID | None = None,
        status: Literal["open", "due_soon", "overdue", "paused"] | None = Query(
            default=None, description="open 在办 / due_soon 临期 / overdue 超期 / paused 待补正"
        ),
    ) -> ItemPage:
        now = runtime.clock.now()
        items, next_cursor = await reports.list_items(
            session,
            _caller(principal, reach),
            page,
            now,
            handling_unit_id=handling_unit_id,
            project_id=project_id,
            status=status,
        )
        clocks = await service.clocks_of(session, [i.id for i in items])
        return ItemPage(
            items=[reports.item_out(i, clocks[i.id], runtime.calendar, now) for i in items],
            next_cursor=next_cursor,
        )

    @r.get("/{item_id}", response_model=ItemOut, summary="审批事项 One item with its clocks")
    async def get_item(
        item_id: UUID,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
    ) -> ItemOut:
        item, _plan = await service.get_item(session, _caller(principal, reach), item_id)
        return await respond(session, runtime, item, response)

    @r.get("/{item_id}/history", response_model=ChangeList, summary="变更记录 Every change of an item")
    async def history(
        item_id: UUID, session: Session, principal: CurrentPrincipal, reach: CurrentReach
    ) -> ChangeList:
        item, _plan = await service.get_item(session, _caller(principal, reach), item_id)
        changes = await service.history_of(session, item.id)
        return ChangeList(items=[ChangeOut.model_validate(c, from_attributes=True) for c in changes])

    @r.patch("/{item_id}", response_model=ItemOut, summary="修改审批事项 Change an item (If-Match)")
    async def update_item(
        item_id: UUID,
        body: ItemUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        if_match: IfMatch = None,
    ) -> ItemOut:
        caller = _caller(principal, reach)
        item, plan = await service.get_item(session, caller, item_id)
        check_if_match(if_match, etag_for(item.id, item.revision))
        changes = body.model_dump(mode="json", exclude_unset=True)
        if "handling_unit_id" in changes:
            changes["handling_unit_id"] = body.handling_unit_id
        item = await service.update_item(
            session, caller, runtime.calendar, runtime.clock, item, plan, item.revision, changes
        )
        result = await respond(session, runtime, item, response)
        await session.commit()
        return result

    async def run(
        item_id: UUID,
        action: str,
        body: ActionBody,
        session,
        runtime,
        principal,
        reach,
        if_match,
        response,
        **extra,
    ) -> ItemOut:
        caller = _caller(principal, reach)
        item, plan = await service.get_item(session, caller, item_id)
        check_if_match(if_match, etag_for(item.id, item.revision))
        item = await service.act(
            session,
            caller=caller,
            clock=runtime.clock,
            calendar=runtime.calendar,
            due_soon_share=_share(runtime),
            item=item,
            plan=plan,
            expected_revision=item.revision,
            action=action,
            note=body.note,
            document_refs=body.document_refs,
            **extra,
        )
        result = await respond(session, runtime, item, response)
        await session.commit()
        return result

    for path, (action, summary) in ACTIONS.items():

        def make(action: str = action):
            async def endpoint(
                item_id: UUID,
                response: Response,
                session: Session,
                runtime: Runtime,
                principal: CurrentPrincipal,
                reach: CurrentReach,
                body: ActionBody | None = None,
                if_match: IfMatch = None,
            ) -> ItemOut:
                return await run(
                    item_id,
                    action,
                    body or ActionBody(),
                    session,
                    runtime,
                    principal,
                    reach,
                    if_match,
                    response,
                )

            endpoint.__name__ = f"item_{action}"
            return endpoint

        r.add_api_route(
            f"/{{item_id}}/{path}",
            make(),
            methods=["POST"],
            response_model=ItemOut,
            summary=summary,
            description="需要 `If-Match`；两人同时操作时后到者得到 412（或 409 状态不允许）。",
        )

    @r.post("/{item_id}/grants", response_model=ItemOut, summary="准予许可 Grant (If-Match)")
    async def grant(
        item_id: UUID,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        body: GrantBody | None = None,
        if_match: IfMatch = None,
    ) -> ItemOut:
        body = body or GrantBody()
        return await run(
            item_id,
            "grant",
            body,
            session,
            runtime,
            principal,
            reach,
            if_match,
            response,
            certificate_no=body.certificate_no,
        )

    @r.post("/{item_id}/rejections", response_model=ItemOut, summary="不予许可 Reject (If-Match)")
    async def reject(
        item_id: UUID,
        body: RejectBody,
        response: Response,
        session: Session,
        runtime: Runtime,
        principal: CurrentPrincipal,
        reach: CurrentReach,
        if_match: IfMatch = None,
    ) -> ItemOut:
        return await run(
            item_id,
            "reject",
            body,
            session,
            runtime,
            principal,
            reach,
            if_match,
            response,
            reason=body.reason,
        )

    return r


def _reports() -> APIRouter:
    r = APIRouter(prefix="/api/v1/approval-reports", tags=["approval-reports"])

    @r.get("/departments", response_model=DepartmentView, summary="部门视图 What each department has open")
    async def departments(
        session: Session, runtime: Runtime, principal: CurrentPrincipal, reach: CurrentReach
    ) -> DepartmentView:
        return await reports.department_view(session, _caller(principal, reach), runtime.clock.now())

    async def weekly(session, runtime, week_of: date | None) -> WeeklyReport:
        now = runtime.clock.now()
        report_time = getattr(runtime.settings, "weekly_report_time", None) or reports.time(17, 0)
        return await reports.weekly_report(session, runtime.calendar, week_of or now.date(), now, report_time)

    @r.get(
        "/weekly",
        response_model=WeeklyReport,
        summary="审批进展周报 The approval bureau's weekly report (JSON)",
        responses=NOT_YET,
    )
    async def weekly_json(
        session: Session, runtime: Runtime, _: Reader, week_of: WeekOf = None
    ) -> WeeklyReport:
        return await weekly(session, runtime, week_of)

    @r.get(
        "/weekly.xlsx",
        summary="审批进展周报 The weekly report as Excel",
        response_class=Response,
        responses={
            200: {
                "description": "周报 Excel 文件 / the report as an XLSX workbook",
                "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            },
            **NOT_YET,
        },
    )
    async def weekly_xlsx(session: Session, runtime: Runtime, _: Reader, week_of: WeekOf = None) -> Response:
        report = await weekly(session, runtime, week_of)
        return Response(
            reports.weekly_report_xlsx(report),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="approvals-{report.report_day}.xlsx"'},
        )

    return r
