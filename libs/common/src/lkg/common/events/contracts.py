"""Every event on the bus, as typed and versioned contracts (DESIGN §4).

This is the one place where the services agree on what they tell each other. Each class fixes its type
(``problem.escalated``), producer (``issues``) and version; the subject follows from them
(``lkg.issues.problem.escalated``, see :mod:`lkg.common.events.base`). A service publishes an instance of one
of these classes, never a dict.

Conventions, the same in every contract:

* Ids are UUIDs: units, posts, lines and people are the registry's org-directory ids. Where a notifier would
  otherwise have to look a name up to write a sentence, a ``*_name`` label travels with the id; the id is
  the key, the label is only what it was called when the event was made.
* ``effective_at`` is when the fact happened on the shared clock (simulated in dev and tests). The
  envelope's ``occurred_at`` is the wall-clock instant of publication; the two differ on purpose.
* Calendar days are ``date``; instants are aware ``datetime`` (serialised ISO 8601 with offset).
* Money is :data:`Yuan`: an exact ``Decimal`` in yuan, serialised as a string ("125000000.00"), never a float.
* State events (:class:`ProjectRegistered`, :class:`ProjectChanged`, :class:`OrgChanged`) carry the full
  snapshot and a per-aggregate ``revision``; a consumer applies one only if it is newer than what it holds.
  Every other event is a fact: it tells what happened and is never applied as state. A fact that changes a
  project (a milestone achieved, a termination) is accompanied, in the same registry transaction, by a
  ``project.changed`` carrying the new snapshot; read copies follow that one.
* Published schemas live in ``libs/common/tests/contract_schemas``; evolve a contract only by adding an
  optional field, or publish a new version (``docs/events.md``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    model_validator,
)

from lkg.common.events.base import Event, SnapshotEvent

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
    """The clocks that run on a matter at once (时限), as helpdesk SLAs do (DESIGN §2):

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
    """A project's stage in its life cycle (阶段, DESIGN §2), derived by the registry from the milestones
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
    ``commerce_bureau`` 区商务局 (integrity reviews, de-registration); ``discipline_commission`` 区纪委监委.
    """

    MAJOR_PROJECTS_OFFICE = "major_projects_office"
    APPROVAL_BUREAU = "approval_bureau"
    STATISTICS_BUREAU = "statistics_bureau"
    SUPERVISION_OFFICE = "supervision_office"
    COMMERCE_BUREAU = "commerce_bureau"
    DISCIPLINE_COMMISSION = "discipline_commission"


class PostKind(StrEnum):
    """Kind of post (岗位): ``line_leader`` 包保区级领导; ``district_leader`` 区委、区政府主要领导 (layer 3);
    ``unit_head`` 单位主要负责同志 (the one interviewed, 约谈); ``staff`` 工作人员 (acts for the unit);
    ``statistics_contact`` 统计联系人 (§三(四))."""

    LINE_LEADER = "line_leader"
    DISTRICT_LEADER = "district_leader"
    UNIT_HEAD = "unit_head"
    STAFF = "staff"
    STATISTICS_CONTACT = "statistics_contact"


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


class MilestoneSnapshot(ContractModel):
    """One milestone (节点) of a project: planned, baseline and actual dates side by side."""

    id: UUID
    type: MilestoneType
    label: str
    """The plan's wording, e.g. 开工 or 缴纳土地保证金."""
    planned_date: date
    """The current plan (may have been re-planned, with a reason)."""
    baseline_date: date | None = None
    """The plan approved at the start of the year, frozen; None if the milestone was added after it."""
    actual_date: date | None = None


