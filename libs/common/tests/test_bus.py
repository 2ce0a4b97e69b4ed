"""The event bus on real PostgreSQL and real NATS: outbox, relay, inbox, redelivery, dead letters, replay."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import nats
import pytest
import pytest_asyncio
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.clock import TZ, wall_clock_utc
from lkg.common.db import Database, driver_in_transaction, make_metadata
from lkg.common.events import operations
from lkg.common.events.base import Envelope
from lkg.common.events.bus import Names, ensure_streams
from lkg.common.events.contracts import InvestmentReported
from lkg.common.events.inbox import ConsumerOptions, EventConsumer, Subscription, upsert_if_newer
from lkg.common.events.outbox import stage
from lkg.common.events.relay import OutboxRelay
from lkg.common.testing import eventually

_prefixes = itertools.count(1)

metadata = make_metadata()
effect = sa.Table(
    "effect",
    metadata,
    sa.Column("n", sa.BigInteger, sa.Identity(), primary_key=True),
    # Deliberately no unique constraint: a duplicate application would show as a second row.
    sa.Column("report_id", PG_UUID(as_uuid=True), nullable=False),
)
snapshot_copy = sa.Table(
    "snapshot_copy",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
)


def report(**overrides) -> InvestmentReported:
    values = dict(
        effective_at=datetime(2020, 5, 8, 9, tzinfo=TZ),
        project_id=uuid.uuid4(),
        project_name="测试项目",
        responsible_unit_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        year=2020,
        month=4,
        amount=Decimal("1250000.00"),
        year_to_date=Decimal("3750000.00"),
        reported_by_unit_id=uuid.uuid4(),
    )
    values.update(overrides)
    return InvestmentReported(**values)


@dataclass
class Bus:
    db: Database
    url: str
    nc: nats.NATS
    names: Names

    @property
    def js(self):
        return self.nc.jetstream()

    def relay(self, **kwargs) -> OutboxRelay:
        return OutboxRelay(
            service="test",
            db=self.db,
            js=self.js,
            names=self.names,
            database_url=self.url,
            wall_clock=wall_clock_utc,
            **kwargs,
        )

    def consumer(self, handler, *, name: str = "tester", **options) -> EventConsumer:
        """Call ``await consumer.ensure()`` before reading its backlog."""
        return EventConsumer(
            consumer=name,
            db=self.db,
            nc=self.nc,
            js=self.js,
            names=self.names,
            subscriptions=[Subscription(InvestmentReported, handler)],
            options=ConsumerOptions(
                **{
                    "max_deliver": 3,
                    "backoff_seconds": (0.05, 0.1),
                    "ack_wait_seconds": 5.0,
                    "fetch_timeout": 0.3,
                    **options,
                }
            ),
        )

    async def stream_messages(self, producer: str = "registry") -> int:
        return (await self.js.stream_info(self.names.stream(producer))).state.messages

    async def effects(self) -> list[uuid.UUID]:
        async with self.db.sessions() as session:
            return list((await session.execute(sa.select(effect.c.report_id).order_by(effect.c.n))).scalars())

    async def outbox_rows(self) -> int:
        async with self.db.sessions() as session:
            return (await session.execute(sa.text("SELECT count(*) FROM outbox_event"))).scalar_one()


@pytest_asyncio.fixture(loop_scope="session")
async def bus(db_factory, nats_url, nats_prefix) -> AsyncIterator[Bus]:
    """A database with the bus tables (no outbox trigger, as migrated services have them since their
    ``outbox_wake`` revision), and a stream prefix of its own (per test)."""
    url = await db_factory.empty("bus")
    db = Database(url, pool_size=4)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    nc = await nats.connect(nats_url)
    names = Names(f"{nats_prefix}b{next(_prefixes)}")
    await ensure_streams(nc.jetstream(), names)
    yield Bus(db=db, url=url, nc=nc, names=names)
    await nc.close()
    await db.dispose()
    await db_factory.drop(url)


async def record(session, _envelope: Envelope, event: InvestmentReported) -> None:
    await session.execute(sa.insert(effect).values(report_id=event.report_id))


async def until(predicate, timeout: float = 10.0) -> None:
    """Wait for ``predicate`` (a coroutine function answering True once it holds)."""
    await eventually(predicate, timeout=timeout)


# ---- outbox and relay ------------------------------------------------------------------------------


async def test_only_committed_events_are_published_with_their_id_as_message_id(bus):
    with pytest.raises(RuntimeError):
        async with bus.db.transaction() as session:
            await stage(session, report())
            raise RuntimeError("the state change failed")
    async with bus.db.transaction() as session:
        envelope = await stage(session, report(), correlation_id="req-1")

    assert await bus.relay().drain() == 1
    assert await bus.outbox_rows() == 0
    message = await bus.js.get_last_msg(bus.names.stream("registry"), envelope.subject(bus.names.prefix))
    assert message.headers["Nats-Msg-Id"] == str(envelope.event_id)
    assert Envelope.from_bytes(message.data) == envelope
    assert envelope.correlation_id == "req-1"
    assert await bus.stream_messages() == 1


async def test_stage_writes_on_the_sessions_own_connection_inside_its_transaction(bus):
    """``stage`` sends its insert on the asyncpg connection under the session (not through
    ``session.execute``): the row is in the session's transaction, seen by its next statement, invisible
    to others until the commit, and gone with a rollback whether ``stage`` came first or after another
    statement. If SQLAlchemy's adapter stopped exposing what this needs, ``stage`` would fall back to
    ``session.execute`` unnoticed: the first assertion notices."""
    async with bus.db.transaction() as session:
        assert await driver_in_transaction(session) is not None
    async with bus.db.transaction() as session:
        await stage(session, report())
        own = (await session.execute(sa.text("SELECT count(*) FROM outbox_event"))).scalar_one()
        assert own == 1
        assert await bus.outbox_rows() == 0  # another connection: not committed yet
    assert await bus.outbox_rows() == 1
    for first in (True, False):
        with pytest.raises(RuntimeError):
            async with bus.db.transaction() as session:
                if not first:
                    await session.execute(sa.text("SELECT 1"))
                await stage(session, report())
                raise RuntimeError("the state change failed")
        assert await bus.outbox_rows() == 1
    assert bus.db.engine.sync_engine.pool.checkedout() == 0


async def test_the_relay_is_woken_by_the_commit_not_by_its_poll(bus):
    relay = bus.relay(poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.leading), timeout=2.0)
        async with bus.db.transaction() as session:
            await stage(session, report())
        await until(lambda: _eq(bus.stream_messages(), 1), timeout=2.0)
    finally:
        task.cancel()


async def test_a_commit_wakes_the_relay_only_once_its_outermost_transaction_commits(bus):
    relay = bus.relay(poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.leading), timeout=2.0)
        async with bus.db.transaction() as session:
            async with session.begin_nested():
                await stage(session, report())
            # The savepoint's release is not the commit: nothing is visible to the relay yet.
            await asyncio.sleep(0.2)
            assert await bus.stream_messages() == 0
        await until(lambda: _eq(bus.stream_messages(), 1), timeout=2.0)
    finally:
        task.cancel()


async def test_a_commit_hands_its_rows_to_the_leader_which_publishes_them_without_a_select(bus):
    """The leader looks at the table once when it starts; afterwards a commit in its process hands it the
    rows it staged, in commit order, and the relay publishes them without selecting them again."""
    relay = bus.relay(poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.leading), timeout=2.0)
        await until(lambda: _true(relay.selects == 1), timeout=2.0)
        ids = []
        for _ in range(3):
            async with bus.db.transaction() as session:
                ids += [(await stage(session, report())).event_id for _ in range(2)]
        await until(lambda: _eq(bus.stream_messages(), 6), timeout=2.0)
        assert relay.selects == 1
        assert await _message_ids(bus) == [str(i) for i in ids]
        await until(lambda: _eq(bus.outbox_rows(), 0), timeout=2.0)
    finally:
        task.cancel()


async def test_rows_rolled_back_are_never_handed_to_the_relay(bus):
    """A session whose transaction rolled back, then commits another: only the committed row goes (rows of
    the rolled-back transaction or of a rolled-back savepoint do not exist and must not be published from
    memory). A savepoint's rows are looked for in the table, where only committed ones are."""
    relay = bus.relay(poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.leading), timeout=2.0)
        async with bus.db.sessions() as session:
            await session.begin()
            await stage(session, report())
            await session.rollback()
            await session.begin()
            committed = await stage(session, report())
            await session.commit()
        async with bus.db.transaction() as session:
            kept = await stage(session, report())
            savepoint = await session.begin_nested()
            await stage(session, report())
            await savepoint.rollback()
        await until(lambda: _eq(bus.outbox_rows(), 0), timeout=2.0)
        await asyncio.sleep(0.2)
        assert await _message_ids(bus) == [str(committed.event_id), str(kept.event_id)]
    finally:
        task.cancel()


