"""The hot facts of :mod:`lkg.scoring.facts`, several events at once (``Subscription.handler_many``).

A rebuild replays a year of events and the live feed brings them in bursts; one by one, each event costs
one to seven statements through SQLAlchemy's statement path (about 0.5 ms of this process's CPU each:
bench/README.md, "Scoring"). Here a run of events costs one statement (a run of project snapshots up to seven,
whatever its length), sent on the session's own asyncpg connection
(:func:`lkg.common.db.driver_in_transaction`, as the inbox's record of a batch), with the rows as arrays
(``unnest``), so its text and plan do not depend on the run's size; the facts, baselines, steps, breaches
and rechecks of a run go together through data-modifying CTEs, which write different tables.

Each function has exactly the effect of the one-by-one use case applied to its events in order, which the
inbox relies on (a batch that fails is applied again event by event): tests/test_batch_handlers.py compares
the tables after both over runs with repeats, reorderings, stale copies and late facts. What makes a set
statement equal to the sequence:

* a fact kept as first told (investment, achievement, miss, baseline, failed enrolment): the run's first
  event per key is the one the sequence would have written; the later ones would change nothing;
* a fact every event updates (a matter, a project's read copy): a matter's events go in waves (the first
  of each matter, then the second...), which keeps each matter's order, and different matters write
  different rows; a run naming a project twice goes one by one;
* rechecks: the same rows (period, event), joined to what the fact's insert returned (it changed) and to
  the periods, which no handler writes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import local_date
from lkg.common.db import driver_in_transaction
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.scoring import facts
from lkg.scoring.periods import EVALUATED_KINDS, span_containing

Run = Sequence[tuple[Envelope, Any]]

#: A late fact: (the event, when it was recorded, the period ids it concerns).
_Late = tuple[Envelope, datetime, set[UUID]]


@functools.lru_cache(maxsize=4096)
def _period_id(kind: c.PeriodKind, day: date) -> UUID:
    return span_containing(kind, day).id


def _period_ids(days: Iterable[date | None], kinds: Iterable[c.PeriodKind] = EVALUATED_KINDS) -> set[UUID]:
    kinds = tuple(kinds)
    return {_period_id(kind, d) for d in days if d is not None for kind in kinds}


#: The rechecks of a statement's late facts, as its last part: the candidates ``c`` (period, event, type,
#: recorded at, and the key the fact's own insert must have returned), kept where the period's cut-off
#: was before the fact was recorded (:func:`facts._recheck`).
_RECHECK_TAIL = (
    "INSERT INTO period_recheck (period_id, event_id, event_type, recorded_at) "
    "SELECT c.period_id, c.event_id, c.event_type, c.recorded_at FROM unnest("
    "$%d::uuid[], $%d::uuid[], $%d::text[], $%d::timestamptz[], $%d::uuid[]) "
    "AS c (period_id, event_id, event_type, recorded_at, fact) "
    "JOIN period p ON p.id = c.period_id AND p.as_of < c.recorded_at "
    "WHERE %s "
    "ON CONFLICT DO NOTHING"
)


def _candidates(late: Sequence[tuple[Envelope, datetime, set[UUID], Any]]) -> list[list[Any]]:
    """The recheck candidates' columns: (event, recorded at, period ids, fact key) → one row a period."""
    rows = [(pid, v.event_id, v.type, at, key) for v, at, ids, key in late for pid in ids]
    return _columns(rows, 5)


async def _recheck_many(driver: Any, late: Sequence[_Late]) -> None:
    """:func:`facts._recheck` for several facts: one read of the periods, one insert of the rechecks."""
    wanted = {pid for _, _, ids in late for pid in ids}
    if not wanted:
        return
    as_of = {
        row[0]: row[1]
        for row in await driver.fetch("SELECT id, as_of FROM period WHERE id = ANY($1::uuid[])", list(wanted))
    }
    rows = [
        (pid, envelope.event_id, envelope.type, at)
        for envelope, at, ids in late
        for pid in ids
        if as_of.get(pid) is not None and as_of[pid] < at
    ]
    if rows:
        await driver.execute(
            "INSERT INTO period_recheck (period_id, event_id, event_type, recorded_at) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) "
            "ON CONFLICT DO NOTHING",
            *_columns(rows, 4),
        )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as the column arrays ``unnest`` takes."""
    return [[row[i] for row in rows] for i in range(width)]


def _first_by(run: Run, key: Any) -> list[tuple[Envelope, Any]]:
    """The first event of ``run`` per ``key(event)``, in the run's order."""
    seen: dict[Any, tuple[Envelope, Any]] = {}
    for envelope, event in run:
        seen.setdefault(key(event), (envelope, event))
    return list(seen.values())


