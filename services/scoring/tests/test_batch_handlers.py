"""The scoring handlers for a run of events (``Subscription.handler_many``, lkg.scoring.facts_batch) have
exactly the effect of the one-by-one handlers applied in order: the inbox applies a batch that failed again
event by event, so both must leave the same facts. Checked on real migrated databases, table by table, over
runs with repeated events, repeated keys told by other events, stale copies and shuffled orders, with a
closed period so that late facts leave rechecks; and through the consumer itself, a batch that fails and
is applied again one by one."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest_asyncio
import sqlalchemy as sa
from scoring_world import Org, Problem, at, investment, project

from lkg.common.db import Database, migrate
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.events.inbox import Subscription, runs
from lkg.scoring import handlers
from lkg.scoring.app import SPEC
from lkg.scoring.models import FACT_TABLES, period, project_copy
from lkg.scoring.periods import period_id

ON = date(2020, 5, 18)
MAY = period_id("month", date(2020, 5, 1))
LATE = at(date(2020, 6, 10))  # after May's cut-off (June 3)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def dbs(db_factory):
    """One database per way of applying: one by one, runs by subscription, runs by batch function (longer,
    mixed runs), and as the inbox orders a batch (by order group, then runs by batch function)."""
    databases = [
        Database(await db_factory.fresh("scoring", lambda url: migrate(SPEC.migrations, url)))
        for _ in range(4)
    ]
    yield databases
    for database in databases:
        await database.dispose()


_BY_EVENT: dict[type, Subscription] = {s.event: s for s in handlers.SUBSCRIPTIONS}


def _runs(envelopes: Sequence[Envelope], key: Any) -> list[list[tuple[Envelope, Any]]]:
    """Consecutive events with a many-handler and the same ``key(subscription)``, as runs; others alone."""
    runs: list[list[tuple[Envelope, Any]]] = []
    last = None
    for envelope in envelopes:
        event = envelope.event()
        sub = _BY_EVENT[type(event)]
        k = key(sub) if sub.handler_many is not None else object()
        if runs and k == last:
            runs[-1].append((envelope, event))
        else:
            runs.append([(envelope, event)])
        last = k
    return runs


async def _apply(db: Database, envelopes: Sequence[Envelope], grouping: str) -> None:
    async with db.transaction() as session:
        if grouping == "one by one":
            for envelope in envelopes:
                event = envelope.event()
                await _BY_EVENT[type(event)].handler(session, envelope, event)
            return
        if grouping == "as the inbox":
            todo = [(_BY_EVENT[type(event)], (envelope, event)) for envelope, event in _events(envelopes)]
            for sub, run in runs(todo):
                if sub.handler_many is None:
                    for envelope, event in run:
                        await sub.handler(session, envelope, event)
                else:
                    await sub.handler_many(session, run)
            return
        key = (lambda s: id(s)) if grouping == "by subscription" else (lambda s: s.handler_many)
        for run in _runs(envelopes, key):
            sub = _BY_EVENT[type(run[0][1])]
            if sub.handler_many is None:
                await sub.handler(session, *run[0])
            else:
                await sub.handler_many(session, run)


def _events(envelopes: Sequence[Envelope]) -> list[tuple[Envelope, Any]]:
    return [(envelope, envelope.event()) for envelope in envelopes]


async def _reset(db: Database) -> None:
    async with db.transaction() as session:
        for table in (*FACT_TABLES, project_copy, period):
            await session.execute(sa.delete(table))
        for kind, start, end in (
            ("month", date(2020, 5, 1), date(2020, 5, 31)),
            # A quarter whose cut-off (June 5) is before the late facts too (June 10): they are in June.
            ("quarter", date(2020, 4, 1), date(2020, 6, 30)),
        ):
            cut_off = at(date(2020, 6, 3 if kind == "month" else 5), 0)
            await session.execute(
                sa.insert(period).values(
                    id=period_id(kind, start),
                    kind=kind,
                    start=start,
                    end=end,
                    state="published",
                    rule_version=1,
                    closes_at=cut_off,
                    as_of=cut_off,
                    revision=2,
                    updated_at=cut_off,
                )
            )


async def _facts(db: Database) -> dict[str, list]:
    """Every fact table, and the read copy but for when it was written (the wall clock)."""
    copy = sa.select(*(column for column in project_copy.c if column.name != "updated_at"))
    async with db.sessions() as session:
        return {
            table.name: sorted((tuple(row) for row in (await session.execute(select)).all()), key=repr)
            for table, select in [(t, sa.select(t)) for t in FACT_TABLES] + [(project_copy, copy)]
        }


def _history() -> list[Envelope]:
    """A month of facts with everything a redelivery or a reordering can do to them."""
    org = Org([("金银湖街", "street"), ("区行政审批局", "department"), ("区自然资源局", "department")])
    p1 = project(org, "金银湖街", "甲项目", 签约=date(2020, 5, 20), 开工=date(2020, 5, 10))
    p2 = project(org, "金银湖街", "乙项目", 供地=date(2020, 5, 25))
    stray = project(org, "金银湖街", "未登记项目", 签约=date(2020, 5, 12))  # never registered here
    p3 = project(org, "金银湖街", "丙项目", 竣工=date(2020, 5, 15))
    registered = [p1.registered(), p2.registered(), p3.registered()]
    replanned = p1.replanned(at(date(2020, 5, 8)), "开工", date(2020, 5, 12))  # the baseline stays
    # A new baseline (it should not happen, but the registry may tell it), told after May's cut-off.
    p3.milestones["竣工"] = (p3.milestones["竣工"][0], date(2020, 5, 28))
    rebased = p3.replanned(LATE, "竣工", date(2020, 5, 28))
    signed = p1.achieved("签约", date(2020, 5, 18), at(date(2020, 5, 18)))
    signed_late = p1.achieved("签约", date(2020, 5, 19), LATE)  # another report of the same milestone
    started_late = p1.achieved("开工", date(2020, 5, 11), LATE)
    missed = [
        c.MilestoneMissed(
            effective_at=at(d),
            project_id=p.id,
            project_name=p.name,
            responsible_unit_id=p.unit.id,
            milestone=c.MilestoneSnapshot(
                id=p.milestones[label][0],
                type="other",
                label=label,
                planned_date=p.milestones[label][1],
                baseline_date=p.milestones[label][1],
            ),
        )
        for p, label, d in ((p1, "开工", date(2020, 5, 11)), (p2, "供地", date(2020, 5, 26)))
    ]
    again = missed[1].model_copy(update={"effective_at": at(date(2020, 5, 27))})
    r1 = investment(p1, 5, "100.00", at(date(2020, 5, 25)))
    r1_stale = r1.model_copy(update={"amount": Decimal("90.00"), "effective_at": at(date(2020, 5, 24))})
    r2 = investment(p2, 5, "50.50", LATE)
    r3 = investment(p1, 5, "120.00", LATE, supersedes=r1.report_id)

    x = Problem(org, p1, "区行政审批局", "施工许可未办结")
    reply = x.clock("reply", at(date(2020, 5, 4)), at(date(2020, 5, 9), 0))
    x_breach, x_escalated = x.breached_and_escalated(reply)
    x_breach_late = x_breach.model_copy(update={"effective_at": LATE})  # same breach id, told late
    x_events = [
        x.reported(at(date(2020, 5, 4)), reply),
        x.accepted(at(date(2020, 5, 5)), reply),
        x_breach,
        x_escalated,
        x.answered(at(date(2020, 5, 12))),
        *x.closed(LATE),
        x_breach_late,
    ]
    y = Problem(org, p2, "区自然资源局", "用地指标未落实")
    y_reported = y.reported(at(date(2020, 5, 6)))
    # Rerouted to another unit later on: the unit follows the latest event, whatever the order.
    y_moved = y.accepted(at(date(2020, 5, 8))).model_copy(
        update={"resolving_unit_id": org["区行政审批局"].id, "resolving_unit_name": "区行政审批局"}
    )
    y_closed = y.closed(at(date(2020, 5, 30)), outcome="withdrawn")[0]
    y_stale = y_reported.model_copy(update={"effective_at": at(date(2020, 5, 3))})

    enrolment = c.EnrolmentFailed(
        effective_at=LATE,
        project_id=p2.id,
        project_name=p2.name,
        responsible_unit_id=p2.unit.id,
        year=2020,
        month=5,
        reason="未达入库标准",
        reported_by_unit_id=p2.unit.id,
    )
    enrolment_again = enrolment.model_copy(
        update={"reason": "资料不全", "effective_at": at(date(2020, 5, 28))}
    )
    events: list[Any] = [
        enrolment,
        enrolment_again,
        *registered,
        registered[0],  # the same revision told again by another event
        replanned,
        rebased,
        signed,
        signed_late,
        started_late,
        *missed,
        again,
        stray.achieved("签约", date(2020, 5, 12), LATE),
        r1,
        r1_stale,
        r2,
        r3,
        *x_events,
        y_reported,
        y_moved,
        y_closed,
        y_stale,
    ]
    envelopes = [Envelope.wrap(e) for e in events]
    # A few events delivered twice (the same event id), as a redelivery would.
    return [*envelopes, envelopes[2], envelopes[8], envelopes[12], envelopes[-1]]


async def test_runs_have_the_effect_of_one_by_one_over_shuffled_histories(dbs):
    history = _history()
    orders = [history, list(reversed(history))]
    rng = random.Random(13)
    for _ in range(6):
        orders.append(rng.sample(history, len(history)))
    # Runs of one kind, as a rebuild's stream has them: all the investments, then all the matters...
    orders.append(sorted(history, key=lambda v: v.type))
    checked = 0
    for order in orders:
        results = []
        groupings = ("one by one", "by subscription", "by function", "as the inbox")
        for db, grouping in zip(dbs, groupings, strict=True):
            await _reset(db)
            await _apply(db, order, grouping)
            results.append(await _facts(db))
        assert results[1] == results[0]
        assert results[2] == results[0]
        assert results[3] == results[0]
        checked += sum(len(rows) for rows in results[0].values())
    # The histories did write facts, rechecks among them (late facts about May).
    assert results[0]["period_recheck"] and results[0]["breach_fact"] and results[0]["milestone_baseline"]
    assert {row[2] for row in results[0]["period_recheck"]} >= {
        "project.changed",
        "milestone.achieved",
        "problem.closed",
        "enrolment.failed",
    }
    assert checked > 0


async def test_first_told_stands_in_a_run(dbs):
    """Within one run: the first report of an investment stands, a breach told twice is one."""
    db = dbs[1]
    await _reset(db)
    history = [v for v in _history() if not v.type.startswith("project.")]
    await _apply(db, sorted(history, key=lambda v: v.type), "by function")
    facts = await _facts(db)
    investments = {row[0]: row for row in facts["investment_fact"]}
    assert sorted(str(row[5]) for row in investments.values()) == ["100.00", "120.00", "50.50"]
    # The breach as first told (on time, no recheck); its late copy changes nothing.
    ((*_, breached_at, recorded_at, _event_id),) = facts["breach_fact"]
    assert breached_at == recorded_at == at(date(2020, 5, 9), 0)
    assert {row[2] for row in facts["period_recheck"]} == {
        "milestone.achieved",
        "problem.closed",
        "enrolment.failed",
    }


async def test_a_failing_batch_is_applied_again_one_by_one_with_the_same_facts(dbs, nats_url):
    """Through the consumer: a batch with a poisoned event fails as a whole (its many-handler run included)
    and is applied again message by message; the facts are those of the one-by-one handlers."""
    from lkg.common.events.bus import Names, connect, ensure_streams
    from lkg.common.events.inbox import ConsumerOptions, EventConsumer

    history = _history()
    reference, through = dbs[0], dbs[2]
    for db in (reference, through):
        await _reset(db)
    await _apply(reference, history, "one by one")
    names = Names(f"batchh{uuid.uuid4().hex[:8]}")
    nc = await connect(nats_url, name="test-batch-handlers")
    js = nc.jetstream()
    await ensure_streams(js, names)

    p = project(Org([("金银湖街", "street")]), "金银湖街", "丁项目", 签约=date(2020, 5, 20))
    failing = Envelope.wrap(p.achieved("签约", ON, at(ON)))

    def poisoned(sub: Subscription) -> Subscription:
        """``sub``, but failing on the poisoned event, alone or in a run (which then fails as a whole)."""

        async def handler(session: Any, envelope: Envelope, event: Any) -> None:
            if envelope.event_id == failing.event_id:
                raise RuntimeError("poisoned")
            await sub.handler(session, envelope, event)

        async def handler_many(session: Any, run: Any) -> None:
            assert sub.handler_many is not None
            if any(envelope.event_id == failing.event_id for envelope, _ in run):
                raise RuntimeError("poisoned")
            await sub.handler_many(session, run)

        return dataclasses.replace(sub, handler=handler, handler_many=handler_many)

    subscriptions = [poisoned(s) if s.event is c.MilestoneAchieved else s for s in handlers.SUBSCRIPTIONS]
    consumer = EventConsumer(
        consumer="scoring",
        db=through,
        nc=nc,
        js=js,
        names=names,
        subscriptions=subscriptions,
        options=ConsumerOptions(batch_size=1000, max_deliver=1, backoff_seconds=(0.0,)),
    )
    await consumer.ensure()
    try:
        sent = [*history[:20], failing, *history[20:]]
        for envelope in sent:
            await js.publish(
                names.subject(envelope.subject()),
                envelope.to_bytes(),
                headers={"Nats-Msg-Id": str(envelope.event_id)},
            )
        outcomes: list[Any] = []
        for stream in {names.stream(s.event.producer) for s in subscriptions}:
            psub = await js.pull_subscribe_bind(durable="scoring", stream=stream)
            try:
                msgs = await psub.fetch(1000, timeout=2.0)
            except TimeoutError:
                continue
            outcomes += await consumer.process(msgs)
        assert [o.status for o in outcomes].count("failed") == 1
        assert len([o for o in outcomes if o.status == "applied"]) == len({v.event_id for v in history})
        assert await _facts(through) == await _facts(reference)
    finally:
        await nc.close()