class ProjectSnapshot(ContractModel):
    """Everything other services need to know about one major industrial project (重大产业项目)."""

    id: UUID
    project_code: ProjectCode | None = None
    """项目代码 of the national investment platform, where the project has one."""
    name: str
    enterprise: str
    """The investing enterprise (项目建设单位)."""
    enterprise_credit_code: str | None = None
    """统一社会信用代码, where known."""
    category: ProjectCategory
    project_class: ProjectClass
    responsible_unit_id: UUID
    responsible_unit_name: str
    line_id: UUID | None
    """The line (包保线) the project is on; None while it waits in the unrouted queue."""
    routing_basis: RoutingBasis
    routing_rule_id: UUID | None = None
    routing_reason: str
    """Why the project is on its line (or unrouted), in words a person can check."""
    provincial_municipal: bool = False
    """省市重大项目 (15 in 2020), ranked separately (§三(三))."""
    fast_track: bool = False
    """批前提速 membership (§四(二)): approvals prepared and pre-reviewed before the formal application."""
    approval_type: ApprovalType | None = None
    """核准类 or 备案类; None until decided."""
    total_investment: Yuan
    plan_year: int = Field(ge=2000, le=2100)
    planned_annual_investment: Yuan
    """年度计划投资 for ``plan_year``."""
    milestones: tuple[MilestoneSnapshot, ...] = ()
    enrolment_status: EnrolmentStatus = EnrolmentStatus.PENDING
    statistics_contact_id: UUID | None = None
    """The person (统计联系人) the statistics bureau works with for this project (§三(四))."""
    integrity_flags: tuple[IntegrityFlag, ...] = ()
    status: ProjectStatus = ProjectStatus.ACTIVE
    stage: ProjectStage = ProjectStage.PRELIMINARY
    """阶段, derived from the milestones achieved and the investment reported. A snapshot published before
    the registry kept the stage has none and reads as ``preliminary``; the project's next change carries
    the real one."""
    effective_at: AwareDatetime
    """The shared clock's time of the change this snapshot reflects."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def above_100m(self) -> bool:
        """亿元以上 (total investment ≥ 100 million yuan), derived: a value on the wire is ignored."""
        return self.total_investment >= ONE_HUNDRED_MILLION_YUAN

    @model_validator(mode="after")
    def _routing_consistent(self) -> Self:
        # An unrouted project is never silently put on a line (DESIGN §2), and a routed one has a line.
        if (self.line_id is None) != (self.routing_basis is RoutingBasis.UNROUTED):
            raise ValueError("line_id must be None exactly when routing_basis is 'unrouted'")
        return self

    def milestone(self, kind: MilestoneType) -> MilestoneSnapshot | None:
        """The first milestone of this type, if the plan has one."""
        return next((m for m in self.milestones if m.type is kind), None)


class _Dated(ContractModel):
    """An org-directory entry with effective dates (both inclusive; ``valid_to`` None = open-ended) and the
    directory revision at which it last changed. Entries are end-dated, never deleted."""

    id: UUID
    revision: int = Field(ge=1)
    """The directory revision at which this entry last changed: apply it only if newer than the one held."""
    valid_from: date
    valid_to: date | None = None

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class UnitSnapshot(_Dated):
    """An org unit (单位): a street, an industry office, a district department, a leadership body."""

    name: str
    kind: UnitKind
    roles: tuple[UnitRole, ...] = ()
    parent_id: UUID | None = None


class PostSnapshot(_Dated):
    """A post (岗位) in a unit. Matters belong to posts and units, not to people: on a handover (换届) the
    successor's holding starts and open matters stay where they are."""

    title: str
    """e.g. 区委常委、统战部部长."""
    unit_id: UUID
    kind: PostKind


class PersonSnapshot(ContractModel):
    """A person (人员) who can sign in; what they act for comes from their post holdings."""

    id: UUID
    revision: int = Field(ge=1)
    name: str
    active: bool = True


class PostHoldingSnapshot(_Dated):
    """A person holding a post for a time (任职). A post may have several holders (staff posts)."""

    post_id: UUID
    person_id: UUID
    acting: bool = False
    """代理/主持工作: holds the post temporarily."""


