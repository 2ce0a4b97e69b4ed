"""``/api/v1/reports``: the 月度通报 of each published month, as JSON, .xlsx or .docx.

Bulletins that the policy circulates district-wide (月度通报) go to every unit, as a stated decision (issue
16): any signed-in caller may read them. ::

    GET /api/v1/reports/monthly-bulletins                     published months' bulletins, numbered
    GET /api/v1/reports/monthly-bulletins/{period_id}         JSON
    GET /api/v1/reports/monthly-bulletins/{period_id}.xlsx    Excel
    GET /api/v1/reports/monthly-bulletins/{period_id}.docx    Word (GB/T 9704)
    GET /api/v1/reports/dispatch-board[?line=]                日调度, live, filtered by the caller's reach
    GET /api/v1/reports[?kind=&period=]                       issued (日调度, 周报, 成绩单, 月报, 季评)
    GET /api/v1/reports/{report_id}[.xlsx|.docx]              one, frozen as issued

A GET of a report's file writes: the file is rendered from the frozen JSON at its first download and
stored (:func:`lkg.scoring.reports.issued.download`), hence the unit of work.

The quarterly evaluation is read whole by the top leaders, the assessment office and 重大项目办, and by each
line leader for their own line; nobody else sees it listed (404).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lkg.common.calendar import local_date
from lkg.common.documents import DOCX_MEDIA_TYPE
from lkg.common.events.contracts import ReportKind
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE
from lkg.common.http.query import StrictQuery
from lkg.common.xlsx import XLSX_MEDIA_TYPE
from lkg.scoring.deps import CallerDep, Runtime, Session, UnitOfWork
from lkg.scoring.reports import dispatch, documents, issued, service
from lkg.scoring.reports import schemas as s

_REPORT_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "没有该报告或无权查看（report_not_found）/ no such report, or not yours to read",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}
_PERIOD_PATTERN = (
    r"^[12][0-9]{3}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?|-Q[1-4]|-W(0[1-9]|[1-4][0-9]|5[0-3]))?$"
)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "该月未发布（bulletin_not_found）/ the month is not published",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _file(
    media_type: str, what: str, missing: dict[int | str, dict[str, Any]] = _NOT_FOUND
) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        **missing,
    }


def _download(data: bytes, media_type: str, name: str) -> Response:
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[StrictQuery])

    @r.get(
        "/dispatch-board",
        response_model=s.DispatchBoard,
        summary="日调度 Dispatch board: each project's state, and per line what is due, overdue, escalated",
    )
    async def dispatch_board(
        session: Session,
        runtime: Runtime,
        caller: CallerDep,
        line: UUID | None = Query(default=None, description="只看一条包保线 / one line only"),
    ) -> Response:
        board = await dispatch.board(
            session, caller, now=runtime.clock.now(), calendar=runtime.calendar, line_id=line
        )
        # Serialised once, by the model itself (the response model would validate and encode it again).
        return Response(board.model_dump_json(), media_type="application/json")

    @r.get("/monthly-bulletins", response_model=s.BulletinPage, summary="月度通报列表 Monthly bulletins")
    async def list_bulletins(session: Session, _caller: CallerDep) -> s.BulletinPage:
        return s.BulletinPage(items=await service.list_bulletins(session))

    @r.get(
        "/monthly-bulletins/{period_id}.xlsx",
        summary="月度通报（Excel）Monthly bulletin as .xlsx",
        response_class=Response,
        responses=_file(XLSX_MEDIA_TYPE, "月度通报 Excel 文件 / the bulletin as an XLSX workbook"),
    )
    async def bulletin_xlsx(period_id: UUID, session: Session, _caller: CallerDep) -> Response:
        bulletin = await service.monthly_bulletin(session, period_id)
        return _download(documents.to_xlsx(bulletin), XLSX_MEDIA_TYPE, f"monthly-{bulletin.number}.xlsx")

    @r.get(
        "/monthly-bulletins/{period_id}.docx",
        summary="月度通报（Word，GB/T 9704 版式）Monthly bulletin as .docx",
        response_class=Response,
        responses=_file(DOCX_MEDIA_TYPE, "月度通报 Word 文件 / the bulletin as a DOCX document"),
    )
    async def bulletin_docx(period_id: UUID, session: Session, _caller: CallerDep) -> Response:
        bulletin = await service.monthly_bulletin(session, period_id)
        return _download(documents.to_docx(bulletin), DOCX_MEDIA_TYPE, f"monthly-{bulletin.number}.docx")

    @r.get(
        "/monthly-bulletins/{period_id}",
        response_model=s.MonthlyBulletin,
        summary="月度通报 Monthly bulletin: grades and ranking, the carded, 表态 and 约谈, investment",
        responses=_NOT_FOUND,
    )
    async def bulletin(period_id: UUID, session: Session, _caller: CallerDep) -> s.MonthlyBulletin:
        return await service.monthly_bulletin(session, period_id)

    @r.get("", response_model=s.ReportPage, summary="已发布的报告 Issued reports, newest first")
    async def list_reports(
        session: Session,
        runtime: Runtime,
        caller: CallerDep,
        kind: ReportKind | None = Query(default=None, description="报告种类 / kind of report"),
        period: str | None = Query(
            default=None,
            pattern=_PERIOD_PATTERN,
            description="期间：2020, 2020-05, 2020-05-07, 2020-Q2 or 2020-W20 (reports whose period starts "
            "in it)",
        ),
    ) -> s.ReportPage:
        today = local_date(runtime.clock.now())
        return s.ReportPage(
            items=await issued.list_reports(session, caller, kind=kind, period_text=period, today=today)
        )

    @r.get(
        "/{report_id}.xlsx",
        summary="报告（Excel）A report as .xlsx",
        response_class=Response,
        responses=_file(
            XLSX_MEDIA_TYPE, "报告 Excel 文件 / the report as an XLSX workbook", _REPORT_NOT_FOUND
        ),
    )
    async def report_xlsx(
        report_id: UUID, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> Response:
        data, name = await issued.download(
            session, caller, report_id, "xlsx", local_date(runtime.clock.now())
        )
        return _download(data, XLSX_MEDIA_TYPE, name)

    @r.get(
        "/{report_id}.docx",
        summary="报告（Word，GB/T 9704 版式）A report as .docx",
        response_class=Response,
        responses=_file(DOCX_MEDIA_TYPE, "报告 Word 文件 / the report as a DOCX document", _REPORT_NOT_FOUND),
    )
    async def report_docx(
        report_id: UUID, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> Response:
        data, name = await issued.download(
            session, caller, report_id, "docx", local_date(runtime.clock.now())
        )
        return _download(data, DOCX_MEDIA_TYPE, name)

    @r.get(
        "/{report_id}",
        response_model=s.ReportOut,
        summary="报告 A report, frozen as issued",
        responses=_REPORT_NOT_FOUND,
    )
    async def get_report(
        report_id: UUID, session: Session, runtime: Runtime, caller: CallerDep
    ) -> s.ReportOut:
        return await issued.get_report(session, caller, report_id, local_date(runtime.clock.now()))

    return r