async def _message_ids(bus) -> list[str]:
    """The Nats-Msg-Id of every message in the registry's stream, in stream order."""
    info = await bus.js.stream_info(bus.names.stream("registry"))
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await bus.js.get_msg(bus.names.stream("registry"), seq)
        ids.append(message.headers["Nats-Msg-Id"])
    return ids


async def test_a_commit_in_a_process_whose_relay_stands_by_wakes_the_leader_over_nats(bus, nats_url):
    """Two processes, as two replicas: each its own engine and NATS connection; polls are an hour long,
    so only the wake-up message can bring the leader to the row."""
    other_db = Database(bus.url, pool_size=2)
    other_nc = await nats.connect(nats_url)
    leader = bus.relay(poll_seconds=3600, nc=bus.nc)
    standby = OutboxRelay(
        service="test",
        db=other_db,
        js=other_nc.jetstream(),
        names=bus.names,
        database_url=bus.url,
        wall_clock=wall_clock_utc,
        poll_seconds=3600,
        nc=other_nc,
    )
    tasks = [asyncio.create_task(leader.run())]
    try:
        await until(lambda: _true(leader.leading), timeout=2.0)
        tasks.append(asyncio.create_task(standby.run()))
        await asyncio.sleep(0.2)  # the standby has tried the lock and is waiting
        assert not standby.leading
        async with other_db.transaction() as session:
            await stage(session, report())
        await until(lambda: _eq(bus.stream_messages(), 1), timeout=2.0)
        await until(lambda: _true(leader.published_total == 1), timeout=2.0)  # confirmed and deleted
        assert standby.published_total == 0
        assert await bus.outbox_rows() == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other_nc.close()
        await other_db.dispose()