class LineSnapshot(_Dated):
    """One of the eight lines (包保线, §二(二)): its leader's post and its service department (综合服务部门),
    which acts for the leader and serves as the coordination office (综合协调办) that receives replies."""

    number: int = Field(ge=1)
    name: str
    """e.g. 第六线（郭小平）."""
    leader_post_id: UUID
    service_unit_id: UUID


class RoutingRuleSnapshot(_Dated):
    """A routing rule (分线规则, §一(一)); precedence is by ``basis`` (explicit > category > responsible
    unit)."""

    basis: RoutingBasis
    line_id: UUID
    project_id: UUID | None = None
    """For ``explicit``: the project assigned."""
    category: ProjectCategory | None = None
    """For ``category``."""
    responsible_unit_id: UUID | None = None
    """For ``responsible_unit``."""
    note: str = ""
    """Where the rule comes from, e.g. 2019年已明确由徐贻功包保."""

    @model_validator(mode="after")
    def _one_criterion(self) -> Self:
        needed = {
            RoutingBasis.EXPLICIT: self.project_id,
            RoutingBasis.CATEGORY: self.category,
            RoutingBasis.RESPONSIBLE_UNIT: self.responsible_unit_id,
        }
        if self.basis not in needed:
            raise ValueError("a routing rule cannot have basis 'unrouted'")
        if needed[self.basis] is None:
            raise ValueError(f"a {self.basis.value!r} rule needs its criterion")
        return self


class RedCardTarget(ContractModel):
    """The unit a red card is shown to, and in which capacity."""

    unit_id: UUID
    unit_name: str
    kind: RedCardTargetKind


class ApprovalItemRef(ContractModel):
    """An approval item of a project's plan, as a notifier would name it."""

    approval_item_id: UUID
    item_name: str
    handling_unit_id: UUID
    handling_unit_name: str
    expected_on: date | None = None
    """When the approvals service expects it done, if it can say."""


class RankingEntry(ContractModel):
    """One row of a ranking (排名)."""

    rank: int = Field(ge=1)
    subject_id: UUID
    """A unit, a line or a project, depending on the ranking's kind."""
    subject_label: str
    score: ExactDecimal
    grade: Grade | None = None
    evidence: tuple[EvidenceRef, ...] = ()


# ---------------------------------------------------------------------------------------------------------
# Intermediate bases (no event_type, so not registered)


class _Fact(Event):
    """A fact event: something happened at ``effective_at`` on the shared clock."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    effective_at: AwareDatetime
    """When it happened on the shared clock; the envelope's ``occurred_at`` is the wall clock."""


class _RegistryFact(_Fact):
    producer: ClassVar[str] = "registry"


class _ProjectFact(_RegistryFact):
    project_id: UUID
    project_name: str
    responsible_unit_id: UUID


class _ApprovalsFact(_Fact):
    producer: ClassVar[str] = "approvals"


class _ApprovalItemFact(_ApprovalsFact):
    """Facts about one approval item (审批事项) of a project's approval plan."""

    approval_item_id: UUID
    catalogue_item_id: UUID
    item_name: str
    """The catalogue's name, e.g. 施工许可证."""
    project_id: UUID
    project_name: str
    handling_unit_id: UUID
    """The department that handles the item (registry unit id), the target of an approval red card."""
    handling_unit_name: str
    mode: ApprovalMode = ApprovalMode.STANDARD


class _IssuesFact(_Fact):
    producer: ClassVar[str] = "issues"


class _MatterFact(_IssuesFact):
    """Facts about one matter: its layer and the unit charged with solving it as they stand after the fact."""

    matter_id: UUID
    title: str
    layer: Layer
    line_id: UUID | None = None
    """The project's line; the layer-2 holders come from it."""
    resolving_unit_id: UUID | None = None
    """The unit that must solve the matter (问题解决单位); None until assigned at acceptance."""
    resolving_unit_name: str | None = None


class _ProblemFact(_MatterFact):
    project_id: UUID
    project_name: str


