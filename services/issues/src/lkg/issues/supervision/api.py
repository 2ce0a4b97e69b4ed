"""HTTP routes of the red-card register and the supervision rounds (``/api/v1/red-cards``,
``/api/v1/supervision-rounds``): thin — each calls one use case of :mod:`lkg.issues.supervision.service`
or :mod:`lkg.issues.supervision.report`; the unit of work commits a decision. ::

    GET  /api/v1/supervision-rounds/{id}/report        《督查问题专报》 JSON (the draft until issued)
    POST /api/v1/supervision-rounds/{id}/report        督查室 issues it (印发): frozen, 第N期
    GET  /api/v1/supervision-rounds/{id}/report.xlsx   Excel of the issued report
    GET  /api/v1/supervision-rounds/{id}/report.docx   Word (GB/T 9704) of the issued report
    GET  /api/v1/supervision-groups                    四督四促: the four groups, with counts
    GET  /api/v1/supervision-groups/{group}            a group's 督办 list with its evidence
    POST /api/v1/supervision-groups/{group}/follow-ups 督查室 records a follow-up (督办记录)
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.documents import DOCX_MEDIA_TYPE
from lkg.common.http.actions import ACTION_RESPONSES, ActionRoutes
from lkg.common.http.concurrency import etag_header
from lkg.common.http.idempotency import IdempotencyKey, request_hash
from lkg.common.http.pagination import PageQuery
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE
from lkg.common.http.query import StrictQuery
from lkg.common.xlsx import XLSX_MEDIA_TYPE
from lkg.issues.access import Caller
from lkg.issues.deps import CallerDep, Runtime, Session, UnitOfWork, create_once
from lkg.issues.supervision import documents, groups, report, service
from lkg.issues.supervision.schemas import (
    CardState,
    Dismissal,
    FieldCheck,
    FollowUpIn,
    FollowUpOut,
    GroupList,
    Note,
    RedCardOut,
    RedCardPage,
    ReferralOutcomeIn,
    RoundOut,
    RoundPage,
    SupervisionGroup,
    SupervisionList,
    SupervisionReport,
    Withdrawal,
)

_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "轮次不存在或无权阅读（supervision_round_not_found / supervision_report_not_found）",
        "content": _PROBLEM,
    },
}


def _file(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        409: {"description": "尚未印发（report_not_issued）/ not issued yet", "content": _PROBLEM},
        **_REPORT_RESPONSES,
    }


def _download(data: bytes, media_type: str, name: str) -> Response:
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _report_name(out: SupervisionReport, ext: str) -> str:
    return f"supervision-report-{out.year}-{out.number}.{ext}"


def _json(card: Any) -> JSONResponse:
    out = RedCardOut.model_validate(card, from_attributes=True)
    return JSONResponse(out.model_dump(mode="json"), headers=etag_header(card.id, card.revision))


async def _render(_session: AsyncSession, card: Any) -> JSONResponse:
    return _json(card)


def router() -> APIRouter:
    r = APIRouter(dependencies=[StrictQuery])

    @r.get("/api/v1/red-cards", response_model=RedCardPage, summary="红牌登记簿 The red-card register")
    async def list_cards(
        session: Session,
        caller: CallerDep,
        page: PageQuery,
        state: CardState | None = None,
        round_id: UUID | None = None,
    ) -> RedCardPage:
        rows, cursor = await service.list_cards(session, caller, page, state=state, round_id=round_id)
        return RedCardPage(
            items=[RedCardOut.model_validate(c, from_attributes=True) for c in rows], next_cursor=cursor
        )

    @r.get(
        "/api/v1/red-cards/{card_id}",
        response_model=RedCardOut,
        summary="红牌详情",
        responses=ACTION_RESPONSES,
    )
    async def get_card(card_id: UUID, session: Session, caller: CallerDep) -> JSONResponse:
        return _json(await service.get_card(session, card_id, caller))

    action = ActionRoutes[Caller, Any](
        router=r,
        base="/api/v1/red-cards/{card_id}",
        param="card_id",
        name="red_card",
        load=service.get_card,
        render=_render,
        response_model=RedCardOut,
        session=UnitOfWork,
        runtime=Runtime,
        caller=CallerDep,
    )
    action("field-checks", FieldCheck, "记录核查（明查暗访、实地核实）", service.add_field_check)
    action("confirmation", None, "督查室确认发出红牌 Confirm", service.confirm)
    action("dismissal", Dismissal, "督查室撤销（须说明理由）Dismiss", service.dismiss)
    action(
        "withdrawal",
        Withdrawal,
        "撤销已发出的红牌（须说明理由）：排名红牌由重大项目办、督查红牌由督查室 Withdraw an issued card",
        service.withdraw,
    )
    action(
        "referral-request",
        Note,
        "督查室提请包保区级领导同意移交区纪委监委 Ask the line leader's consent",
        service.request_referral,
    )
    action("referral-consent", Note, "包保区级领导同意移交区纪委监委", service.consent_to_referral)
    action("referral", Note, "移交区纪委监委问责 Refer", service.refer)
    action(
        "referral-outcome",
        ReferralOutcomeIn,
        "登记区纪委监委问责结果 Record the discipline commission's outcome",
        service.record_referral_outcome,
    )

    @r.get("/api/v1/supervision-rounds", response_model=RoundPage, summary="月末督查轮次 Supervision rounds")
    async def list_rounds(session: Session, caller: CallerDep, page: PageQuery) -> RoundPage:
        rows, cursor = await service.list_rounds(session, page)
        return RoundPage(
            items=[RoundOut.model_validate(x, from_attributes=True) for x in rows], next_cursor=cursor
        )

    @r.get(
        "/api/v1/supervision-rounds/{round_id}/report.xlsx",
        summary="督查问题专报（Excel）Supervision report as .xlsx",
        response_class=Response,
        responses=_file(XLSX_MEDIA_TYPE, "督查问题专报 Excel 文件"),
    )
    async def report_xlsx(round_id: UUID, session: Session, runtime: Runtime, caller: CallerDep) -> Response:
        out = await report.read_issued(session, runtime, caller, round_id)
        return _download(documents.to_xlsx(out), XLSX_MEDIA_TYPE, _report_name(out, "xlsx"))

    @r.get(
        "/api/v1/supervision-rounds/{round_id}/report.docx",
        summary="督查问题专报（Word，GB/T 9704 版式）Supervision report as .docx",
        response_class=Response,
        responses=_file(DOCX_MEDIA_TYPE, "督查问题专报 Word 文件"),
    )
    async def report_docx(round_id: UUID, session: Session, runtime: Runtime, caller: CallerDep) -> Response:
        out = await report.read_issued(session, runtime, caller, round_id)
        return _download(documents.to_docx(out), DOCX_MEDIA_TYPE, _report_name(out, "docx"))

    @r.get(
        "/api/v1/supervision-rounds/{round_id}/report",
        response_model=SupervisionReport,
        summary="督查问题专报 The round's supervision report (a live draft until issued)",
        responses=_REPORT_RESPONSES,
    )
    async def get_report(
        round_id: UUID, session: Session, runtime: Runtime, caller: CallerDep
    ) -> SupervisionReport:
        return await report.read(session, runtime, caller, round_id)

    @r.post(
        "/api/v1/supervision-rounds/{round_id}/report",
        status_code=201,
        response_model=SupervisionReport,
        summary="督查室印发督查问题专报 Issue the round's report (frozen, 第N期)",
        description="须本轮红牌全部认定；支持 `Idempotency-Key`。",
        responses={
            403: {"description": "只有区政府督查室可以印发", "content": _PROBLEM},
            409: {
                "description": "已印发（report_already_issued）或尚有红牌待认定（cards_undecided）",
                "content": _PROBLEM,
            },
            **_REPORT_RESPONSES,
        },
    )
    async def issue_report(
        round_id: UUID,
        request: Request,
        session: UnitOfWork,
        runtime: Runtime,
        caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def created() -> Response:
            out = await report.issue(session, runtime, caller, round_id)
            return JSONResponse(
                out.model_dump(mode="json"), status_code=201, headers={"Location": str(request.url.path)}
            )

        return await create_once(
            request, session, caller, idempotency_key, request_hash(str(round_id)), created
        )

    @r.get(
        "/api/v1/supervision-groups", response_model=GroupList, summary="四督四促 The four supervision groups"
    )
    async def list_groups(session: Session, runtime: Runtime, caller: CallerDep) -> GroupList:
        return GroupList(items=await groups.groups(session, runtime, caller))

    @r.get(
        "/api/v1/supervision-groups/{group}",
        response_model=SupervisionList,
        summary="督办清单 A group's supervision list with its evidence",
    )
    async def supervision_list(
        group: SupervisionGroup,
        session: Session,
        runtime: Runtime,
        caller: CallerDep,
        status: Literal["lagging"] | None = None,
    ) -> SupervisionList:
        return await groups.supervision_list(
            session, runtime, caller, group, lagging_only=status == "lagging"
        )

    @r.post(
        "/api/v1/supervision-groups/{group}/follow-ups",
        status_code=201,
        response_model=FollowUpOut,
        summary="督查室记录督办 Record a follow-up on a project of the group",
        description="支持 `Idempotency-Key`。",
        responses={
            403: {"description": "只有区政府督查室可以记录督办", "content": _PROBLEM},
            404: {"description": "项目不存在（unknown_project）", "content": _PROBLEM},
            409: {"description": "项目不在此分组（not_in_group）", "content": _PROBLEM},
        },
    )
    async def add_follow_up(
        group: SupervisionGroup,
        body: FollowUpIn,
        request: Request,
        session: UnitOfWork,
        runtime: Runtime,
        caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def created() -> Response:
            out = await groups.add_follow_up(session, runtime, caller, group, **body.model_dump())
            return JSONResponse(out.model_dump(mode="json"), status_code=201)

        digest = request_hash({"group": group, **body.model_dump(mode="json")})
        return await create_once(request, session, caller, idempotency_key, digest, created)

    return r
