"""Contracts the notifier (消息通知) publishes: the delivery log."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import (
    Field,
)

from lkg.common.events.contracts.shared import (
    _Fact,
)


class _NotifierFact(_Fact):
    producer: ClassVar[str] = "notifier"


# ---------------------------------------------------------------------------------------------------------
# notifier


class _NotificationFact(_NotifierFact):
    notification_id: UUID
    recipient_person_id: UUID
    channel: str
    """A configured channel, e.g. ``inbox``, ``sms``, ``email``."""
    template: str
    cause_event_id: UUID | None = None
    """The event that caused the notification."""
    cause_event_type: str | None = None
    attempt: int = Field(default=1, ge=1)


class NotificationDelivered(_NotificationFact):
    """通知送达: a notification reached its channel."""

    event_type: ClassVar[str] = "notification.delivered"


class NotificationFailed(_NotificationFact):
    """通知失败: a delivery attempt failed."""

    event_type: ClassVar[str] = "notification.failed"

    reason: str
    will_retry: bool
