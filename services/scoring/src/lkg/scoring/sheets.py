"""Score sheets (考核评分表): a period's figures computed from the facts recorded by a cut-off.

Pure of side effects: the same facts, cut-off and rules give the same sheets, which is what lets a
rebuilt database reproduce the published figures and a correction show exactly what changed. Every figure
lists the facts it counts (:class:`Evidence`: the milestone, matter, breach or report, and the event that
told scoring about it).

* **Responsible units, monthly** (项目责任单位, §六(一)二): the milestones whose **frozen baseline** date
  falls in the month; met if achieved on or before that date. A re-plan moves only the planned date, so
  a deadline moved the day before still counts as missed.
* **Streets, offices and departments, monthly** (街道、产业办及区直相关部门, §六(一)三): the problems and
  meeting matters they must solve that were open during the month; a ``resolved`` closure in the month is
  a 销号; ``returned`` and ``withdrawn`` (including merged) are not counted either way; each time limit
  missed in the month (matter clocks, approvals past their limit) is a breach against them.
* **Line leaders, quarterly** (包保区级领导, §六(一)一): the line's milestones (progress), its matters and
  breaches (problems solved), and enrolment failures reported for its projects (纳统入规).
* **Supervision red cards** (督查红牌, §五(三)): a card 督查室 confirmed in the month-end round of the month
  counts against the carded unit's sheet of that month (the responsible unit's, or the host unit's when it
  is about a meeting matter or is given to an approval department) until it is withdrawn (撤销); a card
  dismissed (不予认定) never counts, and a ranking card (§六(三)) is a consequence of the sheet, not a
  measure on it.

A subject with nothing due in the period has no sheet.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import end_of_day, local_date
from lkg.common.clock import TZ
from lkg.common.db import driver_in_transaction
from lkg.common.events.contracts import EvaluationSubject, Grade, PeriodKind
from lkg.common.orgcopy import in_force
from lkg.scoring.cards import supervision_cards, with_cards
from lkg.scoring.evidence import CardDetail, Evidence
from lkg.scoring.models import (
    enrolment_fact,
    org_copy,
    project_copy,
)
from lkg.scoring.periods import Span
from lkg.scoring.rules import HostUnitRule, LineLeaderRule, ResponsibleUnitRule, RuleBook

#: Grades from worst to best: the ranking orders by grade first (等级排名), then by score.
GRADE_ORDER = {Grade.FAIL: 0, Grade.PASS: 1, Grade.EXCELLENT: 2}
_TWO = Decimal("0.01")
_EVIDENCE_NAMESPACE = uuid.UUID("a3f6d1e2-7c44-5b8e-9d2a-0e4b5c6d7f81")


@dataclass
class Sheet:
    subject_kind: EvaluationSubject
    subject_id: UUID
    subject_label: str
    score: Decimal
    proposed_grade: Grade
    figures: dict[str, Any]
    evidence: list[Evidence] = field(default_factory=list)
    grade: Grade | None = None
    grade_reason: str | None = None

    @property
    def final_grade(self) -> Grade:
        return self.grade or self.proposed_grade


def grade_of(score: Decimal, rule: ResponsibleUnitRule | HostUnitRule | LineLeaderRule) -> Grade:
    if score >= rule.excellent_at:
        return Grade.EXCELLENT
    if score >= rule.pass_at:
        return Grade.PASS
    return Grade.FAIL


def _q(value: Decimal) -> Decimal:
    return value.quantize(_TWO)


def _bounds(span: Span) -> tuple[datetime, datetime]:
    return datetime.combine(span.start, time(0), tzinfo=TZ), end_of_day(span.end)


# ---- statements --------------------------------------------------------------------------------


async def _fetch(session: AsyncSession, sql: str, *args: Any) -> Sequence[Any]:
    """The rows of ``sql`` (parameters ``$1``, ``$2``...) in the session's transaction: on its asyncpg
    connection (:func:`lkg.common.db.driver_in_transaction`: the statement skips SQLAlchemy's statement and
    row machinery, a recompute's main cost besides the database), or through SQLAlchemy where the session
    is on another driver. Rows unpack as tuples either way."""
    driver = await driver_in_transaction(session)
    if driver is not None:
        return await driver.fetch(sql, *args)
    named = re.sub(r"\$(\d+)", r":p\1", sql)
    return (await session.execute(sa.text(named), {f"p{i}": a for i, a in enumerate(args, 1)})).all()


def _named(alias: str, key: str) -> tuple[str, str]:
    """The name of the subject in column ``alias.key`` and the join that gives it: a unit's name from the
    org copy (none there: NULL); a line's sheets are named from the lines (:func:`line_labels`)."""
    if key not in ("unit_id", "resolving_unit_id", "charged_unit_id", "line_id"):
        raise ValueError(f"not a subject column: {key}")  # the column is written into the statement
    if key == "line_id":
        return "NULL::text", ""
    return f"u_{alias}.name", f"LEFT JOIN {org_copy.units.name} AS u_{alias} ON u_{alias}.id = {alias}.{key}"


# ---- milestones (responsible units; line leaders' progress) --------------------------------------


@dataclass
class _Milestones:
    due: int = 0
    on_time: int = 0
    ahead: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    name: str | None = None
    """The unit's name in the org copy (monthly sheets), None for a line or a unit not in the copy."""

    def score(self, rule: ResponsibleUnitRule) -> Decimal:
        base = rule.on_time_points * self.on_time / self.due if self.due else rule.on_time_points
        return _q(base + min(rule.ahead_bonus_cap, rule.ahead_bonus * self.ahead))

    def figures(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "on_time": self.on_time,
            "missed": self.due - self.on_time,
            "ahead": self.ahead,
        }


#: The milestones of a period, one row for each piece of evidence, with how it counts. ``{key}`` is the
#: subject's column (``unit_id`` or ``line_id``), ``{name}`` and ``{join}`` its name (:func:`_named`).
#: $1, $2: the span's first and last day; $3: the cut-off (``as_of``).
#:
#: A milestone is due by its *latest* baseline recorded by the cut-off, so it had some baseline dated in
#: the span; or it was achieved in the span ahead of a later baseline. Only those candidates' baselines
#: are sorted for the latest, not every milestone's of the year.
_MILESTONES_SQL = """
WITH candidate AS (
    SELECT milestone_id FROM milestone_baseline
    WHERE baseline_date BETWEEN $1 AND $2 AND recorded_at <= $3
    UNION
    SELECT milestone_id FROM milestone_fact
    WHERE achieved_on BETWEEN $1 AND $2 AND achieved_at <= $3
), latest AS (
    SELECT DISTINCT ON (milestone_id) milestone_id, baseline_date, event_id
    FROM milestone_baseline JOIN candidate USING (milestone_id)
    WHERE recorded_at <= $3
    ORDER BY milestone_id, recorded_at DESC
)
SELECT m.{key} AS subject, {name} AS name,
    CASE
        WHEN b.baseline_date > $2 THEN 'ahead'
        WHEN m.achieved_at <= $3 AND m.achieved_on <= b.baseline_date THEN 'on_time'
        ELSE 'missed'
    END AS counts,
    coalesce(m.achieved_at <= $3, false) AS known,
    m.milestone_id, m.label, m.achieved_on, b.baseline_date,
    CASE
        WHEN m.achieved_at <= $3 THEN m.achieved_event_id
        ELSE coalesce(m.missed_event_id, b.event_id)
    END AS event_id
FROM latest AS b
JOIN milestone_fact AS m USING (milestone_id)
{join}
WHERE m.{key} IS NOT NULL
    AND (
        b.baseline_date BETWEEN $1 AND $2
        OR (m.achieved_at <= $3 AND m.achieved_on BETWEEN $1 AND $2 AND b.baseline_date > $2)
    )
ORDER BY b.baseline_date, m.label, m.milestone_id
"""


async def _milestones(
    session: AsyncSession, span: Span, as_of: datetime, key: str
) -> dict[UUID, _Milestones]:
    """Per unit (``key="unit_id"``, with the unit's name) or line (``"line_id"``): milestones due in
    ``span`` by their baseline as known at ``as_of``, and those achieved in it ahead of a later baseline
    date."""
    name, join = _named("m", key)
    sql = _MILESTONES_SQL.format(key=key, name=name, join=join)
    rows = await _fetch(session, sql, span.start, span.end, as_of)
    out: dict[UUID, _Milestones] = {}
    until = local_date(as_of).isoformat()
    for subject, name, counts, known, milestone_id, label, achieved_on, baseline, event_id in rows:
        acc = out.get(subject)
        if acc is None:
            acc = out[subject] = _Milestones(name=name)
        if counts == "ahead":
            acc.ahead += 1
            note = f"{label}：基线{baseline.isoformat()}，{achieved_on.isoformat()}提前完成"
        else:
            acc.due += 1
            if counts == "on_time":
                acc.on_time += 1
                note = f"{label}：基线{baseline.isoformat()}，{achieved_on.isoformat()}完成，按期"
            elif known:
                note = f"{label}：基线{baseline.isoformat()}，{achieved_on.isoformat()}完成，逾期"
            else:
                note = f"{label}：基线{baseline.isoformat()}，至{until}未完成"
        acc.evidence.append(Evidence("milestone", milestone_id, event_id, note, counts))
    return out


# ---- matters and breaches (streets, offices, departments; line leaders' problems) -----------------


@dataclass
class _Matters:
    closed: int = 0
    open: int = 0
    not_counted: int = 0
    breaches: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    name: str | None = None
    """As :attr:`_Milestones.name`."""

    @property
    def due(self) -> int:
        return self.closed + self.open

    def score(self, rule: HostUnitRule) -> Decimal:
        value = (
            rule.base_points
            - rule.breach_penalty * self.breaches
            + min(rule.closure_bonus_cap, rule.closure_bonus * self.closed)
        )
        return _q(max(Decimal(0), value))

    def figures(self) -> dict[str, Any]:
        return {
            "closed": self.closed,
            "open": self.open,
            "not_counted": self.not_counted,
            "breaches": self.breaches,
        }


_OUTCOME_LABEL = {"returned": "不予受理退回", "withdrawn": "撤回（含合并）"}


#: The matters and breaches of a period, one row for each piece of evidence, with how it counts: the
#: matters the subject must solve that were open at some time in the span (reported by the cut-off and
#: before the span's end, not closed before its start), then the breaches recorded against it in the
#: span. ``{key}``, ``{name}``, ``{join}``: as for milestones, for the matter's resolving unit, and
#: ``{breach_...}`` for the breach's charged unit. $1, $2: the span's start and end (00:00 local of its
#: first day and of the day after its last); $3: the cut-off.
_MATTERS_SQL = """
SELECT 0 AS part, m.{key} AS subject, {name} AS name,
    CASE
        WHEN m.closed_at <= $3 AND m.closed_at < $2 AND m.outcome = 'resolved' THEN 'closed'
        WHEN m.closed_at <= $3 AND m.closed_at < $2 THEN 'not_counted'
        ELSE 'open'
    END AS counts,
    m.kind, m.matter_id AS id,
    CASE WHEN m.closed_at <= $3 AND m.closed_at < $2 THEN m.closed_event_id ELSE m.reported_event_id END
        AS event_id,
    m.title AS text, m.outcome, m.closed_at AS at, m.reported_at AS sort_at
FROM matter_fact AS m
{join}
WHERE m.{key} IS NOT NULL
    AND m.reported_at <= $3
    AND m.reported_at < $2
    AND NOT (m.closed_at IS NOT NULL AND m.closed_at <= $3 AND m.closed_at < $1)
UNION ALL
SELECT 1, b.{breach_key}, {breach_name}, 'breach', 'breach', b.breach_id, b.event_id, b.label, NULL,
    b.breached_at, b.breached_at
FROM breach_fact AS b
{breach_join}
WHERE b.{breach_key} IS NOT NULL
    AND b.breached_at >= $1
    AND b.breached_at < $2
    AND b.recorded_at <= $3
ORDER BY part, sort_at, id
"""


async def _matters(session: AsyncSession, span: Span, as_of: datetime, key: str) -> dict[UUID, _Matters]:
    """Per resolving unit (``key="resolving_unit_id"``, with the unit's name; a breach counts against its
    charged unit) or line (``"line_id"``)."""
    start, end = _bounds(span)
    breach_key = "charged_unit_id" if key == "resolving_unit_id" else key
    name, join = _named("m", key)
    breach_name, breach_join = _named("b", breach_key)
    sql = _MATTERS_SQL.format(
        key=key, name=name, join=join, breach_key=breach_key, breach_name=breach_name, breach_join=breach_join
    )
    rows = await _fetch(session, sql, start, end, as_of)
    out: dict[UUID, _Matters] = {}
    until = span.end.isoformat()
    for _, subject, name, counts, kind, matter_id, event_id, text, outcome, at, _ in rows:
        acc = out.get(subject)
        if acc is None:
            acc = out[subject] = _Matters(name=name)
        if counts == "breach":
            acc.breaches += 1
            note = f"{text}（{local_date(at).isoformat()}）"
        else:
            label = "问题" if kind == "problem" else "会议议定事项"
            if counts == "closed":
                acc.closed += 1
                note = f"{label}“{text}”{local_date(at).isoformat()}销号"
            elif counts == "not_counted":
                acc.not_counted += 1
                note = f"{label}“{text}”{_OUTCOME_LABEL.get(outcome, outcome)}，不计"
            else:
                acc.open += 1
                note = f"{label}“{text}”至{until}未销号"
        acc.evidence.append(Evidence(kind, matter_id, event_id, note, counts))
    return out


# ---- enrolment (line leaders) ---------------------------------------------------------------------


async def _enrolment(
    session: AsyncSession, span: Span, as_of: datetime
) -> tuple[dict[UUID, int], dict[UUID, list[Evidence]]]:
    """Per line: its active projects, and enrolment failures reported in ``span`` for them."""
    p = project_copy
    projects: dict[UUID, int] = dict(
        (
            await session.execute(
                sa.select(p.c.line_id, sa.func.count())
                .where(p.c.line_id.is_not(None), p.c.status == "active")
                .group_by(p.c.line_id)
            )
        ).all()
    )
    start, end = _bounds(span)
    e = enrolment_fact
    rows = (
        await session.execute(
            sa.select(e, p.c.line_id, p.c.name)
            .join(p, p.c.id == e.c.project_id)
            .where(e.c.recorded_at >= start, e.c.recorded_at < end, e.c.recorded_at <= as_of)
            .order_by(e.c.recorded_at, e.c.project_id)
        )
    ).all()
    failures: dict[UUID, list[Evidence]] = defaultdict(list)
    for r in rows:
        if r.line_id is None:
            continue
        failures[r.line_id].append(
            Evidence(
                "project",
                r.project_id,
                r.event_id,
                f"{r.name}：{r.year}年{r.month}月未通过统计入库（{r.reason}）",
                "enrolment_failed",
            )
        )
    return projects, failures


# ---- labels -------------------------------------------------------------------------------------


async def unit_names(session: AsyncSession, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    u = org_copy.units
    return dict((await session.execute(sa.select(u.c.id, u.c.name).where(u.c.id.in_(ids)))).all())


async def line_labels(session: AsyncSession, span: Span) -> dict[UUID, tuple[str, UUID]]:
    """Lines in force at some time in the span: their name and leader post."""
    ln = org_copy.lines
    rows = (
        await session.execute(
            sa.select(ln.c.id, ln.c.entry, ln.c.leader_post_id).where(
                ln.c.valid_from <= span.end, sa.or_(ln.c.valid_to.is_(None), ln.c.valid_to >= span.start)
            )
        )
    ).all()
    return {r.id: (r.entry["name"], r.leader_post_id) for r in rows}


async def holders_during(
    session: AsyncSession, post_id: UUID, span: Span
) -> list[tuple[UUID, str, date, date]]:
    """Who held ``post_id`` during ``span``, each with the days of the span they held it (a handover
    mid-quarter splits the quarter)."""
    h, people = org_copy.holdings, org_copy.people
    rows = (
        await session.execute(
            sa.select(h.c.person_id, h.c.valid_from, h.c.valid_to, people.c.name)
            .join(people, people.c.id == h.c.person_id, isouter=True)
            .where(
                h.c.post_id == post_id,
                h.c.valid_from <= span.end,
                sa.or_(h.c.valid_to.is_(None), h.c.valid_to >= span.start),
            )
            .order_by(h.c.valid_from, h.c.person_id)
        )
    ).all()
    return [
        (r.person_id, r.name or "", max(r.valid_from, span.start), min(r.valid_to or span.end, span.end))
        for r in rows
    ]


# ---- the sheets of a period ---------------------------------------------------------------------


async def compute(session: AsyncSession, span: Span, as_of: datetime, rules: RuleBook) -> list[Sheet]:
    """Every graded subject's sheet for ``span`` from the facts recorded by ``as_of``."""
    if span.kind is PeriodKind.MONTH:
        return await _monthly(session, span, as_of, rules)
    return await _quarterly(session, span, as_of, rules)


async def _monthly(session: AsyncSession, span: Span, as_of: datetime, rules: RuleBook) -> list[Sheet]:
    milestones = await _milestones(session, span, as_of, "unit_id")
    matters = await _matters(session, span, as_of, "resolving_unit_id")
    unit_cards, host_cards = await supervision_cards(session, span, as_of)
    # The units with milestones or matters came with their names; one more look-up only for a unit
    # carded with nothing else on its sheets.
    names: dict[UUID, str] = {}
    for accs in (milestones, matters):
        names |= {unit: acc.name for unit, acc in accs.items() if acc.name is not None}
    names |= await unit_names(session, (set(unit_cards) | set(host_cards)) - set(milestones) - set(matters))
    sheets: list[Sheet] = []
    ru = rules.responsible_unit
    for unit in sorted(set(milestones) | set(unit_cards), key=str):
        acc = milestones.get(unit) or _Milestones()
        cards = unit_cards.get(unit)
        if acc.due == 0 and not (cards and cards.counted):
            continue  # nothing due: not graded (achieving ahead alone is not a period's task)
        score = with_cards(acc.score(ru), cards, ru.supervision_card_penalty)
        figures = acc.figures()
        evidence = list(acc.evidence)
        if cards is not None:
            figures |= cards.figures()
            evidence += cards.evidence
        sheets.append(
            Sheet(
                EvaluationSubject.RESPONSIBLE_UNIT,
                unit,
                names.get(unit, str(unit)),
                score,
                grade_of(score, ru),
                figures,
                evidence,
            )
        )
    hu = rules.host_unit
    for unit in sorted(set(matters) | set(host_cards), key=str):
        macc = matters.get(unit) or _Matters()
        cards = host_cards.get(unit)
        if macc.due == 0 and macc.breaches == 0 and not (cards and cards.counted):
            continue
        score = with_cards(macc.score(hu), cards, hu.supervision_card_penalty)
        figures = macc.figures()
        evidence = list(macc.evidence)
        if cards is not None:
            figures |= cards.figures()
            evidence += cards.evidence
        sheets.append(
            Sheet(
                EvaluationSubject.HOST_UNIT,
                unit,
                names.get(unit, str(unit)),
                score,
                grade_of(score, hu),
                figures,
                evidence,
            )
        )
    return sorted(sheets, key=lambda s: (s.subject_kind, s.subject_label, str(s.subject_id)))


async def _quarterly(session: AsyncSession, span: Span, as_of: datetime, rules: RuleBook) -> list[Sheet]:
    rule = rules.line_leader
    milestones = await _milestones(session, span, as_of, "line_id")
    matters = await _matters(session, span, as_of, "line_id")
    projects, failures = await _enrolment(session, span, as_of)
    lines = await line_labels(session, span)
    sheets: list[Sheet] = []
    for line_id, (name, leader_post) in lines.items():
        parts: list[tuple[Decimal, Decimal]] = []
        figures: dict[str, Any] = {}
        evidence: list[Evidence] = []
        ms = milestones.get(line_id)
        if ms is not None and ms.due:
            progress = ms.score(rules.responsible_unit)
            parts.append((rule.progress_weight, progress))
            figures["progress"] = {**ms.figures(), "score": str(progress)}
            evidence += ms.evidence
        mt = matters.get(line_id)
        if mt is not None and (mt.due or mt.breaches):
            problems = mt.score(rules.host_unit)
            parts.append((rule.problems_weight, problems))
            figures["problems"] = {**mt.figures(), "score": str(problems)}
            evidence += mt.evidence
        if projects.get(line_id):
            failed = failures.get(line_id, [])
            enrolment = _q(max(Decimal(0), Decimal(100) - rule.enrolment_penalty * len(failed)))
            parts.append((rule.enrolment_weight, enrolment))
            figures["enrolment"] = {
                "projects": projects[line_id],
                "failed": len(failed),
                "score": str(enrolment),
            }
            evidence += failed
        weight = sum((w for w, _ in parts), Decimal(0))
        if not parts or weight == 0:
            continue
        score = _q(sum((w * v for w, v in parts), Decimal(0)) / weight)
        holders = await holders_during(session, leader_post, span)
        figures["holders"] = [
            {"person_id": str(p), "name": n, "from": f.isoformat(), "to": t.isoformat()}
            for p, n, f, t in holders
        ]
        sheets.append(
            Sheet(
                EvaluationSubject.LINE_LEADER, line_id, name, score, grade_of(score, rule), figures, evidence
            )
        )
    return sorted(sheets, key=lambda s: (s.subject_label, str(s.subject_id)))


def evaluation_id(period_id: UUID, sheet: Sheet, correction: int = 0) -> UUID:
    return uuid.uuid5(
        _EVIDENCE_NAMESPACE, f"{period_id}:{sheet.subject_kind}:{sheet.subject_id}:{correction}"
    )


__all__ = [
    "GRADE_ORDER",
    "CardDetail",
    "Evidence",
    "Sheet",
    "compute",
    "evaluation_id",
    "grade_of",
    "in_force",
]
