"""Transactional outbox (docs/events.md): events are rows committed with the state change; a relay
(:mod:`lkg.common.events.relay`) publishes them.

* :func:`stage` adds the event row in the caller's transaction; nothing is published if it rolls back.
  It marks the session, and :class:`~lkg.common.db.Database` calls the relay back once such a session has
  committed (no ``NOTIFY``: PostgreSQL takes a server-wide lock for it at commit, which serialised the
  producers' commits). At the top level of a transaction the mark holds the rows themselves, with the ids
  their inserts returned, so that a relay leading in this process publishes them without selecting them;
  a transaction that does not commit takes them with it.
* :func:`stage_many` records many events in one statement (a scan's burst).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common import log as logmod
from lkg.common.db import OUTBOX_STAGED, driver_in_transaction
from lkg.common.events.base import Envelope, Event

log = logmod.get_logger(__name__)

_outbox = sa.table(
    "outbox_event",
    sa.column("id", sa.BigInteger),
    sa.column("event_id", PG_UUID(as_uuid=True)),
    sa.column("subject", sa.Text),
    sa.column("event_type", sa.Text),
    sa.column("body", sa.LargeBinary),
    sa.column("headers", JSONB),
    sa.column("created_at", sa.DateTime(timezone=True)),
)

#: One statement object for every stage: its compiled form is cached, parameters travel separately.
_INSERT = sa.insert(_outbox)
#: ``stage``'s statement as sent on the session's own asyncpg connection (``driver_in_transaction``); the
#: jsonb parameter is JSON text, as SQLAlchemy's codec on that connection takes it.
_INSERT_SQL = (
    "INSERT INTO outbox_event (event_id, subject, event_type, body, headers) VALUES ($1, $2, $3, $4, $5)"
    " RETURNING id"
)
#: A row as the relay reads it: id, subject (without the deployment prefix), event type, body, headers.
Row = tuple[int, str, str, bytes, dict[str, str]]


async def stage(
    session: AsyncSession,
    event: Event,
    *,
    correlation_id: str | None = None,
    causation_id: UUID | None = None,
) -> Envelope:
    """Record ``event`` in the outbox inside the caller's transaction and return its envelope.

    The correlation id defaults to the one of the current request or event being handled.
    """
    from lkg.common.events.inbox import current_causation_id

    envelope = Envelope.wrap(
        event,
        correlation_id=correlation_id or logmod.correlation_id.get(),
        causation_id=causation_id or current_causation_id.get(),
    )
    row = _row(envelope)
    # Its one fixed statement on the session's own asyncpg connection rather than through
    # ``session.execute``: SQLAlchemy's statement path (ORM execute, compiled-cache lookup, execution
    # context, result) was about a sixth of the instructions of a one-event transaction (bench/stage.py).
    driver = await driver_in_transaction(session)
    if driver is None:
        await session.execute(_INSERT, row)
        session.info[OUTBOX_STAGED] = True  # the commit wakes the relay, which looks at the table
        return envelope
    row_id = await driver.fetchval(
        _INSERT_SQL,
        row["event_id"],
        row["subject"],
        row["event_type"],
        row["body"],
        json.dumps(row["headers"]),
    )
    staged = session.info.get(OUTBOX_STAGED)
    if session.in_nested_transaction() or staged is True:
        # A savepoint may still be rolled back without the transaction: the relay looks at the table.
        session.info[OUTBOX_STAGED] = True
    else:
        # The commit hands the row itself to a relay leading in this process: no select to find it.
        handed: Row = (row_id, row["subject"], row["event_type"], row["body"], row["headers"])  # type: ignore[assignment]
        if staged is None:
            session.info[OUTBOX_STAGED] = [handed]
        else:
            staged.append(handed)
    return envelope


async def stage_many(
    session: AsyncSession,
    events: Sequence[Event],
    *,
    correlation_id: str | None = None,
    causation_id: UUID | None = None,
) -> list[Envelope]:
    """Record several events, in order, in one multi-row statement inside the caller's transaction: what
    :func:`stage` does for one, for a scan that emits thousands in one transaction (a round trip per event
    was most of its cost). Returns their envelopes."""
    if not events:
        return []
    from lkg.common.events.inbox import current_causation_id

    correlation_id = correlation_id or logmod.correlation_id.get()
    causation_id = causation_id or current_causation_id.get()
    envelopes = [Envelope.wrap(e, correlation_id=correlation_id, causation_id=causation_id) for e in events]
    await session.execute(_INSERT, [_row(envelope) for envelope in envelopes])
    session.info[OUTBOX_STAGED] = True
    return envelopes


#: The largest envelope an event may have: NATS refuses a message above its ``max_payload`` (1 MiB by
#: default, and in deploy/base/nats), less room for the headers. A larger row would stop the relay at the
#: head of the outbox for good (it publishes in order), so it is refused when staged instead.
MAX_EVENT_BYTES = 1024 * 1024 - 8 * 1024


class EventTooLarge(ValueError):
    """An event whose envelope NATS would refuse (:data:`MAX_EVENT_BYTES`): the producer's transaction
    fails with it, and the event must carry less (a reference to what a reader fetches over HTTP)."""


def _row(envelope: Envelope) -> dict[str, object]:
    """The outbox row of ``envelope``: what the relay publishes, under ``Nats-Msg-Id`` = its event id."""
    body = envelope.to_bytes()
    if len(body) > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"{envelope.type}: {len(body):,} bytes, more than the {MAX_EVENT_BYTES:,} a message may carry"
        )
    return {
        "event_id": envelope.event_id,
        "subject": envelope.subject(),
        "event_type": envelope.type,
        "body": body,
        "headers": _headers(envelope),
    }


def _headers(envelope: Envelope) -> dict[str, str]:
    headers = {
        "Nats-Msg-Id": str(envelope.event_id),
        "Lkg-Type": envelope.type,
        "Lkg-Version": str(envelope.version),
    }
    if envelope.correlation_id:
        headers["Lkg-Correlation-Id"] = envelope.correlation_id
    return headers
