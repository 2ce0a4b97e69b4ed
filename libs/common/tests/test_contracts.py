"""The event contracts (docs/events.md): every canonical event exists with its subject, producer and version,
survives the wire, and stays compatible with the schemas published in ``contract_schemas/``."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from lkg.common.events import contracts as c
from lkg.common.events import schemas
from lkg.common.events.base import Envelope, Event, SnapshotEvent, contract_registry

SCHEMA_DIR = Path(__file__).parent / "contract_schemas"
TZ = ZoneInfo("Asia/Shanghai")

#: docs/events.md's tables, spelled out so that deleting or renaming an event fails here.
CANONICAL: dict[str, tuple[str, ...]] = {
    "registry": (
        "project.registered",
        "project.changed",
        "project.terminated",
        "milestone.achieved",
        "milestone.missed",
        "investment.reported",
        "enrolment.failed",
        "commitment.overdue",
        "org.changed",
        "enrolment_list.due_soon",
        "enrolment_list.missed",
        "statistics_visit.due_soon",
        "statistics_visit.missed",
        "integrity_review.recorded",
        "integrity_round.due_soon",
        "integrity_round.missed",
    ),
    "approvals": (
        "approval.submitted",
        "approval.accepted",
        "approval.granted",
        "approval.rejected",
        "approval.due_soon",
        "approval.stalled",
        "approval.start_at_risk",
    ),
    "issues": (
        "problem.reported",
        "problem.accepted",
        "problem.answered",
        "problem.progress_reported",
        "problem.warned",
        "problem.breached",
        "problem.escalated",
        "problem.resolved",
        "problem.closed",
        "problem.rerouted",
        "meeting_matter.reported",
        "meeting_matter.accepted",
        "meeting_matter.answered",
        "meeting_matter.progress_reported",
        "meeting_matter.warned",
        "meeting_matter.breached",
        "meeting_matter.escalated",
        "meeting_matter.resolved",
        "meeting_matter.closed",
        "meeting_matter.rerouted",
        "red_card.proposed",
        "red_card.issued",
        "red_card.dismissed",
        "red_card.referral_requested",
        "red_card.withdrawn",
        "supervision_report.published",
        "red_card.referral_concluded",
    ),
    "scoring": (
        "evaluation.published",
        "ranking.published",
        "report.published",
        "red_card.requested",
        "evaluation.interview_listed",
        "evaluation.statement_listed",
    ),
    "notifier": ("notification.delivered", "notification.failed"),
}
CANONICAL_PAIRS = [(producer, name) for producer, names in CANONICAL.items() for name in names]
SNAPSHOT_TYPES = {"project.registered", "project.changed", "org.changed"}


def uid(n: int) -> UUID:
    return UUID(int=n)


AT = datetime(2020, 5, 6, 9, 30, tzinfo=TZ)
PROJECT = uid(1)
UNIT = uid(2)
LINE = uid(3)
MATTER = uid(4)
PERIOD = c.Period(kind=c.PeriodKind.MONTH, start=date(2020, 5, 1), end=date(2020, 5, 31))


def project_snapshot(**changes: Any) -> c.ProjectSnapshot:
    fields: dict[str, Any] = {
        "id": PROJECT,
        "project_code": "2020-420112-47-01-012345",
        "name": "临空港智能终端产业园",
        "enterprise": "武汉某某科技有限公司",
        "category": c.ProjectCategory.INDUSTRIAL,
        "project_class": c.ProjectClass.NEW_START,
        "responsible_unit_id": UNIT,
        "responsible_unit_name": "金银湖街",
        "line_id": LINE,
        "routing_basis": c.RoutingBasis.RESPONSIBLE_UNIT,
        "routing_rule_id": uid(5),
        "routing_reason": "责任单位金银湖街 → 第二线",
        "provincial_municipal": True,
        "fast_track": True,
        "approval_type": c.ApprovalType.FILING,
        "total_investment": Decimal("125000000.50"),
        "plan_year": 2020,
        "planned_annual_investment": Decimal("30000000"),
        "milestones": (
            c.MilestoneSnapshot(
                id=uid(6),
                type=c.MilestoneType.CONSTRUCTION_START,
                label="开工",
                planned_date=date(2020, 6, 30),
                baseline_date=date(2020, 6, 30),
            ),
        ),
        "enrolment_status": c.EnrolmentStatus.PENDING,
        "integrity_flags": (c.IntegrityFlag.OVERDUE_START,),
        "effective_at": AT,
    }
    return c.ProjectSnapshot(**(fields | changes))


def clock(kind: c.ClockKind = c.ClockKind.REPLY) -> c.ClockSnapshot:
    return c.ClockSnapshot(
        deadline_id=uid(7),
        kind=kind,
        charged_unit_id=UNIT,
        started_at=AT,
        due_at=datetime(2020, 5, 12, tzinfo=TZ),
        budget=3,
        budget_unit=c.BudgetUnit.WORKING,
    )


def evidence() -> tuple[c.EvidenceRef, ...]:
    return (c.EvidenceRef(kind="project", id=PROJECT, note="计划2020-06-30开工，至2020-07-31未开工"),)


def target(kind: c.RedCardTargetKind = c.RedCardTargetKind.RESPONSIBLE_UNIT) -> c.RedCardTarget:
    return c.RedCardTarget(unit_id=UNIT, unit_name="金银湖街", kind=kind)


def _project_fact() -> dict[str, Any]:
    return {
        "effective_at": AT,
        "project_id": PROJECT,
        "project_name": "临空港智能终端产业园",
        "responsible_unit_id": UNIT,
    }


def _approval_item() -> dict[str, Any]:
    return {
        "effective_at": AT,
        "approval_item_id": uid(20),
        "catalogue_item_id": uid(21),
        "item_name": "施工许可证",
        "project_id": PROJECT,
        "project_name": "临空港智能终端产业园",
        "handling_unit_id": uid(22),
        "handling_unit_name": "区行政审批局",
        "mode": c.ApprovalMode.COMMITMENT,
    }


def _matter() -> dict[str, Any]:
    return {
        "effective_at": AT,
        "matter_id": MATTER,
        "title": "项目用地红线调整",
        "layer": c.Layer.RESPONSIBLE_UNIT,
        "line_id": LINE,
        "resolving_unit_id": uid(30),
        "resolving_unit_name": "区自然资源和规划分局",
        "project_id": PROJECT,
        "project_name": "临空港智能终端产业园",
    }


def _verb(verb: str) -> dict[str, Any]:
    return {
        "reported": {
            "reported_by_unit_id": UNIT,
            "topic": "土地",
            "description": "红线与规划不一致",
            "clocks": (clock(c.ClockKind.ACCEPTANCE),),
        },
        "accepted": {"accepted_by_unit_id": uid(31), "clocks": (clock(), clock(c.ClockKind.RESOLUTION))},
        "answered": {"answered_by_unit_id": uid(30), "opinion": "两周内完成调整", "on_time": True},
        "progress_reported": {"reported_by_unit_id": uid(30), "summary": "已报规委会", "clocks": (clock(),)},
        "warned": {"clock": clock()},
        "breached": {"breach_id": uid(32), "clock": clock()},
        "escalated": {
            "layer": c.Layer.LINE_LEADER,
            "from_layer": c.Layer.RESPONSIBLE_UNIT,
            "cause": c.EscalationCause.BREACH,
            "breach_id": uid(32),
            "holder_post_ids": (uid(33),),
            "holder_unit_ids": (uid(34),),
        },
        "resolved": {"resolved_by_unit_id": uid(30), "summary": "红线已调整", "on_time": False},
        "closed": {"outcome": c.ClosureOutcome.RESOLVED, "closed_by_unit_id": uid(31)},
        "rerouted": {
            "from_line_id": uid(35),
            "reason": "责任单位将军路街属第三线",
            "project_revision": 4,
            "holder_post_ids": (uid(33),),
            "holder_unit_ids": (uid(34),),
        },
    }[verb]


def org_changed(revision: int = 7, entry_revision: int = 7) -> c.OrgChanged:
    dated = {"revision": entry_revision, "valid_from": date(2020, 1, 1)}
    return c.OrgChanged(
        aggregate_id=uid(40),
        revision=revision,
        effective_at=AT,
        units=(
            c.UnitSnapshot(id=UNIT, name="金银湖街", kind=c.UnitKind.STREET, **dated),
            c.UnitSnapshot(
                id=uid(41),
                name="区科经局",
                kind=c.UnitKind.DEPARTMENT,
                **dated,
            ),
        ),
        posts=(
            c.PostSnapshot(
                id=uid(42),
                title="区委常委、常务副区长",
                unit_id=uid(43),
                kind=c.PostKind.LINE_LEADER,
                **dated,
            ),
        ),
        people=(c.PersonSnapshot(id=uid(44), revision=entry_revision, name="李丽"),),
        holdings=(c.PostHoldingSnapshot(id=uid(45), post_id=uid(42), person_id=uid(44), **dated),),
        lines=(
            c.LineSnapshot(
                id=LINE,
                number=2,
                name="第二线（李丽）",
                leader_post_id=uid(42),
                service_unit_id=uid(41),
                **dated,
            ),
        ),
        routing_rules=(
            c.RoutingRuleSnapshot(
                id=uid(5),
                basis=c.RoutingBasis.RESPONSIBLE_UNIT,
                line_id=LINE,
                responsible_unit_id=UNIT,
                **dated,
            ),
        ),
    )


def sample(event_type: str) -> Event:
    """A valid instance of every contract, as its producer would make it."""
    family, _, verb = event_type.partition(".")
    if family in ("problem", "meeting_matter"):
        fields = _matter() | _verb(verb)
        if event_type == "meeting_matter.reported":
            fields |= {"meeting_title": "包保区级领导项目调度会", "meeting_date": date(2020, 5, 6)}
        return contract_registry()[(event_type, 1)](**fields)
    builders: dict[str, Any] = {
        "project.registered": lambda: c.ProjectRegistered(
            aggregate_id=PROJECT, revision=1, project=project_snapshot()
        ),
        "project.changed": lambda: c.ProjectChanged(
            aggregate_id=PROJECT,
            revision=2,
            project=project_snapshot(
                line_id=None, routing_basis=c.RoutingBasis.UNROUTED, routing_rule_id=None
            ),
            changes=("line_id", "routing_basis"),
            reason="责任单位调整",
        ),
        "project.terminated": lambda: c.ProjectTerminated(
            **_project_fact(),
            cause=c.TerminationCause.ENTERPRISE_FAULT,
            reason="企业资金链断裂",
            terminated_on=date(2020, 9, 1),
        ),
        "milestone.achieved": lambda: c.MilestoneAchieved(
            **_project_fact(),
            milestone=project_snapshot().milestones[0].model_copy(update={"actual_date": date(2020, 6, 28)}),
        ),
        "milestone.missed": lambda: c.MilestoneMissed(
            **_project_fact(), milestone=project_snapshot().milestones[0]
        ),
        "investment.reported": lambda: c.InvestmentReported(
            **_project_fact(),
            report_id=uid(10),
            year=2020,
            month=5,
            amount=Decimal("1250000.00"),
            year_to_date=Decimal("5000000.00"),
            reported_by_unit_id=UNIT,
        ),
        "enrolment.failed": lambda: c.EnrolmentFailed(
            **_project_fact(), year=2020, month=4, reason="未达到入库标准", reported_by_unit_id=uid(11)
        ),
        "commitment.overdue": lambda: c.CommitmentOverdue(
            **_project_fact(),
            commitment_id=uid(12),
            side=c.CommitmentSide.GOVERNMENT,
            description="2020年6月底前完成三通一平",
            due_date=date(2020, 6, 30),
            obligor_unit_id=uid(13),
            obligor_unit_name="区城投集团",
        ),
        "org.changed": org_changed,
        "enrolment_list.due_soon": lambda: c.EnrolmentListDueSoon(**_list_duty()),
        "enrolment_list.missed": lambda: c.EnrolmentListMissed(**_list_duty()),
        "statistics_visit.due_soon": lambda: c.StatisticsVisitDueSoon(**_visit_duty()),
        "statistics_visit.missed": lambda: c.StatisticsVisitMissed(**_visit_duty()),
        "integrity_round.due_soon": lambda: c.IntegrityRoundDueSoon(**_integrity_round()),
        "integrity_round.missed": lambda: c.IntegrityRoundMissed(**_integrity_round()),
        "integrity_review.recorded": lambda: c.IntegrityReviewRecorded(
            **_project_fact(),
            review_id=uid(44),
            reviewed_on=date(2020, 6, 30),
            findings=(c.IntegrityFlag.OVERDUE_START,),
            evidence="实地核查：土地已交付，未开工",
            reviewer_unit_ids=(uid(45), uid(46)),
        ),
        "approval.submitted": lambda: c.ApprovalSubmitted(**_approval_item()),
        "approval.accepted": lambda: c.ApprovalAccepted(
            **_approval_item(),
            due_at=datetime(2020, 5, 20, tzinfo=TZ),
            budget=10,
            budget_unit=c.BudgetUnit.WORKING,
        ),
        "approval.granted": lambda: c.ApprovalGranted(
            **_approval_item(), certificate_no="420112202005060101", verification_due_on=date(2020, 8, 1)
        ),
        "approval.rejected": lambda: c.ApprovalRejected(**_approval_item(), reason="材料不符合要求"),
        "approval.due_soon": lambda: c.ApprovalDueSoon(
            **_approval_item(), due_at=datetime(2020, 5, 20, tzinfo=TZ)
        ),
        "approval.stalled": lambda: c.ApprovalStalled(
            **_approval_item(), due_at=datetime(2020, 5, 20, tzinfo=TZ)
        ),
        "approval.start_at_risk": lambda: c.ApprovalStartAtRisk(
            effective_at=AT,
            project_id=PROJECT,
            project_name="临空港智能终端产业园",
            responsible_unit_id=UNIT,
            planned_start_date=date(2020, 6, 30),
            blocking_items=(
                c.ApprovalItemRef(
                    approval_item_id=uid(20),
                    item_name="施工许可证",
                    handling_unit_id=uid(22),
                    handling_unit_name="区行政审批局",
                ),
            ),
        ),
        "red_card.issued": lambda: c.RedCardIssued(
            effective_at=AT,
            red_card_id=uid(50),
            target=target(),
            source=c.RedCardSource.SUPERVISION,
            reason=c.RedCardReason.NO_REAL_PROGRESS,
            period=PERIOD,
            project_id=PROJECT,
            supervision_round_id=uid(51),
            evidence=evidence(),
            confirmed_by_person_id=uid(52),
        ),
        "red_card.dismissed": lambda: c.RedCardDismissed(
            effective_at=AT,
            red_card_id=uid(50),
            target=target(c.RedCardTargetKind.APPROVAL_DEPARTMENT),
            source=c.RedCardSource.RANKING,
            reason=c.RedCardReason.BOTTOM_OF_RANKING,
            period=PERIOD,
            request_id=uid(53),
            evidence=evidence(),
            dismissal_reason="排名数据有误",
            dismissed_by_person_id=uid(52),
        ),
        "red_card.proposed": lambda: c.RedCardProposed(
            effective_at=AT,
            red_card_id=uid(50),
            target=target(),
            source=c.RedCardSource.SUPERVISION,
            reason=c.RedCardReason.NOT_ENROLLED,
            period=PERIOD,
            project_id=PROJECT,
            supervision_round_id=uid(51),
            evidence=evidence(),
            proposed_by_person_id=uid(52),
        ),
        "red_card.referral_requested": lambda: c.RedCardReferralRequested(
            **sample("red_card.issued").model_dump(exclude={"confirmed_by_person_id"}),
            line_id=LINE,
            leader_post_id=uid(33),
            requested_by_person_id=uid(52),
        ),
        "red_card.withdrawn": lambda: c.RedCardWithdrawn(
            **sample("red_card.issued").model_dump(exclude={"confirmed_by_person_id"}),
            withdrawal_reason="项目已于督查前入统，统计数据延迟",
            withdrawn_by_person_id=uid(52),
        ),
        "red_card.referral_concluded": lambda: c.RedCardReferralConcluded(
            **sample("red_card.issued").model_dump(exclude={"confirmed_by_person_id"}),
            outcome=c.ReferralOutcome.ACCOUNTABILITY_TAKEN,
            note="对项目责任单位主要负责人予以诫勉谈话",
            decided_on=date(2020, 6, 20),
            line_id=LINE,
            recorded_by_person_id=uid(52),
        ),
        "supervision_report.published": lambda: c.SupervisionReportPublished(
            effective_at=AT,
            supervision_round_id=uid(51),
            report_id=uid(54),
            number=1,
            period=PERIOD,
            title="全区投资和重大产业项目落地建设督查问题专报（第1期）",
            path="/api/v1/supervision-rounds/00000000-0000-0000-0000-000000000033/report",
            audience=c.Audience(
                unit_roles=(c.UnitRole.SUPERVISION_OFFICE, c.UnitRole.MAJOR_PROJECTS_OFFICE),
                post_kinds=(c.PostKind.DISTRICT_LEADER,),
                line_ids=(LINE,),
            ),
        ),
        "evaluation.published": lambda: c.EvaluationPublished(
            effective_at=AT,
            evaluation_id=uid(60),
            subject_kind=c.EvaluationSubject.RESPONSIBLE_UNIT,
            subject_id=UNIT,
            subject_label="金银湖街",
            period=PERIOD,
            grade=c.Grade.PASS,
            score=Decimal("87.50"),
            rule_set="responsible-unit-monthly@2020-1",
            evidence=evidence(),
        ),
        "ranking.published": lambda: c.RankingPublished(
            effective_at=AT,
            ranking_id=uid(61),
            kind=c.RankingKind.UNITS_MONTHLY,
            period=PERIOD,
            rule_set="units-monthly@2020-1",
            entries=(
                c.RankingEntry(rank=1, subject_id=UNIT, subject_label="金银湖街", score=Decimal("92.0")),
            ),
        ),
        "report.published": lambda: c.ReportPublished(
            effective_at=AT,
            report_id=uid(62),
            kind=c.ReportKind.WEEKLY_BULLETIN,
            period=c.Period(kind=c.PeriodKind.WEEK, start=date(2020, 5, 4), end=date(2020, 5, 10)),
            title="要情专报（第1期）",
            path="/api/v1/reports/00000000-0000-0000-0000-00000000003e",
            audience=c.Audience(all_units=True),
        ),
        "red_card.requested": lambda: c.RedCardRequested(
            effective_at=AT,
            request_id=uid(53),
            ranking_id=uid(61),
            period=PERIOD,
            target=target(),
            rank=18,
            ranked_count=20,
            evidence=evidence(),
        ),
        "evaluation.interview_listed": lambda: c.EvaluationInterviewListed(
            effective_at=AT,
            period_id=uid(63),
            period=PERIOD,
            subject_kind=c.EvaluationSubject.RESPONSIBLE_UNIT,
            subject_id=UNIT,
            subject_label="金银湖街",
            grade=c.Grade.FAIL,
            rank=18,
        ),
        "evaluation.statement_listed": lambda: c.EvaluationStatementListed(
            effective_at=AT,
            period_id=uid(63),
            period=PERIOD,
            subject_kind=c.EvaluationSubject.RESPONSIBLE_UNIT,
            subject_id=UNIT,
            subject_label="金银湖街",
            grade=c.Grade.FAIL,
        ),
        "notification.delivered": lambda: c.NotificationDelivered(
            effective_at=AT,
            notification_id=uid(70),
            recipient_person_id=uid(44),
            channel="inbox",
            template="problem.breached",
            cause_event_id=uid(71),
            cause_event_type="problem.breached",
        ),
        "notification.failed": lambda: c.NotificationFailed(
            effective_at=AT,
            notification_id=uid(70),
            recipient_person_id=uid(44),
            channel="sms",
            template="problem.breached",
            attempt=2,
            reason="gateway timeout",
            will_retry=True,
        ),
    }
    return builders[event_type]()


# ---------------------------------------------------------------------------------------------------------
# The catalogue


def test_the_registry_holds_exactly_the_canonical_events() -> None:
    # A new event is added to its producer's contracts module, CANONICAL and docs/events.md together.
    assert sorted(contract_registry()) == sorted((name, 1) for _, name in CANONICAL_PAIRS)


@pytest.mark.parametrize(("producer", "event_type"), CANONICAL_PAIRS)
def test_each_event_has_its_subject_producer_and_version(producer: str, event_type: str) -> None:
    contract = contract_registry()[(event_type, 1)]
    assert contract.event_type == event_type
    assert contract.producer == producer
    assert contract.version == 1
    assert contract.subject() == f"lkg.{producer}.{event_type}"
    assert contract.subject("run42") == f"run42.lkg.{producer}.{event_type}"


@pytest.mark.parametrize(("producer", "event_type"), CANONICAL_PAIRS)
def test_class_names_are_the_past_tense_event_names(producer: str, event_type: str) -> None:
    expected = "".join(part.capitalize() for part in re.split(r"[._]", event_type))
    contract = contract_registry()[(event_type, 1)]
    assert contract.__name__ == expected
    assert getattr(c, expected) is contract
    # Every contract names its Chinese term once in its docstring.
    assert re.search(r"[\u4e00-\u9fff]", contract.__doc__ or "")


@pytest.mark.parametrize(("producer", "event_type"), CANONICAL_PAIRS)
def test_snapshot_events_are_exactly_the_state_events(producer: str, event_type: str) -> None:
    contract = contract_registry()[(event_type, 1)]
    assert issubclass(contract, SnapshotEvent) is (event_type in SNAPSHOT_TYPES)


# ---------------------------------------------------------------------------------------------------------
# On the wire


@pytest.mark.parametrize(("producer", "event_type"), CANONICAL_PAIRS)
def test_every_event_survives_the_envelope(producer: str, event_type: str) -> None:
    event = sample(event_type)
    envelope = Envelope.wrap(event, correlation_id="req-1", causation_id=uid(99))
    received = Envelope.from_bytes(envelope.to_bytes())
    assert received.subject() == f"lkg.{producer}.{event_type}"
    assert (received.type, received.version, received.producer) == (event_type, 1, producer)
    assert received.event() == event
    assert type(received.event()) is type(event)


def test_money_goes_on_the_wire_as_exact_strings() -> None:
    event = c.ProjectRegistered(
        aggregate_id=PROJECT,
        revision=1,
        project=project_snapshot(total_investment=Decimal("1E+8"), planned_annual_investment=Decimal("0.10")),
    )
    wire = json.loads(Envelope.wrap(event).to_bytes())["data"]["project"]
    assert wire["total_investment"] == "100000000"
    assert wire["planned_annual_investment"] == "0.10"
    back = Envelope.from_bytes(Envelope.wrap(event).to_bytes()).event()
    assert isinstance(back, c.ProjectRegistered)
    assert back.project.planned_annual_investment == Decimal("0.10")


def test_scores_are_exact_strings_too() -> None:
    wire = sample("evaluation.published").model_dump(mode="json")
    assert wire["score"] == "87.50"


def test_above_100m_is_derived_from_total_investment() -> None:
    assert project_snapshot(total_investment=Decimal("99999999.99")).above_100m is False
    assert project_snapshot(total_investment=Decimal("100000000")).above_100m is True
    # A value typed in on the wire is ignored: 亿元以上 is never typed in (§三(三)).
    wire = project_snapshot(total_investment=Decimal("5")).model_dump(mode="json") | {"above_100m": True}
    assert c.ProjectSnapshot.model_validate(wire).above_100m is False


def test_unknown_fields_are_ignored_so_optional_additions_are_compatible() -> None:
    wire = sample("problem.breached").model_dump(mode="json")
    wire["added_in_a_later_release"] = 1
    wire["clock"]["also_new"] = "x"
    assert c.ProblemBreached.model_validate(wire) == sample("problem.breached")


def test_instants_must_carry_a_time_zone() -> None:
    wire = sample("problem.warned").model_dump(mode="json") | {"effective_at": "2020-05-06T09:30:00"}
    with pytest.raises(ValidationError, match="timezone"):
        c.ProblemWarned.model_validate(wire)


# ---------------------------------------------------------------------------------------------------------
# Snapshots and revisions


@pytest.mark.parametrize("event_type", sorted(SNAPSHOT_TYPES))
def test_snapshot_events_require_a_revision_of_at_least_one(event_type: str) -> None:
    wire = sample(event_type).model_dump(mode="json") | {"revision": 0}
    if event_type == "org.changed":
        wire |= {"units": [], "posts": [], "people": [], "holdings": [], "lines": [], "routing_rules": []}
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        contract_registry()[(event_type, 1)].model_validate(wire)
    wire.pop("revision")
    with pytest.raises(ValidationError, match="revision"):
        contract_registry()[(event_type, 1)].model_validate(wire)


def test_a_project_snapshot_belongs_to_its_aggregate() -> None:
    with pytest.raises(ValidationError, match="aggregate_id must be the project's id"):
        c.ProjectChanged(aggregate_id=uid(999), revision=3, project=project_snapshot())


def test_a_project_is_unrouted_exactly_when_it_has_no_line() -> None:
    with pytest.raises(ValidationError, match="unrouted"):
        project_snapshot(line_id=None)
    with pytest.raises(ValidationError, match="unrouted"):
        project_snapshot(routing_basis=c.RoutingBasis.UNROUTED)
    assert project_snapshot(line_id=None, routing_basis=c.RoutingBasis.UNROUTED).line_id is None


def test_org_entries_carry_their_own_revision_no_newer_than_the_directory() -> None:
    assert org_changed(revision=7, entry_revision=3).units[0].revision == 3
    with pytest.raises(ValidationError, match="revision 8 > 7"):
        org_changed(revision=7, entry_revision=8)


def test_org_changed_alone_tells_who_acts_for_what() -> None:
    # The read copy an access check needs: person → holdings in force → posts → units and lines.
    org = org_changed()
    person = uid(44)
    day = date(2020, 5, 6)
    posts = {h.post_id for h in org.holdings if h.person_id == person and h.in_force(day)}
    units = {p.unit_id for p in org.posts if p.id in posts}
    lines = {line.id for line in org.lines if line.leader_post_id in posts or line.service_unit_id in units}
    assert (posts, units, lines) == ({uid(42)}, {uid(43)}, {LINE})
    # ...and which post and unit hold each line.
    assert [(line.number, line.leader_post_id, line.service_unit_id) for line in org.lines] == [
        (2, uid(42), uid(41))
    ]


def test_dated_entries_are_in_force_between_their_dates_inclusive() -> None:
    holding = c.PostHoldingSnapshot(
        id=uid(1),
        revision=1,
        post_id=uid(2),
        person_id=uid(3),
        valid_from=date(2020, 1, 1),
        valid_to=date(2020, 6, 30),
    )
    assert [
        holding.in_force(d)
        for d in (date(2019, 12, 31), date(2020, 1, 1), date(2020, 6, 30), date(2020, 7, 1))
    ] == [
        False,
        True,
        True,
        False,
    ]


def test_a_routing_rule_names_its_criterion() -> None:
    with pytest.raises(ValidationError, match="'category' rule needs its criterion"):
        c.RoutingRuleSnapshot(
            id=uid(1), revision=1, valid_from=date(2020, 1, 1), basis=c.RoutingBasis.CATEGORY, line_id=LINE
        )
    with pytest.raises(ValidationError, match="cannot have basis 'unrouted'"):
        c.RoutingRuleSnapshot(
            id=uid(1), revision=1, valid_from=date(2020, 1, 1), basis=c.RoutingBasis.UNROUTED, line_id=LINE
        )


# ---------------------------------------------------------------------------------------------------------
# Facts that check themselves


def test_an_escalation_goes_up_and_names_its_breach() -> None:
    fields = _matter() | _verb("escalated")
    with pytest.raises(ValidationError, match="must go up"):
        c.ProblemEscalated(**(fields | {"layer": c.Layer.RESPONSIBLE_UNIT}))
    with pytest.raises(ValidationError, match="names the breach"):
        c.MeetingMatterEscalated(**(fields | {"breach_id": None}))
    requested = c.ProblemEscalated(**(fields | {"cause": c.EscalationCause.REQUESTED, "breach_id": None}))
    assert requested.layer is c.Layer.LINE_LEADER


def test_red_cards_come_from_supervision_or_ranking_with_their_origin() -> None:
    issued = sample("red_card.issued").model_dump()
    with pytest.raises(ValidationError, match="names its supervision round"):
        c.RedCardIssued(**(issued | {"supervision_round_id": None}))
    with pytest.raises(ValidationError, match="names the request"):
        c.RedCardIssued(
            **(issued | {"source": c.RedCardSource.RANKING, "reason": c.RedCardReason.BOTTOM_OF_RANKING})
        )
    with pytest.raises(ValidationError, match="bottom_of_ranking"):
        c.RedCardIssued(**(issued | {"reason": c.RedCardReason.BOTTOM_OF_RANKING}))
    with pytest.raises(ValidationError, match="at least 1 item"):
        c.RedCardIssued(**(issued | {"evidence": ()}))


def test_only_the_supervision_round_proposes_cards() -> None:
    proposed = sample("red_card.proposed").model_dump()
    with pytest.raises(ValidationError, match="only the supervision round proposes cards"):
        c.RedCardProposed(
            **(
                proposed
                | {
                    "source": c.RedCardSource.RANKING,
                    "reason": c.RedCardReason.BOTTOM_OF_RANKING,
                    "request_id": uid(53),
                    "supervision_round_id": None,
                }
            )
        )
    with pytest.raises(ValidationError, match="at least 1 character"):
        c.RedCardWithdrawn(**(sample("red_card.withdrawn").model_dump() | {"withdrawal_reason": ""}))


def test_a_rerouted_matter_changed_line_or_responsible_unit() -> None:
    fields = _matter() | _verb("rerouted")
    with pytest.raises(ValidationError, match="changed line or responsible unit"):
        c.ProblemRerouted(**(fields | {"from_line_id": LINE}))
    # The same line, another responsible unit: still a move.
    moved = c.MeetingMatterRerouted(
        **(fields | {"from_line_id": LINE, "responsible_unit_id": uid(36), "from_responsible_unit_id": UNIT})
    )
    assert (moved.line_id, moved.from_line_id, moved.layer) == (LINE, LINE, c.Layer.RESPONSIBLE_UNIT)
    # From the unrouted queue onto a line.
    assert c.ProblemRerouted(**(fields | {"from_line_id": None})).from_line_id is None


def test_an_empty_audience_tells_nobody_and_an_old_report_reads_as_one() -> None:
    assert c.Audience().is_empty
    assert not c.Audience(person_ids=(uid(44),)).is_empty
    assert not c.Audience(all_units=True).is_empty
    # A report.published written before the field existed has no audience on the wire.
    wire = sample("report.published").model_dump(mode="json")
    del wire["audience"]
    assert c.ReportPublished.model_validate(wire).audience.is_empty


def _statistics_duty() -> dict[str, Any]:
    return {
        "effective_at": datetime(2020, 5, 25, tzinfo=TZ),
        "duty_id": uid(40),
        "year": 2020,
        "month": 5,
        "due_at": datetime(2020, 5, 29, tzinfo=TZ),
        "unit_id": uid(41),
        "unit_name": "区统计局",
    }


def _integrity_round() -> dict[str, Any]:
    return {
        "effective_at": datetime(2020, 6, 16, tzinfo=TZ),
        "round_id": uid(47),
        "starts_on": date(2020, 1, 1),
        "due_on": date(2020, 6, 30),
        "due_at": datetime(2020, 7, 1, tzinfo=TZ),
        "unit_id": uid(48),
        "unit_name": "区政府督查室",
        "project_ids": (uid(49),),
    }


def _list_duty() -> dict[str, Any]:
    return {**_statistics_duty(), "reported_year": 2020, "reported_month": 4}


def _visit_duty() -> dict[str, Any]:
    return {**_statistics_duty(), "unit_name": "金银湖街", "person_id": uid(42), "project_ids": (uid(43),)}


def test_a_government_commitment_names_the_obliged_unit() -> None:
    fields = sample("commitment.overdue").model_dump() | {"obligor_unit_id": None}
    with pytest.raises(ValidationError, match="names the obliged unit"):
        c.CommitmentOverdue(**fields)
    assert c.CommitmentOverdue(**(fields | {"side": c.CommitmentSide.ENTERPRISE})).obligor_unit_id is None


def test_an_achieved_milestone_has_its_actual_date() -> None:
    with pytest.raises(ValidationError, match="actual date"):
        c.MilestoneAchieved(**_project_fact(), milestone=project_snapshot().milestones[0])


# ---------------------------------------------------------------------------------------------------------
# The contract test: published schemas


def test_current_contracts_are_compatible_with_the_published_schemas() -> None:
    assert schemas.check_directory(SCHEMA_DIR) == []


def test_every_contract_is_published_and_up_to_date() -> None:
    # Fails after any change to a contract until `python -m lkg.common.events.schemas --write
    # libs/common/tests/contract_schemas` is run (which refuses incompatible changes).
    assert schemas.unpublished(SCHEMA_DIR) == []
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(
        f"{name}.v1.json" for _, name in CANONICAL_PAIRS
    )


def test_published_schemas_say_what_they_are_and_how_money_looks() -> None:
    published = json.loads((SCHEMA_DIR / "project.registered.v1.json").read_text(encoding="utf-8"))
    assert published["x-lkg-event"] == {
        "type": "project.registered",
        "version": 1,
        "producer": "registry",
        "subject": "lkg.registry.project.registered",
    }
    money = published["$defs"]["ProjectSnapshot"]["properties"]["total_investment"]
    assert (money["type"], money["format"]) == ("string", "decimal")


OLD: dict[str, Any] = {
    "x-lkg-event": {"type": "thing.happened", "version": 1, "producer": "issues"},
    "$defs": {
        "Colour": {"enum": ["red", "green"], "type": "string", "title": "Colour"},
        "Part": {
            "properties": {"size": {"type": "integer"}, "note": {"type": "string", "default": ""}},
            "required": ["size"],
            "type": "object",
            "title": "Part",
        },
    },
    "properties": {
        "id": {"format": "uuid", "type": "string", "title": "Id"},
        "when": {"format": "date-time", "type": "string"},
        "amount": {"type": "string", "format": "decimal"},
        "colour": {"$ref": "#/$defs/Colour"},
        "part": {"anyOf": [{"$ref": "#/$defs/Part"}, {"type": "null"}], "default": None},
        "parts": {"items": {"$ref": "#/$defs/Part"}, "type": "array", "default": []},
        "comment": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    },
    "required": ["id", "when", "amount", "colour"],
    "type": "object",
    "title": "ThingHappened",
}


def changed(edit: Any) -> dict[str, Any]:
    new = copy.deepcopy(OLD)
    edit(new)
    return new


def test_an_identical_schema_is_compatible() -> None:
    assert schemas.check_compatible(OLD, copy.deepcopy(OLD)) == []


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        pytest.param(lambda s: s["properties"].pop("comment"), "comment: field removed", id="removed field"),
        pytest.param(
            lambda s: s["$defs"]["Part"]["properties"].pop("note"),
            "part.note: field removed",
            id="removed nested",
        ),
        pytest.param(
            lambda s: s["properties"].update(amount={"type": "number"}),
            "amount: type changed from string:decimal to number",
            id="changed type",
        ),
        pytest.param(
            lambda s: s["properties"].update(when={"type": "string", "format": "date"}),
            "when: type changed from string:date-time to string:date",
            id="changed format",
        ),
        pytest.param(
            lambda s: s["$defs"]["Part"]["properties"].update(size={"type": "string"}),
            "part.size: type changed from integer to string",
            id="changed nested type",
        ),
        pytest.param(
            lambda s: s["properties"].update(comment={"type": "string"}),
            "comment: type changed from null | string to string",
            id="no longer nullable",
        ),
        pytest.param(
            lambda s: s["properties"].update(
                id={"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}
            ),
            "id: type changed from string:uuid to null | string:uuid",
            id="now nullable",
        ),
        pytest.param(
            lambda s: s["required"].append("comment"),
            "comment: optional field made required",
            id="made required",
        ),
        pytest.param(
            lambda s: (s["properties"].update(layer={"type": "integer"}), s["required"].append("layer")),
            "layer: required field added",
            id="new required field",
        ),
        pytest.param(
            lambda s: s["$defs"]["Part"].update(required=["size", "note"]),
            "part.note: optional field made required",
            id="nested made required",
        ),
        pytest.param(
            lambda s: s["$defs"]["Colour"].update(enum=["red"]),
            "colour: enum value(s) removed: 'green'",
            id="removed enum value",
        ),
        pytest.param(
            lambda s: s["properties"].update(comment={"enum": ["a"], "type": "string"}),
            "comment: type changed from null | string to string",
            id="narrowed",
        ),
        pytest.param(
            lambda s: s["x-lkg-event"].update(producer="scoring"),
            "event producer changed from 'issues' to 'scoring'",
            id="moved producer",
        ),
    ],
)
def test_incompatible_changes_are_reported(edit: Any, reason: str) -> None:
    assert reason in schemas.check_compatible(OLD, changed(edit))


def test_a_shared_definition_is_reported_once_at_its_first_path() -> None:
    new = changed(lambda s: s["$defs"]["Part"]["properties"].pop("size"))
    assert schemas.check_compatible(OLD, new) == ["part.size: field removed"]


def test_changes_inside_arrays_and_maps_are_reported() -> None:
    old = {
        "properties": {
            "tags": {"items": {"type": "string"}, "type": "array"},
            "totals": {"additionalProperties": {"type": "string", "format": "decimal"}, "type": "object"},
        },
        "required": ["tags", "totals"],
        "type": "object",
    }
    new = copy.deepcopy(old)
    new["properties"]["tags"]["items"] = {"type": "integer"}
    new["properties"]["totals"]["additionalProperties"] = {"type": "number"}
    assert schemas.check_compatible(old, new) == [
        "tags[]: type changed from string to integer",
        "totals{}: type changed from string:decimal to number",
    ]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda s: s["properties"].update(extra={"type": "string", "default": ""}), id="new optional field"
        ),
        pytest.param(
            lambda s: s["$defs"]["Part"]["properties"].update(
                unit={"anyOf": [{"type": "string"}, {"type": "null"}]}
            ),
            id="new optional nested field",
        ),
        pytest.param(
            lambda s: s["$defs"]["Colour"].update(enum=["red", "green", "blue"]), id="new enum value"
        ),
        pytest.param(
            lambda s: s["properties"]["id"].update(description="文档", title="Identifier"), id="docs"
        ),
        pytest.param(lambda s: s["properties"]["comment"].update(default="none"), id="new default"),
        pytest.param(
            lambda s: (
                s["$defs"].update(Piece=s["$defs"].pop("Part"))
                or s["properties"]["parts"]["items"].update({"$ref": "#/$defs/Piece"})
                or s["properties"]["part"]["anyOf"][0].update({"$ref": "#/$defs/Piece"})
            ),
            id="renamed nested model",
        ),
    ],
)
def test_compatible_changes_pass(edit: Any) -> None:
    assert schemas.check_compatible(OLD, changed(edit)) == []


def test_write_publishes_and_refuses_an_incompatible_overwrite(tmp_path: Path) -> None:
    written = schemas.dump_schemas(tmp_path)
    assert len(written) == len(CANONICAL_PAIRS)
    assert schemas.dump_schemas(tmp_path) == []  # nothing changed, nothing rewritten
    assert schemas.main(["--check", str(tmp_path)]) == 0

    # Pretend the published schema had a field the current contract lacks: the current one removed it.
    path = tmp_path / "problem.closed.v1.json"
    published = json.loads(path.read_text(encoding="utf-8"))
    published["properties"]["severity"] = {"type": "integer"}
    path.write_text(json.dumps(published), encoding="utf-8")

    assert schemas.check_directory(tmp_path) == ["problem.closed.v1.json: severity: field removed"]
    with pytest.raises(schemas.IncompatibleSchema, match="severity: field removed"):
        schemas.dump_schemas(tmp_path)
    assert schemas.main(["--write", str(tmp_path)]) == 1
    assert schemas.main(["--check", str(tmp_path)]) == 1
    assert schemas.dump_schemas(tmp_path, force=True) == [path]
    assert schemas.main(["--check", str(tmp_path)]) == 0


def test_check_reports_a_published_contract_that_disappeared(tmp_path: Path) -> None:
    schemas.dump_schemas(tmp_path)
    (tmp_path / "problem.vanished.v1.json").write_text(json.dumps(OLD), encoding="utf-8")
    assert schemas.check_directory(tmp_path) == [
        "problem.vanished.v1.json: published contract no longer defined"
    ]


def test_check_reports_a_contract_not_yet_published(tmp_path: Path) -> None:
    schemas.dump_schemas(tmp_path)
    (tmp_path / "org.changed.v1.json").unlink()
    assert schemas.check_directory(tmp_path) == []
    assert schemas.unpublished(tmp_path) == ["org.changed.v1.json"]
    assert schemas.main(["--check", str(tmp_path)]) == 1