class _MeetingMatterFact(_MatterFact):
    project_id: UUID | None = None
    """The project it concerns, if one; a matter decided at a meeting may concern several or none."""
    project_name: str | None = None


# Verb parts shared by problems and meeting matters (mixed in, so both families carry the same fields).


class _ReportedPart(ContractModel):
    reported_by_unit_id: UUID
    reported_by_person_id: UUID | None = None
    topic: str
    """The configured kind of matter (e.g. 土地, 资金, 供应链, 审批); its clock limits come from
    configuration."""
    description: str
    clocks: tuple[ClockSnapshot, ...] = ()
    """Every clock now running on the matter (the acceptance clock, at least)."""


class _AcceptedPart(ContractModel):
    accepted_by_unit_id: UUID
    clocks: tuple[ClockSnapshot, ...] = ()
    """Every clock now running (reply, resolution, ...)."""


class _AnsweredPart(ContractModel):
    answered_by_unit_id: UUID
    opinion: str
    """The handling opinion (处理意见) sent to the line's coordination office."""
    on_time: bool
    clocks: tuple[ClockSnapshot, ...] = ()


class _ProgressReportedPart(ContractModel):
    reported_by_unit_id: UUID
    summary: str
    clocks: tuple[ClockSnapshot, ...] = ()
    """Every clock now running; the progress clock restarts at each report."""


class _WarnedPart(ContractModel):
    clock: ClockSnapshot
    """The clock nearing its due time (the warning fires at a configured share of its budget)."""


class _BreachedPart(ContractModel):
    breach_id: UUID
    """The breach record (evaluations count breaches against ``clock.charged_unit_id``)."""
    clock: ClockSnapshot


class _EscalatedPart(ContractModel):
    from_layer: Layer
    cause: EscalationCause
    breach_id: UUID | None = None
    """The breach that caused it, when ``cause`` is ``breach``."""
    holder_post_ids: tuple[UUID, ...] = ()
    """Posts brought in as holders at the new layer (the line leader's post; layer 3's leaders)."""
    holder_unit_ids: tuple[UUID, ...] = ()
    """Units brought in as holders (the line's service department; 区重大项目办 at layer 3)."""
    clocks: tuple[ClockSnapshot, ...] = ()
    """Every clock now running; new ones start from the breach, not from when it was noticed."""


class _ResolvedPart(ContractModel):
    resolved_by_unit_id: UUID
    summary: str
    on_time: bool


class _ClosedPart(ContractModel):
    outcome: ClosureOutcome
    closed_by_unit_id: UUID
    reason: str | None = None


def _check_escalation(event: _MatterFact, part: _EscalatedPart) -> None:
    if event.layer <= part.from_layer:
        raise ValueError(f"escalation must go up: from layer {part.from_layer} to {event.layer}")
    if part.cause is EscalationCause.BREACH and part.breach_id is None:
        raise ValueError("an escalation caused by a breach names the breach")


class _ScoringFact(_Fact):
    producer: ClassVar[str] = "scoring"


class _NotifierFact(_Fact):
    producer: ClassVar[str] = "notifier"


# ---------------------------------------------------------------------------------------------------------
# registry


class _ProjectStateEvent(SnapshotEvent):
    producer: ClassVar[str] = "registry"

    project: ProjectSnapshot

    @model_validator(mode="after")
    def _aggregate_is_project(self) -> Self:
        if self.aggregate_id != self.project.id:
            raise ValueError("aggregate_id must be the project's id")
        return self


class ProjectRegistered(_ProjectStateEvent):
    """项目入库: a project entered the registry (with its plan and routing). Snapshot, revision 1 usually."""

    event_type: ClassVar[str] = "project.registered"


class ProjectChanged(_ProjectStateEvent):
    """项目信息变更: any change to a registered project; carries the full new snapshot."""

    event_type: ClassVar[str] = "project.changed"

    changes: tuple[str, ...] = ()
    """Names of the :class:`ProjectSnapshot` fields that differ from the previous revision (for notices)."""
    reason: str | None = None
    """Why, where the registry requires one (re-planning a milestone, re-routing)."""


