"""Processes for the crash tests of the event bus (``libs/common/tests/test_crash.py``).

A producer commits events through the outbox and relays them; a consumer applies them through the inbox.
Either can be told to SIGKILL itself at the one moment where a crash could break exactly-once:

* the producer right **after JetStream acknowledged the relay's publish and before the relay deletes (and
  commits the deletion of) the outbox rows**, so the next relay publishes the same event ids again;
* the consumer right **after its transaction committed and before it acknowledged the messages**, so
  JetStream redelivers events whose effect is already in the database.

A third kill point, inside the consumer's handler (before anything is committed), stands for a poison
message that crashes the process every time it is handled.

The kill points are hooks from outside, not flags inside the bus code: the producer's overrides the relay's
one method that deletes acknowledged rows (the leader runs that statement on a plain asyncpg connection, so
an engine listener would not see it); the consumer's replaces the settle methods (``ack``, ``nak``,
``term``) of the messages of one batch, or sits in the handler. The bus code under test runs unchanged,
and if it ever settled a message before committing, the kill would land before the commit and the test
would see an event missing.

This module is importable (``lkg.common.testing.crash_worker``) because the tests start its functions in
fresh processes forked from a ``multiprocessing`` fork server that has imported it once (``sys.executable``
plus one second of imports per process would not fit forty restarts into the test's time budget). It can
also be run by hand: ``python -m lkg.common.testing.crash_worker --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn
from uuid import UUID, uuid4

import nats
import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.clock import TZ, wall_clock_utc
from lkg.common.db import Database, make_metadata
from lkg.common.events.base import Envelope
from lkg.common.events.bus import Names
from lkg.common.events.contracts import InvestmentReported
from lkg.common.events.inbox import ConsumerOptions, EventConsumer, Subscription
from lkg.common.events.outbox import stage
from lkg.common.events.relay import OutboxRelay

#: Exit status of a worker that finished without reaching the kill point it was given: a test that
#: expects a SIGKILL must not mistake that for a crash.
MISSED_KILL_POINT = 3
#: Exit status of a clean run that did not finish its work (relay or consumer backlog) in time.
UNFINISHED = 4

metadata = make_metadata()

#: The producer's state change: one row per committed event, written in the transaction that stages it,
#: so that the test knows exactly which events were committed (whatever the stream ends up holding).
produced = sa.Table(
    "crash_produced",
    metadata,
    sa.Column("event_id", PG_UUID(as_uuid=True), primary_key=True),
    sa.Column("run", sa.Integer, nullable=False),
)

#: The consumer's effect: one row per application. Deliberately no unique constraint on ``event_id``, so
#: an event applied twice shows as two rows instead of being absorbed by the table.
effect = sa.Table(
    "crash_effect",
    metadata,
    sa.Column("n", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", PG_UUID(as_uuid=True), nullable=False),
)


@dataclass(frozen=True)
class Target:
    """Where a worker connects, and the file its stdout and stderr go to (read by the test on failure)."""

    database_url: str
    nats_url: str
    prefix: str
    log_path: str

    @property
    def names(self) -> Names:
        return Names(self.prefix)


async def prepare_database(url: str) -> None:
    """The bus tables, the outbox trigger and the crash tables, as a service's first migration makes them."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)  # as deployed: no NOTIFY trigger (outbox_wake)
    finally:
        await db.dispose()


def investment_report() -> InvestmentReported:
    """A valid ``investment.reported`` with fresh ids (the content does not matter to the bus)."""
    return InvestmentReported(
        effective_at=datetime(2020, 5, 8, 9, tzinfo=TZ),
        project_id=uuid4(),
        project_name="崩溃测试项目",
        responsible_unit_id=uuid4(),
        report_id=uuid4(),
        year=2020,
        month=4,
        amount=Decimal("1250000.00"),
        year_to_date=Decimal("3750000.00"),
        reported_by_unit_id=uuid4(),
    )


