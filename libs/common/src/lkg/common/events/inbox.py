"""Idempotent consumers (docs/events.md): durable pull consumers, an inbox, bounded redelivery, dead letters.

For every fetched batch, one database transaction: one statement records the batch's event ids in
``inbox_event`` (a duplicate, same consumer and event id, is one the insert does not return, and is
skipped), then the handlers of the new ones run in the same transaction. A subscription may also give a
handler for several events at once (:attr:`Subscription.handler_many`, e.g. one multi-row statement):
consecutive new events of its type in a batch then cost one call instead of one each; subscriptions that
declare an :attr:`Subscription.order_group` let a batch's events be brought together by group first (events
of different groups commute), so that interleaved streams still make long runs. Messages are
acked only after the commit. If a handler fails, the batch is rolled back and applied again message by
message, each in a savepoint, so only the failing message is held back: it is redelivered with backoff until
``max_deliver``, then moved to the dead-letter stream with the reason, and acked only once the dead-letter
stream has acknowledged it, so nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common import log as logmod
from lkg.common.db import Database, driver_in_transaction
from lkg.common.events.base import Envelope, Event
from lkg.common.events.bus import Names
from lkg.common.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_DUPLICATE, EVENTS_RETRIED
from lkg.common.tasks import stop_if_cancelled

log = logmod.get_logger(__name__)

#: The event being handled; events staged by its handler carry it as their causation id.
current_causation_id: ContextVar[UUID | None] = ContextVar("lkg_causation_id", default=None)

Handler = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]
#: Applies several events, in order, as ``Handler`` would one by one: (session, [(envelope, event), ...]).
ManyHandler = Callable[[AsyncSession, Sequence[tuple[Envelope, Any]]], Awaitable[None]]

#: Deliveries JetStream allows beyond ``ConsumerOptions.max_deliver`` (see ``_ensure_one``).
DELIVERY_MARGIN = 3

_T = TypeVar("_T")

#: A batch's inbox rows in one statement whose text does not depend on the batch size (one prepared
#: statement, one plan): the ids seen for the first time come back; a duplicate is one that does not.
_RECORD_SQL = (
    "INSERT INTO inbox_event (consumer, event_id, subject, stream_seq) "
    "SELECT $1::text, event_id, subject, stream_seq "
    "FROM unnest($2::uuid[], $3::text[], $4::bigint[]) AS batch (event_id, subject, stream_seq) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
#: The same through SQLAlchemy, where the session is not on its asyncpg adapter.
_RECORD = (
    sa.text(
        "INSERT INTO inbox_event (consumer, event_id, subject, stream_seq) "
        "SELECT :consumer, event_id, subject, stream_seq "
        "FROM unnest(CAST(:event_ids AS uuid[]), CAST(:subjects AS text[]), CAST(:stream_seqs AS bigint[])) "
        "AS batch (event_id, subject, stream_seq) "
        "ON CONFLICT DO NOTHING RETURNING event_id"
    )
    .bindparams(
        sa.bindparam("consumer", type_=sa.Text),
        sa.bindparam("event_ids", type_=ARRAY(PG_UUID(as_uuid=True))),
        sa.bindparam("subjects", type_=ARRAY(sa.Text)),
        sa.bindparam("stream_seqs", type_=ARRAY(sa.BigInteger)),
    )
    .columns(sa.column("event_id", PG_UUID(as_uuid=True)))
)


@dataclass(frozen=True)
class Subscription:
    """One event contract and the handler that applies it (inside the inbox transaction).

    ``handler_many``, optional, does what ``handler`` does for each of several events, in one go: a batch's
    consecutive new events of this type (or of any subscription given the same function, so it must take
    their mix) are given to it at once (a statement per batch rather than per event: bench/bus.py). It
    must have the same effect as ``handler`` applied to each in order, since a
    batch that fails is applied again event by event with ``handler``. The log context and the causation
    id of events it stages are not set per event: pass ``causation_id`` to ``stage`` explicitly.
    """

    event: type[Event]
    handler: Handler
    handler_many: ManyHandler | None = None
    #: Events of subscriptions in different groups commute: they write different rows and read nothing
    #: the other groups write (a fact table each, say). Within a batch, the new events between two
    #: ungrouped ones (barriers) are applied group by group, each group's in their order, so that a
    #: group's consecutive events sharing a ``handler_many`` go in one call even when the stream
    #: interleaves them with another group's (bench/scoring.py). ``None``: a barrier, applied where it is.
    order_group: str | None = None


@dataclass
class ConsumerOptions:
    batch_size: int = 100
    max_deliver: int = 6
    backoff_seconds: Sequence[float] = (0.5, 2.0, 10.0, 30.0, 120.0)
    ack_wait_seconds: float = 60.0
    max_ack_pending: int = 5000
    fetch_timeout: float = 1.0
    #: After a batch smaller than ``batch_size``, wait this long before the next fetch, so that events
    #: trickling in share one fetch and one transaction (a fixed cost of about 1 ms per batch, against
    #: about 0.25 ms per event: bench/bus.py). It adds at most this much latency; a full batch (a
    #: backlog) is followed by the next fetch at once.
    coalesce_seconds: float = 0.004
    #: Switch the inbox off only to show that the crash test can catch duplicates (a control run).
    inbox_enabled: bool = True


@dataclass
class _Outcome:
    msg: Msg
    envelope: Envelope | None
    status: str  # applied | duplicate | failed | unhandled
    reason: str = ""


@dataclass
class EventConsumer:
    """A service's durable consumers on the producers' streams it subscribes to, plus its retry subject."""

    consumer: str
    db: Database
    nc: NATS
    js: JetStreamContext
    names: Names
    subscriptions: Sequence[Subscription]
    options: ConsumerOptions = field(default_factory=ConsumerOptions)
    applied_total: int = 0
    _by_type: dict[tuple[str, int], Subscription] = field(init=False)
    _bindings: list[tuple[str, str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._by_type = {(s.event.event_type, s.event.version): s for s in self.subscriptions}

    # ---- set-up ---------------------------------------------------------------------------------

    def _filters_by_stream(self) -> dict[str, list[str]]:
        filters: dict[str, list[str]] = {}
        for sub in self.subscriptions:
            filters.setdefault(self.names.stream(sub.event.producer), []).append(
                sub.event.subject(self.names.prefix)
            )
        if self.subscriptions:
            filters[self.names.retry_stream] = [self.names.retry_subject(self.consumer)]
        return {stream: sorted(set(subjects)) for stream, subjects in filters.items()}

    async def ensure(self) -> None:
        """Create or update the durable consumers (idempotent)."""
        self._bindings = []
        for stream, subjects in self._filters_by_stream().items():
            await self._ensure_one(stream, subjects)
            self._bindings.append((stream, self.consumer))

    async def _ensure_one(self, stream: str, subjects: list[str]) -> None:
        config = api.ConsumerConfig(
            durable_name=self.consumer,
            name=self.consumer,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.options.ack_wait_seconds,
            # JetStream's default MaxDeliver is unlimited: bound it (NOTES.md). The margin above our own
            # limit lets a message whose consumer died before settling it (a crash, a batch beyond
            # ack_wait) come back once more and be dead-lettered, rather than stop silently.
            max_deliver=self.options.max_deliver + DELIVERY_MARGIN,
            max_ack_pending=self.options.max_ack_pending,
            filter_subjects=subjects,
        )
        await self.js.add_consumer(stream, config)

    async def reset(self) -> None:
        """Delete the durable consumers so that the next :meth:`ensure` replays from the start."""
        for stream in self._filters_by_stream():
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(stream, self.consumer)

    # ---- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled."""
        if not self._bindings:
            await self.ensure()
        await asyncio.gather(*(self._loop(stream, durable) for stream, durable in self._bindings))

    async def _loop(self, stream: str, durable: str) -> None:
        """Fetch and apply batches; re-bind when the durable consumer was deleted (``lkg replay``)."""
        subjects = self._filters_by_stream()[stream]
        loop = asyncio.get_running_loop()
        psub = None
        checked = loop.time()
        while True:
            stop_if_cancelled()
            try:
                if psub is None:
                    await self._ensure_one(stream, subjects)
                    psub = await self.js.pull_subscribe_bind(durable=durable, stream=stream)
                # Returns as soon as messages are available (up to a batch), or after the timeout.
                msgs = await psub.fetch(self.options.batch_size, timeout=self.options.fetch_timeout)
            except TimeoutError:
                if loop.time() - checked > 5.0:  # idle: make sure our consumer still exists
                    checked = loop.time()
                    try:
                        await self.js.consumer_info(stream, durable)
                    except NotFoundError:
                        psub = None
                continue
            except Exception as exc:  # connection hiccups (the client reconnects) or a deleted consumer
                log.warning("consumer.fetch_failed", consumer=self.consumer, stream=stream, error=repr(exc))
                psub = None
                await asyncio.sleep(0.5)
                continue
            await self.process(msgs)
            if len(msgs) < self.options.batch_size and self.options.coalesce_seconds > 0:
                await asyncio.sleep(self.options.coalesce_seconds)

    async def process(self, msgs: Sequence[Msg]) -> list[_Outcome]:
        """Apply one fetched batch in one transaction; ack after commit; retry or dead-letter failures.

        The fast path records the whole batch in the inbox with one statement and runs the handlers without
        savepoints. If any handler fails, that transaction is rolled back and the batch is applied again
        message by message, each in a savepoint, so one bad event holds back none of the others.
        """
        early: list[_Outcome] = []
        parsed: list[tuple[Msg, Envelope]] = []
        for msg in msgs:
            try:
                envelope = Envelope.from_bytes(msg.data)
            except ValueError as exc:
                early.append(_Outcome(msg, None, "failed", f"malformed envelope: {exc}"))
                continue
            if _deliveries(msg) > self.options.max_deliver:
                # Delivered that often without ever being settled: its consumer keeps dying on it.
                reason = f"delivered {_deliveries(msg)} times without being settled"
                early.append(_Outcome(msg, envelope, "failed", reason))
                continue
            parsed.append((msg, envelope))
        applied: list[_Outcome] = []
        if parsed:
            try:
                applied = await self._apply_batch(parsed)
            except Exception as exc:
                log.info("consumer.batch_fallback", consumer=self.consumer, size=len(parsed), error=repr(exc))
                try:
                    applied = await self._apply_each(parsed)
                except Exception as exc:  # the commit failed: nothing of this batch happened
                    log.warning("consumer.commit_failed", consumer=self.consumer, error=repr(exc))
                    applied = [_Outcome(m, e, "failed", f"commit failed: {exc!r}") for m, e in parsed]
        outcomes = early + applied
        counted: collections.Counter[tuple[str, str]] = collections.Counter()
        for outcome in outcomes:
            await self._settle(outcome, counted)
        # Counted once a batch and type rather than once a message (a label look-up each: bench/scoring.py).
        for (status, kind), n in counted.items():
            (EVENTS_CONSUMED if status == "applied" else EVENTS_DUPLICATE).labels(self.consumer, kind).inc(n)
        return outcomes

    async def _apply_batch(self, parsed: Sequence[tuple[Msg, Envelope]]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        async with self.db.transaction() as session:
            handled = [(m, e) for m, e in parsed if (e.type, e.version) in self._by_type]
            new = await self._record(session, handled) if self.options.inbox_enabled else None
            seen: set[UUID] = set()
            todo: list[tuple[Subscription, _Outcome]] = []
            for msg, envelope in parsed:
                sub = self._by_type.get((envelope.type, envelope.version))
                if sub is None:
                    outcomes.append(_Outcome(msg, envelope, "unhandled"))
                    continue
                if new is not None and (envelope.event_id not in new or envelope.event_id in seen):
                    outcomes.append(_Outcome(msg, envelope, "duplicate"))
                    continue
                seen.add(envelope.event_id)
                # Outcomes keep their places in the batch, whatever order the handlers run in.
                outcome = _Outcome(msg, envelope, "applied")
                outcomes.append(outcome)
                todo.append((sub, outcome))
            for sub, run in runs(todo):
                if sub.handler_many is not None:
                    await self._apply_many(session, sub, run)
                    continue
                for outcome in run:
                    assert outcome.envelope is not None
                    with _handling(outcome.envelope):
                        await sub.handler(session, outcome.envelope, outcome.envelope.event())
        return outcomes

    @staticmethod
    async def _apply_many(session: AsyncSession, sub: Subscription | None, run: Sequence[_Outcome]) -> None:
        assert sub is not None and sub.handler_many is not None
        events = [(o.envelope, o.envelope.event()) for o in run if o.envelope is not None]
        await sub.handler_many(session, events)

    async def _record(self, session: AsyncSession, handled: Sequence[tuple[Msg, Envelope]]) -> set[UUID]:
        """Record the batch's event ids in one statement; returns the ids seen for the first time."""
        if not handled:
            return set()
        event_ids = [envelope.event_id for _, envelope in handled]
        subjects = [self.names.strip(msg.subject) for msg, _ in handled]
        stream_seqs = [_stream_seq(msg) for msg, _ in handled]
        # On the session's own asyncpg connection, in its transaction (fewer instructions than
        # ``session.execute``: see ``driver_in_transaction``).
        driver = await driver_in_transaction(session)
        if driver is not None:
            rows = await driver.fetch(_RECORD_SQL, self.consumer, event_ids, subjects, stream_seqs)
            return {row[0] for row in rows}
        result = await session.execute(
            _RECORD,
            {
                "consumer": self.consumer,
                "event_ids": event_ids,
                "subjects": subjects,
                "stream_seqs": stream_seqs,
            },
        )
        return set(result.scalars())

    async def _apply_each(self, parsed: Sequence[tuple[Msg, Envelope]]) -> list[_Outcome]:
        async with self.db.transaction() as session:
            return [await self._apply(session, msg, envelope) for msg, envelope in parsed]

    async def _apply(self, session: AsyncSession, msg: Msg, envelope: Envelope) -> _Outcome:
        sub = self._by_type.get((envelope.type, envelope.version))
        if sub is None:
            return _Outcome(msg, envelope, "unhandled")
        try:
            async with session.begin_nested():
                if self.options.inbox_enabled and not await self._record(session, [(msg, envelope)]):
                    return _Outcome(msg, envelope, "duplicate")
                with _handling(envelope):
                    await sub.handler(session, envelope, envelope.event())
            return _Outcome(msg, envelope, "applied")
        except Exception as exc:
            log.warning(
                "consumer.handler_failed",
                consumer=self.consumer,
                type=envelope.type,
                event_id=str(envelope.event_id),
                error=repr(exc),
            )
            return _Outcome(msg, envelope, "failed", f"{type(exc).__name__}: {exc}")

    async def _settle(self, outcome: _Outcome, counted: collections.Counter[tuple[str, str]]) -> None:
        """Ack, retry or dead-letter one message; an applied or duplicate one is counted in ``counted``."""
        msg, kind = outcome.msg, outcome.envelope.type if outcome.envelope else "malformed"
        if outcome.status in ("applied", "duplicate", "unhandled"):
            await msg.ack()
            if outcome.status == "applied":
                self.applied_total += 1
            if outcome.status != "unhandled":
                counted[(outcome.status, kind)] += 1
            return
        deliveries = _deliveries(msg)
        if outcome.envelope is None or deliveries >= self.options.max_deliver:
            try:
                await self.dead_letter(msg, outcome.reason, deliveries)
            except Exception as exc:  # the dead-letter stream did not take it: keep redelivering
                log.error("consumer.dead_letter_failed", consumer=self.consumer, error=repr(exc))
                await msg.nak(delay=self.options.backoff_seconds[-1])
                return
            await msg.term()
            EVENTS_DEAD_LETTERED.labels(self.consumer, kind).inc()
            return
        backoff = self.options.backoff_seconds
        await msg.nak(delay=backoff[min(deliveries - 1, len(backoff) - 1)])
        EVENTS_RETRIED.labels(self.consumer, kind).inc()

    async def dead_letter(self, msg: Msg, reason: str, deliveries: int) -> None:
        original = self.names.strip(
            msg.headers.get("Lkg-Original-Subject", msg.subject) if msg.headers else msg.subject
        )
        seq = _stream_seq(msg)
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        headers.update(
            {
                "Nats-Msg-Id": f"dlq:{self.consumer}:{msg.metadata.stream if msg.reply else ''}:{seq}",
                "Lkg-Original-Subject": original,
                "Lkg-Dlq-Consumer": self.consumer,
                # Header values must be ASCII: the (often Chinese) reason travels percent-encoded.
                "Lkg-Dlq-Reason": quote(reason[:1000], safe=" :,.()[]='"),
                "Lkg-Dlq-Deliveries": str(deliveries),
                "Lkg-Dlq-Stream": msg.metadata.stream if msg.reply else "",
                "Lkg-Dlq-Stream-Seq": str(seq or ""),
            }
        )
        await self.js.publish(self.names.dlq_subject(self.consumer, original), msg.data, headers=headers)
        log.error("consumer.dead_lettered", consumer=self.consumer, subject=original, reason=reason)

    async def backlog(self) -> int:
        """Messages not yet delivered or not yet acknowledged, over all of this consumer's bindings."""
        total = 0
        for stream, durable in self._bindings:
            info = await self.js.consumer_info(stream, durable)
            total += info.num_pending + info.num_ack_pending
        return total


def runs(todo: Sequence[tuple[Subscription, _T]]) -> list[tuple[Subscription, list[_T]]]:
    """The calls that apply a batch's new events ``todo`` (in stream order): (subscription, its items).

    Between two barriers (events of a subscription without an ``order_group``), events are taken group by
    group, in the order each group first appears, each group's in stream order; a barrier stays where it
    is. Then consecutive events whose subscriptions share a ``handler_many`` make one call; every other
    event is a call of its own. Each group's events, and every barrier, keep their relative order.
    """
    ordered: list[tuple[Subscription, _T]] = []
    groups: dict[str, list[tuple[Subscription, _T]]] = {}
    for sub, item in todo:
        if sub.order_group is not None:
            groups.setdefault(sub.order_group, []).append((sub, item))
            continue
        for events in groups.values():
            ordered.extend(events)
        groups.clear()
        ordered.append((sub, item))
    for events in groups.values():
        ordered.extend(events)
    calls: list[tuple[Subscription, list[_T]]] = []
    for sub, item in ordered:
        if calls and sub.handler_many is not None and calls[-1][0].handler_many is sub.handler_many:
            calls[-1][1].append(item)
        else:
            calls.append((sub, [item]))
    return calls


@contextlib.contextmanager
def _handling(envelope: Envelope) -> Iterator[None]:
    """While a handler runs: its logs carry the event's correlation id, the events it stages name their
    cause and correlation."""
    cid_token = logmod.correlation_id.set(envelope.correlation_id)
    cause_token = current_causation_id.set(envelope.event_id)
    try:
        yield
    finally:
        current_causation_id.reset(cause_token)
        logmod.correlation_id.reset(cid_token)


def _deliveries(msg: Msg) -> int:
    return msg.metadata.num_delivered if msg.reply else 1


def _stream_seq(msg: Msg) -> int | None:
    try:
        return msg.metadata.sequence.stream
    except Exception:
        return None


async def upsert_if_newer(
    session: AsyncSession,
    table: sa.Table,
    values: dict[str, Any],
    *,
    key: str = "id",
    revision: str = "revision",
) -> bool:
    """Apply a snapshot only if it is newer than the stored one (docs/events.md). True if it was applied."""
    insert = pg_insert(table).values(**values)
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: insert.excluded[name] for name in values if name != key},
        where=table.c[revision] < insert.excluded[revision],
    ).returning(table.c[key])
    return (await session.execute(upsert)).first() is not None
