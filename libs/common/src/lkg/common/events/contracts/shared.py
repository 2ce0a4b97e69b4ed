"""The values every producer's contracts share: exact money, the enumerations (the wire format), periods,
evidence, clocks, the red-card target, and the base of every fact event (:class:`_Fact`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from lkg.common.events.base import Event

# ---------------------------------------------------------------------------------------------------------
# Value types


def _fixed_point(value: Decimal) -> str:
    # format(..., "f") keeps every digit and never an exponent: Decimal("1E+8") -> "100000000".
    return format(value, "f")


_DECIMAL_STRING_SCHEMA = {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"}

#: An exact decimal number, serialised as a fixed-point string so that no consumer reads a float.
ExactDecimal = Annotated[
    Decimal,
    PlainSerializer(_fixed_point, return_type=str, when_used="json"),
    WithJsonSchema(_DECIMAL_STRING_SCHEMA),
]

#: Money in yuan (元), exact, serialised as a string; bulletins convert to 万元 / 亿元 for display only.
Yuan = ExactDecimal

#: The national investment platform's project code (项目代码), e.g. ``2020-420112-47-01-012345``.
ProjectCode = Annotated[str, StringConstraints(min_length=24, max_length=24)]

#: 亿元以上: the policy's threshold for supervision (§三(三), §五(三)), derived, never typed in.
ONE_HUNDRED_MILLION_YUAN = Decimal(100_000_000)


class ContractModel(BaseModel):
    """Base of the value objects that events carry (snapshots, references, evidence).

    Frozen, and tolerant of fields it does not know yet, like :class:`~lkg.common.events.base.Event`, so that
    adding an optional field to a nested part is as compatible as adding one to the event itself.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)


# ---------------------------------------------------------------------------------------------------------
# Enumerations (values are the wire format: English, lower snake case; the Chinese term is in the docstring)


class ProjectClass(StrEnum):
    """Project class in the year's plan (项目类别), which decides what supervision pushes for (§三(三)).

    ``preliminary`` 前期项目; ``new_start`` 计划新开工; ``continuing`` 结转续建; ``completing`` 完工投产.
    """

    PRELIMINARY = "preliminary"
    NEW_START = "new_start"
    CONTINUING = "continuing"
    COMPLETING = "completing"


class ProjectCategory(StrEnum):
    """Kind of industry (项目类型); routing rules use it (§二(二)6–7: 全区房地产项目, 全区农业项目).

    ``industrial`` 工业（先进制造）项目; ``services`` 现代服务业项目; ``real_estate`` 房地产项目;
    ``agricultural`` 农业项目.
    """

    INDUSTRIAL = "industrial"
    SERVICES = "services"
    REAL_ESTATE = "real_estate"
    AGRICULTURAL = "agricultural"


class ApprovalType(StrEnum):
    """How a project is admitted (§三(一)): ``ratification`` 核准类 (规划选址 and 用地预审 first, then
    parallel approvals), ``filing`` 备案类 (every approval in parallel)."""

    RATIFICATION = "ratification"
    FILING = "filing"


class ApprovalMode(StrEnum):
    """How one approval item is handled: ``standard`` 常规审批; ``commitment`` 承诺审批 (approved on the
    applicant's commitment, verified later); ``build_first`` 先建后验 (built first, inspected later, where the
    law allows). §三(一), §四(一)."""

    STANDARD = "standard"
    COMMITMENT = "commitment"
    BUILD_FIRST = "build_first"


class ApprovalClockKind(StrEnum):
    """The clocks that run on an approval item: ``limit`` 办理时限 (from acceptance, paused while a
    supplement is owed); ``verification`` 承诺核查 (承诺审批: the commitment is verified after the grant);
    ``inspection`` 事后验收 (先建后验: the inspection that follows building first)."""

    LIMIT = "limit"
    VERIFICATION = "verification"
    INSPECTION = "inspection"


class Layer(IntEnum):
    """The three layers (三层) a matter can reach; a matter's layer is the highest it has reached (§二).

    1 项目责任单位; 2 包保区级领导 + 综合服务部门; 3 区委、区政府主要领导 (service department 区重大项目办).
    An ``IntEnum`` rather than a ``StrEnum`` because layers are ordered and the policy numbers them.
    """

    RESPONSIBLE_UNIT = 1
    LINE_LEADER = 2
    DISTRICT_LEADERS = 3


class ClockKind(StrEnum):
    """The clocks that run on a matter at once (时限), as helpdesk SLAs do (§五(一); docs/issues.md):

    ``acceptance`` 受理; ``reply`` 反馈处理意见 (3 working days, §五(一)); ``progress`` 报送进展 (every 5
    working days, §五(一)); ``resolution`` 办结 (the agreed date).
    """

    ACCEPTANCE = "acceptance"
    REPLY = "reply"
    PROGRESS = "progress"
    RESOLUTION = "resolution"