def _die() -> NoReturn:
    """SIGKILL ourselves: no exception, no ``finally``, no flush, no goodbye to PostgreSQL or NATS."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL did not kill us")  # pragma: no cover


def _redirect_output(log_path: str) -> None:
    """Send this process's stdout and stderr (file descriptors, so C extensions too) to ``log_path``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


# ---- producer ------------------------------------------------------------------------------------


def produce(target: Target, run: int, events: int, crash: bool) -> None:
    """Process entry: commit ``events`` new events, then relay the outbox (and die if ``crash``)."""
    _redirect_output(target.log_path)
    sys.exit(asyncio.run(_produce(target, run, events, crash)))


async def _produce(target: Target, run: int, events: int, crash: bool, timeout: float = 15.0) -> int:
    db = Database(target.database_url, pool_size=2)
    nc = await nats.connect(target.nats_url, name=f"crash-producer-{run}", connect_timeout=5)
    try:
        async with db.transaction() as session:  # the state change and its events, in one commit
            for _ in range(events):
                envelope = await stage(session, investment_report())
                await session.execute(sa.insert(produced).values(event_id=envelope.event_id, run=run))
        relay = (KilledBeforeDelete if crash else OutboxRelay)(
            service="registry",
            db=db,
            js=nc.jetstream(),
            names=target.names,
            database_url=target.database_url,
            poll_seconds=0.5,
            wall_clock=wall_clock_utc,
        )
        if not crash:
            await asyncio.wait_for(relay.drain(), timeout)
            return 0
        # The relay's own loop, as a service runs it; it publishes, then reaches the DELETE and dies there.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(relay.run(), timeout)
        print(f"producer run {run}: the relay never reached the outbox DELETE", file=sys.stderr)
        return MISSED_KILL_POINT
    finally:
        await nc.close()
        await db.dispose()


class KilledBeforeDelete(OutboxRelay):
    """The relay, dying where it has published its batch (all acks awaited) and would delete the rows."""

    async def _delete_confirmed(self, conn: Any, ids: list[int]) -> None:
        _die()


# ---- consumer ------------------------------------------------------------------------------------

#: Where a consumer run dies: after its commit, at the first settle call (ack, nak or term) of the batch;
#: or inside the handler, before anything of the batch is committed (a poison message that crashes us).
KillPoint = Literal["before_ack", "in_handler"]


@dataclass(frozen=True)
class ConsumerRun:
    """One consumer process: its durable name, where it dies (``crash_at_batch`` None: it does not), and
    the :class:`ConsumerOptions` that matter here."""

    name: str = "crash"
    crash_at_batch: int | None = None
    kill: KillPoint = "before_ack"
    inbox: bool = True
    batch_size: int = 5
    ack_wait_seconds: float = 1.0
    max_deliver: int = 20
    timeout_seconds: float = 20.0


async def record_effect(session: Any, envelope: Envelope, _event: InvestmentReported) -> None:
    """The handler: one effect row per application (inside the inbox transaction)."""
    await session.execute(sa.insert(effect).values(event_id=envelope.event_id))


class _CrashingConsumer(EventConsumer):
    """An :class:`EventConsumer` that dies in its ``crash_at_batch``-th batch, and tallies the outcomes.

    The first ``crash_at_batch - 1`` batches are applied and acknowledged normally, so a crash loop makes
    progress instead of replaying the same batch forever.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.run_spec = ConsumerRun()
        self.batches = 0
        self.dying_in_handler = False
        self.outcomes: Counter[str] = Counter()

    async def process(self, msgs: Sequence[Msg]) -> list[Any]:
        self.batches += 1
        spec = self.run_spec
        dying = self.batches == spec.crash_at_batch
        if dying and spec.kill == "before_ack":
            for msg in msgs:
                # Instance attributes shadow the methods: whichever settle call comes first kills us.
                msg.ack = msg.nak = msg.term = msg.ack_sync = _die_async  # type: ignore[method-assign]
        self.dying_in_handler = dying and spec.kill == "in_handler"
        outcomes = await super().process(msgs)
        self.outcomes.update(outcome.status for outcome in outcomes)
        return outcomes

    async def handle(self, session: Any, envelope: Envelope, event: InvestmentReported) -> None:
        """The subscription's handler: the effect, then (in the fatal batch) death before the commit."""
        await record_effect(session, envelope, event)
        if self.dying_in_handler:
            _die()


