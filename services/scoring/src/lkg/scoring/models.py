"""Tables of the scoring service (its own database).

Two kinds, and the difference matters for a rebuild (docs/scoring.md: a period can be recomputed from the
streams):

* **Facts** (``*_fact``, ``milestone_baseline``, the project and org read copies, ``period_recheck``): what
  scoring has been told by other services' events, each row keyed by the fact's own id so a repeated or
  reordered event changes nothing. Every fact carries ``recorded_at``, the shared-clock time it became
  known (the event's ``effective_at``): a period is computed "as of" a cut-off, from the facts recorded by
  then. These are the read-copy tables ``lkg replay scoring`` empties and fills again from the streams.
* **Decisions** (``rule_version``, ``period``, ``grade_change``, ``correction``, ``card_request``): scoring's
  own record of what people and the clock decided (rules in force, a period closed as of its cut-off,
  confirmed, grades changed with a reason, the tie across third place settled, a correction numbered, a
  card requested). A rebuild keeps them; every figure is recomputed from facts plus decisions, never read
  back from a published event.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.db import make_metadata
from lkg.common.orgcopy import define_org_copy
from lkg.common.readcopy import define_project_copy

metadata = make_metadata()
project_copy = define_project_copy(metadata)
org_copy = define_org_copy(metadata)

_uuid = PG_UUID(as_uuid=True)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


# ---- facts (rebuilt from the streams) -------------------------------------------------------------

#: A project milestone (节点) as the registry's events tell it: who answers for it, and whether and when it
#: was achieved (``milestone.achieved``) or reported missed (``milestone.missed``).
milestone_fact = sa.Table(
    "milestone_fact",
    metadata,
    sa.Column("milestone_id", _uuid, primary_key=True),
    sa.Column("project_id", _uuid, nullable=False, index=True),
    sa.Column("unit_id", _uuid, nullable=False, index=True),
    sa.Column("line_id", _uuid, nullable=True, index=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("achieved_on", sa.Date, nullable=True),
    _ts("achieved_at", nullable=True),
    sa.Column("achieved_event_id", _uuid, nullable=True),
    _ts("missed_at", nullable=True),
    sa.Column("missed_event_id", _uuid, nullable=True),
)

#: The frozen baseline date of a milestone, one row each time the registry's snapshot shows a new one (it
#: should be set once; a re-plan moves ``planned_date`` and never this). Kept as a history so that a
#: period computed as of its cut-off sees the baseline it saw then.
milestone_baseline = sa.Table(
    "milestone_baseline",
    metadata,
    sa.Column("milestone_id", _uuid, primary_key=True),
    sa.Column("event_id", _uuid, primary_key=True),
    sa.Column("baseline_date", sa.Date, nullable=False, index=True),
    _ts("recorded_at"),
)

#: A problem or meeting matter (问题 / 会议议定事项) that a unit must solve, from ``problem.*`` /
#: ``meeting_matter.*``.
matter_fact = sa.Table(
    "matter_fact",
    metadata,
    sa.Column("matter_id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("project_id", _uuid, nullable=True),
    sa.Column("line_id", _uuid, nullable=True, index=True),
    sa.Column("resolving_unit_id", _uuid, nullable=True, index=True),
    sa.Column("resolving_unit_name", sa.Text, nullable=True),
    _ts("unit_at"),
    _ts("reported_at", nullable=True),
    sa.Column("reported_event_id", _uuid, nullable=True),
    _ts("closed_at", nullable=True),
    sa.Column("closed_event_id", _uuid, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("closed_by_unit_id", _uuid, nullable=True),
    sa.Index("ix_matter_fact_reported_at", "reported_at"),
)

#: A time limit missed and recorded against a unit (超时): a matter's clock (``problem.breached``,
#: ``meeting_matter.breached``) or an approval's (``approval.stalled``).
breach_fact = sa.Table(
    "breach_fact",
    metadata,
    sa.Column("breach_id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject_id", _uuid, nullable=False),
    sa.Column("charged_unit_id", _uuid, nullable=False, index=True),
    sa.Column("line_id", _uuid, nullable=True, index=True),
    sa.Column("project_id", _uuid, nullable=True),
    sa.Column("clock", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    _ts("breached_at"),
    _ts("recorded_at"),
    sa.Column("event_id", _uuid, nullable=False),
    sa.Index("ix_breach_fact_breached_at", "breached_at"),
)

#: 统计入库 not passed for a project and month (``enrolment.failed``, by the 28th).
enrolment_fact = sa.Table(
    "enrolment_fact",
    metadata,
    sa.Column("project_id", _uuid, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("unit_id", _uuid, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    _ts("recorded_at"),
    sa.Column("event_id", _uuid, nullable=False),
)

#: Investment completed in a month (``investment.reported``); a correction ``supersedes`` the report it
#: replaces.
investment_fact = sa.Table(
    "investment_fact",
    metadata,
    sa.Column("report_id", _uuid, primary_key=True),
    sa.Column("project_id", _uuid, nullable=False, index=True),
    sa.Column("unit_id", _uuid, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("month", sa.Integer, nullable=False),
    sa.Column("amount", sa.Numeric(18, 2), nullable=False),
    sa.Column("supersedes", _uuid, nullable=True),
    _ts("recorded_at"),
    sa.Column("event_id", _uuid, nullable=False),
)

#: An approval item granted (``approval.granted``): progress of a planned new start (比晒亮).
approval_fact = sa.Table(
    "approval_fact",
    metadata,
    sa.Column("approval_item_id", _uuid, primary_key=True),
    sa.Column("project_id", _uuid, nullable=False, index=True),
    sa.Column("item_name", sa.Text, nullable=False),
    sa.Column("handling_unit_id", _uuid, nullable=False),
    _ts("granted_at"),
    sa.Column("event_id", _uuid, nullable=False),
)

#: An approval item refused (``approval.rejected``): decided, so a stall of it is no longer pending on the
#: dispatch board (a refusal is not progress: 比晒亮 counts grants only).
approval_rejection = sa.Table(
    "approval_rejection",
    metadata,
    sa.Column("approval_item_id", _uuid, primary_key=True),
    sa.Column("project_id", _uuid, nullable=False),
    _ts("rejected_at"),
    sa.Column("event_id", _uuid, nullable=False),
)

#: A red card in the issues register as its events tell it (issued, dismissed, withdrawn).
red_card_fact = sa.Table(
    "red_card_fact",
    metadata,
    sa.Column("red_card_id", _uuid, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("target_unit_id", _uuid, nullable=False, index=True),
    sa.Column("target_unit_name", sa.Text, nullable=False),
    sa.Column("request_id", _uuid, nullable=True, index=True),
    sa.Column("period_kind", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    _ts("updated_at"),
    sa.Column("event_id", _uuid, nullable=False),
    # What the card is for (``RedCardReason``), in which capacity, about which project, its evidence in
    # words, and when it was issued and withdrawn on the shared clock (a period's cut-off compares these:
    # a supervision card counts on the carded unit's monthly sheet, docs/scoring.md).
    sa.Column("card_reason", sa.Text, nullable=True),
    sa.Column("target_kind", sa.Text, nullable=True),
    sa.Column("project_id", _uuid, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    _ts("issued_at", nullable=True),
    sa.Column("issued_event_id", _uuid, nullable=True),
    _ts("withdrawn_at", nullable=True),
    sa.Column("withdrawn_event_id", _uuid, nullable=True),
    sa.Index("ix_red_card_fact_period_start", "period_start"),
)

#: A fact recorded after a period's cut-off that may change its figures: the period scan looks at it once
#: (a correction if the figures change, nothing otherwise).
period_recheck = sa.Table(
    "period_recheck",
    metadata,
    sa.Column("period_id", _uuid, primary_key=True),
    sa.Column("event_id", _uuid, primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    _ts("recorded_at"),
    sa.Index("ix_period_recheck_recorded_at", "recorded_at"),
)

#: Every step of a problem or meeting matter scoring was told (one row per event, keyed by its id): the
#: dispatch board (日调度) folds a matter's steps up to a moment to know its layer, the clocks running on it,
#: which of them warned and which ran out and are still not made good. ``clocks`` holds the running clocks
#: when the event tells them (reported, accepted, answered, progress reported, escalated), ``clock`` the one
#: clock a warning or a breach is about.
matter_step = sa.Table(
    "matter_step",
    metadata,
    sa.Column("event_id", _uuid, primary_key=True),
    sa.Column("matter_id", _uuid, nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    _ts("at"),
    sa.Column("clocks", JSONB, nullable=True),
    sa.Column("clock", JSONB, nullable=True),
    sa.Index("ix_matter_step_matter_id_at", "matter_id", "at"),
    sa.Index("ix_matter_step_at", "at"),
)

FACT_TABLES = (
    milestone_fact,
    matter_step,
    milestone_baseline,
    matter_fact,
    breach_fact,
    enrolment_fact,
    investment_fact,
    approval_fact,
    approval_rejection,
    red_card_fact,
    period_recheck,
)

# ---- decisions (kept by a rebuild) ----------------------------------------------------------------

#: The evaluation rules (考核规则), versioned, each in force from ``effective_from`` (a period uses the
#: latest version in force on its first day). ``body`` is :class:`lkg.scoring.rules.RuleBook`.
rule_version = sa.Table(
    "rule_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.Text, nullable=False, unique=True),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    _ts("created_at"),
)

#: An evaluation period (考核周期): a month (units, departments) or a quarter (line leaders). Proposed on
#: the clock once closed (figures as of ``as_of``), then confirmed and published (frozen).
period = sa.Table(
    "period",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("end", sa.Date, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("rule_version", sa.Integer, sa.ForeignKey("rule_version.version"), nullable=False),
    _ts("closes_at"),
    _ts("as_of"),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("tie_decision", JSONB, nullable=True),
    sa.Column("confirmed_by", sa.Text, nullable=True),
    sa.Column("confirmed_by_name", sa.Text, nullable=True),
    sa.Column("confirmation_note", sa.Text, nullable=True),
    _ts("published_at", nullable=True),
    _ts("updated_at"),
    sa.UniqueConstraint("kind", "start"),
)

#: A grade changed at confirmation, with its reason (§六(二): people decide).
grade_change = sa.Table(
    "grade_change",
    metadata,
    sa.Column("period_id", _uuid, sa.ForeignKey("period.id"), primary_key=True),
    sa.Column("subject_kind", sa.Text, primary_key=True),
    sa.Column("subject_id", _uuid, primary_key=True),
    sa.Column("grade", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text, nullable=False),
    _ts("decided_at"),
)

#: A numbered correction of a published period (更正), caused by a fact recorded after its cut-off; its
#: figures are the period's as of ``as_of``. When it changes who is carded, it waits for 重大项目办's review.
correction = sa.Table(
    "correction",
    metadata,
    sa.Column("period_id", _uuid, sa.ForeignKey("period.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("cause_event_id", _uuid, nullable=False),
    sa.Column("cause_event_type", sa.Text, nullable=False),
    _ts("as_of"),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("card_review", sa.Text, nullable=False),
    sa.Column("card_decision", JSONB, nullable=True),
    sa.Column("decided_by", sa.Text, nullable=True),
    _ts("decided_at", nullable=True),
    _ts("created_at"),
    sa.UniqueConstraint("period_id", "cause_event_id"),
)

#: A ranking card asked of the issues register (``red_card.requested``): once per period and target.
card_request = sa.Table(
    "card_request",
    metadata,
    sa.Column("period_id", _uuid, sa.ForeignKey("period.id"), primary_key=True),
    sa.Column("unit_id", _uuid, primary_key=True),
    sa.Column("request_id", _uuid, nullable=False, unique=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("correction_number", sa.Integer, nullable=True),
    _ts("requested_at"),
)

#: A report issued on its cadence (通报: 《要情专报》, 销号成绩单, 月度通报, 季度考评), numbered per kind
#: (第N期) and frozen: its JSON and its Word and Excel files are stored as published, so a later fact
#: never changes a published report (a rebuild keeps them).
report = sa.Table(
    "report",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("period_kind", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    _ts("as_of"),
    _ts("published_at"),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("xlsx", sa.LargeBinary),  # rendered at the first download (reports/issued.py)
    sa.Column("docx", sa.LargeBinary),
    sa.UniqueConstraint("kind", "period_start"),
    sa.UniqueConstraint("kind", "number"),
)

DECISION_TABLES = (rule_version, period, grade_change, correction, card_request, report)
READ_COPY_TABLES: tuple[str, ...] = (
    "project_copy",
    *org_copy.names,
    *(t.name for t in FACT_TABLES),
)