async def test_the_leader_waits_for_acks_when_the_client_limits_pending_publishes(bus):
    """A client allowing 3 pending asynchronous publishes, batches of 10 (up to 20 in flight): the leader
    waits for slots as acks arrive instead of failing, and every row goes, in order."""
    async with bus.db.transaction() as session:
        ids = [(await stage(session, report())).event_id for _ in range(60)]
    relay = OutboxRelay(
        service="test",
        db=bus.db,
        js=bus.nc.jetstream(publish_async_max_pending=3),
        names=bus.names,
        database_url=bus.url,
        wall_clock=wall_clock_utc,
        batch_size=10,
    )
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _eq(bus.outbox_rows(), 0))
    finally:
        task.cancel()
    assert relay.published_total == 60
    assert await bus.stream_messages() == 60
    stream = bus.names.stream("registry")
    last = await bus.js.get_last_msg(stream, report().subject(bus.names.prefix))
    assert last.headers["Nats-Msg-Id"] == str(ids[-1])


async def test_acknowledged_rows_are_deleted_a_batch_at_a_time_or_after_the_delete_delay(bus):
    relay = bus.relay(poll_seconds=3600, batch_size=5, delete_delay=3600)
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.leading), timeout=2.0)
        for _ in range(3):
            async with bus.db.transaction() as session:
                await stage(session, report())
        await until(lambda: _eq(bus.stream_messages(), 3), timeout=2.0)
        await asyncio.sleep(0.2)
        # Published and acknowledged, not yet deleted: the rows wait for a batch (or the delay).
        assert (await bus.outbox_rows(), relay.published_total) == (3, 0)
        async with bus.db.transaction() as session:
            for _ in range(2):
                await stage(session, report())
        await until(lambda: _true(relay.published_total == 5), timeout=2.0)
        assert await bus.outbox_rows() == 0
        assert await bus.stream_messages() == 5  # the waiting rows were not published again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # its lock is released before the next leads
    quick = bus.relay(poll_seconds=3600, delete_delay=0.05)
    task = asyncio.create_task(quick.run())
    try:
        async with bus.db.transaction() as session:
            await stage(session, report())
        await until(lambda: _eq(bus.outbox_rows(), 0), timeout=2.0)
    finally:
        task.cancel()