async def _die_async(*_args: Any, **_kwargs: Any) -> NoReturn:
    _die()


def consume(target: Target, spec: ConsumerRun) -> None:
    """Process entry: consume until killed at ``spec.crash_at_batch``, or (None) until the backlog is empty.

    A clean run prints ``outcomes {"applied": n, "duplicate": m}`` as its last line: what this process
    did with the messages it got.
    """
    _redirect_output(target.log_path)
    sys.exit(asyncio.run(_consume(target, spec)))


async def _consume(target: Target, spec: ConsumerRun) -> int:
    db = Database(target.database_url, pool_size=2)
    nc = await nats.connect(target.nats_url, name=f"crash-consumer-{spec.name}", connect_timeout=5)
    js = nc.jetstream()
    consumer = _CrashingConsumer(
        consumer=spec.name,
        db=db,
        nc=nc,
        js=js,
        names=target.names,
        subscriptions=[Subscription(InvestmentReported, lambda *args: consumer.handle(*args))],
        options=ConsumerOptions(
            batch_size=spec.batch_size,
            max_deliver=spec.max_deliver,
            ack_wait_seconds=spec.ack_wait_seconds,
            fetch_timeout=0.3,
            inbox_enabled=spec.inbox,
        ),
    )
    consumer.run_spec = spec
    task: asyncio.Task[None] | None = None
    try:
        await consumer.ensure()
        task = asyncio.create_task(consumer.run())
        deadline = asyncio.get_running_loop().time() + spec.timeout_seconds
        while asyncio.get_running_loop().time() < deadline:
            if task.done():
                task.result()  # raises what stopped the consumer
            if spec.crash_at_batch is None and await consumer.backlog() == 0:
                print("outcomes", json.dumps(dict(consumer.outcomes)), flush=True)
                return 0
            await asyncio.sleep(0.05)
        if spec.crash_at_batch is None:
            backlog = await consumer.backlog()
            print(f"consumer {spec.name}: backlog {backlog} after {spec.timeout_seconds} s", file=sys.stderr)
            return UNFINISHED
        print(f"consumer {spec.name}: {consumer.batches} batches, never the fatal one", file=sys.stderr)
        return MISSED_KILL_POINT
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        await db.dispose()


def outcomes_of(output: str) -> dict[str, int]:
    """The outcome tally a clean consumer run printed last (see :func:`consume`)."""
    lines = [line for line in output.splitlines() if line.startswith("outcomes ")]
    if not lines:
        raise ValueError(f"no outcomes line in the consumer's output:\n{output}")
    return json.loads(lines[-1].removeprefix("outcomes "))


async def applied_event_ids(database_url: str) -> list[UUID]:
    """Every application recorded by the consumer's handler, in order (repeats included)."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.sessions() as session:
            return list((await session.execute(sa.select(effect.c.event_id).order_by(effect.c.n))).scalars())
    finally:
        await db.dispose()


# ---- by hand -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lkg.common.testing.crash_worker", description=__doc__)
    parser.add_argument("role", choices=["prepare", "produce", "consume"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--prefix", default="crashbyhand")
    parser.add_argument("--log", default="/dev/stderr")
    parser.add_argument("--crash", action="store_true", help="produce: die between publish and delete")
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--crash-at-batch", type=int, help="consume: die before acking this batch")
    parser.add_argument("--no-inbox", action="store_true")
    parser.add_argument("--consumer", default="crash")
    args = parser.parse_args(argv)
    target = Target(args.database_url, args.nats_url, args.prefix, args.log)
    if args.role == "prepare":
        asyncio.run(prepare_database(args.database_url))
    elif args.role == "produce":
        produce(target, 0, args.events, args.crash)
    else:
        consume(target, ConsumerRun(args.consumer, args.crash_at_batch, inbox=not args.no_inbox))


if __name__ == "__main__":
    main()