class BudgetUnit(StrEnum):
    """What a clock's budget counts (计时单位): ``working`` days (工作日, official calendar with 调休) or
    ``calendar`` days (自然日, some statutes). Same values as :data:`lkg.common.calendar.Unit`."""

    WORKING = "working"
    CALENDAR = "calendar"


class ProjectStatus(StrEnum):
    """A project's standing in the registry (项目状态): ``active`` 在库; ``terminated`` 已解约;
    ``deregistered`` 已销号 (先解约、再到市商务局销号, §四(四))."""

    ACTIVE = "active"
    TERMINATED = "terminated"
    DEREGISTERED = "deregistered"


class ProjectStage(StrEnum):
    """A project's stage in its life cycle (阶段, §三(三)), derived by the registry from the milestones
    achieved and the investment reported, never typed in (the rule: ``lkg.registry.stage``):
    ``preliminary`` 前期; ``approval`` 审批; ``construction`` 开工; ``investment`` 投资; ``completion``
    竣工; ``full_production`` 达产达效."""

    PRELIMINARY = "preliminary"
    APPROVAL = "approval"
    CONSTRUCTION = "construction"
    INVESTMENT = "investment"
    COMPLETION = "completion"
    FULL_PRODUCTION = "full_production"


class MilestoneType(StrEnum):
    """Non-approval steps the plan dates for each project (节点, §三(一)). Approvals such as 安评 and 环评 are
    approval items of the approvals service, never milestones.

    ``negotiation`` 洽谈; ``signing`` 签约; ``land_deposit`` 缴纳土地保证金; ``capital_injection`` 进资;
    ``construction_start`` 开工; ``completion`` 竣工; ``production_start`` 投产; ``full_production`` 达产;
    ``other`` 其他 (the milestone's ``label`` says which).
    """

    NEGOTIATION = "negotiation"
    SIGNING = "signing"
    LAND_DEPOSIT = "land_deposit"
    CAPITAL_INJECTION = "capital_injection"
    CONSTRUCTION_START = "construction_start"
    COMPLETION = "completion"
    PRODUCTION_START = "production_start"
    FULL_PRODUCTION = "full_production"
    OTHER = "other"


class EnrolmentStatus(StrEnum):
    """Statistical enrolment (统计入库, §三(四)): ``pending`` 待入库; ``enrolled`` 已入库; ``failed``
    未通过审核入库 (reported by the statistics bureau by the 28th)."""

    PENDING = "pending"
    ENROLLED = "enrolled"
    FAILED = "failed"


class IntegrityFlag(StrEnum):
    """What an integrity review (诚信履约"回头看", §四(四)) found: ``breach_of_contract`` 不履行合同;
    ``overdue_start`` 逾期不开工; ``idle_land`` 占而未建; ``slow_construction`` 慢建久拖."""

    BREACH_OF_CONTRACT = "breach_of_contract"
    OVERDUE_START = "overdue_start"
    IDLE_LAND = "idle_land"
    SLOW_CONSTRUCTION = "slow_construction"


class RoutingBasis(StrEnum):
    """Why a project is on its line (分线依据, §一(一)), in order of precedence: ``explicit`` 明确指定 (e.g.
    line 1's 2019 list) > ``category`` 项目类型 (every real-estate project → line 6) > ``responsible_unit``
    责任单位 (the street or office → its line). ``unrouted`` 待分线: no rule covers it; 重大项目办 must
    settle it."""

    EXPLICIT = "explicit"
    CATEGORY = "category"
    RESPONSIBLE_UNIT = "responsible_unit"
    UNROUTED = "unrouted"


class UnitKind(StrEnum):
    """Kind of org unit (单位类型): ``street`` 街道 (镇街); ``industry_office`` 产业办; ``department``
    区直部门; ``leadership`` 区委、区政府、区人大、区政协 (where the leaders' posts sit)."""

    STREET = "street"
    INDUSTRY_OFFICE = "industry_office"
    DEPARTMENT = "department"
    LEADERSHIP = "leadership"


