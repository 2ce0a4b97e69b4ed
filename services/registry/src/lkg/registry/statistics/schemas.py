"""API models of the statistics work (``/api/v1/projects/statistics-duties``,
``/api/v1/projects/{id}/statistics-visits``)."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lkg.common.http.types import Instant, LongText


class VisitIn(BaseModel):
    """统计上门服务 / a statistics contact's on-site visit to the project."""

    model_config = ConfigDict(extra="forbid")

    visited_on: date = Field(description="上门服务日期（不晚于今天）/ the day of the visit")
    note: LongText = Field(description="服务内容 / what was done (入库准备、数据报送 …)")


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    project_id: UUID
    year: int
    month: int
    visited_on: date
    person_id: UUID = Field(description="统计联系人 / the statistics contact")
    person_name: str | None
    note: str
    recorded_at: Instant


DutyKind = Literal["enrolment_list", "visits"]


class DutyQuery(BaseModel):
    """筛选 / filters of the duties list."""

    model_config = ConfigDict(extra="forbid")

    kind: DutyKind | None = Field(
        default=None, description="enrolment_list 统计局未入库清单（28日前）/ visits 联系人每月上门服务"
    )
    outcome: Literal["open", "met", "missed"] | None = Field(
        default=None, description="open 未到期 / met 按时完成 / missed 逾期未完成"
    )
    year: int | None = Field(default=None, ge=2000, le=2100)
    month: int | None = Field(default=None, ge=1, le=12)


class DutyOut(BaseModel):
    """统计工作的月度时限 / a monthly duty of the statistics work, and how it ended."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: DutyKind
    year: int
    month: int
    subject_id: UUID = Field(description="统计局（清单）或统计联系人（上门服务）/ the bureau or the contact")
    unit_id: UUID = Field(description="记录在其名下的单位 / the unit the duty is recorded against")
    unit_name: str
    due_on: date = Field(description="到期日（28日或月末，遇非工作日提前）/ the due day")
    due_at: Instant
    warn_at: Instant
    warned_at: Instant | None
    outcome: Literal["met", "missed"] | None
    ended_at: Instant | None
    missed_project_ids: list[UUID] = Field(description="未上门服务的项目 / projects not visited")
