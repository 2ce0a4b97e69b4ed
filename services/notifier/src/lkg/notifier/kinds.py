"""The kinds of event the notifier tells people about, and what it reads from each (事由).

For every contract it subscribes to, this module says:

* the **cause key**: what makes two events the same cause, so the inbox holds one message per person, kind
  and cause whatever is redelivered or rescanned (an escalation is its matter and the layer it reached;
  a breach is its breach id; a warning is its clock; otherwise the event itself);
* the **facts** the templates and the audiences need (the matter, its layer, the line, the project, the
  deadline, a link), read from the event alone: the notifier never calls another service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from lkg.common.events import contracts as c
from lkg.common.events.base import Event

_MATTER_VERBS = (
    "Reported",
    "Accepted",
    "Answered",
    "ProgressReported",
    "Warned",
    "Breached",
    "Escalated",
    "Resolved",
    "Closed",
    "Rerouted",
)

#: Every contract the notifier turns into messages (the subscriptions of :mod:`lkg.notifier.handlers`).
NOTIFIED: tuple[type[Event], ...] = (
    *(getattr(c, f"Problem{verb}") for verb in _MATTER_VERBS),
    *(getattr(c, f"MeetingMatter{verb}") for verb in _MATTER_VERBS),
    c.RedCardProposed,
    c.RedCardIssued,
    c.RedCardDismissed,
    c.RedCardWithdrawn,
    c.RedCardReferralRequested,
    c.RedCardReferralConcluded,
    c.SupervisionReportPublished,
    c.ApprovalDueSoon,
    c.ApprovalStalled,
    c.EvaluationPublished,
    c.EvaluationInterviewListed,
    c.EvaluationStatementListed,
    c.ReportPublished,
    c.EnrolmentListDueSoon,
    c.EnrolmentListMissed,
    c.StatisticsVisitDueSoon,
    c.StatisticsVisitMissed,
    c.IntegrityRoundDueSoon,
    c.IntegrityRoundMissed,
)

#: Kinds the notifier makes on its own clock (:mod:`lkg.notifier.cadence`), not from an event:
#: a person's morning digest, a line leader's daily digest, the approval bureau's Friday reminder.
CADENCE_KINDS = ("digest.daily", "digest.line", "reminder.approval_report")


def known_kinds() -> set[str]:
    return {cls.event_type for cls in NOTIFIED} | set(CADENCE_KINDS)


LAYER_LABELS = {
    1: "第一层（项目责任单位）",
    2: "第二层（包保区级领导）",
    3: "第三层（区委、区政府主要领导）",
}

OUTCOME_LABELS = {
    "resolved": "已解决销号",
    "returned": "不予受理退回",
    "withdrawn": "撤回",
    "merged": "合并办理",
}

CLOCK_LABELS = {"acceptance": "受理", "reply": "反馈处理意见", "progress": "报送进展", "resolution": "办结"}

REFERRAL_OUTCOME_LABELS = {"accountability_taken": "予以问责", "no_accountability": "不予问责"}

GRADE_LABELS = {"excellent": "优秀", "pass": "合格", "fail": "不合格"}


@dataclass(frozen=True)
class Facts:
    """What one event says, for the audiences and the template."""

    kind: str
    cause_key: str
    matter_id: UUID | None = None
    matter_kind: str | None = None  # problem | meeting_matter
    layer: int | None = None
    line_id: UUID | None = None
    project_id: UUID | None = None
    resolving_unit_id: UUID | None = None
    charged_unit_id: UUID | None = None
    reported_by_unit_id: UUID | None = None
    reported_by_person_id: UUID | None = None
    target_unit_id: UUID | None = None
    handling_unit_id: UUID | None = None
    subject_kind: str | None = None
    subject_id: UUID | None = None
    #: The person the event names as the one to act (a statistics contact).
    named_person_id: UUID | None = None
    #: The post whose holder is asked (a referral awaiting a line leader's consent).
    post_id: UUID | None = None
    #: Whom a published document is circulated to (the event's ``audience``).
    document_audience: c.Audience | None = None
    #: The deadline the message is about (a clock's due time, an approval's limit).
    deadline_at: datetime | None = None
    #: The console page of the thing, as the console's router names it (``/matter/problems/{id}``):
    #: :func:`console_link` makes the message's link of it.
    path: str = ""
    #: Template variables other than the deadline, the layer and the link.
    words: dict[str, str] = field(default_factory=dict)


def console_link(base_url: str, path: str) -> str:
    """The link a message carries: the console's page ``path`` (``/matter/problems/{id}``) under its base
    URL. The console routes by the URL's fragment (``#/matter/problems/{id}``, web/js/main.js), and only ``/``
    serves it, so the route goes after ``/#``."""
    return f"{base_url.rstrip('/')}/#{path}"


