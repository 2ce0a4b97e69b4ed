"""Contracts the registry (项目登记) publishes: the project and org-directory snapshots (state events) and
the facts about projects (milestones, investment, enrolment, commitments, termination)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    computed_field,
    model_validator,
)

from lkg.common.events.base import SnapshotEvent
from lkg.common.events.contracts.shared import (
    ONE_HUNDRED_MILLION_YUAN,
    ApprovalType,
    CommitmentSide,
    ContractModel,
    EnrolmentStatus,
    IntegrityFlag,
    MilestoneType,
    PostKind,
    ProjectCategory,
    ProjectClass,
    ProjectCode,
    ProjectStage,
    ProjectStatus,
    RoutingBasis,
    TerminationCause,
    UnitKind,
    UnitRole,
    Yuan,
    _Fact,
)

# ---------------------------------------------------------------------------------------------------------
# Snapshots the registry publishes (projects, the org directory)


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


class ProjectSite(ContractModel):
    """项目选址 / where a project is built: its street and, where known, its park or plot. Approvals applies
    a regional assessment (区域评估, §四(一)) to the projects whose site lies in the assessed area."""

    street_id: UUID
    """The street (街道/镇街) of the org directory the site lies in."""
    street_name: str
    """The street's name when the snapshot was made."""
    park: str | None = None
    """The park (园区), where known, e.g. 临空港经济技术开发区食品产业园."""
    plot: str | None = None
    """The plot (地块), where known: the land parcel's number or name as the land register writes it."""


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
    site: ProjectSite | None = None
    """项目选址 (street, park, plot), where recorded; None for a snapshot published before sites were kept."""
    service_contact_id: UUID | None = None
    """The person who gives the project its 对口服务 (§三(一)): a directory person holding a post."""
    agent_id: UUID | None = None
    """The project's 代办员 (§四(三)), where it has one: a directory person holding an ``approval_agent`` post
    of the approval agents' team; told when the project's approvals stall."""
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
        # An unrouted project is never silently put on a line (docs/registry.md), and a routed one has a line.
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
    """The line's own name, e.g. 第六线; its leader is the holder of ``leader_post_id``, never in the name."""
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


class _RegistryFact(_Fact):
    producer: ClassVar[str] = "registry"


class _ProjectFact(_RegistryFact):
    project_id: UUID
    project_name: str
    responsible_unit_id: UUID


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
    """The government unit bound by it: the obligor post's unit, which holds the problem it opens; None for
    the enterprise."""
    obligor_unit_name: str | None = None
    obligor_post_id: UUID | None = None
    """The obligor post (新官理旧账, §四(四)): the post, not the person, is bound; None for the enterprise and
    for a commitment recorded before posts were required."""
    obligor_post_title: str | None = None
    answerable_person_ids: tuple[UUID, ...] = ()
    """Who answers for it: the obligor post's holders in force on the day it fell due (after a handover, the
    successor)."""

    @model_validator(mode="after")
    def _government_names_unit(self) -> Self:
        if self.side is CommitmentSide.GOVERNMENT and self.obligor_unit_id is None:
            raise ValueError("a government commitment names the obliged unit")
        return self


class IntegrityReviewRecorded(_ProjectFact):
    """诚信履约回头看: 督查室 with 商务局 reviewed the project's contract performance (§四(四)). Each finding
    calls for a follow-up (跟踪督办) on the project's responsible unit; none means the contract is performed.
    The project's ``integrity_flags`` follow the latest review (in ``project.changed``)."""

    event_type: ClassVar[str] = "integrity_review.recorded"

    review_id: UUID
    reviewed_on: date
    findings: tuple[IntegrityFlag, ...] = ()
    evidence: str
    reviewer_unit_ids: tuple[UUID, ...] = ()
    """The units the reviewers act for (督查室, 商务局)."""


class IntegrityRoundDueSoon(_RegistryFact):
    """回头看即将到期: a round of integrity reviews (定期, §四(四)) ends soon with projects not reviewed. For
    the notifier: remind 督查室 and 商务局."""

    event_type: ClassVar[str] = "integrity_round.due_soon"

    round_id: UUID
    starts_on: date
    due_on: date
    due_at: AwareDatetime
    unit_id: UUID
    """督查室, which the round is recorded against."""
    unit_name: str
    project_ids: tuple[UUID, ...] = ()
    """The active projects not reviewed in the round yet."""


class IntegrityRoundMissed(IntegrityRoundDueSoon):
    """回头看未完成: the round ended with ``project_ids`` not reviewed; recorded against 督查室, shown to
    重大项目办."""

    event_type: ClassVar[str] = "integrity_round.missed"


class _StatisticsDuty(_RegistryFact):
    """A monthly duty of the statistics work (§三(四)二) that fell due or is about to."""

    duty_id: UUID
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    """The month the duty belongs to (the month of its due day)."""
    due_at: AwareDatetime
    """The end of the due day (the last working day on or before the 28th, or of the month)."""
    unit_id: UUID
    """The unit the duty is recorded against (统计局 for the list; the contact's unit for visits)."""
    unit_name: str


class EnrolmentListDueSoon(_StatisticsDuty):
    """未入库清单即将到期: the statistics bureau's list of last month's projects that failed enrolment is
    due by the 28th (§三(四)二; the last working day before it when it is not one) and has not been
    submitted. For the notifier: remind the bureau."""

    event_type: ClassVar[str] = "enrolment_list.due_soon"

    reported_year: int = Field(ge=2000, le=2100)
    reported_month: int = Field(ge=1, le=12)
    """The month the list reports on (the month before ``month``)."""


class EnrolmentListMissed(EnrolmentListDueSoon):
    """未按时报送未入库清单: the 28th passed without the list; recorded against 统计局 and shown to 重大项目办
    (it has no layer to escalate to). For the notifier: tell 重大项目办 and the bureau."""

    event_type: ClassVar[str] = "enrolment_list.missed"


class StatisticsVisitDueSoon(_StatisticsDuty):
    """统计上门服务即将到期: a statistics contact (统计联系人) has projects not visited this month
    (每月定期上门服务, §三(四)二). For the notifier: remind the contact (``person_id``)."""

    event_type: ClassVar[str] = "statistics_visit.due_soon"

    person_id: UUID
    """The statistics contact."""
    project_ids: tuple[UUID, ...]
    """The contact's active projects with no visit recorded in the month."""


class StatisticsVisitMissed(StatisticsVisitDueSoon):
    """统计上门服务未完成: the month ended with the contact's projects in ``project_ids`` not visited;
    recorded against the contact's unit."""

    event_type: ClassVar[str] = "statistics_visit.missed"


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
