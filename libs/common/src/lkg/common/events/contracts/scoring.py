"""Contracts the scoring service (考核评价) publishes: evaluations, rankings, reports, red-card requests."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import (
    Field,
)

from lkg.common.events.contracts.shared import (
    Audience,
    ContractModel,
    EvaluationSubject,
    EvidenceRef,
    ExactDecimal,
    Grade,
    Period,
    RankingKind,
    RedCardTarget,
    ReportKind,
    _Fact,
)


class RankingEntry(ContractModel):
    """One row of a ranking (排名)."""

    rank: int = Field(ge=1)
    subject_id: UUID
    """A unit, a line or a project, depending on the ranking's kind."""
    subject_label: str
    score: ExactDecimal
    grade: Grade | None = None
    evidence: tuple[EvidenceRef, ...] = ()
    """Empty in a ``units_monthly`` ranking: a unit's evidence is in its own ``evaluation.published`` of the
    same period (one message each), and at ``GET /api/v1/rankings/units-monthly/{month}``; every unit's in
    one message would outgrow what NATS carries (1 MiB) at ten times the district's portfolio."""


class _ScoringFact(_Fact):
    producer: ClassVar[str] = "scoring"


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
    audience: Audience = Audience()
    """Who it is circulated to; empty (the default) tells nobody."""
    number: int | None = Field(default=None, ge=1)
    """The issue number (第N期), counted per kind of report."""


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


class _ConsequenceListed(_ScoringFact):
    """A unit of a published month put on one of the lists of 结果运用 (§六(三)), once per period and unit."""

    period_id: UUID
    """The evaluation period (``/api/v1/evaluations/periods/{period_id}/consequences`` lists them all)."""
    period: Period
    subject_kind: EvaluationSubject
    """How the unit was evaluated (its head is told, as for ``evaluation.published``)."""
    subject_id: UUID
    subject_label: str
    grade: Grade
    rank: int | None = Field(default=None, ge=1)
    """Its place in the month's ranking of units, where it was ranked."""


class EvaluationInterviewListed(_ConsequenceListed):
    """约谈名单: a unit carded among the month's bottom 3 (红牌, §六(三) 二是领导约谈); its head
    (主要负责同志) is interviewed by the district's leaders (区委、区政府领导)."""

    event_type: ClassVar[str] = "evaluation.interview_listed"


class EvaluationStatementListed(_ConsequenceListed):
    """表态发言名单: a unit graded 不合格 for the month (§六(三) 一是会议表态); it speaks at the
    director's office meeting (管委会主任办公会), and 督查室 and 重大项目办 supervise it closely
    (重点督查、督办)."""

    event_type: ClassVar[str] = "evaluation.statement_listed"