def _running_deadline(clocks: tuple[c.ClockSnapshot, ...]) -> datetime | None:
    due = [k.due_at for k in clocks if k.due_at is not None and not k.paused]
    return min(due) if due else None


def _matter_facts(event: Any, kind: str, event_id: UUID) -> Facts:
    matter_kind, verb = kind.split(".", 1)
    cause = str(event_id)
    deadline = None
    words = {
        "matter": event.title,
        "project": getattr(event, "project_name", None) or "",
        "unit": event.resolving_unit_name or "",
    }
    charged = None
    if verb == "escalated":
        cause = f"{event.matter_id}:L{int(event.layer)}"
        deadline = _running_deadline(event.clocks)
        words["cause"] = "时限届满未办理" if event.cause == c.EscalationCause.BREACH else "报请上一层协调"
    elif verb == "breached":
        cause = str(event.breach_id)
        charged = event.clock.charged_unit_id
        deadline = event.clock.due_at
        words["clock"] = CLOCK_LABELS.get(str(event.clock.kind), str(event.clock.kind))
    elif verb == "warned":
        cause = f"{event.clock.deadline_id}:{event.clock.due_at.isoformat() if event.clock.due_at else ''}"
        charged = event.clock.charged_unit_id
        deadline = event.clock.due_at
        words["clock"] = CLOCK_LABELS.get(str(event.clock.kind), str(event.clock.kind))
    elif verb == "closed":
        words["outcome"] = OUTCOME_LABELS.get(str(event.outcome), str(event.outcome))
        words["reason"] = event.reason or ""
    elif verb == "answered":
        words["opinion"] = event.opinion
    elif verb == "progress_reported":
        words["summary"] = event.summary
        deadline = _running_deadline(event.clocks)
    elif verb == "resolved":
        words["summary"] = event.summary
    elif verb == "rerouted":
        words["reason"] = event.reason
    if verb in ("reported", "accepted", "answered"):
        deadline = _running_deadline(event.clocks)
    return Facts(
        kind=kind,
        cause_key=cause,
        matter_id=event.matter_id,
        matter_kind=matter_kind,
        layer=int(event.layer),
        line_id=event.line_id,
        project_id=getattr(event, "project_id", None),
        resolving_unit_id=event.resolving_unit_id,
        charged_unit_id=charged,
        reported_by_unit_id=getattr(event, "reported_by_unit_id", None) if verb == "reported" else None,
        reported_by_person_id=getattr(event, "reported_by_person_id", None) if verb == "reported" else None,
        deadline_at=deadline,
        path=f"/matter/{'problems' if matter_kind == 'problem' else 'meeting-matters'}/{event.matter_id}",
        words=words,
    )


