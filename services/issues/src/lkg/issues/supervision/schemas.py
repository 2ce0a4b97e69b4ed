"""API models of the red-card register and the supervision rounds."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from lkg.common.http.types import Instant, LongText, Text

#: A card's state (proposed by a round; issued or dismissed by 督查室; an issued ranking card withdrawn by
#: 重大项目办).
CardState = Literal["proposed", "issued", "dismissed", "withdrawn"]


class RedCardOut(BaseModel):
    """红牌 / a red card in the register."""

    id: UUID
    revision: int
    state: CardState
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
    withdrawal_reason: str | None
    decided_at: Instant | None
    referral_state: Literal["none", "consented", "referred"]
    created_at: Instant


class RedCardPage(BaseModel):
    items: list[RedCardOut]
    next_cursor: str | None = None


class RoundOut(BaseModel):
    id: UUID
    year: int
    month: int
    opened_at: Instant
    period_start: date
    period_end: date


class RoundPage(BaseModel):
    items: list[RoundOut]
    next_cursor: str | None = None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldCheck(_In):
    method: Literal["open_inspection", "unannounced_visit", "on_site_verification"]
    note: LongText


class Dismissal(_In):
    reason: LongText


class Withdrawal(_In):
    reason: LongText


class Note(_In):
    note: Text
