"""The event envelope and the base classes every contract derives from (docs/events.md).

A contract is a pydantic model with a class-level type (``project.registered``), producer (``registry``)
and version. Subjects are ``lkg.<producer>.<type>`` (the type already holds ``<aggregate>.<event>``),
optionally under a deployment prefix (one per test run). Nobody types a subject by hand.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import uuid6
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lkg.common.clock import wall_clock_utc

PRODUCERS = ("registry", "approvals", "issues", "scoring", "notifier")

#: (type, version) -> contract class. Filled by ``Event.__init_subclass__``.
_REGISTRY: dict[tuple[str, int], type[Event]] = {}


def new_event_id() -> UUID:
    """UUIDv7 from the wall clock (never the simulated one): ids sort by when they were made."""
    return UUID(int=uuid6.uuid7().int)


def prefixed(prefix: str, subject: str) -> str:
    return f"{prefix}.{subject}" if prefix else subject


class Event(BaseModel):
    """Base of every event payload. Subclasses set ``event_type``, ``producer`` and ``version``."""

    # Consumers ignore fields they do not know yet, so adding an optional field is compatible.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    producer: ClassVar[str]
    version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            return  # an abstract intermediate class
        if cls.producer not in PRODUCERS:
            raise TypeError(f"{cls.__name__}: unknown producer {cls.producer!r}")
        key = (cls.event_type, cls.version)
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise TypeError(f"{cls.__name__}: {key} is already defined by {_REGISTRY[key].__name__}")
        _REGISTRY[key] = cls

    @classmethod
    def subject(cls, prefix: str = "") -> str:
        return prefixed(prefix, f"lkg.{cls.producer}.{cls.event_type}")


class SnapshotEvent(Event):
    """A state event: the full snapshot of one aggregate with its per-aggregate revision.

    A consumer applies it only if ``revision`` is newer than the one it holds (see
    :func:`lkg.common.events.inbox.upsert_if_newer`): relays and redelivery may reorder messages.
    """

    aggregate_id: UUID
    revision: int = Field(ge=1)


class Envelope(BaseModel):
    """What goes on the wire: metadata plus the event's data."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    producer: str
    correlation_id: str | None = None
    causation_id: UUID | None = None
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return value.astimezone(UTC)

    @classmethod
    def wrap(
        cls, event: Event, *, correlation_id: str | None = None, causation_id: UUID | None = None
    ) -> Envelope:
        # pydantic's validator (compiled) takes these already-valid parts faster than model_construct
        # (Python) would: measured 6 us against 11 us per envelope.
        return cls.model_validate(
            {
                "event_id": new_event_id(),
                "type": event.event_type,
                "version": event.version,
                "occurred_at": wall_clock_utc(),  # the real instant of publication, not the shared clock
                "producer": event.producer,
                "correlation_id": correlation_id,
                "causation_id": causation_id,
                "data": event.model_dump(mode="json"),
            }
        )

    def subject(self, prefix: str = "") -> str:
        return prefixed(prefix, f"lkg.{self.producer}.{self.type}")

    def contract(self) -> builtins.type[Event]:
        try:
            return contract_registry()[(self.type, self.version)]
        except KeyError:
            raise UnknownEvent(f"no contract for {self.type} v{self.version}") from None

    def event(self) -> Event:
        """The typed payload; raises pydantic's ValidationError on a malformed one."""
        return self.contract().model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)


class UnknownEvent(LookupError):
    pass


def contract_registry() -> dict[tuple[str, int], type[Event]]:
    """Every contract, by (type, version). The package :mod:`lkg.common.events` imports
    :mod:`lkg.common.events.contracts` on its first import, so the registry is full before anyone can ask;
    this module itself never imports the contracts (they import it)."""
    return _REGISTRY


def contract_for(event_type: str, version: int = 1) -> type[Event]:
    return contract_registry()[(event_type, version)]
