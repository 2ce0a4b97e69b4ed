"""Use cases of the approval catalogue (审批事项目录): the kinds of approval, their handling departments,
limits and prerequisites. Plans already made keep their own copy of what they took from it.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.models import CatalogueItem
from lkg.common.clock import Clock
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.problems import Conflict, NotFound


async def list_catalogue(session: AsyncSession) -> list[CatalogueItem]:
    return list((await session.scalars(sa.select(CatalogueItem).order_by(CatalogueItem.position))).all())


async def get_catalogue_item(session: AsyncSession, item_id: uuid.UUID) -> CatalogueItem:
    entry = await session.get(CatalogueItem, item_id)
    if entry is None:
        raise NotFound("审批事项目录中无此事项", code="catalogue_item_not_found")
    return entry


async def _check_prerequisites(session: AsyncSession, code: str, prerequisites: dict[str, list[str]]) -> None:
    """409, not 422: whether a prerequisite is acceptable depends on what the catalogue holds, which no
    request schema can say (a well-formed code the catalogue lacks; the item itself, the shortest cycle)."""
    known = set((await session.scalars(sa.select(CatalogueItem.code))).all()) | {code}
    unknown = sorted({c for codes in prerequisites.values() for c in codes} - known)
    if unknown:
        raise Conflict("前置事项不在目录中", code="unknown_prerequisite", extra={"unknown": unknown})
    if any(code in codes for codes in prerequisites.values()):
        raise Conflict("事项不能以自身为前置", code="prerequisite_cycle")


async def create_catalogue_item(
    session: AsyncSession, *, clock: Clock, values: dict[str, Any]
) -> CatalogueItem:
    """A new kind of approval, placed after the others (409 for a code already used)."""
    await _check_prerequisites(session, values["code"], values.get("prerequisites", {}))
    last = await session.scalar(sa.select(sa.func.max(CatalogueItem.position)))
    position = (last or 0) + 10
    entry = CatalogueItem(
        id=uuid.uuid4(), revision=1, position=position, source_version="api", updated_at=clock.now(), **values
    )
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("目录中已有此代码的事项", code="catalogue_code_taken") from exc
    return entry


async def update_catalogue_item(
    session: AsyncSession,
    *,
    clock: Clock,
    item_id: uuid.UUID,
    expected_revision: int,
    changes: dict[str, Any],
) -> CatalogueItem:
    """Change a kind of approval; plans already made keep their copy."""
    entry = await get_catalogue_item(session, item_id)
    if "prerequisites" in changes:
        await _check_prerequisites(session, entry.code, changes["prerequisites"])
    await update_if_revision(
        session, CatalogueItem, item_id, expected_revision, {**changes, "updated_at": clock.now()}
    )
    entry = await get_catalogue_item(session, item_id)
    await session.refresh(entry)
    return entry
