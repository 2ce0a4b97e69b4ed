"""Writing a matter's row: every change bumps its revision (its ETag) and its ``updated_at``. A person's
action is conditional on the revision they saw (:func:`changed`: 412 if someone else changed it first); the
service's own (a scan, an event) is not (:func:`advanced`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.concurrency import update_if_revision
from lkg.issues.models import matter


async def changed(
    session: AsyncSession, m: Any, expected_revision: int, values: dict[str, Any], at: datetime
) -> Any:
    """Conditional update of a matter (412 if someone else changed it first); the row as it stands."""
    await update_if_revision(session, matter, m.id, expected_revision, {**values, "updated_at": at})
    return (await session.execute(sa.select(matter).where(matter.c.id == m.id))).one()


async def advanced(session: AsyncSession, matter_id: UUID, values: dict[str, Any], at: datetime) -> Any:
    """The service's own update of a matter at ``at``; the row as it stands."""
    stmt = (
        sa.update(matter)
        .where(matter.c.id == matter_id)
        .values(**values, revision=matter.c.revision + 1, updated_at=at)
        .returning(matter)
    )
    return (await session.execute(stmt)).one()