async def _true(value: bool) -> bool:
    return value


async def _eq(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_a_relay_crash_between_publish_and_commit_publishes_nothing_twice(bus):
    async with bus.db.transaction() as session:
        for _ in range(5):
            await stage(session, report())

    class CrashAfterPublish(OutboxRelay):
        async def _publish_batch(self) -> int:
            async with self.db.transaction() as session:
                rows = (
                    await session.execute(sa.text("SELECT body, headers, subject FROM outbox_event"))
                ).all()
                for row in rows:
                    await self.js.publish(
                        self.names.subject(row.subject), row.body, headers=dict(row.headers)
                    )
                raise ConnectionError("crashed before the delete was committed")

    crashing = CrashAfterPublish(
        service="test", db=bus.db, js=bus.js, names=bus.names, database_url=bus.url, wall_clock=wall_clock_utc
    )
    with pytest.raises(ConnectionError):
        await crashing.drain()
    assert await bus.outbox_rows() == 5
    assert await bus.relay().drain() == 5  # published again, de-duplicated by JetStream
    assert await bus.stream_messages() == 5
    assert await bus.outbox_rows() == 0


def _takes_atomic_batches(bus: Bus) -> bool:
    """Atomic batch publish came with nats-server 2.12 (the embedded wheel is 2.15; a machine's own
    server may be older)."""
    version = bus.nc.connected_server_version
    return (version.major, version.minor) >= (2, 12)


async def test_a_server_without_atomic_batches_gets_the_rows_one_by_one(bus):
    if _takes_atomic_batches(bus):
        pytest.skip("this NATS server takes atomic batches (the case below covers it)")
    async with bus.db.transaction() as session:
        staged = [await stage(session, report()) for _ in range(3)]
    relay = bus.relay(atomic_min=2)
    assert await relay.drain() == 3
    assert not relay.atomic  # it noticed, and publishes one by one from now on
    stream = bus.names.stream("registry")
    messages = [await bus.js.get_msg(stream, seq) for seq in range(1, await bus.stream_messages() + 1)]
    # Stored once each (the rows published again singly are de-duplicated by their ids).
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(str(e.event_id) for e in staged)
    assert await bus.outbox_rows() == 0


async def test_consecutive_rows_go_as_one_atomic_batch_and_a_rejected_batch_goes_again_singly(bus):
    if not _takes_atomic_batches(bus):
        pytest.skip(f"NATS {bus.nc.connected_server_version} has no atomic batch publish (2.12+)")
    async with bus.db.transaction() as session:
        first = [await stage(session, report()) for _ in range(3)]
    assert await bus.relay(atomic_min=2).drain() == 3
    stream = bus.names.stream("registry")
    messages = [await bus.js.get_msg(stream, seq) for seq in (1, 2, 3)]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [str(e.event_id) for e in first]
    assert len({m.headers["Nats-Batch-Id"] for m in messages}) == 1
    assert [m.headers["Nats-Batch-Sequence"] for m in messages] == ["1", "2", "3"]

    # A relay that died before deleting its rows publishes them again next to new ones: JetStream refuses
    # a batch holding an id it has stored, and the rows go one by one (the stored one de-duplicated).
    async with bus.db.transaction() as session:
        second = [await stage(session, report()) for _ in range(2)]
    await bus.js.publish(
        second[0].subject(bus.names.prefix),
        second[0].to_bytes(),
        headers={"Nats-Msg-Id": str(second[0].event_id)},
    )
    relay = bus.relay(atomic_min=2)
    assert await relay.drain() == 2
    assert relay.atomic  # still on: the server did take batches
    assert await bus.stream_messages() == 5
    last = await bus.js.get_msg(stream, 5)
    assert last.headers["Nats-Msg-Id"] == str(second[1].event_id)
    assert "Nats-Batch-Id" not in last.headers
    assert await bus.outbox_rows() == 0


async def test_two_relays_racing_publish_every_event_once(bus):
    async with bus.db.transaction() as session:
        for _ in range(300):
            await stage(session, report())
    first, second = bus.relay(batch_size=20), bus.relay(batch_size=20)
    await asyncio.gather(first.drain(), second.drain())
    assert first.published_total + second.published_total == 300
    assert first.published_total > 0 and second.published_total > 0
    assert await bus.stream_messages() == 300


# ---- inbox, redelivery, dead letters ---------------------------------------------------------------


async def test_a_cancelled_transaction_stages_nothing_and_gives_its_connection_back(bus):
    staged = asyncio.Event()

    async def producer() -> None:
        async with bus.db.transaction() as session:
            await stage(session, report())
            staged.set()
            await asyncio.sleep(3600)  # cancelled here, inside the transaction

    task = asyncio.create_task(producer())
    await staged.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await bus.outbox_rows() == 0
    assert bus.db.engine.sync_engine.pool.checkedout() == 0


async def test_copies_of_one_event_in_one_batch_are_recorded_once_and_applied_once(bus):
    first, second = report(), report()
    envelopes = [Envelope.wrap(first), Envelope.wrap(second)]
    subject = envelopes[0].subject(bus.names.prefix)
    # first, a copy of first (past JetStream's de-duplication: another message id), second
    for n, envelope in enumerate([envelopes[0], envelopes[0], envelopes[1]]):
        await bus.js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": f"copy-{n}"})
    consumer = bus.consumer(record)
    await consumer.ensure()
    psub = await bus.js.pull_subscribe_bind(durable="tester", stream=bus.names.stream("registry"))
    outcomes = await consumer.process(await psub.fetch(10, timeout=2))

    assert [(o.envelope.event_id, o.status) for o in outcomes] == [
        (envelopes[0].event_id, "applied"),
        (envelopes[0].event_id, "duplicate"),
        (envelopes[1].event_id, "applied"),
    ]
    assert await bus.effects() == [first.report_id, second.report_id]
    async with bus.db.sessions() as session:
        inbox = (
            await session.execute(
                sa.text("SELECT event_id, subject, stream_seq FROM inbox_event ORDER BY stream_seq")
            )
        ).all()
    assert [tuple(row) for row in inbox] == [
        (envelopes[0].event_id, "lkg.registry.investment.reported", 1),
        (envelopes[1].event_id, "lkg.registry.investment.reported", 3),
    ]


async def test_a_many_handler_gets_the_new_events_of_a_batch_in_one_call_in_order(bus):
    first, second, third = report(), report(), report()
    envelopes = [Envelope.wrap(e) for e in (first, second, third)]
    subject = envelopes[0].subject(bus.names.prefix)
    for n, envelope in enumerate([envelopes[0], envelopes[1], envelopes[0], envelopes[2]]):
        await bus.js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": f"copy-{n}"})
    calls: list[list[uuid.UUID]] = []

    async def record_many(session, events) -> None:
        calls.append([event.report_id for _, event in events])
        await session.execute(sa.insert(effect), [{"report_id": event.report_id} for _, event in events])

    consumer = bus.consumer(record)
    consumer.subscriptions = [Subscription(InvestmentReported, record, record_many)]
    consumer.__post_init__()
    await consumer.ensure()
    psub = await bus.js.pull_subscribe_bind(durable="tester", stream=bus.names.stream("registry"))
    outcomes = await consumer.process(await psub.fetch(10, timeout=2))

    assert [o.status for o in outcomes] == ["applied", "applied", "duplicate", "applied"]
    assert calls == [[first.report_id, second.report_id, third.report_id]]
    assert await bus.effects() == [first.report_id, second.report_id, third.report_id]


async def test_when_a_many_handler_fails_the_batch_is_applied_event_by_event(bus):
    good, bad = report(), report(project_name="坏")

    async def handler(session, envelope, event):
        if event.project_name == "坏":
            raise ValueError("bad")
        await record(session, envelope, event)

    async def handler_many(session, events) -> None:
        for envelope, event in events:
            await handler(session, envelope, event)

    async with bus.db.transaction() as session:
        await stage(session, bad)
        await stage(session, good)
    await bus.relay().drain()
    consumer = bus.consumer(handler)
    consumer.subscriptions = [Subscription(InvestmentReported, handler, handler_many)]
    consumer.__post_init__()
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _has_dead_letters(bus, 1))
    finally:
        task.cancel()
    assert await bus.effects() == [good.report_id]


