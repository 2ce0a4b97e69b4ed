"""HTTP routes of the red-card register and the supervision rounds (``/api/v1/red-cards``,
``/api/v1/supervision-rounds``): thin — each calls one use case of :mod:`lkg.issues.supervision.service`;
the unit of work commits a decision."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.actions import ACTION_RESPONSES, ActionRoutes
from lkg.common.http.concurrency import etag_header
from lkg.common.http.pagination import PageQuery
from lkg.common.http.query import StrictQuery
from lkg.issues.access import Caller
from lkg.issues.deps import CallerDep, Runtime, Session, UnitOfWork
from lkg.issues.supervision import service
from lkg.issues.supervision.schemas import (
    CardState,
    Dismissal,
    FieldCheck,
    Note,
    RedCardOut,
    RedCardPage,
    RoundOut,
    RoundPage,
    Withdrawal,
)


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
        "重大项目办撤销排名红牌（须说明理由）Withdraw a ranking card",
        service.withdraw,
    )
    action("referral-consent", Note, "包保区级领导同意移交区纪委监委", service.consent_to_referral)
    action("referral", Note, "移交区纪委监委问责 Refer", service.refer)

    @r.get("/api/v1/supervision-rounds", response_model=RoundPage, summary="月末督查轮次 Supervision rounds")
    async def list_rounds(session: Session, caller: CallerDep, page: PageQuery) -> RoundPage:
        rows, cursor = await service.list_rounds(session, page)
        return RoundPage(
            items=[RoundOut.model_validate(x, from_attributes=True) for x in rows], next_cursor=cursor
        )

    return r
