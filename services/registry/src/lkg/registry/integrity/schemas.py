"""API models of the integrity reviews (``/api/v1/projects/{id}/integrity-reviews``)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lkg.common.events.contracts import IntegrityFlag
from lkg.common.http.types import Instant, LongText, Text


class ReviewIn(BaseModel):
    """诚信履约回头看 / one review of the project's contract performance."""

    model_config = ConfigDict(extra="forbid")

    reviewed_on: date = Field(description="核查日期（不晚于今天）/ the day of the review")
    reviewers: Text = Field(description="核查人员（督查室、商务局）/ who reviewed")
    findings: list[IntegrityFlag] = Field(
        max_length=4,
        description="发现的问题：breach_of_contract 不履行合同约定、overdue_start 逾期不开工、"
        "idle_land 占而未建、slow_construction 慢建久拖；空表示正常履约 / what it found (empty: performing)",
    )
    evidence: LongText = Field(description="核查依据（实地核查、合同条款、影像资料说明）/ the evidence")


class RoundOut(BaseModel):
    """回头看轮次 / a round of integrity reviews, and how it ended."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    starts_on: date
    due_on: date = Field(description="到期日（轮次末月最后一个工作日）/ the round's due day")
    due_at: Instant
    warn_at: Instant
    unit_id: UUID = Field(description="记录在其名下的单位（督查室）/ recorded against 督查室")
    unit_name: str
    warned_at: Instant | None
    outcome: str | None = Field(description="met 按时完成 / missed 逾期未完成 / 空：进行中")
    ended_at: Instant | None
    unreviewed_project_ids: list[UUID] = Field(description="未核查的项目 / projects not reviewed")


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    project_id: UUID
    reviewed_on: date
    reviewers: str
    reviewer_unit_ids: list[UUID]
    findings: list[IntegrityFlag]
    evidence: str
    recorded_at: Instant