class UnitRole(StrEnum):
    """A function the mechanism looks up by role rather than by name, so that a reshuffle is data (职能):

    ``major_projects_office`` 区重大项目办（区发改局）, which runs the mechanism and serves layer 3;
    ``approval_bureau`` 区行政审批局; ``statistics_bureau`` 区统计局; ``supervision_office`` 区政府督查室;
    ``commerce_bureau`` 区商务局 (integrity reviews, de-registration); ``discipline_commission`` 区纪委监委;
    ``assessment_office`` 区委组织部考评办 (the evaluation rules and the year-end assessment, §六(三)).
    """

    MAJOR_PROJECTS_OFFICE = "major_projects_office"
    APPROVAL_BUREAU = "approval_bureau"
    STATISTICS_BUREAU = "statistics_bureau"
    SUPERVISION_OFFICE = "supervision_office"
    COMMERCE_BUREAU = "commerce_bureau"
    DISCIPLINE_COMMISSION = "discipline_commission"
    ASSESSMENT_OFFICE = "assessment_office"


class PostKind(StrEnum):
    """Kind of post (岗位): ``line_leader`` 包保区级领导; ``district_leader`` 区委、区政府主要领导 (layer 3);
    ``unit_head`` 单位主要负责同志 (the one interviewed, 约谈); ``staff`` 工作人员 (acts for the unit);
    ``statistics_contact`` 统计联系人 (§三(四)); ``approval_agent`` 代办员 of the approval agents' team
    (代办队伍, §四(三))."""

    LINE_LEADER = "line_leader"
    DISTRICT_LEADER = "district_leader"
    UNIT_HEAD = "unit_head"
    STAFF = "staff"
    STATISTICS_CONTACT = "statistics_contact"
    APPROVAL_AGENT = "approval_agent"


class CommitmentSide(StrEnum):
    """Who promised (履约主体, §四(四)): ``government`` 政府承诺 (binds the successor: 新官要理旧账);
    ``enterprise`` 企业合同约定."""

    GOVERNMENT = "government"
    ENTERPRISE = "enterprise"


class TerminationCause(StrEnum):
    """Why a project was terminated (解约原因): ``enterprise_fault`` 因企业原因无法履约落地 (§四(四));
    ``other`` 其他."""

    ENTERPRISE_FAULT = "enterprise_fault"
    OTHER = "other"


class EscalationCause(StrEnum):
    """Why a matter went up a layer (上报原因): ``breach`` 超时 (a clock ran out); ``requested`` 报请协调
    (the unit found it cannot solve it at its layer, §二(一))."""

    BREACH = "breach"
    REQUESTED = "requested"


class ClosureOutcome(StrEnum):
    """How a matter left the books (办结方式): ``resolved`` 已解决销号; ``returned`` 不予受理退回 (at
    acceptance); ``withdrawn`` 撤回."""

    RESOLVED = "resolved"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


class RedCardTargetKind(StrEnum):
    """Who a red card is shown to (红牌对象, §五(三), §六(三)): ``responsible_unit`` 相关责任单位 or
    ``approval_department`` 相关审批部门."""

    RESPONSIBLE_UNIT = "responsible_unit"
    APPROVAL_DEPARTMENT = "approval_department"


class RedCardSource(StrEnum):
    """Where a red card comes from (红牌来源), only two places: ``supervision`` 月末督查 (§五(三)) and
    ``ranking`` 月度考核排名后3名 (§六(三))."""

    SUPERVISION = "supervision"
    RANKING = "ranking"


class RedCardReason(StrEnum):
    """What a red card is for (红牌事由). Supervision (§五(三)): ``no_real_progress``
    亿元以上新开工项目无实质进展; ``behind_schedule`` 亿元以上续建项目进度相对滞后; ``not_enrolled``
    项目未入统; ``meeting_matter_overdue`` 会议议定事项超过时限仍未解决. Ranking (§六(三)):
    ``bottom_of_ranking`` 排名后3名."""

    NO_REAL_PROGRESS = "no_real_progress"
    BEHIND_SCHEDULE = "behind_schedule"
    NOT_ENROLLED = "not_enrolled"
    MEETING_MATTER_OVERDUE = "meeting_matter_overdue"
    BOTTOM_OF_RANKING = "bottom_of_ranking"


class EvaluationSubject(StrEnum):
    """Who is evaluated (评价对象, §六(一)): ``line_leader`` 项目包保区级领导 (quarterly: problems solved,
    progress, enrolment), by line; ``responsible_unit`` 项目责任单位 (monthly: milestones on schedule);
    ``host_unit`` 项目所在街道、产业办及区直相关部门 (monthly: problems closed, 销号)."""

    LINE_LEADER = "line_leader"
    RESPONSIBLE_UNIT = "responsible_unit"
    HOST_UNIT = "host_unit"


class Grade(StrEnum):
    """Evaluation grade (评价等级, §六(二)): ``excellent`` 优秀 (above plan); ``pass`` 合格 (on plan);
    ``fail`` 不合格 (below plan)."""

    EXCELLENT = "excellent"
    PASS = "pass"
    FAIL = "fail"


