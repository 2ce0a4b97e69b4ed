"""The inbox (站内消息): a person's messages, newest first, read marks, each message's delivery log, and
the messages after a stream position (the live stream's catch-up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import NotFound
from lkg.common.log import get_logger
from lkg.notifier.models import (
    delivery_log,
    inbox_message,
)
from lkg.notifier.notices import log_delivery

log = get_logger(__name__)


# ---- the inbox ------------------------------------------------------------------------------------------

INBOX_ORDER = Keyset(sort=inbox_message.c.seq, id=inbox_message.c.id, name="inbox", descending=True)


async def list_inbox(
    session: AsyncSession, *, person_id: UUID, page: PageParams, unread: bool | None = None
) -> tuple[list[Any], str | None]:
    stmt = sa.select(inbox_message).where(inbox_message.c.person_id == person_id)
    if unread is True:
        stmt = stmt.where(inbox_message.c.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(inbox_message.c.read_at.is_not(None))
    return await fetch_page(session, stmt, INBOX_ORDER, page, scalars=False)


async def unread_count(session: AsyncSession, *, person_id: UUID) -> int:
    return (
        await session.execute(
            sa.select(sa.func.count()).where(
                inbox_message.c.person_id == person_id, inbox_message.c.read_at.is_(None)
            )
        )
    ).scalar_one()


async def get_message(session: AsyncSession, *, person_id: UUID, message_id: UUID) -> Any:
    """A message of ``person_id``'s own inbox; anybody else's is 404 (a person reads only their own)."""
    row = (
        await session.execute(
            sa.select(inbox_message).where(
                inbox_message.c.id == message_id, inbox_message.c.person_id == person_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("消息不存在", code="message_not_found")
    return row


async def mark_read(session: AsyncSession, *, person_id: UUID, message_id: UUID, at: datetime) -> Any:
    row = await get_message(session, person_id=person_id, message_id=message_id)
    if row.read_at is not None:
        return row
    await session.execute(sa.update(inbox_message).where(inbox_message.c.id == message_id).values(read_at=at))
    await log_delivery(session, message_id=message_id, channel="inbox", step="read", at=at)
    return await get_message(session, person_id=person_id, message_id=message_id)


async def mark_all_read(session: AsyncSession, *, person_id: UUID, at: datetime) -> int:
    ids = (
        (
            await session.execute(
                sa.update(inbox_message)
                .where(inbox_message.c.person_id == person_id, inbox_message.c.read_at.is_(None))
                .values(read_at=at)
                .returning(inbox_message.c.id)
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await session.execute(
            sa.insert(delivery_log),
            [{"message_id": i, "channel": "inbox", "step": "read", "at": at} for i in ids],
        )
    return len(ids)


async def message_log(session: AsyncSession, *, message_id: UUID) -> list[Any]:
    return list(
        (
            await session.execute(
                sa.select(delivery_log)
                .where(delivery_log.c.message_id == message_id)
                .order_by(delivery_log.c.id)
            )
        ).all()
    )


async def messages_since(
    session: AsyncSession, *, person_id: UUID, after_seq: int, limit: int = 200
) -> list[Any]:
    """A person's messages after ``after_seq`` in order (the stream's replay after ``Last-Event-ID``)."""
    return list(
        (
            await session.execute(
                sa.select(inbox_message)
                .where(inbox_message.c.person_id == person_id, inbox_message.c.seq > after_seq)
                .order_by(inbox_message.c.seq)
                .limit(limit)
            )
        ).all()
    )
