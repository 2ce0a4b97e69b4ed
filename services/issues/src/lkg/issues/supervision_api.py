"""HTTP routes of the red-card register and the supervision rounds (``/api/v1/red-cards``,
``/api/v1/supervision-rounds``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, CurrentReach
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.query import StrictQuery
from lkg.common.http.types import Instant, LongText, Text
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues import supervision
from lkg.issues.access import Viewer
from lkg.issues.models import red_card, supervision_round

Session = Annotated[AsyncSession, Depends(session_for("issues"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("issues"))]


async def _viewer(principal: CurrentPrincipal, reach: CurrentReach) -> Viewer:
    return Viewer(principal=principal, reach=reach)


ViewerDep = Annotated[Viewer, Depends(_viewer)]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "无权执行 / not allowed"},
    404: {"description": "不存在或不可见 / not found"},
    409: {"description": "状态不允许 / not allowed in this state"},
    412: {"description": "已被他人修改 / changed by someone else"},
    428: {"description": "缺少 If-Match / If-Match required"},
}


class RedCardOut(BaseModel):
    """红牌 / a red card in the register."""

    id: UUID
    revision: int
    state: Literal["proposed", "issued", "dismissed"]
    source: Literal["supervision", "ranking"]
    reason: str
    target_unit_id: UUID
    target_unit_name: str
    target_kind: str
    project_id: UUID | None
    line_id: UUID | None
    matter_id: UUID | None
    supervision_round_id: UUID | None
    request_id: UUID | None
    period_kind: str
    period_start: date
    period_end: date
    evidence: list[dict[str, Any]]
    field_checks: list[dict[str, Any]]
    dismissal_reason: str | None
    decided_at: Instant | None
    referral_state: Literal["none", "consented", "referred"]
    created_at: Instant


class RedCardPage(BaseModel):
    items: list[RedCardOut]


class RoundOut(BaseModel):
    id: UUID
    year: int
    month: int
    opened_at: Instant
    period_start: date
    period_end: date


class RoundPage(BaseModel):
    items: list[RoundOut]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldCheck(_In):
    method: Literal["open_inspection", "unannounced_visit", "on_site_verification"]
    note: LongText


class Dismissal(_In):
    reason: LongText


class Note(_In):
    note: Text


def _json(card: Any) -> JSONResponse:
    out = RedCardOut.model_validate(card, from_attributes=True)
    return JSONResponse(out.model_dump(mode="json"), headers=etag_header(card.id, card.revision))


def router() -> APIRouter:
    r = APIRouter(dependencies=[StrictQuery])

    @r.get("/api/v1/red-cards", response_model=RedCardPage, summary="红牌登记簿 The red-card register")
    async def list_cards(
        session: Session,
        viewer: ViewerDep,
        state: Literal["proposed", "issued", "dismissed"] | None = None,
        round_id: UUID | None = None,
    ) -> RedCardPage:
        stmt = sa.select(red_card).order_by(red_card.c.created_at, red_card.c.id)
        if not viewer.sees_all:
            stmt = stmt.where(
                sa.or_(
                    red_card.c.target_unit_id.in_(list(viewer.reach.units)),
                    red_card.c.line_id.in_(list(viewer.reach.lines)),
                )
            )
        if state is not None:
            stmt = stmt.where(red_card.c.state == state)
        if round_id is not None:
            stmt = stmt.where(red_card.c.supervision_round_id == round_id)
        rows = (await session.execute(stmt.limit(1000))).all()
        return RedCardPage(items=[RedCardOut.model_validate(c, from_attributes=True) for c in rows])

    @r.get("/api/v1/red-cards/{card_id}", response_model=RedCardOut, summary="红牌详情", responses=_RESPONSES)
    async def get_card(card_id: UUID, session: Session, viewer: ViewerDep) -> JSONResponse:
        return _json(await supervision.get_card(session, card_id, viewer))

    def action(path: str, body_cls: type | None, summary: str, use_case: Any) -> None:
        if body_cls is None:

            async def act(
                card_id: UUID, session: Session, runtime: Runtime, viewer: ViewerDep, if_match: IfMatch = None
            ) -> JSONResponse:
                card = await supervision.get_card(session, card_id, viewer)
                check_if_match(if_match, etag_for(card.id, card.revision))
                card = await use_case(session, runtime, viewer, card, expected_revision=card.revision)
                await session.commit()
                return _json(card)

        else:

            async def act(  # type: ignore[misc]
                card_id: UUID,
                body: body_cls,  # type: ignore[valid-type]
                session: Session,
                runtime: Runtime,
                viewer: ViewerDep,
                if_match: IfMatch = None,
            ) -> JSONResponse:
                card = await supervision.get_card(session, card_id, viewer)
                check_if_match(if_match, etag_for(card.id, card.revision))
                card = await use_case(
                    session, runtime, viewer, card, expected_revision=card.revision, **body.model_dump()
                )
                await session.commit()
                return _json(card)

        if body_cls is not None:
            act.__annotations__["body"] = body_cls  # resolved here: annotations are strings in this module
        act.__name__ = f"red_card_{path.replace('-', '_')}"
        r.add_api_route(
            f"/api/v1/red-cards/{{card_id}}/{path}",
            act,
            methods=["POST"],
            response_model=RedCardOut,
            summary=summary,
            responses=_RESPONSES,
        )

    action("field-checks", FieldCheck, "记录核查（明查暗访、实地核实）", supervision.add_field_check)
    action("confirmation", None, "督查室确认发出红牌 Confirm", supervision.confirm)
    action("dismissal", Dismissal, "督查室撤销（须说明理由）Dismiss", supervision.dismiss)
    action("referral-consent", Note, "包保区级领导同意移交区纪委监委", supervision.consent_to_referral)
    action("referral", Note, "移交区纪委监委问责 Refer", supervision.refer)

    @r.get("/api/v1/supervision-rounds", response_model=RoundPage, summary="月末督查轮次 Supervision rounds")
    async def list_rounds(session: Session, viewer: ViewerDep) -> RoundPage:
        rows = (
            await session.execute(
                sa.select(supervision_round).order_by(supervision_round.c.year, supervision_round.c.month)
            )
        ).all()
        return RoundPage(items=[RoundOut.model_validate(x, from_attributes=True) for x in rows])

    return r