class ProjectTerminated(_ProjectFact):
    """项目解约: the project was terminated (先解约、再到市商务局销号, §四(四))."""

    event_type: ClassVar[str] = "project.terminated"

    cause: TerminationCause
    reason: str
    terminated_on: date


class MilestoneAchieved(_ProjectFact):
    """节点完成: a milestone's actual date was recorded."""

    event_type: ClassVar[str] = "milestone.achieved"

    milestone: MilestoneSnapshot

    @model_validator(mode="after")
    def _has_actual(self) -> Self:
        if self.milestone.actual_date is None:
            raise ValueError("an achieved milestone has its actual date")
        return self


class MilestoneMissed(_ProjectFact):
    """节点逾期: a milestone's planned date passed without an actual date."""

    event_type: ClassVar[str] = "milestone.missed"

    milestone: MilestoneSnapshot


class InvestmentReported(_ProjectFact):
    """投资完成情况上报: investment completed by a project in one month. A later report for the same project
    and month supersedes the earlier one (``supersedes`` names it)."""

    event_type: ClassVar[str] = "investment.reported"

    report_id: UUID
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    amount: Yuan
    """Completed in the month."""
    year_to_date: Yuan
    reported_by_unit_id: UUID
    supersedes: UUID | None = None


class EnrolmentFailed(_ProjectFact):
    """未通过审核入库: the statistics bureau reported that the project failed statistical enrolment (统计入库)
    in a month, and why (by the 28th of the next month, §三(四))."""

    event_type: ClassVar[str] = "enrolment.failed"

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    reason: str
    reported_by_unit_id: UUID
    statistics_contact_id: UUID | None = None


class CommitmentOverdue(_ProjectFact):
    """承诺事项逾期: a commitment to or by the investor is past due (诚信履约, §四(四)). A government-side one
    becomes a problem for the obliged government unit; an enterprise-side one feeds the integrity review."""

    event_type: ClassVar[str] = "commitment.overdue"

    commitment_id: UUID
    side: CommitmentSide
    description: str
    due_date: date
    obligor_unit_id: UUID | None = None
    """The government unit bound by it (its current post holders inherit it); None for the enterprise."""
    obligor_unit_name: str | None = None

    @model_validator(mode="after")
    def _government_names_unit(self) -> Self:
        if self.side is CommitmentSide.GOVERNMENT and self.obligor_unit_id is None:
            raise ValueError("a government commitment names the obliged unit")
        return self


class OrgChanged(SnapshotEvent):
    """组织架构变更: the changed parts of the org directory (units, posts, people, post holdings, lines,
    routing rules), each entry in full.

    ``aggregate_id`` is the directory; ``revision`` its revision after the change. Each entry carries the
    revision at which it last changed: a consumer upserts an entry only if that is newer than the one it
    holds, so reordered events still converge. Entries are end-dated, never deleted. From these events
    alone a consumer knows which units, lines and posts a person acts for (holdings in force → posts →
    their units; lines whose ``leader_post_id`` is one of those posts or whose ``service_unit_id`` is one of
    those units) and which post and unit hold each line.
    """

    event_type: ClassVar[str] = "org.changed"
    producer: ClassVar[str] = "registry"
    model_config = ConfigDict(use_attribute_docstrings=True)

    effective_at: AwareDatetime
    """The shared clock's time of the change."""
    units: tuple[UnitSnapshot, ...] = ()
    posts: tuple[PostSnapshot, ...] = ()
    people: tuple[PersonSnapshot, ...] = ()
    holdings: tuple[PostHoldingSnapshot, ...] = ()
    lines: tuple[LineSnapshot, ...] = ()
    routing_rules: tuple[RoutingRuleSnapshot, ...] = ()

    @model_validator(mode="after")
    def _entries_not_newer(self) -> Self:
        entries: list[_Dated | PersonSnapshot] = [
            *self.units,
            *self.posts,
            *self.people,
            *self.holdings,
            *self.lines,
            *self.routing_rules,
        ]
        for entry in entries:
            if entry.revision > self.revision:
                raise ValueError(f"entry {entry.id} has revision {entry.revision} > {self.revision}")
        return self


