"""The events a matter tells the others (docs/events.md), built from its rows: one family of contract
classes per kind of matter (``problem.*``, ``meeting_matter.*``), the same verbs and fields."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.base import Event

# The outbox's own statement and header format, so these rows are exactly what stage() writes.
from lkg.common.events.outbox import stage, stage_many

FAMILIES: dict[str, dict[str, type[Event]]] = {
    "problem": {
        "reported": c.ProblemReported,
        "accepted": c.ProblemAccepted,
        "answered": c.ProblemAnswered,
        "progress_reported": c.ProblemProgressReported,
        "warned": c.ProblemWarned,
        "breached": c.ProblemBreached,
        "escalated": c.ProblemEscalated,
        "resolved": c.ProblemResolved,
        "closed": c.ProblemClosed,
        "rerouted": c.ProblemRerouted,
    },
    "meeting_matter": {
        "reported": c.MeetingMatterReported,
        "accepted": c.MeetingMatterAccepted,
        "answered": c.MeetingMatterAnswered,
        "progress_reported": c.MeetingMatterProgressReported,
        "warned": c.MeetingMatterWarned,
        "breached": c.MeetingMatterBreached,
        "escalated": c.MeetingMatterEscalated,
        "resolved": c.MeetingMatterResolved,
        "closed": c.MeetingMatterClosed,
        "rerouted": c.MeetingMatterRerouted,
    },
}


def clock_snapshot(row: Any) -> c.ClockSnapshot:
    return c.ClockSnapshot(
        deadline_id=row.id,
        kind=c.ClockKind(row.kind),
        charged_unit_id=row.charged_unit_id,
        started_at=row.started_at,
        due_at=row.due_at,
        budget=row.budget,
        budget_unit=c.BudgetUnit(row.budget_unit) if row.budget_unit else None,
        provisional=row.provisional,
    )


def clocks(rows: Iterable[Any]) -> tuple[c.ClockSnapshot, ...]:
    return tuple(clock_snapshot(r) for r in rows)


def _matter_fields(m: Any, at: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "effective_at": at,
        "matter_id": m.id,
        "title": m.title,
        "layer": c.Layer(m.layer),
        "line_id": m.line_id,
        "resolving_unit_id": m.resolving_unit_id,
        "resolving_unit_name": m.resolving_unit_name,
        "project_id": m.project_id,
        "project_name": m.project_name,
    }
    if m.kind == "meeting_matter":
        fields["project_id"] = m.project_id
    return fields


def fact(m: Any, verb: str, at: datetime, **fields: Any) -> Event:
    """The ``verb`` event of matter ``m`` (a row, or anything with its attributes, as it stands after the
    change)."""
    cls = FAMILIES[m.kind][verb]
    extra: dict[str, Any] = {}
    if m.kind == "meeting_matter" and verb == "reported":
        extra = {"meeting_title": m.meeting_title, "meeting_date": m.meeting_date}
    return cls(**_matter_fields(m, at), **extra, **fields)


async def tell(session: AsyncSession, m: Any, verb: str, at: datetime, **fields: Any) -> None:
    """Stage the ``verb`` event of matter ``m`` (a row as it stands after the change)."""
    await stage(session, fact(m, verb, at, **fields))


async def tell_all(session: AsyncSession, events: list[Event]) -> None:
    """Stage several events in one statement, in order (:func:`lkg.common.events.outbox.stage_many`), for a
    scan that acts on hundreds of matters in one transaction."""
    await stage_many(session, events)
