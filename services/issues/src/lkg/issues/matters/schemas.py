"""API models of the issues service."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lkg.common.http.types import Instant, IsoDate, LongText, Text

MatterState = Literal[
    "reported",
    "accepted",
    "assigned",
    "answered",
    "in_progress",
    "resolved",
    "closed",
    "returned",
    "withdrawn",
    "merged",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemCreate(_In):
    """反映问题 / report a problem (难点、堵点)."""

    project_id: UUID = Field(description="项目 id / project")
    title: Text = Field(description="问题标题 / title")
    topic: Text = Field(description="问题类别：土地、资金、供应链、审批、水电… / category")
    description: LongText = Field(description="问题描述 / description")
    help_requested: LongText | None = Field(default=None, description="需协调解决的事项 / help requested")


class MeetingMatterCreate(_In):
    """登记会议议定事项 / register a matter decided at a leaders' meeting."""

    title: Text
    topic: Text
    description: LongText
    meeting_title: Text = Field(description="会议名称 / meeting")
    meeting_date: date
    deciding_layer: Literal[2, 3] = Field(description="议定层级（2 包保区级领导；3 区委区政府主要领导）")
    resolving_unit_id: UUID
    resolving_unit_name: Text
    deadline_on: date = Field(description="办结时限 / the decided deadline")
    project_id: UUID | None = None
    line_id: UUID | None = None


class Acceptance(_In):
    resolving_unit_id: UUID | None = Field(default=None, description="同时交办的问题解决单位（可选）")
    resolving_unit_name: Text | None = None
    resolution_due_on: IsoDate | None = Field(default=None, description="商定的办结日期（可选）")


class MeetingAcceptance(_In):
    """签收会议议定事项 / the resolving unit acknowledges a decided matter."""

    note: Text | None = None


class Assignment(_In):
    resolving_unit_id: UUID
    resolving_unit_name: Text
    resolution_due_on: IsoDate | None = None


class Answer(_In):
    opinion: LongText = Field(description="处理意见 / handling opinion")


class ProgressReport(_In):
    summary: LongText


class Resolution(_In):
    summary: LongText


class Closure(_In):
    note: LongText | None = None


class Reasoned(_In):
    reason: LongText


class Merge(_In):
    into_id: UUID
    reason: LongText


class ClockOut(BaseModel):
    """一个时限 / one clock of a matter."""

    id: UUID
    kind: Literal["acceptance", "reply", "progress", "resolution"]
    layer: int
    charged_unit_id: UUID
    started_at: Instant
    due_at: Instant
    warn_at: Instant | None
    budget: int | None
    budget_unit: str | None
    provisional: bool
    state: Literal["running", "met", "breached", "cancelled"]
    warned_at: Instant | None
    ended_at: Instant | None
    working_days_left: int = Field(
        description=(
            "剩余工作日（官方日历含调休；今天已开始即计为已用，最后一天为0，超期为负数；已结束的时限按结束时计）"
            " / working days left on the official calendar (0 on the last day, negative when overdue; an"
            " ended clock as it stood when it ended)"
        )
    )


class BreachOut(BaseModel):
    id: UUID
    deadline_id: UUID
    kind: str
    layer: int
    charged_unit_id: UUID
    breached_at: Instant


class MatterOut(BaseModel):
    """问题或会议议定事项 / a problem or a meeting matter, with every clock."""

    id: UUID
    kind: Literal["problem", "meeting_matter"]
    revision: int
    title: str
    topic: str
    description: str
    help_requested: str | None
    project_id: UUID | None
    project_name: str | None
    project_unit_id: UUID | None
    line_id: UUID | None
    origin: Literal["reported", "system", "meeting"]
    cause_key: str | None
    reported_by_unit_id: UUID
    state: MatterState
    layer: int
    resolving_unit_id: UUID | None
    resolving_unit_name: str | None
    holder_post_ids: list[UUID]
    holder_unit_ids: list[UUID]
    resolution_due_on: date | None
    meeting_title: str | None
    meeting_date: date | None
    deciding_layer: int | None
    merged_into_id: UUID | None
    closure_outcome: str | None
    closure_reason: str | None
    reported_at: Instant
    answered_at: Instant | None
    resolved_at: Instant | None
    closed_at: Instant | None
    updated_at: Instant
    clocks: list[ClockOut] = Field(default_factory=list, description="全部时限（含已结束）/ every clock")
    breaches: list[BreachOut] = Field(default_factory=list, description="超时记录 / breaches")


class MatterPage(BaseModel):
    items: list[MatterOut]
    next_cursor: str | None = None


class AuditOut(BaseModel):
    id: int
    action: str
    actor: str
    actor_name: str | None
    layer: int | None
    at: Instant
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