# ---- registry ---------------------------------------------------------------------------------------

_INVESTMENT = (
    "INSERT INTO investment_fact "
    "(report_id, project_id, unit_id, year, month, amount, supersedes, recorded_at, event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::int[], $6::numeric[], "
    "$7::uuid[], $8::timestamptz[], $9::uuid[]) "
    "ON CONFLICT DO NOTHING"
)


async def record_investments(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_investment` for each of ``run``: a report is kept as first told."""
    driver = await driver_in_transaction(session)
    if driver is None:
        for envelope, event in run:
            await facts.record_investment(session, envelope, event)
        return
    rows = [
        (
            e.report_id,
            e.project_id,
            e.responsible_unit_id,
            e.year,
            e.month,
            e.amount,
            e.supersedes,
            e.effective_at,
            envelope.event_id,
        )
        for envelope, e in _first_by(run, lambda e: e.report_id)
    ]
    await driver.execute(_INVESTMENT, *_columns(rows, 9))


#: The read copy's row (:func:`lkg.common.readcopy.project_copy_row`), taken only when newer.
_PROJECT_COPY = (
    "INSERT INTO project_copy AS p "
    "(id, revision, name, responsible_unit_id, line_id, status, snapshot, updated_at) "
    "SELECT id, revision, name, unit_id, line_id, status, snapshot::jsonb, now() "
    "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[]) "
    "AS s (id, revision, name, unit_id, line_id, status, snapshot) "
    "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, name = excluded.name, "
    "responsible_unit_id = excluded.responsible_unit_id, line_id = excluded.line_id, "
    "status = excluded.status, snapshot = excluded.snapshot, updated_at = excluded.updated_at "
    "WHERE p.revision < excluded.revision"
)
_PLAN = (
    "INSERT INTO milestone_fact AS f (milestone_id, project_id, unit_id, line_id, type, label) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[]) "
    "ON CONFLICT (milestone_id) DO UPDATE SET unit_id = excluded.unit_id, line_id = excluded.line_id, "
    "label = excluded.label"
)
_LATEST_BASELINES = (
    "SELECT DISTINCT ON (milestone_id) milestone_id, baseline_date FROM milestone_baseline "
    "WHERE milestone_id = ANY($1::uuid[]) ORDER BY milestone_id, recorded_at DESC"
)
_BASELINES = (
    "INSERT INTO milestone_baseline (milestone_id, event_id, baseline_date, recorded_at) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::timestamptz[]) ON CONFLICT DO NOTHING"
)


async def record_projects(session: AsyncSession, run: Run) -> None:
    """:func:`lkg.scoring.handlers.on_project` for each of ``run``: the read copy takes a snapshot newer than
    the one it holds, then the milestones of each snapshot the copy now holds
    (:func:`facts.record_project_plan`). Set-wise when the run names each project and each milestone once
    (each project's rows are its own); otherwise one by one."""
    from lkg.scoring.handlers import on_project  # the one-by-one handler this is the batch of

    driver = await driver_in_transaction(session)
    milestones = [ms.id for _, e in run for ms in e.project.milestones]
    if (
        driver is None
        or len({e.project.id for _, e in run}) < len(run)
        or len(set(milestones)) < len(milestones)
    ):
        for envelope, event in run:
            await on_project(session, envelope, event)
        return
    copies = [
        (
            e.project.id,
            e.revision,
            e.project.name,
            e.project.responsible_unit_id,
            e.project.line_id,
            str(e.project.status),
            _json(e.project.model_dump(mode="json")),
        )
        for _, e in run
    ]
    await driver.execute(_PROJECT_COPY, *_columns(copies, 7))
    held = {
        row[0]: row[1]
        for row in await driver.fetch(
            "SELECT id, revision FROM project_copy WHERE id = ANY($1::uuid[])", [row[0] for row in copies]
        )
    }
    applied = [
        (v, e.project) for v, e in run if held.get(e.project.id) == e.revision and e.project.milestones
    ]
    if not applied:
        return
    plan = [
        (ms.id, p.id, p.responsible_unit_id, p.line_id, str(ms.type), ms.label)
        for _, p in applied
        for ms in p.milestones
    ]
    await driver.execute(_PLAN, *_columns(plan, 6))
    dated = [(v, p, ms) for v, p in applied for ms in p.milestones if ms.baseline_date is not None]
    if not dated:
        return
    latest = {row[0]: row[1] for row in await driver.fetch(_LATEST_BASELINES, [ms.id for _, _, ms in dated])}
    changed = [(v, p, ms) for v, p, ms in dated if latest.get(ms.id) != ms.baseline_date]
    if not changed:
        return
    baselines = [(ms.id, v.event_id, ms.baseline_date, p.effective_at) for v, p, ms in changed]
    await driver.execute(_BASELINES, *_columns(baselines, 4))
    days: dict[UUID, tuple[Envelope, datetime, list[date | None]]] = {}
    for v, p, ms in changed:
        days.setdefault(v.event_id, (v, p.effective_at, []))[2].extend((ms.baseline_date, latest.get(ms.id)))
    await _recheck_many(driver, [(v, at, _period_ids(d)) for v, at, d in days.values()])


#: A run of achievements and misses in one statement: the first achievement and the first miss of a
#: milestone stand (``a``, ``m``), the first baseline told of a milestone it has none for (``b``), and the
#: rechecks of the achievements that changed the fact. The three write different columns or tables and
#: read nothing the others write (PostgreSQL runs them on one snapshot).
_MILESTONES = (
    "WITH a AS (INSERT INTO milestone_fact AS f "
    "(milestone_id, project_id, unit_id, type, label, achieved_on, achieved_at, achieved_event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::date[], "
    "$7::timestamptz[], $8::uuid[]) "
    "ON CONFLICT (milestone_id) DO UPDATE SET achieved_on = excluded.achieved_on, "
    "achieved_at = excluded.achieved_at, achieved_event_id = excluded.achieved_event_id "
    "WHERE f.achieved_event_id IS NULL "
    "RETURNING f.milestone_id), "
    "m AS (INSERT INTO milestone_fact AS f "
    "(milestone_id, project_id, unit_id, type, label, missed_at, missed_event_id) "
    "SELECT * FROM unnest($9::uuid[], $10::uuid[], $11::uuid[], $12::text[], $13::text[], "
    "$14::timestamptz[], $15::uuid[]) "
    "ON CONFLICT (milestone_id) DO UPDATE SET missed_at = excluded.missed_at, "
    "missed_event_id = excluded.missed_event_id "
    "WHERE f.missed_event_id IS NULL), "
    "b AS (INSERT INTO milestone_baseline (milestone_id, event_id, baseline_date, recorded_at) "
    "SELECT x.* FROM unnest($16::uuid[], $17::uuid[], $18::date[], $19::timestamptz[]) "
    "AS x (milestone_id, event_id, baseline_date, recorded_at) "
    "WHERE NOT EXISTS (SELECT 1 FROM milestone_baseline y WHERE y.milestone_id = x.milestone_id) "
    "ON CONFLICT DO NOTHING) "
    + _RECHECK_TAIL
    % (20, 21, 22, 23, 24, "c.fact IN (SELECT milestone_id FROM a)")
)


async def record_milestones(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_milestone` for each of ``run`` (achievements and misses): one statement for each
    stretch of one kind (the inbox gives runs of one kind; a mixed run keeps its order between stretches,
    since the event that first inserts a milestone's row sets its project and unit)."""
    driver = await driver_in_transaction(session)
    if driver is None:
        for envelope, event in run:
            await facts.record_milestone(session, envelope, event)
        return
    stretch: list[tuple[Envelope, Any]] = []
    for envelope, event in run:
        if stretch and type(stretch[0][1]) is not type(event):
            await _record_milestones(driver, stretch)
            stretch = []
        stretch.append((envelope, event))
    await _record_milestones(driver, stretch)


async def _record_milestones(driver: Any, run: Run) -> None:
    achieved = isinstance(run[0][1], c.MilestoneAchieved)
    first = _first_by(run, lambda e: e.milestone.id)
    facts_ = [
        (
            e.milestone.id,
            e.project_id,
            e.responsible_unit_id,
            str(e.milestone.type),
            e.milestone.label,
            e.milestone.actual_date or local_date(e.effective_at) if achieved else None,
            e.effective_at,
            v.event_id,
        )
        for v, e in first
    ]
    based = _first_by(
        [(v, e) for v, e in run if e.milestone.baseline_date is not None], lambda e: e.milestone.id
    )
    baselines = [(e.milestone.id, v.event_id, e.milestone.baseline_date, e.effective_at) for v, e in based]
    late = [
        (v, e.effective_at, _period_ids([row[5], e.milestone.baseline_date]), e.milestone.id)
        for (v, e), row in zip(first, facts_, strict=True)
    ]
    none: list[tuple[Any, ...]] = []
    await driver.execute(
        _MILESTONES,
        *_columns(facts_ if achieved else none, 8),
        *_columns(none if achieved else [row[:5] + row[6:] for row in facts_], 7),
        *_columns(baselines, 4),
        *_candidates(late if achieved else []),
    )


#: Failed enrolments (统计入库) as first told per project and month, and the rechecks of those recorded now.
_ENROLMENTS = (
    "WITH e AS (INSERT INTO enrolment_fact (project_id, year, month, unit_id, reason, recorded_at, event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::text[], $6::timestamptz[], "
    "$7::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id) "
    + _RECHECK_TAIL
    % (8, 9, 10, 11, 12, "c.fact IN (SELECT event_id FROM e)")
)


async def record_enrolments_failed(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_enrolment_failed` for each of ``run``, in one statement."""
    driver = await driver_in_transaction(session)
    if driver is None:
        for envelope, event in run:
            await facts.record_enrolment_failed(session, envelope, event)
        return
    first = _first_by(run, lambda e: (e.project_id, e.year, e.month))
    rows = [
        (e.project_id, e.year, e.month, e.responsible_unit_id, e.reason, e.effective_at, v.event_id)
        for v, e in first
    ]
    late = [(v, e.effective_at, _period_ids([local_date(e.effective_at)]), v.event_id) for v, e in first]
    await driver.execute(_ENROLMENTS, *_columns(rows, 7), *_candidates(late))


# ---- issues -----------------------------------------------------------------------------------------

#: A matter's row, as :func:`facts.record_matter` upserts it: the unit follows the latest event by
#: shared-clock time; a report sets when it was reported; a closure is kept as first told.
_MATTER = (
    "INSERT INTO matter_fact AS m "
    "(matter_id, kind, title, project_id, line_id, resolving_unit_id, resolving_unit_name, unit_at, "
    "reported_at, reported_event_id, closed_at, closed_event_id, outcome, closed_by_unit_id) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], "
    "$7::text[], $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::timestamptz[], $12::uuid[], "
    "$13::text[], $14::uuid[]) "
    "ON CONFLICT (matter_id) DO UPDATE SET "
    "resolving_unit_id = CASE WHEN m.unit_at <= excluded.unit_at THEN excluded.resolving_unit_id "
    "ELSE m.resolving_unit_id END, "
    "resolving_unit_name = CASE WHEN m.unit_at <= excluded.unit_at THEN excluded.resolving_unit_name "
    "ELSE m.resolving_unit_name END, "
    "line_id = CASE WHEN m.unit_at <= excluded.unit_at THEN excluded.line_id ELSE m.line_id END, "
    "unit_at = CASE WHEN m.unit_at <= excluded.unit_at THEN excluded.unit_at ELSE m.unit_at END, "
    "reported_at = CASE WHEN excluded.reported_event_id IS NOT NULL THEN excluded.reported_at "
    "ELSE m.reported_at END, "
    "reported_event_id = coalesce(excluded.reported_event_id, m.reported_event_id), "
    "closed_at = coalesce(m.closed_at, excluded.closed_at), "
    "closed_event_id = coalesce(m.closed_event_id, excluded.closed_event_id), "
    "outcome = coalesce(m.outcome, excluded.outcome), "
    "closed_by_unit_id = coalesce(m.closed_by_unit_id, excluded.closed_by_unit_id)"
)
_STEP = (
    "INSERT INTO matter_step (event_id, matter_id, step, layer, at, clocks, clock) "
    "SELECT event_id, matter_id, step, layer, at, clocks::jsonb, clock::jsonb "
    "FROM unnest($15::uuid[], $16::uuid[], $17::text[], $18::int[], $19::timestamptz[], $20::text[], "
    "$21::text[]) "
    "AS s (event_id, matter_id, step, layer, at, clocks, clock) "
    "ON CONFLICT DO NOTHING"
)
_BREACH = (
    "INSERT INTO breach_fact (breach_id, kind, subject_id, charged_unit_id, line_id, project_id, clock, "
    "label, breached_at, recorded_at, event_id) "
    "SELECT * FROM unnest($22::uuid[], $23::text[], $24::uuid[], $25::uuid[], $26::uuid[], $27::uuid[], "
    "$28::text[], $29::text[], $30::timestamptz[], $31::timestamptz[], $32::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING breach_id"
)

#: A run of matter events (each matter once) in one statement: the matters, their steps, the breaches, and
#: the rechecks of closures and of breaches recorded for the first time.
_MATTERS = (
    "WITH m AS ("
    + _MATTER
    + "), s AS ("
    + _STEP
    + "), b AS ("
    + _BREACH
    + ") "
    + _RECHECK_TAIL % (33, 34, 35, 36, 37, "(c.fact IS NULL OR c.fact IN (SELECT breach_id FROM b))")
)

_REPORTED = (c.ProblemReported, c.MeetingMatterReported)
_CLOSED = (c.ProblemClosed, c.MeetingMatterClosed)
_BREACHED = (c.ProblemBreached, c.MeetingMatterBreached)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


async def record_matters(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_matter` for each of ``run``, in waves: the first event of each matter in one
    statement, then the second of each, and so on. A matter's later event depends on what its earlier one
    wrote, and keeps its place after it; different matters write different rows. (A breach id told for
    two matters, which the issues service never does, would make the order between matters matter: such a
    run goes one by one.)"""
    driver = await driver_in_transaction(session)
    breach_matters = {(e.breach_id, e.matter_id) for _, e in run if isinstance(e, _BREACHED)}
    if driver is None or len({b for b, _ in breach_matters}) < len(breach_matters):
        for envelope, event in run:
            await facts.record_matter(session, envelope, event)
        return
    waves: list[list[tuple[Envelope, Any]]] = []
    told: dict[UUID, int] = {}
    for envelope, event in run:
        k = told[event.matter_id] = told.get(event.matter_id, -1) + 1
        if k == len(waves):
            waves.append([])
        waves[k].append((envelope, event))
    for wave in waves:
        await _record_matters(driver, wave)


async def _record_matters(driver: Any, run: Run) -> None:
    """Events of different matters, in one statement."""
    matters = []
    steps = []
    breaches = []
    late: list[tuple[Envelope, datetime, set[UUID], Any]] = []
    for v, e in run:
        at: datetime = e.effective_at
        reported = isinstance(e, _REPORTED)
        closed = isinstance(e, _CLOSED)
        matters.append(
            (
                e.matter_id,
                facts._matter_kind(v),
                e.title,
                getattr(e, "project_id", None),
                e.line_id,
                e.resolving_unit_id,
                e.resolving_unit_name,
                at,
                at if reported else None,
                v.event_id if reported else None,
                at if closed else None,
                v.event_id if closed else None,
                str(e.outcome) if closed else None,
                e.closed_by_unit_id if closed else None,
            )
        )
        clocks = getattr(e, "clocks", None)
        clock = getattr(e, "clock", None)
        steps.append(
            (
                v.event_id,
                e.matter_id,
                v.type.split(".", 1)[1],
                int(e.layer),
                at,
                None if clocks is None else _json([x.model_dump(mode="json") for x in clocks]),
                None if clock is None else _json(clock.model_dump(mode="json")),
            )
        )
        if isinstance(e, _BREACHED):
            breached_at = e.clock.due_at or at
            label = facts._CLOCK_LABEL.get(e.clock.kind, e.clock.kind)
            breaches.append(
                (
                    e.breach_id,
                    facts._matter_kind(v),
                    e.matter_id,
                    e.clock.charged_unit_id,
                    e.line_id,
                    getattr(e, "project_id", None),
                    str(e.clock.kind),
                    f"{e.title}：{label}超时",
                    breached_at,
                    at,
                    v.event_id,
                )
            )
        elif closed:
            late.append((v, at, _period_ids([local_date(at)]), None))
    # A breach told twice in the run (two events, one breach id) is recorded, and rechecked, once.
    first = list({row[0]: row for row in reversed(breaches)}.values())
    by_event = {v.event_id: v for v, _ in run}
    late.extend((by_event[row[10]], row[9], _period_ids([local_date(row[8])]), row[0]) for row in first)
    await driver.execute(
        _MATTERS, *_columns(matters, 14), *_columns(steps, 7), *_columns(first, 11), *_candidates(late)
    )