# ---------------------------------------------------------------------------------------------------------
# approvals


class ApprovalSubmitted(_ApprovalItemFact):
    """审批申报: the applicant submitted an approval item to the handling department."""

    event_type: ClassVar[str] = "approval.submitted"


class ApprovalAccepted(_ApprovalItemFact):
    """审批受理: the handling department accepted the application; its time limit now runs."""

    event_type: ClassVar[str] = "approval.accepted"

    due_at: AwareDatetime | None
    """None while the clock is paused (waiting for the applicant's supplement, 补正)."""
    budget: int = Field(ge=0)
    budget_unit: BudgetUnit
    provisional: bool = False


class ApprovalGranted(_ApprovalItemFact):
    """审批办结（准予）: the item was granted."""

    event_type: ClassVar[str] = "approval.granted"

    certificate_no: str | None = None
    """证照编号, e.g. of the 施工许可证."""
    verification_due_on: date | None = None
    """For 承诺审批 / 先建后验: when the commitment or the inspection must be verified."""


class ApprovalRejected(_ApprovalItemFact):
    """审批不予许可: the item was refused."""

    event_type: ClassVar[str] = "approval.rejected"

    reason: str


class ApprovalDueSoon(_ApprovalItemFact):
    """审批即将到期: an item's time limit is near (a configured share of its budget has passed)."""

    event_type: ClassVar[str] = "approval.due_soon"

    due_at: AwareDatetime
    clock_kind: ApprovalClockKind = ApprovalClockKind.LIMIT
    """Which clock is near its end: the item's time limit, or the verification/inspection that follows."""


class ApprovalStalled(_ApprovalItemFact):
    """审批超时: an item passed its time limit without a decision; the handling department is charged."""

    event_type: ClassVar[str] = "approval.stalled"

    due_at: AwareDatetime
    clock_kind: ApprovalClockKind = ApprovalClockKind.LIMIT
    """Which clock was breached: the item's time limit, or the verification (承诺审批) or inspection
    (先建后验) obligation that followed its grant."""
    days_over: int = Field(default=0, ge=0)
    """Days (in the clock's unit) past the due date when the breach was detected, the day in progress
    counted: 1 when it is detected as it happens and the next day is a working day; more after a jump."""
    budget: int | None = Field(default=None, ge=0)
    budget_unit: BudgetUnit | None = None


class ApprovalStartAtRisk(_ApprovalsFact):
    """开工受阻预警: unfinished approvals put the project's planned construction start (开工) at risk."""

    event_type: ClassVar[str] = "approval.start_at_risk"

    project_id: UUID
    project_name: str
    responsible_unit_id: UUID
    planned_start_date: date
    blocking_items: tuple[ApprovalItemRef, ...] = Field(min_length=1)
    earliest_start_date: date | None = None
    """The earliest day the start gate (施工许可证) can be granted, as computed when the verdict flipped."""


# ---------------------------------------------------------------------------------------------------------
# issues: problems (难点、堵点问题, reported on the platform: §三(二))


class ProblemReported(_ReportedPart, _ProblemFact):
    """问题反映: a problem (难点、堵点) was reported online."""

    event_type: ClassVar[str] = "problem.reported"


class ProblemAccepted(_AcceptedPart, _ProblemFact):
    """问题受理: a reported problem was accepted and a resolving unit assigned."""

    event_type: ClassVar[str] = "problem.accepted"


class ProblemAnswered(_AnsweredPart, _ProblemFact):
    """反馈处理意见: the resolving unit sent its handling opinion (3 working days, §五(一))."""

    event_type: ClassVar[str] = "problem.answered"


