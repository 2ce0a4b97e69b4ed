"""The append-only audit trail (审计记录): every action on every matter and card — who, what, when, at which
layer. The table refuses UPDATE and DELETE (a trigger in the migration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.issues.models import audit_entry

#: The actor of what scans and event handlers do, and the name the audit trail shows for it.
SYSTEM = "system"
SYSTEM_NAME = "系统"

_INSERT = sa.insert(audit_entry)


async def record(session: AsyncSession, subject: Any, action: str, **entry: Any) -> None:
    """Append one entry about ``subject`` (a matter or a red card row; or None with ``subject_kind`` and
    ``subject_id`` given); ``entry`` as :func:`entry_for` takes it."""
    await session.execute(_INSERT.values(**entry_for(subject, action, **entry)))


async def trail(session: AsyncSession, subject_id: Any) -> list[Any]:
    result = await session.execute(
        sa.select(audit_entry).where(audit_entry.c.subject_id == subject_id).order_by(audit_entry.c.id)
    )
    return list(result.all())


def entry_for(
    subject: Any,
    action: str,
    *,
    actor: str,
    actor_name: str | None,
    at: datetime,
    layer: int | None = None,
    detail: dict[str, Any] | None = None,
    subject_kind: str | None = None,
    subject_id: Any = None,
) -> dict[str, Any]:
    """One audit entry about ``subject``: who (``actor``, ``actor_name``; :data:`SYSTEM` for the service
    itself), when, at which layer, with what detail; ``subject_kind`` and ``subject_id`` say what it is about
    where ``subject`` does not (a red card has no ``kind``). Written by :func:`record` or, several at once,
    :func:`record_many`."""
    return {
        "subject_kind": subject_kind or subject.kind,
        "subject_id": subject_id or subject.id,
        "action": action,
        "actor": actor,
        "actor_name": actor_name,
        "layer": layer,
        "at": at,
        "detail": detail or {},
    }


async def record_many(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Append several entries at once, in list order (one cached statement, executed for the list: the
    driver batches it; the identity keeps their order)."""
    if entries:
        await session.execute(_INSERT, entries)
