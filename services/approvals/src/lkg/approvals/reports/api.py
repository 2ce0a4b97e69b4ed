"""Routes of the approval bureau's reports: ``/api/v1/approval-reports``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.deps import CurrentCaller, Runtime, Session
from lkg.approvals.reports import service
from lkg.approvals.reports.workbook import weekly_report_xlsx
from lkg.approvals.schemas import Day, DepartmentView, WeeklyReport
from lkg.approvals.settings import ApprovalsRuntime
from lkg.common.auth import Principal, Role, require_roles
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE
from lkg.common.xlsx import XLSX_MEDIA_TYPE

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
NOT_YET: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "本周报送时间未到（report_not_ready）/ the report day has not come yet",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}

router = APIRouter(prefix="/api/v1/approval-reports", tags=["approval-reports"])


@router.get("/departments", response_model=DepartmentView, summary="部门视图 What each department has open")
async def departments(session: Session, runtime: Runtime, caller: CurrentCaller) -> DepartmentView:
    return await service.department_view(session, caller=caller, now=runtime.clock.now())


async def _weekly(
    session: AsyncSession, runtime: ApprovalsRuntime, caller: Caller, week_of: date | None
) -> WeeklyReport:
    now = runtime.clock.now()
    report_time = runtime.settings.weekly_report_time
    return await service.weekly_report(
        session, runtime.calendar, week_of or now.date(), now, report_time, caller=caller
    )


@router.get(
    "/weekly",
    response_model=WeeklyReport,
    summary="审批进展周报 The approval bureau's weekly report (JSON)",
    responses=NOT_YET,
)
async def weekly_json(
    session: Session, runtime: Runtime, _: Reader, caller: CurrentCaller, week_of: WeekOf = None
) -> WeeklyReport:
    return await _weekly(session, runtime, caller, week_of)


@router.get(
    "/weekly.xlsx",
    summary="审批进展周报 The weekly report as Excel",
    response_class=Response,
    responses={
        200: {
            "description": "周报 Excel 文件 / the report as an XLSX workbook",
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **NOT_YET,
    },
)
async def weekly_xlsx(
    session: Session, runtime: Runtime, _: Reader, caller: CurrentCaller, week_of: WeekOf = None
) -> Response:
    report = await _weekly(session, runtime, caller, week_of)
    return Response(
        weekly_report_xlsx(report),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="approvals-{report.report_day}.xlsx"'},
    )