class ProblemProgressReported(_ProgressReportedPart, _ProblemFact):
    """报送进展: the resolving unit reported progress (every 5 working days, §五(一))."""

    event_type: ClassVar[str] = "problem.progress_reported"


class ProblemWarned(_WarnedPart, _ProblemFact):
    """时限预警: one of the problem's clocks is close to its due time."""

    event_type: ClassVar[str] = "problem.warned"


class ProblemBreached(_BreachedPart, _ProblemFact):
    """超时: one of the problem's clocks ran out; recorded against the charged unit."""

    event_type: ClassVar[str] = "problem.breached"


class ProblemEscalated(_EscalatedPart, _ProblemFact):
    """问题上报: the problem went up a layer (``layer`` is the new one)."""

    event_type: ClassVar[str] = "problem.escalated"

    @model_validator(mode="after")
    def _goes_up(self) -> Self:
        _check_escalation(self, self)
        return self


class ProblemResolved(_ResolvedPart, _ProblemFact):
    """问题解决: the resolving unit reports the problem solved."""

    event_type: ClassVar[str] = "problem.resolved"


class ProblemClosed(_ClosedPart, _ProblemFact):
    """问题销号: the problem left the books (solved, returned or withdrawn)."""

    event_type: ClassVar[str] = "problem.closed"


# issues: meeting matters (会议议定事项: decided at the leaders' meetings, §五(一), §五(三))


class MeetingMatterReported(_ReportedPart, _MeetingMatterFact):
    """会议议定事项登记: a matter decided at a leaders' meeting was put on the platform."""

    event_type: ClassVar[str] = "meeting_matter.reported"

    meeting_title: str
    """e.g. 包保区级领导项目调度会."""
    meeting_date: date


class MeetingMatterAccepted(_AcceptedPart, _MeetingMatterFact):
    """会议议定事项受理: the matter was accepted and its resolving unit assigned."""

    event_type: ClassVar[str] = "meeting_matter.accepted"


class MeetingMatterAnswered(_AnsweredPart, _MeetingMatterFact):
    """反馈处理意见: the resolving unit sent its handling opinion (3 working days, §五(一))."""

    event_type: ClassVar[str] = "meeting_matter.answered"


class MeetingMatterProgressReported(_ProgressReportedPart, _MeetingMatterFact):
    """报送进展: the resolving unit reported progress (every 5 working days, §五(一))."""

    event_type: ClassVar[str] = "meeting_matter.progress_reported"


class MeetingMatterWarned(_WarnedPart, _MeetingMatterFact):
    """时限预警: one of the matter's clocks is close to its due time."""

    event_type: ClassVar[str] = "meeting_matter.warned"


class MeetingMatterBreached(_BreachedPart, _MeetingMatterFact):
    """超时: one of the matter's clocks ran out; recorded against the charged unit (and a supervision finding
    at month end: 会议议定事项超过时限仍未解决, §五(三))."""

    event_type: ClassVar[str] = "meeting_matter.breached"


class MeetingMatterEscalated(_EscalatedPart, _MeetingMatterFact):
    """事项上报: the matter went up a layer (``layer`` is the new one)."""

    event_type: ClassVar[str] = "meeting_matter.escalated"

    @model_validator(mode="after")
    def _goes_up(self) -> Self:
        _check_escalation(self, self)
        return self


class MeetingMatterResolved(_ResolvedPart, _MeetingMatterFact):
    """事项办结: the resolving unit reports the matter solved."""

    event_type: ClassVar[str] = "meeting_matter.resolved"


class MeetingMatterClosed(_ClosedPart, _MeetingMatterFact):
    """事项销号: the matter left the books."""

    event_type: ClassVar[str] = "meeting_matter.closed"


# issues: the red-card register (红牌)


