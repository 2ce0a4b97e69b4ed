"""Facts fed from events (lkg.scoring.facts via the handlers), on a real migrated scoring database: a
repeated or stale event changes nothing, and a late one leaves a recheck for the closed period it concerns."""

from __future__ import annotations

import uuid
from datetime import date

import pytest_asyncio
import sqlalchemy as sa
from scoring_world import Org, at, problem_breached, project, stalled

from lkg.common.db import Database, migrate
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.scoring import handlers
from lkg.scoring.app import SPEC
from lkg.scoring.models import (
    breach_fact,
    enrolment_fact,
    matter_fact,
    milestone_baseline,
    milestone_fact,
    period,
    period_recheck,
    red_card_fact,
)
from lkg.scoring.periods import period_id

ON = date(2020, 5, 18)


@pytest_asyncio.fixture(loop_scope="session")
async def db(db_factory):
    database = Database(await db_factory.fresh("scoring", lambda url: migrate(SPEC.migrations, url)))
    yield database
    await database.dispose()


_BY_EVENT = {s.event: s.handler for s in handlers.SUBSCRIPTIONS}


async def deliver(db: Database, *envelopes: Envelope) -> None:
    """Each envelope through its handler, in order, as the inbox would (one transaction)."""
    async with db.transaction() as session:
        for envelope in envelopes:
            event = envelope.event()
            await _BY_EVENT[type(event)](session, envelope, event)


async def rows(db: Database, table: sa.Table) -> list:
    async with db.sessions() as session:
        return list((await session.execute(sa.select(table))).all())


def _org() -> Org:
    return Org([("金银湖街", "street"), ("区行政审批局", "department")])


async def test_a_repeated_achievement_changes_nothing_and_the_first_stands(db):
    org = _org()
    p = project(org, "金银湖街", "甲项目", 签约=date(2020, 5, 20))
    first = Envelope.wrap(p.achieved("签约", ON, at(ON)))
    again = Envelope.wrap(p.achieved("签约", date(2020, 5, 19), at(date(2020, 5, 19))))
    await deliver(db, Envelope.wrap(p.registered()), first, first, again)
    (m,) = await rows(db, milestone_fact)
    assert (m.achieved_on, m.achieved_event_id, m.unit_id) == (ON, first.event_id, org["金银湖街"].id)
    assert [(b.baseline_date, b.milestone_id) for b in await rows(db, milestone_baseline)] == [
        (date(2020, 5, 20), m.milestone_id)
    ]


async def test_a_stale_project_snapshot_does_not_touch_the_baseline(db):
    org = _org()
    p = project(org, "金银湖街", "乙项目", 开工=date(2020, 5, 15))
    registered = p.registered()
    replanned = p.replanned(at(date(2020, 5, 14)), "开工", date(2020, 6, 15))
    # The re-plan arrives first; the older registration comes after it and must change nothing.
    await deliver(db, Envelope.wrap(replanned), Envelope.wrap(registered))
    baselines = [b.baseline_date for b in await rows(db, milestone_baseline)]
    assert baselines == [date(2020, 5, 15)]


async def test_a_closure_is_never_reopened_by_a_stale_report(db):
    org = _org()
    p = project(org, "金银湖街", "丙项目")
    reported, breached = problem_breached(
        org, "区行政审批局", p, "施工许可未办结", at(date(2020, 5, 6)), at(date(2020, 5, 9), 0)
    )
    closed = c.ProblemClosed(
        effective_at=at(date(2020, 5, 20)),
        matter_id=reported.matter_id,
        title=reported.title,
        layer=1,
        line_id=org.line,
        resolving_unit_id=org["区行政审批局"].id,
        resolving_unit_name="区行政审批局",
        project_id=p.id,
        project_name=p.name,
        outcome="resolved",
        closed_by_unit_id=org["区行政审批局"].id,
    )
    envelopes = [Envelope.wrap(e) for e in (closed, breached, reported, breached)]
    await deliver(db, *envelopes)
    (m,) = await rows(db, matter_fact)
    assert (m.outcome, m.closed_at, m.reported_at) == (
        "resolved",
        at(date(2020, 5, 20)),
        at(date(2020, 5, 6)),
    )
    assert m.resolving_unit_id == org["区行政审批局"].id
    assert [(b.charged_unit_id, b.clock) for b in await rows(db, breach_fact)] == [
        (org["区行政审批局"].id, "reply")
    ]


async def test_an_approval_stall_told_twice_is_one_breach(db):
    org = _org()
    p = project(org, "金银湖街", "丁项目")
    stall = stalled(org, "区行政审批局", p, at(date(2020, 5, 20)))
    again = stall.model_copy(update={"effective_at": at(date(2020, 5, 22)), "days_over": 3})
    await deliver(db, Envelope.wrap(p.registered()), Envelope.wrap(stall), Envelope.wrap(again))
    assert [(b.kind, b.charged_unit_id, b.breached_at) for b in await rows(db, breach_fact)] == [
        ("approval", org["区行政审批局"].id, at(date(2020, 5, 20)))
    ]


async def test_enrolment_failure_once_per_project_and_month(db):
    org = _org()
    p = project(org, "金银湖街", "戊项目")
    failed = c.EnrolmentFailed(
        effective_at=at(date(2020, 6, 28)),
        project_id=p.id,
        project_name=p.name,
        responsible_unit_id=org["金银湖街"].id,
        year=2020,
        month=5,
        reason="未达入库标准",
        reported_by_unit_id=uuid.uuid4(),
    )
    await deliver(db, Envelope.wrap(failed), Envelope.wrap(failed.model_copy(update={"reason": "重报"})))
    assert [(e.year, e.month, e.reason) for e in await rows(db, enrolment_fact)] == [
        (2020, 5, "未达入库标准")
    ]


