"""The 月度通报 as JSON (what the Word and Excel downloads show, figure for figure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from lkg.common.events.contracts import Grade, PeriodKind, ReportKind


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
    plan: Decimal = Field(description="年度计划投资（元; the documents show 万元）")
    year_to_date: Decimal = Field(description="累计完成投资（元; the documents show 万元）")
    completion: Decimal | None = Field(description="完成率 (share of the plan, 0..1)")


class BulletinCard(BaseModel):
    """A red card of the month in the 月度通报: from the month-end supervision round (§五(三), confirmed by
    督查室 by the cut-off and not withdrawn, as counted on the sheets) or from the bottom 3 of the ranking
    (§六(三), requested at publication; the register issues it after)."""

    source: str = Field(description="supervision (月末督查) / ranking (月度考核排名后3名)")
    unit_id: UUID
    label: str = Field(description="单位 unit")
    reason: str = Field(
        description="no_real_progress / behind_schedule / not_enrolled / meeting_matter_overdue / "
        "bottom_of_ranking"
    )
    reason_label: str = Field(description="事由 in words")
    red_card_id: UUID | None = Field(
        description="the card in the register (supervision); null for a ranking card (not issued yet)"
    )
    issued_on: date | None = Field(description="督查室认定之日 (supervision); null for a ranking card")
    note: str = Field(description="the finding (supervision) or the rank (ranking)")


class MonthlyBulletin(BaseModel):
    """月度通报: the month's published grades and ranking, the carded, the 表态 and 约谈 lists, investment."""

    kind: Literal["monthly_assessment"] = "monthly_assessment"
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
    red_cards: list[BulletinCard] = Field(
        default_factory=list,
        description="the month's red cards of both sources: supervision cards first, then the ranking's",
    )


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
    unit_id: UUID | None = Field(
        default=None,
        description="the unit that must act on it besides the project's (a matter's resolving unit, "
        "an approval's handling department), if any",
    )
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
    """日调度: the live dispatch board, filtered by the caller's reach (also the body of a frozen daily
    dispatch, ``kind`` ``daily_dispatch``)."""

    kind: Literal["daily_dispatch"] = "daily_dispatch"
    as_of: datetime
    day: date
    next_working_day: date
    since: datetime = Field(description="changes are those after the start of the previous working day")
    counts: dict[ProjectStateName, int]
    projects: list[ProjectState]
    lines: list[LineDispatch]


# ---- 《要情专报》 weekly bulletin -------------------------------------------------------------------


class InvestmentFigure(BaseModel):
    label: str
    plan: Decimal = Field(description="年度计划投资（元）")
    year_to_date: Decimal = Field(description="累计完成投资（元）, the months reported so far")
    completion: Decimal | None = Field(description="完成率 (share of the plan, 0..1)")


class ProgressRow(BaseModel):
    """Projects of a class or a line, by stage (阶段)."""

    label: str
    projects: int
    preliminary: int = Field(description="前期")
    approval: int = Field(description="审批")
    construction: int = Field(description="开工")
    investment: int = Field(description="投资")
    completion: int = Field(description="竣工")
    full_production: int = Field(description="达产达效")


class NewStart(BaseModel):
    """A project whose 开工 was achieved this week."""

    project_id: UUID
    name: str
    line_label: str
    responsible_unit_name: str
    achieved_on: date


class MatterFigures(BaseModel):
    """A line's open problems and meeting matters and this week's breaches and escalations."""

    label: str
    open_problems: int
    open_meeting_matters: int
    overdue: int = Field(description="open, with a clock that ran out and is not made good")
    breaches_this_week: int = Field(description="time limits missed this week (matters and approvals)")
    escalated_this_week: int


class CardFigure(BaseModel):
    red_card_id: UUID
    target_unit_name: str
    source: str = Field(description="supervision (月末督查, §五(三)) / ranking (月度考核排名后3名, §六(三))")
    state: str = Field(description="issued, dismissed, withdrawn: as it stood when the bulletin was issued")
    reason: str | None = Field(description="why it was dismissed or withdrawn (不予认定、撤销的理由)")
    card_reason: str | None = Field(
        default=None,
        description=(
            "事由: no_real_progress / behind_schedule / not_enrolled / meeting_matter_overdue "
            "(supervision), bottom_of_ranking (ranking)"
        ),
    )
    card_reason_label: str | None = Field(default=None, description="事由 in words")
    month: str | None = Field(default=None, description="the month the card is for, e.g. 2020-05")
    changed_on: date | None = Field(default=None, description="the day its state changed this week")


