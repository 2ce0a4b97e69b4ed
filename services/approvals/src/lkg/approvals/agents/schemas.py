"""API models of the approval agents' team (代办员队伍) and its training (代办业务培训, policy §四(三))."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lkg.approvals.schemas import Day
from lkg.common.http.types import Instant, Text


class ApprovalAgentOut(BaseModel):
    """代办员 / a member of the agents' team (a holder of an ``approval_agent`` post of the directory), with
    the training they attended."""

    person_id: UUID
    name: str
    post_id: UUID
    post_title: str
    unit_id: UUID
    since: date = Field(description="任职起 / holds the post since")
    trainings_attended: int = Field(description="参加培训次数 / training sessions attended")
    last_trained_on: date | None = Field(description="最近一次参加培训 / last training attended")
    training_due: bool = Field(
        description="应参加培训：从未参训或超过培训周期 / never trained, or not within the interval"
    )


class ApprovalAgentList(BaseModel):
    on: date = Field(description="在队日期 / the team on this day")
    training_every_days: int = Field(description="培训周期（天）/ the training interval, days")
    items: list[ApprovalAgentOut]


class AgentTrainingCreate(BaseModel):
    """登记一次代办业务培训 / record a training session: when, on what, who attended (directory people)."""

    model_config = ConfigDict(extra="forbid")

    held_on: Day
    topic: Text = Field(description="培训主题，如 从立项到开工的申办流程 / topic")
    attendees: list[UUID] = Field(
        min_length=1,
        max_length=500,
        description="参训人员 id（重复只记一次）/ attendees, repeats once",
    )


class AgentTrainingAttendee(BaseModel):
    person_id: UUID
    name: str
    on_team: bool = Field(description="培训当日为代办员 / on the agents' team that day")


class AgentTrainingOut(BaseModel):
    """代办业务培训 / one training session."""

    id: UUID
    held_on: date
    topic: str
    attendees: list[AgentTrainingAttendee]
    recorded_by: str
    created_at: Instant


class AgentTrainingPage(BaseModel):
    items: list[AgentTrainingOut]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")
