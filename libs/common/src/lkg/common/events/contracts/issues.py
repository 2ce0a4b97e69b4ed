"""Contracts the issues service (问题督办) publishes: problems, meeting matters, the red-card register and
the supervision round."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Self
from uuid import UUID

from pydantic import (
    Field,
    model_validator,
)

from lkg.common.events.contracts.shared import (
    Audience,
    ClockSnapshot,
    ClosureOutcome,
    ContractModel,
    EscalationCause,
    EvidenceRef,
    Layer,
    Period,
    RedCardReason,
    RedCardSource,
    RedCardTarget,
    _Fact,
)


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


class _ReroutedPart(ContractModel):
    from_line_id: UUID | None
    """The line the matter was on before (None: its project was waiting in the unrouted queue)."""
    responsible_unit_id: UUID | None = None
    """The project's responsible unit now (a change of it can move a matter as well as a change of line)."""
    from_responsible_unit_id: UUID | None = None
    reason: str
    """Why the project is on its new line, in words a person can check (the registry's routing reason)."""
    project_revision: int = Field(ge=1)
    """The revision of the ``project.changed`` snapshot that moved it."""
    holder_post_ids: tuple[UUID, ...] = ()
    """The matter's holders at its layer after the move (the new line leader's post at layer 2)."""
    holder_unit_ids: tuple[UUID, ...] = ()
    """Units holding it after the move (the new line's service department, ...)."""


def _check_rerouted(event: _MatterFact, part: _ReroutedPart) -> None:
    if event.line_id == part.from_line_id and part.responsible_unit_id == part.from_responsible_unit_id:
        raise ValueError("a rerouted matter changed line or responsible unit")


def _check_escalation(event: _MatterFact, part: _EscalatedPart) -> None:
    if event.layer <= part.from_layer:
        raise ValueError(f"escalation must go up: from layer {part.from_layer} to {event.layer}")
    if part.cause is EscalationCause.BREACH and part.breach_id is None:
        raise ValueError("an escalation caused by a breach names the breach")


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


class ProblemRerouted(_ReroutedPart, _ProblemFact):
    """问题改派: the problem moved to another line (``line_id``, from ``from_line_id``) because its project's
    line or responsible unit changed in the registry; its layer stays, its holders are the new line's."""

    event_type: ClassVar[str] = "problem.rerouted"

    @model_validator(mode="after")
    def _moved(self) -> Self:
        _check_rerouted(self, self)
        return self


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


class MeetingMatterRerouted(_ReroutedPart, _MeetingMatterFact):
    """事项改派: the matter moved to another line because its project's line or responsible unit changed."""

    event_type: ClassVar[str] = "meeting_matter.rerouted"

    @model_validator(mode="after")
    def _moved(self) -> Self:
        _check_rerouted(self, self)
        return self


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
    """不予认定: a proposed card was not confirmed by 督查室, with a reason (an issued card revoked is
    ``red_card.withdrawn``, 撤销)."""

    event_type: ClassVar[str] = "red_card.dismissed"

    dismissal_reason: str
    dismissed_by_person_id: UUID


class RedCardProposed(_RedCardFact):
    """红牌拟定: the month-end supervision round proposed a card; 督查室 confirms it (``red_card.issued``) or
    dismisses it (``red_card.dismissed``) (§五(三))."""

    event_type: ClassVar[str] = "red_card.proposed"

    proposed_by_person_id: UUID | None = None

    @model_validator(mode="after")
    def _from_supervision(self) -> Self:
        if self.source is not RedCardSource.SUPERVISION:
            raise ValueError("only the supervision round proposes cards; ranking cards are issued on request")
        return self


class RedCardReferralRequested(_RedCardFact):
    """提请问责: an issued card is to go to the discipline commission (区纪委监委), which waits for the
    consent of the carded project's line leader (包保区级领导同意, §五(三)); ``leader_post_id`` is the post
    whose consent is awaited."""

    event_type: ClassVar[str] = "red_card.referral_requested"

    line_id: UUID
    leader_post_id: UUID
    requested_by_person_id: UUID | None = None


class RedCardWithdrawn(_RedCardFact):
    """红牌撤销: an issued card was revoked, with a reason (a card proposed but never confirmed is
    ``red_card.dismissed``, 不予认定)."""

    event_type: ClassVar[str] = "red_card.withdrawn"

    withdrawal_reason: str = Field(min_length=1)
    withdrawn_by_person_id: UUID


class ReferralOutcome(StrEnum):
    """What the discipline commission (区纪委监委) decided on a referred card (§五(三)):
    ``accountability_taken`` 予以问责; ``no_accountability`` 不予问责."""

    ACCOUNTABILITY_TAKEN = "accountability_taken"
    NO_ACCOUNTABILITY = "no_accountability"


class RedCardReferralConcluded(_RedCardFact):
    """问责结果: the discipline commission's outcome of a card referred to it came back, and 督查室 recorded
    it (§五(三)); the register is complete for the card."""

    event_type: ClassVar[str] = "red_card.referral_concluded"

    outcome: ReferralOutcome
    note: str = Field(min_length=1)
    """What the commission decided (the measures taken, or why none)."""
    decided_on: date
    """The day the commission decided."""
    line_id: UUID | None = None
    recorded_by_person_id: UUID | None = None


# issues: the supervision round's report (《全区投资和重大产业项目落地建设督查问题专报》, §五(三))


class SupervisionReportPublished(_IssuesFact):
    """督查问题专报发布: the report of a month-end supervision round is published (第N期), for its
    audience."""

    event_type: ClassVar[str] = "supervision_report.published"

    supervision_round_id: UUID
    report_id: UUID
    number: int = Field(ge=1)
    """The issue number (第N期), counted per year."""
    period: Period
    title: str
    path: str
    """Where to fetch it over HTTP, e.g. ``/api/v1/supervision-rounds/{id}/report``."""
    audience: Audience = Audience()
    """Who it is circulated to (督查室, 重大项目办, the top leaders, the line leaders for their lines)."""
