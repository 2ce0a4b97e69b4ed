"""API models of the project register (``/api/v1/projects``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from lkg.common.events.contracts import (
    ApprovalType,
    CommitmentSide,
    EnrolmentStatus,
    IntegrityFlag,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
    ProjectStage,
    ProjectStatus,
    RoutingBasis,
    TerminationCause,
)
from lkg.common.http.bodies import ChangeBody
from lkg.common.http.types import Instant, IsoDate, LongText, Text, Yuan

#: 项目代码 in either form :mod:`lkg.registry.projects.projectcode` accepts (hyphenated
#: ``2019-420112-47-03-012345`` or GB/T 40058-2021 ``2107420112040112345678AX``), so the document refuses
#: what the check would.
ProjectCode = Annotated[
    str,
    StringConstraints(pattern=r"^([0-9]{4}-[0-9]{6}-[0-9]{2}-[0-9]{2}-[0-9]{6}|[0-9]{14}[0-9A-Za-z]{10})$"),
]


class MilestonePlan(BaseModel):
    """计划节点 / a planned milestone (not an administrative approval: those belong to approvals)."""

    model_config = ConfigDict(extra="forbid")

    type: MilestoneType
    label: Text | None = Field(default=None, description="节点名称（缺省按类型）/ label, defaults by type")
    planned_date: IsoDate
    actual_date: IsoDate | None = None


class SiteIn(BaseModel):
    """项目选址 / where the project is built: the street and, where known, the park or plot."""

    model_config = ConfigDict(extra="forbid")

    street_id: UUID = Field(description="所在街道/镇街 id（组织目录）/ the street's directory unit id")
    park: Text | None = Field(default=None, description="所在园区（已知时）/ the park, where known")
    plot: Text | None = Field(default=None, description="地块编号或名称（已知时）/ the plot, where known")


class SiteOut(BaseModel):
    """项目选址 / the project's site."""

    model_config = ConfigDict(from_attributes=True)

    street_id: UUID
    street_name: str
    park: str | None
    plot: str | None