async def test_an_event_delivered_twice_is_applied_once(bus):
    event = report()
    envelope = Envelope.wrap(event)
    subject = envelope.subject(bus.names.prefix)
    # Two copies past JetStream's de-duplication (different message ids), as a replay would deliver.
    await bus.js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": "copy-1"})
    await bus.js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": "copy-2"})
    consumer = bus.consumer(record)
    labels = {"service": consumer.consumer, "type": envelope.type}
    before = {
        name: _sample(name, labels) for name in ("lkg_events_consumed_total", "lkg_events_duplicate_total")
    }
    await consumer.ensure()
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _eq(consumer.backlog(), 0))
    finally:
        task.cancel()
    assert await bus.effects() == [event.report_id]
    # The metrics count one applied and one duplicate (counted once a batch, per type).
    assert _sample("lkg_events_consumed_total", labels) - before["lkg_events_consumed_total"] == 1
    assert _sample("lkg_events_duplicate_total", labels) - before["lkg_events_duplicate_total"] == 1


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_failing_handler_is_retried_then_dead_lettered_with_its_reason_and_replayed(bus):
    broken = True

    async def handler(session, envelope, event):
        if broken:
            raise ValueError("项目不存在")
        await record(session, envelope, event)

    event = report()
    async with bus.db.transaction() as session:
        await stage(session, event)
    await bus.relay().drain()
    consumer = bus.consumer(handler)
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _has_dead_letters(bus, 1))
        letters = await operations.list_dead_letters(bus.js, bus.names)
        assert [(x.consumer, x.subject, x.deliveries) for x in letters] == [
            ("tester", "lkg.registry.investment.reported", 3)
        ]
        assert letters[0].reason == "ValueError: 项目不存在"
        assert Envelope.from_bytes(letters[0].data).event() == event
        assert await bus.effects() == []

        broken = False
        assert await operations.replay_dead_letters(bus.js, bus.names, consumer="tester") == 1
        await until(lambda: _eq(bus.effects(), [event.report_id]))
        assert await operations.list_dead_letters(bus.js, bus.names) == []
    finally:
        task.cancel()