class _RedCardFact(_IssuesFact):
    red_card_id: UUID
    target: RedCardTarget
    source: RedCardSource
    reason: RedCardReason
    period: Period
    project_id: UUID | None = None
    """The project a supervision finding is about; None for a ranking card."""
    supervision_round_id: UUID | None = None
    """The month-end supervision round (督查) that proposed it."""
    request_id: UUID | None = None
    """The :class:`RedCardRequested` it answers (ranking cards)."""
    evidence: tuple[EvidenceRef, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _source_named(self) -> Self:
        if self.source is RedCardSource.SUPERVISION and self.supervision_round_id is None:
            raise ValueError("a supervision card names its supervision round")
        if self.source is RedCardSource.RANKING and self.request_id is None:
            raise ValueError("a ranking card names the request it answers")
        if (self.source is RedCardSource.RANKING) != (self.reason is RedCardReason.BOTTOM_OF_RANKING):
            raise ValueError("'bottom_of_ranking' is the reason of ranking cards and only of them")
        return self


class RedCardIssued(_RedCardFact):
    """红牌警告: a red card was issued (a supervision card confirmed by 督查室, or a ranking card)."""

    event_type: ClassVar[str] = "red_card.issued"

    confirmed_by_person_id: UUID | None = None


class RedCardDismissed(_RedCardFact):
    """红牌撤销: a proposed card was dismissed by 督查室, with a reason."""

    event_type: ClassVar[str] = "red_card.dismissed"

    dismissal_reason: str
    dismissed_by_person_id: UUID


# ---------------------------------------------------------------------------------------------------------
# scoring


class EvaluationPublished(_ScoringFact):
    """考核评价结果发布: one evaluated subject's grade for a period, with the evidence it was computed from.
    A republished evaluation names the one it ``supersedes``."""

    event_type: ClassVar[str] = "evaluation.published"

    evaluation_id: UUID
    subject_kind: EvaluationSubject
    subject_id: UUID
    """The line (``line_leader``) or the unit."""
    subject_label: str
    period: Period
    grade: Grade
    score: ExactDecimal
    rule_set: str
    """The evaluation rules' id and version, e.g. ``responsible-unit-monthly@2020-1``."""
    evidence: tuple[EvidenceRef, ...] = ()
    supersedes: UUID | None = None


class RankingPublished(_ScoringFact):
    """排名发布: a ranking for a period, best first."""

    event_type: ClassVar[str] = "ranking.published"

    ranking_id: UUID
    kind: RankingKind
    period: Period
    rule_set: str
    entries: tuple[RankingEntry, ...]


class ReportPublished(_ScoringFact):
    """通报发布: a bulletin or report (《要情专报》, 销号成绩单, ...) is ready to read."""

    event_type: ClassVar[str] = "report.published"

    report_id: UUID
    kind: ReportKind
    period: Period
    title: str
    path: str
    """Where to fetch it over HTTP, e.g. ``/api/v1/reports/{report_id}``."""


class RedCardRequested(_ScoringFact):
    """红牌提请: scoring asks the red-card register for a ranking card (bottom 3 of a monthly ranking,
    §六(三))."""

    event_type: ClassVar[str] = "red_card.requested"

    request_id: UUID
    ranking_id: UUID
    period: Period
    target: RedCardTarget
    rank: int = Field(ge=1)
    ranked_count: int = Field(ge=1)
    evidence: tuple[EvidenceRef, ...] = Field(min_length=1)


# ---------------------------------------------------------------------------------------------------------
# notifier


class _NotificationFact(_NotifierFact):
    notification_id: UUID
    recipient_person_id: UUID
    channel: str
    """A configured channel, e.g. ``inbox``, ``sms``, ``email``."""
    template: str
    cause_event_id: UUID | None = None
    """The event that caused the notification."""
    cause_event_type: str | None = None
    attempt: int = Field(default=1, ge=1)


class NotificationDelivered(_NotificationFact):
    """通知送达: a notification reached its channel."""

    event_type: ClassVar[str] = "notification.delivered"


class NotificationFailed(_NotificationFact):
    """通知失败: a delivery attempt failed."""

    event_type: ClassVar[str] = "notification.failed"

    reason: str
    will_retry: bool
