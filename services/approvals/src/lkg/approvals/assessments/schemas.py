"""API models of regional assessments (区域评估, policy §四(一))."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lkg.approvals.schemas import ChangeBody, Code, Day, DocumentRef, LimitDays
from lkg.common.http.types import Instant, Text

#: The kinds of area-wide assessment the district does (区域评估): 区域环评, 区域安评, 区域能评, 水土保持,
#: 地震安全性评价, 洪水影响评价, 压覆矿产资源评估, 文物勘探, 地质灾害危险性评估, and any other.
AssessmentKind = Literal[
    "environmental_impact",
    "safety",
    "energy",
    "soil_and_water",
    "seismic_safety",
    "flood_impact",
    "mineral_overlay",
    "cultural_relics",
    "geological_hazard",
    "other",
]

#: An area's street ids, park and plot names: bounded lists, no repeats.
Streets = Annotated[list[UUID], Field(max_length=50, description="街道（登记服务的单位 id）/ streets")]
Parks = Annotated[list[Text], Field(max_length=100, description="园区 / parks")]
Plots = Annotated[list[Text], Field(max_length=500, description="地块 / plots")]


class WaiveEffect(BaseModel):
    """免于单独办理 / the item is not needed in the area."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="审批事项目录编码 / catalogue code")
    effect: Literal["waive"]


class ShortenEffect(BaseModel):
    """缩短办理时限 / the item's limit is ``days`` shorter (in the item's own unit), never below one day."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="审批事项目录编码 / catalogue code")
    effect: Literal["shorten"]
    days: LimitDays = Field(description="缩短天数 / days off the limit")


#: What the assessment does to one catalogue item (each code at most once: 409 ``duplicate_effect``).
AssessmentEffectIn = Annotated[WaiveEffect | ShortenEffect, Field(discriminator="effect")]


class RegionalAssessmentCreate(BaseModel):
    """登记区域评估 / record a regional assessment: what, by whom, when, for how long, which area (at least
    one street, park or plot; repeats are taken once), and which catalogue items it waives or shortens
    there. Refused with 409 (nothing recorded): an empty area, a code given twice, ``valid_to`` before
    ``valid_from``, a code, street or unit the service does not know."""

    model_config = ConfigDict(extra="forbid")

    kind: AssessmentKind
    title: Text = Field(description="名称，如 临空港经开区区域环境影响评价 / title")
    issuing_unit_id: UUID | None = Field(default=None, description="出具或审查单位 / issuing unit")
    issuing_unit_name: Text
    issued_on: Day
    valid_from: Day
    valid_to: Day | None = Field(default=None, description="有效期止；空为长期 / open-ended when empty")
    document_ref: DocumentRef | None = None
    streets: Streets = Field(default_factory=list)
    parks: Parks = Field(default_factory=list)
    plots: Plots = Field(default_factory=list)
    effects: list[AssessmentEffectIn] = Field(min_length=1, max_length=50)


class RegionalAssessmentUpdate(ChangeBody):
    """修改区域评估（需 If-Match）：范围、效力、有效期；修改后重新作用于范围内项目的审批计划；仅 valid_to、
    document_ref 可置 null / change the area, effects or validity (plans in the old and new area follow);
    only ``valid_to`` and ``document_ref`` may be cleared with null."""

    CLEARABLE = frozenset({"valid_to", "document_ref"})

    title: Text | None = None
    valid_from: Day | None = None
    valid_to: Day | None = None
    document_ref: DocumentRef | None = None
    streets: Streets | None = None
    parks: Parks | None = None
    plots: Plots | None = None
    effects: list[AssessmentEffectIn] | None = Field(default=None, min_length=1, max_length=50)


class AssessmentEffectOut(BaseModel):
    code: str
    effect: Literal["waive", "shorten"]
    days: int | None = None


class RegionalAssessmentOut(BaseModel):
    """区域评估 / a regional assessment, and the plans it applies to now."""

    id: UUID
    revision: int
    kind: AssessmentKind
    title: str
    issuing_unit_id: UUID | None
    issuing_unit_name: str
    issued_on: date
    valid_from: date
    valid_to: date | None
    document_ref: str | None
    streets: list[UUID]
    parks: list[str]
    plots: list[str]
    effects: list[AssessmentEffectOut]
    in_force: bool = Field(description="今日在有效期内 / in force today")
    plans_applied: int = Field(description="已作用的审批计划数 / plans carrying its effects")
    recorded_by: str
    created_at: Instant
    updated_at: Instant


class RegionalAssessmentPage(BaseModel):
    items: list[RegionalAssessmentOut]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")