async def _has_dead_letters(bus: Bus, n: int) -> bool:
    return len(await operations.list_dead_letters(bus.js, bus.names)) == n


async def test_a_malformed_message_goes_straight_to_the_dead_letters(bus):
    await bus.js.publish(bus.names.subject("lkg.registry.investment.reported"), b"not json")
    consumer = bus.consumer(record)
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _has_dead_letters(bus, 1))
    finally:
        task.cancel()
    (letter,) = await operations.list_dead_letters(bus.js, bus.names)
    assert letter.reason.startswith("malformed envelope")
    assert letter.deliveries == 1
    assert letter.data == b"not json"


async def test_one_bad_event_in_a_batch_does_not_hold_back_the_others(bus):
    good, bad = report(), report(project_name="坏")

    async def handler(session, envelope, event):
        if event.project_name == "坏":
            raise ValueError("bad")
        await record(session, envelope, event)

    async with bus.db.transaction() as session:
        await stage(session, bad)
        await stage(session, good)
    await bus.relay().drain()
    consumer = bus.consumer(handler)
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _has_dead_letters(bus, 1))
    finally:
        task.cancel()
    assert await bus.effects() == [good.report_id]


# ---- snapshots and rebuilds ------------------------------------------------------------------------


async def test_a_snapshot_is_applied_only_when_newer(bus):
    async with bus.db.transaction() as session:
        assert await upsert_if_newer(session, snapshot_copy, {"id": 1, "revision": 2, "value": "r2"})
        assert not await upsert_if_newer(session, snapshot_copy, {"id": 1, "revision": 1, "value": "r1"})
        assert not await upsert_if_newer(session, snapshot_copy, {"id": 1, "revision": 2, "value": "again"})
        assert await upsert_if_newer(session, snapshot_copy, {"id": 1, "revision": 3, "value": "r3"})
        value = (await session.execute(sa.select(snapshot_copy.c.value))).scalar_one()
    assert value == "r3"