class ProvincialFigure(BaseModel):
    """省市重大项目 ranking by unit (§三(三)一), ordered by month-on-month investment."""

    rank: int
    label: str
    projects: int
    count_share: Decimal | None
    investment_share: Decimal | None
    month_amount: Decimal
    month_on_month: Decimal | None = Field(description="环比, percent")


class WeeklyBulletin(BaseModel):
    """《要情专报》 (周通报, §五(二)): investment, progress, new starts, problems, red cards, the provincial
    ranking, as of the end of the week's cadence day."""

    kind: Literal["weekly_bulletin"] = "weekly_bulletin"
    label: str = Field(description="e.g. 2020年第20周（5月11日至5月17日）")
    start: date
    end: date
    as_of: datetime
    investment_month: str | None = Field(
        description="the latest month with an investment report, e.g. 2020-04"
    )
    investment_total: InvestmentFigure
    investment_by_line: list[InvestmentFigure]
    progress_by_class: list[ProgressRow]
    progress_by_line: list[ProgressRow]
    new_starts: list[NewStart]
    matters_by_line: list[MatterFigures]
    matters_total: MatterFigures
    new_red_cards: list[CardFigure] = Field(description="cards issued, dismissed or withdrawn this week")
    provincial: list[ProvincialFigure]


# ---- 销号成绩单 closure scorecard --------------------------------------------------------------------


class ScorecardRow(BaseModel):
    """Per unit (问题解决单位) or line: problems and meeting matters due for closure by the month's end."""

    subject_id: UUID | None
    label: str
    due: int = Field(description="应销号: to be closed by the month's end (resolution date passed or closed)")
    closed_on_time: int
    closed_late: int
    open: int = Field(description="due and not closed when the scorecard was issued")
    closure_rate: Decimal | None = Field(description="销号率 (closed / due, 0..1); null when nothing is due")


class ScorecardMatter(BaseModel):
    """One matter counted, as evidence."""

    matter_id: UUID
    kind: str
    title: str
    unit_label: str
    line_label: str
    due_at: datetime | None = Field(description="its agreed resolution date (end of the day); null if none")
    closed_at: datetime | None
    status: Literal["closed_on_time", "closed_late", "open"]


class ClosureScorecard(BaseModel):
    """困难问题"销号成绩单" of a month (§五(二)): per unit and per line."""

    kind: Literal["closure_scorecard"] = "closure_scorecard"
    label: str
    start: date
    end: date
    as_of: datetime
    total: ScorecardRow
    by_line: list[ScorecardRow]
    by_unit: list[ScorecardRow]
    matters: list[ScorecardMatter]


# ---- 季度考评 quarterly evaluation ------------------------------------------------------------------


class QuarterlyEntry(BaseModel):
    line_id: UUID
    label: str = Field(description="the line leader (包保区级领导) and line")
    score: Decimal
    grade: Grade
    grade_reason: str | None = Field(description="the reason when a top leader changed the proposed grade")
    holders: list[str] = Field(description="who held the leader's post in the quarter, with their dates")
    progress: Decimal | None = Field(description="项目推进 part score (milestones on schedule)")
    problems: Decimal | None = Field(description="破解难题 part score (closures, breaches)")
    enrolment: Decimal | None = Field(description="纳统入规 part score")
    evidence: list[str]


class QuarterlyEvaluation(BaseModel):
    """季度考评: the line leaders' published evaluation with its evidence (§六(一)(二))."""

    kind: Literal["quarterly_evaluation"] = "quarterly_evaluation"
    period_id: UUID
    label: str
    start: date
    end: date
    as_of: datetime
    published_at: datetime
    entries: list[QuarterlyEntry]


# ---- stored reports --------------------------------------------------------------------------------


class ReportPeriod(BaseModel):
    kind: PeriodKind
    start: date
    end: date
    label: str


class ReportSummary(BaseModel):
    id: UUID
    kind: ReportKind
    number: int = Field(description="第N期, counted per kind")
    title: str
    period: ReportPeriod
    as_of: datetime = Field(description="the figures are those known at this moment")
    published_at: datetime
    json_path: str
    xlsx_path: str
    docx_path: str


class ReportPage(BaseModel):
    items: list[ReportSummary]


ReportBody = Annotated[
    WeeklyBulletin | ClosureScorecard | MonthlyBulletin | QuarterlyEvaluation | DispatchBoard,
    Field(discriminator="kind"),
]


class ReportOut(ReportSummary):
    """A published report, frozen: its figures as they were issued."""

    body: ReportBody
