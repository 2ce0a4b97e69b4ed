"""The hot facts of :mod:`lkg.scoring.facts`, several events at once (``Subscription.handler_many``).

A rebuild replays a year of events and the live feed brings them in bursts; one by one, each event costs
one to four statements through SQLAlchemy's statement path (about 0.5 ms of this process's CPU each:
bench/README.md, "Scoring"). Here a run of events of one type costs one statement per table, sent on the
session's own asyncpg connection (:func:`lkg.common.db.driver_in_transaction`, as the inbox's record of a
batch), with the rows as arrays (``unnest``), so the statement text and its plan do not depend on the run's
size.

Each function has exactly the effect of the one-by-one use case applied to its events in order, which the
inbox relies on (a batch that fails is applied again event by event): tests/test_batch_handlers.py checks
the tables after both over runs with repeats, reorderings and stale copies. The rules that make a set
statement equal to the sequence:

* a fact kept by its first event (investment, achievement, miss, baseline): the first event of the run per
  key is the one the sequence would have written; the later ones would change nothing;
* a fact every event updates (a matter): set-wise only when the run names each matter once (different
  matters do not touch each other's rows); otherwise the run is applied one by one;
* rechecks: the same rows (period, event), from one read of the periods, which no handler writes.
"""

from __future__ import annotations

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


def _period_ids(days: Iterable[date | None], kinds: Iterable[c.PeriodKind] = EVALUATED_KINDS) -> set[UUID]:
    kinds = tuple(kinds)
    return {span_containing(kind, d).id for d in days if d is not None for kind in kinds}


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


_ACHIEVED = (
    "INSERT INTO milestone_fact AS f "
    "(milestone_id, project_id, unit_id, type, label, achieved_on, achieved_at, achieved_event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::date[], "
    "$7::timestamptz[], $8::uuid[]) "
    "ON CONFLICT (milestone_id) DO UPDATE SET achieved_on = excluded.achieved_on, "
    "achieved_at = excluded.achieved_at, achieved_event_id = excluded.achieved_event_id "
    "WHERE f.achieved_event_id IS NULL "
    "RETURNING f.milestone_id"
)
_MISSED = (
    "INSERT INTO milestone_fact AS f "
    "(milestone_id, project_id, unit_id, type, label, missed_at, missed_event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], "
    "$6::timestamptz[], $7::uuid[]) "
    "ON CONFLICT (milestone_id) DO UPDATE SET missed_at = excluded.missed_at, "
    "missed_event_id = excluded.missed_event_id "
    "WHERE f.missed_event_id IS NULL"
)
#: The baseline an event carries, for a milestone scoring has none for yet.
_FIRST_BASELINE = (
    "INSERT INTO milestone_baseline (milestone_id, event_id, baseline_date, recorded_at) "
    "SELECT b.* FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::timestamptz[]) "
    "AS b (milestone_id, event_id, baseline_date, recorded_at) "
    "WHERE NOT EXISTS (SELECT 1 FROM milestone_baseline x WHERE x.milestone_id = b.milestone_id) "
    "ON CONFLICT DO NOTHING"
)


async def record_milestones(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_milestone` for each of ``run`` (achievements and misses): the first achievement
    and the first miss of a milestone stand, and the first baseline told of it. The three write different
    columns or tables and read nothing the others write, so they may go one statement each."""
    driver = await driver_in_transaction(session)
    if driver is None:
        for envelope, event in run:
            await facts.record_milestone(session, envelope, event)
        return
    achieved = [(v, e) for v, e in run if isinstance(e, c.MilestoneAchieved)]
    missed = [(v, e) for v, e in run if not isinstance(e, c.MilestoneAchieved)]
    if achieved:
        first = _first_by(achieved, lambda e: e.milestone.id)
        rows = [
            (
                e.milestone.id,
                e.project_id,
                e.responsible_unit_id,
                str(e.milestone.type),
                e.milestone.label,
                e.milestone.actual_date or local_date(e.effective_at),
                e.effective_at,
                v.event_id,
            )
            for v, e in first
        ]
        changed = {row[0] for row in await driver.fetch(_ACHIEVED, *_columns(rows, 8))}
        await _recheck_many(
            driver,
            [
                (v, e.effective_at, _period_ids([row[5], e.milestone.baseline_date]))
                for (v, e), row in zip(first, rows, strict=True)
                if e.milestone.id in changed
            ],
        )
    if missed:
        lines = [
            (
                e.milestone.id,
                e.project_id,
                e.responsible_unit_id,
                str(e.milestone.type),
                e.milestone.label,
                e.effective_at,
                v.event_id,
            )
            for v, e in _first_by(missed, lambda e: e.milestone.id)
        ]
        await driver.execute(_MISSED, *_columns(lines, 7))
    based = [(v, e) for v, e in run if e.milestone.baseline_date is not None]
    if based:
        baselines = [
            (e.milestone.id, v.event_id, e.milestone.baseline_date, e.effective_at)
            for v, e in _first_by(based, lambda e: e.milestone.id)
        ]
        await driver.execute(_FIRST_BASELINE, *_columns(baselines, 4))


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
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[]) "
    "AS s (event_id, matter_id, step, layer, at, clocks, clock) "
    "ON CONFLICT DO NOTHING"
)
_BREACH = (
    "INSERT INTO breach_fact (breach_id, kind, subject_id, charged_unit_id, line_id, project_id, clock, "
    "label, breached_at, recorded_at, event_id) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], "
    "$7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING breach_id"
)

_REPORTED = (c.ProblemReported, c.MeetingMatterReported)
_CLOSED = (c.ProblemClosed, c.MeetingMatterClosed)
_BREACHED = (c.ProblemBreached, c.MeetingMatterBreached)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


async def record_matters(session: AsyncSession, run: Run) -> None:
    """:func:`facts.record_matter` for each of ``run``. Set-wise when each matter comes once; a run naming a
    matter twice (its later event depends on what the earlier one wrote) goes one by one."""
    driver = await driver_in_transaction(session)
    if driver is None or len({e.matter_id for _, e in run}) < len(run):
        for envelope, event in run:
            await facts.record_matter(session, envelope, event)
        return
    matters = []
    steps = []
    breaches = []
    late: list[_Late] = []
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
            late.append((v, at, _period_ids([local_date(at)])))
    await driver.execute(_MATTER, *_columns(matters, 14))
    await driver.execute(_STEP, *_columns(steps, 7))
    if breaches:
        # A breach told twice in the run (two events, one breach id) is recorded, and rechecked, once.
        first = list({row[0]: row for row in reversed(breaches)}.values())
        new = {row[0] for row in await driver.fetch(_BREACH, *_columns(first, 11))}
        by_event = {v.event_id: v for v, _ in run}
        late.extend(
            (by_event[row[10]], row[9], _period_ids([local_date(row[8])])) for row in first if row[0] in new
        )
    await _recheck_many(driver, late)
