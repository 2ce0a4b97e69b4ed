"""The 月度通报 as JSON (what the Word and Excel downloads show, figure for figure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from lkg.common.events.contracts import Grade


class BulletinEntry(BaseModel):
    rank: int
    unit_id: UUID
    label: str = Field(description="单位 unit")
    score: Decimal
    grade: Grade
    carded: bool = Field(description="后3名且不合格，提请红牌 (§六(三))")


class BulletinListed(BaseModel):
    unit_id: UUID
    label: str
    heads: list[str] = Field(description="单位负责人 (unit_head posts)")


class BulletinInvestment(BaseModel):
    label: str
    plan: Decimal = Field(description="年度计划投资（万元）")
    year_to_date: Decimal = Field(description="累计完成投资（万元）")
    completion: Decimal | None = Field(description="完成率 (share of the plan, 0..1)")


class MonthlyBulletin(BaseModel):
    """月度通报: the month's published grades and ranking, the carded, the 表态 and 约谈 lists, investment."""

    period_id: UUID
    label: str = Field(description="e.g. 2020年5月")
    number: int = Field(description="第N期: the order of this month among the published months")
    start: date
    end: date
    as_of: datetime = Field(description="the published cut-off the figures are computed as of")
    published_at: datetime
    ranking: list[BulletinEntry]
    carded: list[str] = Field(description="labels of the carded units (红牌)")
    interviews: list[BulletinListed] = Field(description="约谈: heads of the carded units")
    statements: list[BulletinListed] = Field(description="表态发言: units graded 不合格")
    investment_by_line: list[BulletinInvestment]
    investment_by_unit: list[BulletinInvestment]


class BulletinSummary(BaseModel):
    period_id: UUID
    label: str
    number: int
    published_at: datetime


class BulletinPage(BaseModel):
    items: list[BulletinSummary]


# ---- 日调度 dispatch board --------------------------------------------------------------------------


class ProjectStateName(StrEnum):
    """A project's current state on the battle map, worst first: ``unrouted`` 未分线 (waiting for 重大项目办),
    ``breached`` 超时 (a matter past a time limit and still not made good, or a milestone reported missed),
    ``stalled_approval`` 审批超时, ``warning`` 预警 (a clock warned, or due by the end of the next working
    day), ``on_track`` 正常."""

    UNROUTED = "unrouted"
    BREACHED = "breached"
    STALLED_APPROVAL = "stalled_approval"
    WARNING = "warning"
    ON_TRACK = "on_track"


class ProjectState(BaseModel):
    """One project on the battle map (作战图): what it is, where, and its state with the reasons."""

    project_id: UUID
    code: str | None = Field(description="项目代码 (national investment platform), if any")
    name: str
    line_id: UUID | None = Field(description="包保线; null while unrouted")
    line_number: int | None
    line_name: str | None
    responsible_unit_id: UUID
    responsible_unit_name: str
    street: str | None = Field(description="镇街: the responsible unit's name when it is a street, else null")
    stage: str = Field(
        description="阶段: preliminary, approval, construction, investment, completion, full_production"
    )
    project_class: str = Field(description="项目类别: preliminary, new_start, continuing, completing")
    fast_track: bool = Field(description="批前提速")
    provincial_municipal: bool = Field(description="省市重大项目")
    state: ProjectStateName
    reason: str = Field(description="why, in words (the deciding reason first)")
    reasons: list[str] = Field(description="every reason found, the deciding one first")
    previous_state: ProjectStateName | None = Field(
        description="the state as of `since` (start of the previous working day); null if it was not listed"
    )


class DispatchMatter(BaseModel):
    """A problem or meeting matter on the board, with the clock that puts it there."""

    matter_id: UUID
    kind: str = Field(description="problem / meeting_matter")
    title: str
    project_id: UUID | None
    project_name: str | None
    layer: int = Field(description="层级 1..3")
    resolving_unit_id: UUID | None
    resolving_unit_name: str | None
    clock: str | None = Field(description="acceptance, reply, progress, resolution")
    due_at: datetime | None = Field(description="when the clock runs out (end of its last day)")
    escalated_at: datetime | None = None
    breached_at: datetime | None = None


class DispatchApproval(BaseModel):
    """An approval item past its time limit and not granted (审批超时)."""

    approval_item_id: UUID
    project_id: UUID | None
    project_name: str | None
    label: str
    handling_unit_id: UUID
    due_at: datetime


class DispatchMilestone(BaseModel):
    milestone_id: UUID
    project_id: UUID
    project_name: str
    label: str
    planned_date: date
    baseline_date: date | None
    achieved_on: date | None


class DispatchChange(BaseModel):
    """Something that happened since ``since``."""

    at: datetime
    what: str = Field(
        description="e.g. problem.escalated, milestone.achieved, approval.stalled, project.state"
    )
    project_id: UUID | None
    subject_id: UUID
    text: str


class LineDispatch(BaseModel):
    """One line's part of the dispatch (a line_id of null: the projects and matters not on a line)."""

    line_id: UUID | None
    line_number: int | None
    line_name: str | None
    due_today: list[DispatchMatter]
    due_tomorrow: list[DispatchMatter] = Field(description="due by the end of the next working day")
    overdue: list[DispatchMatter]
    escalated: list[DispatchMatter] = Field(description="escalated since `since`")
    stalled_approvals: list[DispatchApproval]
    milestones_this_week: list[DispatchMilestone] = Field(description="planned Monday..Sunday of this week")
    changes: list[DispatchChange]


class DispatchBoard(BaseModel):
    """日调度: the live dispatch board, filtered by the caller's reach."""

    as_of: datetime
    day: date
    next_working_day: date
    since: datetime = Field(description="changes are those after the start of the previous working day")
    counts: dict[ProjectStateName, int]
    projects: list[ProjectState]
    lines: list[LineDispatch]