class PersonRef(BaseModel):
    """组织目录人员 / a directory person named on the project (name as recorded when named)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str | None = Field(
        description="姓名（记录时的目录姓名；目录中查无此人时为空）/ name as recorded; empty if the "
        "directory never held it"
    )


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
    responsible_unit_name: Text | None = Field(
        default=None,
        description="项目责任单位名称（目录中有此单位时可省略）/ name (from the directory if omitted)",
    )
    provincial_municipal: bool = Field(
        default=False, description="省市重大项目 / provincial-municipal project"
    )
    fast_track: bool = Field(default=False, description="批前提速 / accelerated pre-approval track")
    approval_type: ApprovalType | None = Field(default=None, description="核准类/备案类 / approval type")
    total_investment: Yuan = Field(description="总投资（元）/ total investment (yuan)")
    plan_year: int = Field(ge=2000, le=2100, description="计划年度 / plan year")
    planned_annual_investment: Yuan = Field(description="年度计划投资（元）/ planned investment this year")
    enterprise_credit_code: Text | None = Field(default=None, description="统一社会信用代码 / credit code")
    milestones: list[MilestonePlan] = Field(
        default=[],
        max_length=50,
        description="年度计划节点（作为冻结基线）/ the plan's milestones (the baseline)",
    )
    site: SiteIn | None = Field(default=None, description="项目选址 / the project's site (§四(一))")
    service_contact_id: UUID | None = Field(
        default=None, description="对口服务人员 id（组织目录在岗人员）/ service contact (§三(一))"
    )
    agent_id: UUID | None = Field(
        default=None, description="代办员 id（代办队伍在岗人员）/ the project's agent (§四(三))"
    )
    statistics_contact_id: UUID | None = Field(
        default=None,
        description="统计联系人 id（街道、产业办指定的统计联系人岗位在岗人员）/ statistics contact (§三(四))",
    )


class ProjectUpdate(ChangeBody):
    """修改项目基本信息（需 If-Match）/ change a project's facts (needs If-Match). An omitted field stays;
    ``null`` clears only the project code, approval type, credit code, site and the people named (service
    contact, agent, statistics contact) (422 null_not_allowed else)."""

    CLEARABLE = frozenset(
        {
            "project_code",
            "approval_type",
            "enterprise_credit_code",
            "reason",
            "site",
            "service_contact_id",
            "agent_id",
            "statistics_contact_id",
        }
    )

    name: Text | None = None
    enterprise: Text | None = None
    project_code: ProjectCode | None = None
    project_class: ProjectClass | None = None
    approval_type: ApprovalType | None = None
    total_investment: Yuan | None = None
    planned_annual_investment: Yuan | None = None
    category: ProjectCategory | None = None
    responsible_unit_id: UUID | None = None
    responsible_unit_name: Text | None = None
    enterprise_credit_code: Text | None = None
    site: SiteIn | None = Field(default=None, description="项目选址；null 清除 / the site; null clears it")
    service_contact_id: UUID | None = Field(
        default=None, description="对口服务人员 id；null 清除 / service contact; null clears it"
    )
    agent_id: UUID | None = Field(default=None, description="代办员 id；null 清除 / agent; null clears it")
    statistics_contact_id: UUID | None = Field(
        default=None, description="统计联系人 id；null 清除 / statistics contact; null clears it"
    )
    reason: Text | None = Field(default=None, description="修改原因 / why (kept in the history)")


#: 阶段 as the API documents it (the rule: :mod:`lkg.registry.projects.stage`).
STAGE_DESCRIPTION = (
    "阶段（由已完成节点和投资上报推导，不可填写）：preliminary 前期、approval 审批、construction 开工、"
    "investment 投资、completion 竣工、full_production 达产达效 / stage, derived from the milestones "
    "achieved and the investment reported"
)


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
    routing_rule_id: UUID | None
    routing_reason: str
    enterprise_credit_code: str | None
    project_code_warnings: list[str] = Field(
        description="项目代码结构检查的提示（校验码未核验等）/ what the code check warned of"
    )
    provincial_municipal: bool
    fast_track: bool
    approval_type: ApprovalType | None
    total_investment: Yuan
    above_100m: bool = Field(description="亿元以上（由总投资推导）/ derived: total investment ≥ 100 million")
    plan_year: int
    planned_annual_investment: Yuan
    status: ProjectStatus
    stage: ProjectStage = Field(description=STAGE_DESCRIPTION)
    enrolment_status: EnrolmentStatus
    statistics_contact_id: UUID | None
    integrity_flags: list[IntegrityFlag]
    terminated_on: date | None
    deregistered_on: date | None
    site: SiteOut | None = Field(description="项目选址 / the site (street, park, plot)")
    service_contact: PersonRef | None = Field(description="对口服务人员 / service contact (§三(一))")
    agent: PersonRef | None = Field(description="代办员 / the project's agent (§四(三))")
    statistics_contact: PersonRef | None = Field(description="统计联系人 / statistics contact (§三(四))")
    effective_at: Instant
    created_at: Instant
    updated_at: Instant


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")


class MilestoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    type: MilestoneType
    label: str
    planned_date: date
    baseline_date: date | None = Field(description="冻结的年度计划基线 / the frozen baseline")
    actual_date: date | None
    missed_at: Instant | None = Field(description="逾期通报时间 / when milestone.missed went out")


class ProjectDetail(ProjectOut):
    milestones: list[MilestoneOut]


class ProjectFilters(BaseModel):
    """列表筛选 / list filters (query parameters)."""

    line_id: UUID | None = None
    unrouted: bool | None = Field(default=None, description="仅待分线（或仅已分线）/ unrouted queue")
    responsible_unit_id: UUID | None = None
    project_class: ProjectClass | None = None
    category: ProjectCategory | None = None
    status: ProjectStatus | None = None
    provincial_municipal: bool | None = None
    fast_track: bool | None = None
    above_100m: bool | None = None
    stage: ProjectStage | None = Field(
        default=None,
        description="阶段：preliminary 前期、approval 审批、construction 开工、investment 投资、"
        "completion 竣工、full_production 达产达效 / stage",
    )
    overdue_milestones: bool | None = Field(
        default=None, description="有逾期未完成节点 / has overdue milestones"
    )
    q: Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00-\x1f]*$")] | None = Field(
        default=None, description="名称搜索 / name contains"
    )


class ProjectSort(StrEnum):
    """列表排序 / the list's order: a field, ``-`` in front for descending (ties broken by id)."""

    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"
    NAME = "name"
    NAME_DESC = "-name"
    TOTAL_INVESTMENT = "total_investment"
    TOTAL_INVESTMENT_DESC = "-total_investment"


