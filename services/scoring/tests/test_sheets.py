"""The figures of a period (lkg.scoring.sheets) on a real migrated scoring database: the milestones and the
matters of each subject, folded by one statement each on the session's asyncpg connection, are what the
plain statements and the fold in Python give (the reference below, how sheets.py computed them before),
over shuffled histories: re-planned baselines recorded before and after the cut-off, achievements on time,
late, ahead and unknown at the cut-off, matters closed in and out of the span with each outcome, breaches
recorded late, subjects missing from the org copy, and red cards that leave a unit carded with nothing
else due. The whole sheets are also the same through SQLAlchemy (a session on another driver)."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import end_of_day, local_date
from lkg.common.clock import TZ
from lkg.common.db import Database, migrate
from lkg.common.events.contracts import EvaluationSubject, PeriodKind
from lkg.scoring import sheets
from lkg.scoring.app import SPEC
from lkg.scoring.evidence import Evidence
from lkg.scoring.models import (
    breach_fact,
    matter_fact,
    milestone_baseline,
    milestone_fact,
    org_copy,
    red_card_fact,
)
from lkg.scoring.periods import Span, span_containing
from lkg.scoring.rules import RuleBook, current_rules

UNITS = [uuid.UUID(int=0x100 + i) for i in range(6)]
NAMED = UNITS[:4]  # the last two are not in the org copy: their sheets are labelled with their id
CARDED_ONLY = uuid.UUID(int=0x1FF)  # a supervision card and nothing else in June
LINES = [uuid.UUID(int=0x200 + i) for i in range(2)]
SPANS = [span_containing(PeriodKind.MONTH, date(2020, m, 1)) for m in (4, 5, 6, 7)] + [
    span_containing(PeriodKind.QUARTER, date(2020, m, 1)) for m in (4, 7)
]


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


def _day(rng: random.Random, first: date = date(2020, 3, 20), days: int = 150) -> date:
    return first + timedelta(days=rng.randrange(days))


def _history(seed: int) -> dict[Any, list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for i, unit in enumerate([*NAMED, CARDED_ONLY]):
        rows[org_copy.units].append(
            {
                "id": unit,
                "revision": 1,
                "valid_from": date(2020, 1, 1),
                "name": f"单位{i}",
                "kind": "street",
                "roles": [],
                "entry": {},
            }
        )
    for n in range(80):
        mid = uuid.UUID(int=(1 << 64) + seed * 1000 + n)
        achieved = _day(rng) if rng.random() < 0.7 else None
        achieved_at = _at(achieved + timedelta(days=rng.choice([0, 0, 1, 5, 40]))) if achieved else None
        rows[milestone_fact].append(
            {
                "milestone_id": mid,
                "project_id": uuid.uuid4(),
                "unit_id": rng.choice(UNITS),
                "line_id": rng.choice([*LINES, None]),
                "type": "other",
                "label": rng.choice(["开工", "主体封顶", "竣工"]),  # equal labels: ordered by id
                "achieved_on": achieved,
                "achieved_at": achieved_at,
                "achieved_event_id": uuid.uuid4() if achieved else None,
                "missed_at": None,
                "missed_event_id": uuid.uuid4() if rng.random() < 0.3 else None,
            }
        )
        recorded = _at(date(2020, 1, 2))
        for _ in range(rng.choice([1, 1, 2, 3])):  # re-planned baselines, some after a cut-off
            rows[milestone_baseline].append(
                {
                    "milestone_id": mid,
                    "event_id": uuid.uuid4(),
                    "baseline_date": _day(rng),
                    "recorded_at": recorded,
                }
            )
            recorded += timedelta(days=rng.randrange(1, 90), hours=rng.randrange(24))
    for n in range(60):
        reported = _at(_day(rng), rng.randrange(24)) if rng.random() < 0.9 else None
        closed = (
            reported + timedelta(days=rng.randrange(80), hours=rng.randrange(24))
            if reported and rng.random() < 0.7
            else None
        )
        if n == 1:  # closed at the first moment of June: in June, not before it
            reported, closed = _at(date(2020, 5, 20)), datetime(2020, 6, 1, tzinfo=TZ)
        rows[matter_fact].append(
            {
                "matter_id": uuid.UUID(int=(2 << 64) + seed * 1000 + n),
                "kind": rng.choice(["problem", "meeting_matter"]),
                "title": f"事项{n % 7}",
                "project_id": None,
                "line_id": rng.choice([*LINES, None]),
                "resolving_unit_id": rng.choice([*UNITS, None]),
                "resolving_unit_name": None,
                "unit_at": reported or _at(date(2020, 1, 2)),
                # the same moment for two matters: ordered by id
                "reported_at": reported if n % 9 else _at(date(2020, 6, 3)),
                "reported_event_id": uuid.uuid4(),
                "closed_at": closed,
                "closed_event_id": uuid.uuid4() if closed else None,
                "outcome": rng.choice(["resolved", "resolved", "returned", "withdrawn"]) if closed else None,
                "closed_by_unit_id": None,
            }
        )
    for n in range(40):
        breached = _at(_day(rng), rng.choice([0, 9, 23]))
        if n < 2:  # the first moment of a month belongs to it
            breached = datetime(2020, 6 + n, 1, tzinfo=TZ)
        rows[breach_fact].append(
            {
                "breach_id": uuid.UUID(int=(3 << 64) + seed * 1000 + n),
                "kind": "problem",
                "subject_id": uuid.uuid4(),
                "charged_unit_id": rng.choice(UNITS),
                "line_id": rng.choice([*LINES, None]),
                "project_id": None,
                "clock": "reply",
                "label": f"答复超时{n}",
                "breached_at": breached,
                "recorded_at": breached + timedelta(days=rng.choice([0, 0, 3, 30])),
                "event_id": uuid.uuid4(),
            }
        )
    for n, (unit, reason, kind, withdrawn) in enumerate(
        [
            (CARDED_ONLY, "behind_schedule", "responsible_unit", None),
            (UNITS[0], "meeting_matter_overdue", "responsible_unit", _at(date(2020, 7, 1))),
            (UNITS[5], "no_real_progress", "responsible_unit", None),
            (UNITS[4], "not_enrolled", "approval_department", None),
        ]
    ):
        rows[red_card_fact].append(
            {
                "red_card_id": uuid.UUID(int=(4 << 64) + seed * 1000 + n),
                "state": "withdrawn" if withdrawn else "issued",
                "source": "supervision",
                "target_unit_id": unit,
                "target_unit_name": "-",
                "period_kind": "month",
                "period_start": date(2020, 6, 1),
                "reason": "核实有误" if withdrawn else None,
                "updated_at": _at(date(2020, 6, 29)),
                "event_id": uuid.uuid4(),
                "card_reason": reason,
                "target_kind": kind,
                "issued_at": _at(date(2020, 6, 29)),
                "issued_event_id": uuid.uuid4(),
                "withdrawn_at": withdrawn,
                "withdrawn_event_id": uuid.uuid4() if withdrawn else None,
            }
        )
    return rows


@pytest_asyncio.fixture(loop_scope="session", scope="module", params=[1, 2, 3])
async def db(request, db_factory):
    database = Database(await db_factory.fresh("scoring", lambda url: migrate(SPEC.migrations, url)))
    async with database.transaction() as session:
        for table, rows in _history(request.param).items():
            await session.execute(sa.insert(table), rows)
    yield database
    await database.dispose()


def _cut_offs(span: Span) -> list[datetime]:
    end = end_of_day(span.end)
    return [end - timedelta(days=12), end, end + timedelta(days=2, hours=7), end + timedelta(days=200)]


# ---- the reference: plain statements and the fold in Python -------------------------------------------


async def _names(session: AsyncSession, key: str) -> dict[UUID, str]:
    if key == "line_id":
        return {}
    u = org_copy.units
    return dict((await session.execute(sa.select(u.c.id, u.c.name))).all())


async def _reference_milestones(
    session: AsyncSession, span: Span, as_of: datetime, key: str
) -> dict[UUID, sheets._Milestones]:
    b = milestone_baseline
    latest = (
        sa.select(b.c.milestone_id, b.c.baseline_date, b.c.event_id.label("baseline_event_id"))
        .where(b.c.recorded_at <= as_of)
        .ext(distinct_on(b.c.milestone_id))
        .order_by(b.c.milestone_id, b.c.recorded_at.desc())
        .subquery()
    )
    m = milestone_fact
    rows = (
        await session.execute(
            sa.select(m, latest.c.baseline_date, latest.c.baseline_event_id)
            .join(latest, latest.c.milestone_id == m.c.milestone_id)
            .where(
                sa.or_(
                    latest.c.baseline_date.between(span.start, span.end),
                    sa.and_(
                        m.c.achieved_at.is_not(None),
                        m.c.achieved_at <= as_of,
                        m.c.achieved_on.between(span.start, span.end),
                        latest.c.baseline_date > span.end,
                    ),
                )
            )
            .order_by(latest.c.baseline_date, m.c.label, m.c.milestone_id)
        )
    ).all()
    names = await _names(session, key)
    out: dict[UUID, sheets._Milestones] = {}
    for r in rows:
        subject = getattr(r, key)
        if subject is None:
            continue
        acc = out.setdefault(subject, sheets._Milestones(name=names.get(subject)))
        known = r.achieved_at is not None and r.achieved_at <= as_of
        baseline: date = r.baseline_date
        if baseline > span.end:
            acc.ahead += 1
            note, counts = f"{baseline.isoformat()}，{r.achieved_on.isoformat()}提前完成", "ahead"
        else:
            acc.due += 1
            if known and r.achieved_on <= baseline:
                acc.on_time += 1
                note, counts = f"{baseline.isoformat()}，{r.achieved_on.isoformat()}完成，按期", "on_time"
            elif known:
                note, counts = f"{baseline.isoformat()}，{r.achieved_on.isoformat()}完成，逾期", "missed"
            else:
                note, counts = f"{baseline.isoformat()}，至{local_date(as_of).isoformat()}未完成", "missed"
        event = r.achieved_event_id if known else (r.missed_event_id or r.baseline_event_id)
        acc.evidence.append(Evidence("milestone", r.milestone_id, event, f"{r.label}：基线{note}", counts))
    return out


async def _reference_matters(
    session: AsyncSession, span: Span, as_of: datetime, key: str
) -> dict[UUID, sheets._Matters]:
    start, end = datetime.combine(span.start, datetime.min.time(), tzinfo=TZ), end_of_day(span.end)
    m = matter_fact
    closed_known = sa.and_(m.c.closed_at.is_not(None), m.c.closed_at <= as_of)
    rows = (
        await session.execute(
            sa.select(m)
            .where(
                m.c.reported_at.is_not(None),
                m.c.reported_at <= as_of,
                m.c.reported_at < end,
                sa.not_(sa.and_(closed_known, m.c.closed_at < start)),
            )
            .order_by(m.c.reported_at, m.c.matter_id)
        )
    ).all()
    names = await _names(session, key)
    out: dict[UUID, sheets._Matters] = {}
    for r in rows:
        subject = r.resolving_unit_id if key == "resolving_unit_id" else r.line_id
        if subject is None:
            continue
        acc = out.setdefault(subject, sheets._Matters(name=names.get(subject)))
        label = "问题" if r.kind == "problem" else "会议议定事项"
        closed_in = r.closed_at is not None and r.closed_at <= as_of and r.closed_at < end
        if closed_in and r.outcome == "resolved":
            acc.closed += 1
            note = f"{label}“{r.title}”{local_date(r.closed_at).isoformat()}销号"
            acc.evidence.append(Evidence(r.kind, r.matter_id, r.closed_event_id, note, "closed"))
        elif closed_in:
            acc.not_counted += 1
            outcome = {"returned": "不予受理退回", "withdrawn": "撤回（含合并）"}[r.outcome]
            note = f"{label}“{r.title}”{outcome}，不计"
            acc.evidence.append(Evidence(r.kind, r.matter_id, r.closed_event_id, note, "not_counted"))
        else:
            acc.open += 1
            note = f"{label}“{r.title}”至{span.end.isoformat()}未销号"
            acc.evidence.append(Evidence(r.kind, r.matter_id, r.reported_event_id, note, "open"))
    b = breach_fact
    breaches = (
        await session.execute(
            sa.select(b)
            .where(b.c.breached_at >= start, b.c.breached_at < end, b.c.recorded_at <= as_of)
            .order_by(b.c.breached_at, b.c.breach_id)
        )
    ).all()
    for r in breaches:
        subject = r.charged_unit_id if key == "resolving_unit_id" else r.line_id
        if subject is None:
            continue
        acc = out.setdefault(subject, sheets._Matters(name=names.get(subject)))
        acc.breaches += 1
        note = f"{r.label}（{local_date(r.breached_at).isoformat()}）"
        acc.evidence.append(Evidence("breach", r.breach_id, r.event_id, note, "breach"))
    return out


# ---- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("span", SPANS, ids=lambda s: f"{s.kind}-{s.start}")
async def test_milestones_and_matters_are_what_the_plain_statements_and_fold_give(db, span):
    monthly = span.kind is PeriodKind.MONTH
    seen = 0
    async with db.sessions() as session:
        for as_of in _cut_offs(span):
            key = "unit_id" if monthly else "line_id"
            got = await sheets._milestones(session, span, as_of, key)
            assert got == await _reference_milestones(session, span, as_of, key)
            key = "resolving_unit_id" if monthly else "line_id"
            matters = await sheets._matters(session, span, as_of, key)
            assert matters == await _reference_matters(session, span, as_of, key)
            seen += sum(len(a.evidence) for a in [*got.values(), *matters.values()])
    assert seen > 20  # the history does put facts in every span


async def test_the_sheets_are_the_same_through_sqlalchemy(db, monkeypatch):
    rules = RuleBook.model_validate(current_rules()["body"])
    async with db.sessions() as session:
        on_driver = [
            await sheets.compute(session, span, as_of, rules) for span in SPANS for as_of in _cut_offs(span)
        ]

    async def no_driver(session: AsyncSession) -> None:
        return None

    monkeypatch.setattr(sheets, "driver_in_transaction", no_driver)
    async with db.sessions() as session:
        through_sqlalchemy = [
            await sheets.compute(session, span, as_of, rules) for span in SPANS for as_of in _cut_offs(span)
        ]
    assert on_driver == through_sqlalchemy
    assert sum(len(s) for s in on_driver) > 20


async def test_units_are_named_from_the_org_copy_including_one_carded_with_nothing_else(db):
    rules = RuleBook.model_validate(current_rules()["body"])
    june = span_containing(PeriodKind.MONTH, date(2020, 6, 1))
    async with db.sessions() as session:
        computed = await sheets.compute(session, june, end_of_day(date(2020, 7, 2)), rules)
    labels = {(s.subject_kind, s.subject_id): s.subject_label for s in computed}
    assert labels[(EvaluationSubject.RESPONSIBLE_UNIT, CARDED_ONLY)] == "单位4"
    assert labels[(EvaluationSubject.RESPONSIBLE_UNIT, UNITS[5])] == str(UNITS[5])  # not in the copy
    for (_, unit), label in labels.items():
        expected = f"单位{NAMED.index(unit)}" if unit in NAMED else label
        assert label == expected