async def test_rebuilding_read_copies_replays_the_stream_from_the_start(bus):
    events = [report() for _ in range(3)]
    async with bus.db.transaction() as session:
        for event in events:
            await stage(session, event)
    await bus.relay().drain()
    consumer = bus.consumer(record, name="rebuilder")
    await consumer.ensure()
    await consumer.process(
        await (
            await bus.js.pull_subscribe_bind(durable="rebuilder", stream=bus.names.stream("registry"))
        ).fetch(10, timeout=2)
    )
    assert sorted(await bus.effects()) == sorted(e.report_id for e in events)

    @dataclass
    class Spec:
        name: str = "rebuilder"
        subscriptions: tuple = (Subscription(InvestmentReported, record),)
        read_copy_tables: tuple = ("effect",)

    queued = await operations.rebuild_read_copies(Spec(), bus.url, bus.nc, bus.js, bus.names)
    assert queued == 3
    assert await bus.effects() == []
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: _eq(_count(bus), 3))
    finally:
        task.cancel()
    assert sorted(await bus.effects()) == sorted(e.report_id for e in events)


async def _count(bus: Bus) -> int:
    return len(await bus.effects())


async def test_one_relay_leads_and_the_other_stands_by(bus):
    first, second = bus.relay(poll_seconds=0.2), bus.relay(poll_seconds=0.2)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        async with bus.db.transaction() as session:
            for _ in range(50):
                await stage(session, report())
        await until(lambda: _eq(bus.outbox_rows(), 0))
    finally:
        for task in tasks:
            task.cancel()
    assert sorted([first.published_total, second.published_total]) == [0, 50]
    assert await bus.stream_messages() == 50


async def test_a_row_committed_after_a_later_one_is_still_published(bus):
    relay = bus.relay(poll_seconds=0.2)
    task = asyncio.create_task(relay.run())
    try:
        async with bus.db.sessions() as slow:
            await slow.begin()
            await stage(slow, report())  # takes the smaller id, commits last
            async with bus.db.transaction() as fast:
                await stage(fast, report())
            await until(lambda: _eq(bus.stream_messages(), 1))
            await slow.commit()
        await until(lambda: _eq(bus.stream_messages(), 2))
        await until(lambda: _eq(bus.outbox_rows(), 0))
    finally:
        task.cancel()


async def test_a_deliberate_close_is_not_logged_as_a_disconnection(nats_url):
    from structlog.testing import capture_logs

    from lkg.common.events.bus import connect

    nc = await connect(nats_url, name="test-close")
    with capture_logs() as logs:
        await nc.close()
    assert [e for e in logs if e["event"] == "nats.disconnected"] == []


async def test_an_event_nats_could_not_carry_is_refused_when_staged(bus):
    """A message above NATS's max_payload would stop the relay at the head of the outbox for good: the
    producer's transaction fails instead, and nothing is staged."""
    from lkg.common.events.outbox import MAX_EVENT_BYTES, EventTooLarge

    huge = report(project_name="大" * (MAX_EVENT_BYTES // 3 + 1))  # 3 bytes a character in UTF-8
    with pytest.raises(EventTooLarge, match=r"investment\.reported"):
        async with bus.db.transaction() as session:
            await stage(session, report())
            await stage(session, huge)
    async with bus.db.transaction() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM outbox_event"))).scalar() == 0