async def test_a_withdrawn_card_is_not_reverted_by_a_late_issue(db):
    org = _org()
    common = {
        "red_card_id": uuid.uuid4(),
        "target": c.RedCardTarget(unit_id=org["金银湖街"].id, unit_name="金银湖街", kind="responsible_unit"),
        "source": "ranking",
        "reason": "bottom_of_ranking",
        "period": c.Period(kind="month", start=date(2020, 5, 1), end=date(2020, 5, 31)),
        "request_id": uuid.uuid4(),
        "evidence": (c.EvidenceRef(kind="ranking", note="第6名"),),
    }
    issued = c.RedCardIssued(effective_at=at(date(2020, 6, 4)), **common)
    dismissed = c.RedCardDismissed(
        effective_at=at(date(2020, 6, 12)),
        dismissal_reason="不予认定",
        dismissed_by_person_id=uuid.uuid4(),
        **common,
    )
    await deliver(db, Envelope.wrap(dismissed), Envelope.wrap(issued))
    assert [(r.state, r.reason) for r in await rows(db, red_card_fact)] == [("dismissed", "不予认定")]


async def test_a_supervision_card_withdrawn_before_its_issue_arrives_keeps_both_times(db):
    org = _org()
    common = {
        "red_card_id": uuid.uuid4(),
        "target": c.RedCardTarget(unit_id=org["金银湖街"].id, unit_name="金银湖街", kind="responsible_unit"),
        "source": "supervision",
        "reason": "not_enrolled",
        "period": c.Period(kind="month", start=date(2020, 5, 1), end=date(2020, 5, 31)),
        "supervision_round_id": uuid.uuid4(),
        "evidence": (c.EvidenceRef(kind="project", note="甲项目：未通过审核入库"),),
    }
    issued = Envelope.wrap(c.RedCardIssued(effective_at=at(date(2020, 5, 26)), **common))
    withdrawn = Envelope.wrap(
        c.RedCardWithdrawn(
            effective_at=at(date(2020, 6, 10)),
            withdrawal_reason="复核已入库",
            withdrawn_by_person_id=uuid.uuid4(),
            **common,
        )
    )
    # Relayed out of order, and the issue twice: the card stays withdrawn and knows when it was issued.
    await deliver(db, withdrawn, issued, issued)
    [r] = await rows(db, red_card_fact)
    assert (r.state, r.reason, r.card_reason, r.target_kind, r.note) == (
        "withdrawn",
        "复核已入库",
        "not_enrolled",
        "responsible_unit",
        "甲项目：未通过审核入库",
    )
    assert (r.issued_at, r.issued_event_id) == (at(date(2020, 5, 26)), issued.event_id)
    assert (r.withdrawn_at, r.withdrawn_event_id) == (at(date(2020, 6, 10)), withdrawn.event_id)


async def test_a_fact_recorded_after_a_cut_off_leaves_one_recheck(db):
    org = _org()
    p = project(org, "金银湖街", "己项目", 签约=date(2020, 5, 20))
    may = period_id("month", date(2020, 5, 1))
    async with db.transaction() as session:
        await session.execute(
            sa.insert(period).values(
                id=may,
                kind="month",
                start=date(2020, 5, 1),
                end=date(2020, 5, 31),
                state="published",
                rule_version=1,
                closes_at=at(date(2020, 6, 3), 0),
                as_of=at(date(2020, 6, 3), 0),
                revision=2,
                updated_at=at(date(2020, 6, 3), 0),
            )
        )
    late = Envelope.wrap(p.achieved("签约", ON, at(date(2020, 6, 10))))
    await deliver(db, Envelope.wrap(p.registered()), late, late)
    assert [(r.period_id, r.event_id, r.event_type) for r in await rows(db, period_recheck)] == [
        (may, late.event_id, "milestone.achieved")
    ]


async def test_a_late_fact_applied_before_its_period_closed_is_still_rechecked(db):
    """The handler saw no period (it was being proposed in another transaction): proposing the period
    sweeps the facts recorded after its cut-off, and the proposal moves to the late fact."""
    from lkg.common.calendar import WorkingCalendar
    from lkg.scoring import proposals

    org = _org()
    p = project(org, "金银湖街", "庚项目", 签约=date(2020, 8, 20))
    late = Envelope.wrap(p.achieved("签约", date(2020, 8, 19), at(date(2020, 9, 10))))
    await deliver(db, Envelope.wrap(p.registered()), late)
    async with db.transaction() as session:
        august = await proposals.propose_next(
            session,
            c.PeriodKind.MONTH,
            until=at(date(2020, 9, 11)),
            calendar=WorkingCalendar(),
            earliest=date(2020, 8, 1),
        )
    assert (august.start, august.as_of) == (date(2020, 8, 1), at(date(2020, 9, 3), 0))
    assert [(r.period_id, r.event_id) for r in await rows(db, period_recheck)] == [(august.id, late.event_id)]
    async with db.transaction() as session:
        recheck = await proposals.next_recheck(session, at(date(2020, 9, 11)))
        assert await proposals.apply_recheck(session, recheck) is True
    (refreshed,) = [r for r in await rows(db, period) if r.id == august.id]
    assert (refreshed.as_of, refreshed.revision) == (at(date(2020, 9, 10)), 2)
