"""Evidence (依据): the facts behind a figure on a score sheet, as sheets, rankings and reports show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from lkg.common.events.contracts import EvidenceRef


@dataclass(frozen=True)
class Evidence:
    """One fact behind a figure: what it is, its id, the event that told scoring, a readable sentence."""

    kind: str
    id: UUID
    event_id: UUID | None
    note: str
    counts: str
    """How it counts: ``on_time``, ``missed``, ``ahead``, ``closed``, ``open``, ``not_counted``,
    ``breach``, ``enrolment_failed``, ``red_card``."""
    card: CardDetail | None = None
    """For a red card: its source, reason and dates."""

    def contract(self) -> EvidenceRef:
        suffix = f"（事件 {self.event_id}）" if self.event_id else ""
        return EvidenceRef(kind=self.kind, id=self.id, note=f"{self.note}{suffix}")


@dataclass(frozen=True)
class CardDetail:
    """A red card shown as evidence: where it comes from, what for, when it was issued and withdrawn."""

    source: str
    reason: str
    reason_label: str
    period_start: date
    issued_on: date
    withdrawn_on: date | None = None
    withdrawal_reason: str | None = None
