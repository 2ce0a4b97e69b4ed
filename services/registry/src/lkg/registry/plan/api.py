"""HTTP routes of the plan workbook: ``GET /api/v1/projects/plan.xlsx`` and ``POST .../plan-imports``.

Mounted under the project routes' prefix (:mod:`lkg.registry.projects.api`), whose query check and 404
answer they share.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lkg.common.http.idempotency import IdempotencyKey
from lkg.registry.deps import AnyCaller, OfficeCaller, Runtime, Session, UnitOfWork, idempotent
from lkg.registry.plan import reading, service, workbook
from lkg.registry.plan.schemas import PlanImportMode, PlanImportOut, PlanRowErrorOut, PlanRowResultOut
from lkg.registry.projects.filters import ListQuery
from lkg.registry.projects.schemas import Filters, Sort

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
            for media_type in workbook.UPLOAD_MEDIA_TYPES
        },
    }
}

router = APIRouter()


@router.get(
    "/plan.xlsx",
    summary="导出推进计划 Export the plan as Excel",
    description="《重大产业项目推进计划》：调用者可见范围内、按列表同样的筛选和排序的项目，一行一个项目，"
    "金额单位万元，计划节点日期；可原样修改后导入。",
    response_class=Response,
    responses={
        200: {
            "description": "推进计划工作簿 / the plan as an XLSX workbook",
            "content": {workbook.XLSX: {"schema": {"type": "string", "format": "binary"}}},
        },
        409: {"description": "符合条件的项目过多，请加筛选 / too many projects: filter the export"},
    },
)
async def export_plan(
    session: Session,
    runtime: Runtime,
    caller: AnyCaller,
    filters: Filters,
    sort: Sort = None,
) -> Response:
    now = runtime.clock.now()
    rows = await service.export_rows(session, caller, ListQuery(filters, now.date(), sort=sort))
    # Building a workbook is CPU work (seconds for thousands of rows): off the event loop, which every
    # service of the process shares.
    data = await run_in_threadpool(
        workbook.write_plan,
        rows,
        title=f"临空港重大产业项目推进计划（{now.date().isoformat()}导出）",
        as_of=now,
    )
    return Response(
        data,
        media_type=workbook.XLSX,
        headers={"Content-Disposition": f'attachment; filename="plan-{now.date().isoformat()}.xlsx"'},
    )


@router.post(
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
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
    mode: ImportModeQuery = PlanImportMode.ALL,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in workbook.UPLOAD_MEDIA_TYPES:
        raise workbook.UnsupportedMediaType(f"请以 {workbook.XLSX} 上传 .xlsx 文件")
    data = await request.body()

    async def run() -> Response:
        parsed = await run_in_threadpool(reading.read_plan, data)
        report = await service.import_plan(session, runtime.clock, parsed, mode=mode, actor=caller.actor)
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

    return await idempotent(request, session, caller, idempotency_key, mode.encode() + data, run)