class PeriodKind(StrEnum):
    """Length of a reporting period (周期): ``day`` 日调度, ``week`` 周通报, ``month`` 月考核, ``quarter``
    季考评, ``year`` 年终考核 (§一(三))."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class RankingKind(StrEnum):
    """Which ranking (排名): ``units_monthly`` 月度考核排名 of responsible units and departments (the bottom
    3 get a red card, §六(三)); ``provincial_projects`` 省市重大项目排名 by share of count, share of
    investment and month-on-month investment (§三(三))."""

    UNITS_MONTHLY = "units_monthly"
    PROVINCIAL_PROJECTS = "provincial_projects"


class ReportKind(StrEnum):
    """Which report (报告): ``daily_dispatch`` 日调度; ``weekly_bulletin`` 《要情专报》 (周通报, §五(二));
    ``monthly_assessment`` 月考核通报 (主任办公会); ``closure_scorecard`` 困难问题"销号成绩单";
    ``quarterly_evaluation`` 季考评."""

    DAILY_DISPATCH = "daily_dispatch"
    WEEKLY_BULLETIN = "weekly_bulletin"
    MONTHLY_ASSESSMENT = "monthly_assessment"
    CLOSURE_SCORECARD = "closure_scorecard"
    QUARTERLY_EVALUATION = "quarterly_evaluation"


# ---------------------------------------------------------------------------------------------------------
# Reusable parts


class Period(ContractModel):
    """A reporting period (考核周期), both ends inclusive."""

    kind: PeriodKind
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        return self


class Audience(ContractModel):
    """Who a document is circulated to (发送范围), in the org directory's terms, so that a notifier resolves
    the readers from its org read copy on the day it tells them. The readers are the union of the parts; an
    empty audience tells nobody (the document is still published and readable by those the access rules
    allow).

    * ``all_units``: district-wide, every unit (the bulletins the policy circulates to all, §五(二));
    * ``unit_roles``: the units found by role (督查室, 重大项目办, ...), whoever they are that day;
    * ``post_kinds``: every holder of a post of these kinds (``district_leader`` 区委区政府主要领导, ...);
    * ``unit_ids``: these units (the people who hold posts in them);
    * ``line_ids``: these lines' leaders (the holder of each line's leader post);
    * ``person_ids``: these people, by name (e.g. each leader for their own evaluation).
    """

    all_units: bool = False
    unit_roles: tuple[UnitRole, ...] = ()
    post_kinds: tuple[PostKind, ...] = ()
    unit_ids: tuple[UUID, ...] = ()
    line_ids: tuple[UUID, ...] = ()
    person_ids: tuple[UUID, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nobody is told."""
        return not (
            self.all_units
            or self.unit_roles
            or self.post_kinds
            or self.unit_ids
            or self.line_ids
            or self.person_ids
        )


class EvidenceRef(ContractModel):
    """One piece of evidence behind a card or a score (依据): every score must show what it was computed
    from."""

    kind: str
    """What is referred to, e.g. ``project``, ``milestone``, ``breach``, ``meeting_matter``,
    ``approval_item``, ``investment_report``, ``ranking``, ``supervision_case``."""
    id: UUID | None = None
    note: str
    """A sentence a person can read, e.g. "计划2020-06-30开工，至2020-07-31未开工"."""


class ClockSnapshot(ContractModel):
    """One clock (deadline, 时限) running on a matter, as it stands when the event is made."""

    deadline_id: UUID
    kind: ClockKind
    charged_unit_id: UUID
    """The unit a breach of this clock is recorded against (责任单位)."""
    started_at: AwareDatetime
    due_at: AwareDatetime | None
    """End of the last day of the budget; None while an open pause holds the clock."""
    budget: int | None = Field(default=None, ge=0)
    """The budget in ``budget_unit``s; None when the due date was agreed rather than counted (resolution)."""
    budget_unit: BudgetUnit | None = None
    provisional: bool = False
    """Computed on a provisional calendar year: recomputed when the official schedule is loaded."""
    paused: bool = False


class RedCardTarget(ContractModel):
    """The unit a red card is shown to, and in which capacity."""

    unit_id: UUID
    unit_name: str
    kind: RedCardTargetKind


# ---------------------------------------------------------------------------------------------------------
# Intermediate bases (no event_type, so not registered)


class _Fact(Event):
    """A fact event: something happened at ``effective_at`` on the shared clock."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    effective_at: AwareDatetime
    """When it happened on the shared clock; the envelope's ``occurred_at`` is the wall clock."""
