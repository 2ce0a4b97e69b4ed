"""``/api/v1/reports``: the 月度通报 of each published month, as JSON, .xlsx or .docx.

Bulletins that the policy circulates district-wide (月度通报) go to every unit, as a stated decision (issue
16): any signed-in caller may read them. ::

    GET /api/v1/reports/monthly-bulletins                     published months' bulletins, numbered
    GET /api/v1/reports/monthly-bulletins/{period_id}         JSON
    GET /api/v1/reports/monthly-bulletins/{period_id}.xlsx    Excel
    GET /api/v1/reports/monthly-bulletins/{period_id}.docx    Word (GB/T 9704)
    GET /api/v1/reports/dispatch-board[?line=]                日调度, live, filtered by the caller's reach
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lkg.common.documents import DOCX_MEDIA_TYPE
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE
from lkg.common.http.query import StrictQuery
from lkg.common.xlsx import XLSX_MEDIA_TYPE
from lkg.scoring.deps import CallerDep, Runtime, Session
from lkg.scoring.reports import dispatch, documents, service
from lkg.scoring.reports import schemas as s

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "该月未发布（bulletin_not_found）/ the month is not published",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _file(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        **_NOT_FOUND,
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
    ) -> s.DispatchBoard:
        return await dispatch.board(
            session, caller, now=runtime.clock.now(), calendar=runtime.calendar, line_id=line
        )

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

    return r
