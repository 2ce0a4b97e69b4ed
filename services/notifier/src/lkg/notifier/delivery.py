"""Sending (投递): :func:`send_due` (the delivery scan) sends the deliveries that are due over mail, SMS
and webhooks; a failure is retried with backoff on the shared clock and dead-lettered after the last try,
every attempt kept in the delivery log and announced as ``notification.delivered`` / ``.failed``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.log import get_logger
from lkg.notifier import channels
from lkg.notifier.models import (
    delivery,
    inbox_message,
    notice,
    org_copy,
    person_setting,
    webhook_endpoint,
)
from lkg.notifier.notices import log_delivery
from lkg.notifier.settings import NotifierRuntime, NotifierSettings

log = get_logger(__name__)


# ---- 3. sending ---------------------------------------------------------------------------------------


async def _names(session: AsyncSession, people: Sequence[UUID]) -> dict[UUID, str]:
    p = org_copy.people
    rows = (await session.execute(sa.select(p.c.id, p.c.name).where(p.c.id.in_(list(people))))).all()
    return {r.id: r.name for r in rows}


async def send_due(runtime: NotifierRuntime, until: datetime) -> int:
    """Send every delivery due up to ``until``, a batch at a time; each channel's attempts run side by
    side, so a slow or failing one holds up nobody else's (each attempt is bounded by its timeout)."""
    settings = runtime.settings
    sent = 0
    # The HTTP client (its TLS context costs milliseconds to build) only once something is due: this
    # scan runs every few seconds, mostly to find nothing.
    client: httpx.AsyncClient | None = None
    try:
        while True:
            async with runtime.db.transaction() as session:
                rows = (
                    await session.execute(
                        sa.select(
                            delivery,
                            inbox_message.c.title,
                            inbox_message.c.body,
                            inbox_message.c.link,
                            inbox_message.c.kind,
                            inbox_message.c.notice_id,
                        )
                        .join(inbox_message, inbox_message.c.id == delivery.c.message_id)
                        .where(delivery.c.state == "queued", delivery.c.next_attempt_at <= until)
                        .order_by(delivery.c.next_attempt_at, delivery.c.id)
                        .limit(settings.delivery_batch_size)
                        .with_for_update(of=delivery, skip_locked=True)
                    )
                ).all()
                if not rows:
                    return sent
                if client is None:
                    timeout = settings.webhook_timeout_seconds
                    client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
                people = {r.person_id for r in rows}
                names = await _names(session, list(people))
                contacts = {
                    r.person_id: r
                    for r in (
                        await session.execute(
                            sa.select(person_setting).where(person_setting.c.person_id.in_(list(people)))
                        )
                    ).all()
                }
                endpoint_ids = [UUID(r.target) for r in rows if r.channel == "webhook"]
                endpoints = {
                    str(e.id): e
                    for e in (
                        await session.execute(
                            sa.select(webhook_endpoint).where(webhook_endpoint.c.id.in_(endpoint_ids))
                        )
                    ).all()
                }

                outcomes = await asyncio.gather(
                    *(_attempt(settings, client, r, names, contacts, endpoints) for r in rows)
                )
                for r, error in zip(rows, outcomes, strict=True):
                    # Recorded at its due time, as the breaches are (docs/time.md): over a jump of the clock,
                    # the retries land where they would have in real time, and are sent in this scan.
                    await _record_attempt(session, settings, r, error, r.next_attempt_at)
                sent += len(rows)
    finally:
        if client is not None:
            await client.aclose()


async def _attempt(
    settings: NotifierSettings,
    client: httpx.AsyncClient,
    r: Any,
    names: dict[UUID, str],
    contacts: dict[UUID, Any],
    endpoints: dict[str, Any],
) -> str | None:
    """One attempt of one delivery: ``None`` when the receiver accepted it, else why not."""
    contact = contacts.get(r.person_id)
    out = channels.Outgoing(
        delivery_id=r.id,
        title=r.title,
        body=r.body,
        link=r.link,
        kind=r.kind,
        recipient_name=names.get(r.person_id, ""),
        email=r.target if r.channel == "email" else None,
        mobile=contact.mobile if contact is not None else None,
    )
    try:
        if r.channel == "email":
            await channels.send_email(settings, out)
        else:
            endpoint = endpoints.get(r.target)
            if endpoint is None or not endpoint.enabled:
                return "回调端点已删除或停用"
            await channels.send_webhook(settings, client, endpoint, out)
    except channels.DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # an unexpected failure is still one failed attempt, never a lost delivery
        return f"{type(exc).__name__}: {exc}"
    return None


async def _record_attempt(
    session: AsyncSession, settings: NotifierSettings, r: Any, error: str | None, now: datetime
) -> None:
    attempt = r.attempts + 1
    notice_row = (
        await session.execute(sa.select(notice.c.event_id, notice.c.kind).where(notice.c.id == r.notice_id))
    ).one_or_none()
    common = {
        "notification_id": r.message_id,
        "recipient_person_id": r.person_id,
        "channel": r.channel,
        "template": r.kind,
        "cause_event_id": notice_row.event_id if notice_row else None,
        "cause_event_type": notice_row.kind if notice_row else None,
        "attempt": attempt,
        "effective_at": now,
    }
    if error is None:
        await session.execute(
            sa.update(delivery)
            .where(delivery.c.id == r.id)
            .values(state="sent", attempts=attempt, sent_at=now, next_attempt_at=None, last_error=None)
        )
        await log_delivery(
            session,
            message_id=r.message_id,
            delivery_id=r.id,
            channel=r.channel,
            step="sent",
            at=now,
            attempt=attempt,
        )
        await stage(session, c.NotificationDelivered(**common))
        return
    retry = attempt <= len(settings.delivery_backoff_seconds)
    values: dict[str, Any] = {"attempts": attempt, "last_error": error}
    if retry:
        values["next_attempt_at"] = now + timedelta(seconds=settings.delivery_backoff_seconds[attempt - 1])
    else:
        values.update(state="dead", next_attempt_at=None)
    await session.execute(sa.update(delivery).where(delivery.c.id == r.id).values(**values))
    await log_delivery(
        session,
        message_id=r.message_id,
        delivery_id=r.id,
        channel=r.channel,
        step="failed" if retry else "dead",
        at=now,
        attempt=attempt,
        detail=error,
    )
    log.warning(
        "notifier.delivery_failed",
        delivery_id=str(r.id),
        channel=r.channel,
        attempt=attempt,
        will_retry=retry,
        error=error,
    )
    await stage(session, c.NotificationFailed(**common, reason=error, will_retry=retry))
