"""Handling departments (审批部门) as registry unit ids, resolved through the org read copy.

The default catalogue names a department by function (``UnitRole``, e.g. ``approval_bureau`` 区行政审批局)
or by name (区住建局), because unit ids are made by the registry of each deployment. The approvals service
resolves them against its org read copy: when a plan is created and whenever ``org.changed`` arrives, so a
catalogue item or plan item without a unit id gets one as soon as the directory has the unit. Until then an
event carries a placeholder id derived from the name (stable, so every service groups the same department
together) and the department view lists the item under its name.
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.models import ApprovalItem, CatalogueItem, org
from lkg.common.orgcopy import in_force

UNRESOLVED_UNIT_NAMESPACE = uuid.UUID("0b6f8f0e-3a52-4d8e-8f61-7d1e2c9a4b33")


def unit_id_or_placeholder(unit_id: uuid.UUID | None, name: str) -> uuid.UUID:
    return unit_id if unit_id is not None else uuid.uuid5(UNRESOLVED_UNIT_NAMESPACE, name)


async def find_unit(
    session: AsyncSession, role: str | None, name: str, day: date
) -> tuple[uuid.UUID, str] | None:
    """The unit in force on ``day`` holding ``role`` (preferred), else the one named ``name``."""
    units = org.units
    if role is not None:
        row = (
            await session.execute(
                sa.select(units.c.id, units.c.name)
                .where(sa.literal(role) == sa.any_(units.c.roles), in_force(units, day))
                .order_by(units.c.name)
                .limit(1)
            )
        ).first()
        if row is not None:
            return row.id, row.name
    row = (
        await session.execute(
            sa.select(units.c.id, units.c.name).where(units.c.name == name, in_force(units, day)).limit(1)
        )
    ).first()
    return (row.id, row.name) if row is not None else None


async def resolve_catalogue_units(session: AsyncSession, day: date) -> int:
    """Give catalogue items and plan items without a unit id the org copy's unit; returns how many changed."""
    changed = 0
    pending = (
        await session.scalars(sa.select(CatalogueItem).where(CatalogueItem.handling_unit_id.is_(None)))
    ).all()
    for entry in pending:
        found = await find_unit(session, entry.handling_unit_role, entry.handling_unit_name, day)
        if found is None:
            continue
        entry.handling_unit_id, entry.handling_unit_name = found
        changed += 1
    # Plan items follow their catalogue item while they have no department of their own.
    result = await session.execute(
        sa.update(ApprovalItem)
        .where(
            ApprovalItem.handling_unit_id.is_(None),
            ApprovalItem.catalogue_item_id == CatalogueItem.id,
            CatalogueItem.handling_unit_id.is_not(None),
        )
        .values(
            handling_unit_id=CatalogueItem.handling_unit_id,
            handling_unit_name=CatalogueItem.handling_unit_name,
        )
        .returning(ApprovalItem.id)
        .execution_options(synchronize_session=False)
    )
    return changed + len(result.all())