def facts_of(event: Event, event_id: UUID) -> Facts:
    """The facts of one notified event (``event_id``: its envelope's id, the default cause)."""
    kind = event.event_type
    if kind.startswith(("problem.", "meeting_matter.")):
        return _matter_facts(event, kind, event_id)
    if isinstance(event, c.RedCardProposed | c.RedCardIssued | c.RedCardDismissed | c.RedCardWithdrawn):
        return Facts(
            kind=kind,
            cause_key=str(event.red_card_id),
            target_unit_id=event.target.unit_id,
            project_id=event.project_id,
            path=f"/cards/{event.red_card_id}",
            words={
                "unit": event.target.unit_name,
                "matter": _RED_CARD_REASONS.get(str(event.reason), str(event.reason)),
                "reason": str(
                    getattr(event, "withdrawal_reason", None) or getattr(event, "dismissal_reason", "")
                ),
            },
        )
    if isinstance(event, c.RedCardReferralRequested):
        return Facts(
            kind=kind,
            cause_key=f"{event.red_card_id}:{event.leader_post_id}",
            target_unit_id=event.target.unit_id,
            project_id=event.project_id,
            line_id=event.line_id,
            post_id=event.leader_post_id,
            path=f"/cards/{event.red_card_id}",
            words={
                "unit": event.target.unit_name,
                "matter": _RED_CARD_REASONS.get(str(event.reason), str(event.reason)),
            },
        )
    if isinstance(event, c.RedCardReferralConcluded):
        return Facts(
            kind=kind,
            cause_key=f"{event.red_card_id}:referral",
            target_unit_id=event.target.unit_id,
            project_id=event.project_id,
            line_id=event.line_id,
            path=f"/cards/{event.red_card_id}",
            words={
                "unit": event.target.unit_name,
                "matter": _RED_CARD_REASONS.get(str(event.reason), str(event.reason)),
                "outcome": REFERRAL_OUTCOME_LABELS.get(str(event.outcome), str(event.outcome)),
                "reason": event.note,
            },
        )
    if isinstance(event, c.SupervisionReportPublished):
        return Facts(
            kind=kind,
            cause_key=str(event.report_id),
            path=f"/rounds/{event.supervision_round_id}",
            document_audience=event.audience,
            words={"matter": f"{event.title}（第{event.number}期）"},
        )
    if isinstance(event, c.ApprovalDueSoon | c.ApprovalStalled):
        return Facts(
            kind=kind,
            cause_key=f"{event.approval_item_id}:{event.clock_kind}:{event.due_at.isoformat()}",
            project_id=event.project_id,
            handling_unit_id=event.handling_unit_id,
            deadline_at=event.due_at,
            path=f"/project/{event.project_id}",
            words={
                "matter": event.item_name,
                "project": event.project_name,
                "unit": event.handling_unit_name,
            },
        )
    if isinstance(event, c.EnrolmentListDueSoon):  # and EnrolmentListMissed
        return Facts(
            kind=kind,
            cause_key=f"{event.duty_id}",
            charged_unit_id=event.unit_id,
            deadline_at=event.due_at,
            path="/desk",
            words={
                "matter": f"{event.reported_year}年{event.reported_month}月未入库项目清单",
                "unit": event.unit_name,
                "project": "",
            },
        )
    if isinstance(event, c.StatisticsVisitDueSoon):  # and StatisticsVisitMissed
        return Facts(
            kind=kind,
            cause_key=f"{event.duty_id}",
            charged_unit_id=event.unit_id,
            named_person_id=event.person_id,
            deadline_at=event.due_at,
            path="/desk",
            words={
                "matter": f"{event.year}年{event.month}月统计上门服务",
                "unit": event.unit_name,
                "project": f"{len(event.project_ids)}个项目",
            },
        )
    if isinstance(event, c.IntegrityRoundDueSoon):  # and IntegrityRoundMissed
        return Facts(
            kind=kind,
            cause_key=f"{event.round_id}",
            charged_unit_id=event.unit_id,
            deadline_at=event.due_at,
            path="/desk",
            words={
                "matter": f"{event.starts_on.isoformat()}至{event.due_on.isoformat()}诚信履约回头看",
                "unit": event.unit_name,
                "project": f"{len(event.project_ids)}个项目",
            },
        )
    if isinstance(event, c.EvaluationPublished):
        return Facts(
            kind=kind,
            cause_key=str(event.evaluation_id),
            subject_kind=str(event.subject_kind),
            subject_id=event.subject_id,
            path="/evaluations",  # the event names no period id; the list leads to it
            words={
                "matter": event.subject_label,
                "grade": GRADE_LABELS.get(str(event.grade), str(event.grade)),
                "period": f"{event.period.start}至{event.period.end}",
                "project": "",
            },
        )
    if isinstance(event, c.EvaluationInterviewListed | c.EvaluationStatementListed):
        return Facts(
            kind=kind,
            cause_key=f"{event.period_id}:{event.subject_id}",  # once per period and unit
            subject_kind=str(event.subject_kind),
            subject_id=event.subject_id,
            path=f"/evaluations/{event.period_id}",
            words={
                "matter": event.subject_label,
                "grade": GRADE_LABELS.get(str(event.grade), str(event.grade)),
                "period": f"{event.period.start}至{event.period.end}",
                "rank": f"第{event.rank}名" if event.rank is not None else "",
                "project": "",
            },
        )
    if isinstance(event, c.ReportPublished):
        return Facts(
            kind=kind,
            cause_key=str(event.report_id),
            path=_REPORT_PAGES.get(str(event.kind), "/evaluations"),
            document_audience=event.audience,
            words={"matter": event.title},
        )
    raise LookupError(f"the notifier does not handle {kind}")


#: The console page where a published report is read (the 日调度 on its own page; the bulletins with the
#: evaluations).
_REPORT_PAGES = {"daily_dispatch": "/dispatch"}

_RED_CARD_REASONS = {
    "no_real_progress": "亿元以上新开工项目无实质进展",
    "behind_schedule": "亿元以上续建项目进度相对滞后",
    "not_enrolled": "项目未入统",
    "meeting_matter_overdue": "会议议定事项超过时限仍未解决",
    "bottom_of_ranking": "月度考核排名后3名",
}