#: The list's filters as query parameters (the list and the workbook export).
Filters = Annotated[ProjectFilters, Query()]
Sort = Annotated[
    ProjectSort | None,
    Query(
        description="排序字段，前加 - 为降序（同值按 id）/ order by a field, '-' for descending "
        "(ties by id); default: registration order, or update order with updated_since"
    ),
]


class LineExplanation(BaseModel):
    """项目为何在这条线上 / why the project is on its line."""

    project_id: UUID
    line_id: UUID | None
    line_number: int | None
    line_name: str | None
    leader_post_id: UUID | None
    service_unit_id: UUID | None
    routing_basis: RoutingBasis
    routing_rule_id: UUID | None
    routing_reason: str


class LineAssignment(BaseModel):
    """明确指定包保线（重大项目办）/ put a project on a line, with a reason."""

    model_config = ConfigDict(extra="forbid")

    line_id: UUID
    reason: Text


class MilestoneReplan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_date: IsoDate
    reason: Text = Field(description="调整原因（必填）/ why (required)")


class MilestoneActual(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actual_date: IsoDate


class MilestoneAdd(MilestonePlan):
    reason: Text


class FlagsUpdate(ChangeBody):
    """省市重大项目、批前提速、诚信标记（重大项目办）/ flags (major-projects office). An omitted flag stays;
    ``null`` is refused (422 null_not_allowed): a flag is true or false, the integrity flags a list."""

    CLEARABLE = frozenset({"reason"})

    # Strict: JSON true/false only (0 and "no" were taken as false; the document says boolean).
    provincial_municipal: StrictBool | None = None
    fast_track: StrictBool | None = None
    integrity_flags: list[IntegrityFlag] | None = None
    reason: Text | None = None


class InvestmentReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    amount: Yuan = Field(description="本月完成投资（元）/ completed this month (yuan)")
    reported_by_unit_id: UUID


class InvestmentReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    project_id: UUID
    year: int
    month: int
    amount: Yuan
    year_to_date: Yuan
    reported_by_unit_id: UUID
    supersedes: UUID | None
    reported_at: Instant


class EnrolmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: EnrolmentStatus | None = None
    statistics_contact_id: UUID | None = None


class EnrolmentFailureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: UUID
    reason: Text


class EnrolmentFailureList(BaseModel):
    """统计局每月未入库项目清单 / the statistics bureau's monthly list."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    reported_by_unit_id: UUID
    failures: list[EnrolmentFailureIn] = Field(max_length=1000)


class CountOut(BaseModel):
    count: int


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    side: CommitmentSide
    description: LongText
    due_date: IsoDate
    obligor_unit_id: UUID | None = Field(
        default=None, description="承诺单位（可省略：取承诺岗位所在单位）/ optional: the post's unit"
    )
    obligor_post_id: UUID | None = Field(
        default=None, description="承诺岗位（政府承诺必填）/ the obligor post (required for the government)"
    )


class CommitmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    project_id: UUID
    side: CommitmentSide
    description: str
    due_date: date
    obligor_unit_id: UUID | None = Field(description="承诺单位（承诺岗位所在单位）/ the obligor post's unit")
    obligor_unit_name: str | None
    obligor_post_id: UUID | None = Field(
        description="承诺岗位：岗位承担承诺，换届后由继任者负责（新官理旧账）/ the obligor post"
    )
    obligor_post_title: str | None
    answerable: list[PersonRef] = Field(
        description="今日对此承诺负责的人：承诺岗位的在任者 / who answers for it today: the post's holders"
    )
    fulfilled_on: date | None
    overdue_at: Instant | None


class Fulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fulfilled_on: IsoDate


class Termination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: TerminationCause
    reason: Text
    terminated_on: IsoDate


class Deregistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text
    deregistered_on: IsoDate


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    revision: int
    action: str
    actor: str
    reason: str | None
    changes: dict[str, list[str | int | float | bool | None]]
    changed_at: Instant


class CodeLookup(BaseModel):
    project_code: ProjectCode
