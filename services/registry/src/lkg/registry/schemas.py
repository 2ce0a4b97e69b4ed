"""API models of the registry service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lkg.common.events.contracts import (
    ApprovalType,
    ProjectCategory,
    ProjectClass,
    ProjectStatus,
    RoutingBasis,
)
from lkg.common.http.types import Instant, Text, Yuan

ProjectCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{24}$")]


class ProjectCreate(BaseModel):
    """登记一个重大产业项目 / register a major industrial project."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(description="项目名称 / project name")
    enterprise: Text = Field(description="项目建设单位 / investing enterprise")
    project_code: ProjectCode | None = Field(
        default=None, description="项目代码（24位）/ national project code"
    )
    category: ProjectCategory = Field(description="项目类型 / category")
    project_class: ProjectClass = Field(description="项目类别 / class in the year's plan")
    responsible_unit_id: UUID = Field(description="项目责任单位 id / responsible unit id")
    responsible_unit_name: Text = Field(description="项目责任单位名称 / responsible unit name")
    provincial_municipal: bool = Field(
        default=False, description="省市重大项目 / provincial-municipal project"
    )
    fast_track: bool = Field(default=False, description="批前提速 / accelerated pre-approval track")
    approval_type: ApprovalType | None = Field(default=None, description="核准类/备案类 / approval type")
    total_investment: Yuan = Field(description="总投资（元）/ total investment (yuan)")
    plan_year: int = Field(ge=2000, le=2100, description="计划年度 / plan year")
    planned_annual_investment: Yuan = Field(description="年度计划投资（元）/ planned investment this year")


class ProjectUpdate(BaseModel):
    """修改项目基本信息（需 If-Match）/ change a project's facts (needs If-Match)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    enterprise: Text | None = None
    project_code: ProjectCode | None = None
    project_class: ProjectClass | None = None
    approval_type: ApprovalType | None = None
    total_investment: Yuan | None = None
    planned_annual_investment: Yuan | None = None


class ProjectOut(BaseModel):
    """项目 / a project as the registry holds it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    revision: int
    project_code: str | None
    name: str
    enterprise: str
    category: ProjectCategory
    project_class: ProjectClass
    responsible_unit_id: UUID
    responsible_unit_name: str
    line_id: UUID | None = Field(description="包保线 id；未分线时为空 / line id, empty while unrouted")
    routing_basis: RoutingBasis
    routing_reason: str
    provincial_municipal: bool
    fast_track: bool
    approval_type: ApprovalType | None
    total_investment: Yuan
    above_100m: bool = Field(description="亿元以上（由总投资推导）/ derived: total investment ≥ 100 million")
    plan_year: int
    planned_annual_investment: Yuan
    status: ProjectStatus
    effective_at: Instant
    created_at: Instant
    updated_at: Instant


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")
