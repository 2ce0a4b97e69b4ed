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

The contracts live in one module per producer (``registry``, ``approvals``, ``issues``, ``scoring``,
``notifier``) plus ``shared`` for the values they share; every name is re-exported here, so a reader imports
``from lkg.common.events.contracts import ProjectChanged`` without knowing which module defines it.
"""

from __future__ import annotations

from lkg.common.events.contracts.approvals import (
    ApprovalAccepted,
    ApprovalDueSoon,
    ApprovalGranted,
    ApprovalItemRef,
    ApprovalRejected,
    ApprovalStalled,
    ApprovalStartAtRisk,
    ApprovalSubmitted,
)
from lkg.common.events.contracts.issues import (
    MeetingMatterAccepted,
    MeetingMatterAnswered,
    MeetingMatterBreached,
    MeetingMatterClosed,
    MeetingMatterEscalated,
    MeetingMatterProgressReported,
    MeetingMatterReported,
    MeetingMatterResolved,
    MeetingMatterWarned,
    ProblemAccepted,
    ProblemAnswered,
    ProblemBreached,
    ProblemClosed,
    ProblemEscalated,
    ProblemProgressReported,
    ProblemReported,
    ProblemResolved,
    ProblemWarned,
    RedCardDismissed,
    RedCardIssued,
)
from lkg.common.events.contracts.notifier import (
    NotificationDelivered,
    NotificationFailed,
)
from lkg.common.events.contracts.registry import (
    CommitmentOverdue,
    EnrolmentFailed,
    InvestmentReported,
    LineSnapshot,
    MilestoneAchieved,
    MilestoneMissed,
    MilestoneSnapshot,
    OrgChanged,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostSnapshot,
    ProjectChanged,
    ProjectRegistered,
    ProjectSnapshot,
    ProjectTerminated,
    RoutingRuleSnapshot,
    UnitSnapshot,
)
from lkg.common.events.contracts.scoring import (
    EvaluationPublished,
    RankingEntry,
    RankingPublished,
    RedCardRequested,
    ReportPublished,
)
from lkg.common.events.contracts.shared import (
    ONE_HUNDRED_MILLION_YUAN,
    ApprovalClockKind,
    ApprovalMode,
    ApprovalType,
    BudgetUnit,
    ClockKind,
    ClockSnapshot,
    ClosureOutcome,
    CommitmentSide,
    ContractModel,
    EnrolmentStatus,
    EscalationCause,
    EvaluationSubject,
    EvidenceRef,
    ExactDecimal,
    Grade,
    IntegrityFlag,
    Layer,
    MilestoneType,
    Period,
    PeriodKind,
    PostKind,
    ProjectCategory,
    ProjectClass,
    ProjectCode,
    ProjectStage,
    ProjectStatus,
    RankingKind,
    RedCardReason,
    RedCardSource,
    RedCardTarget,
    RedCardTargetKind,
    ReportKind,
    RoutingBasis,
    TerminationCause,
    UnitKind,
    UnitRole,
    Yuan,
)

__all__ = [
    "ONE_HUNDRED_MILLION_YUAN",
    "ApprovalAccepted",
    "ApprovalClockKind",
    "ApprovalDueSoon",
    "ApprovalGranted",
    "ApprovalItemRef",
    "ApprovalMode",
    "ApprovalRejected",
    "ApprovalStalled",
    "ApprovalStartAtRisk",
    "ApprovalSubmitted",
    "ApprovalType",
    "BudgetUnit",
    "ClockKind",
    "ClockSnapshot",
    "ClosureOutcome",
    "CommitmentOverdue",
    "CommitmentSide",
    "ContractModel",
    "EnrolmentFailed",
    "EnrolmentStatus",
    "EscalationCause",
    "EvaluationPublished",
    "EvaluationSubject",
    "EvidenceRef",
    "ExactDecimal",
    "Grade",
    "IntegrityFlag",
    "InvestmentReported",
    "Layer",
    "LineSnapshot",
    "MeetingMatterAccepted",
    "MeetingMatterAnswered",
    "MeetingMatterBreached",
    "MeetingMatterClosed",
    "MeetingMatterEscalated",
    "MeetingMatterProgressReported",
    "MeetingMatterReported",
    "MeetingMatterResolved",
    "MeetingMatterWarned",
    "MilestoneAchieved",
    "MilestoneMissed",
    "MilestoneSnapshot",
    "MilestoneType",
    "NotificationDelivered",
    "NotificationFailed",
    "OrgChanged",
    "Period",
    "PeriodKind",
    "PersonSnapshot",
    "PostHoldingSnapshot",
    "PostKind",
    "PostSnapshot",
    "ProblemAccepted",
    "ProblemAnswered",
    "ProblemBreached",
    "ProblemClosed",
    "ProblemEscalated",
    "ProblemProgressReported",
    "ProblemReported",
    "ProblemResolved",
    "ProblemWarned",
    "ProjectCategory",
    "ProjectChanged",
    "ProjectClass",
    "ProjectCode",
    "ProjectRegistered",
    "ProjectSnapshot",
    "ProjectStage",
    "ProjectStatus",
    "ProjectTerminated",
    "RankingEntry",
    "RankingKind",
    "RankingPublished",
    "RedCardDismissed",
    "RedCardIssued",
    "RedCardReason",
    "RedCardRequested",
    "RedCardSource",
    "RedCardTarget",
    "RedCardTargetKind",
    "ReportKind",
    "ReportPublished",
    "RoutingBasis",
    "RoutingRuleSnapshot",
    "TerminationCause",
    "UnitKind",
    "UnitRole",
    "UnitSnapshot",
    "Yuan",
]
