"""Who holds a matter at each layer, from the service's org read copy (:mod:`lkg.common.orgcopy`).

Matters belong to posts and units, never to people (policy §二; docs/issues.md#holders): a matter records
the posts and units that hold it at its layer, and whoever holds those posts today acts on it (the reach
resolver looks holdings up at request time), so a handover (换届) passes open matters to the successor with
their history intact.

* layer 1: the project's responsible unit (项目责任单位, §二(一));
* layer 2: the line's leader post and its service department (包保区级领导 + 综合服务部门, §二(二)); an
  unrouted project has no line, so 区重大项目办 holds it there until it is routed (docs/registry.md, routing);
* layer 3: the district leaders' posts and 区重大项目办 (§二(三)).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import PostKind, UnitRole
from lkg.common.orgcopy import in_force
from lkg.issues.models import org_copy


@dataclass(frozen=True)
class Holders:
    """The posts and units that hold a matter at a layer."""

    post_ids: tuple[UUID, ...] = ()
    unit_ids: tuple[UUID, ...] = ()

    def columns(self) -> dict[str, list[UUID]]:
        """The holders as a matter's row stores them."""
        return {"holder_post_ids": list(self.post_ids), "holder_unit_ids": list(self.unit_ids)}

    def detail(self) -> dict[str, list[str]]:
        """The holders as the audit trail records them."""
        return {
            "holder_post_ids": [str(p) for p in self.post_ids],
            "holder_unit_ids": [str(u) for u in self.unit_ids],
        }


async def units_with_role(session: AsyncSession, role: UnitRole, day: date) -> list[UUID]:
    t = org_copy.units
    rows = await session.execute(
        sa.select(t.c.id)
        .where(sa.literal(str(role)) == sa.any_(t.c.roles), in_force(t, day))
        .order_by(t.c.name)
    )
    return list(rows.scalars())


async def unit_name(session: AsyncSession, unit_id: UUID) -> str | None:
    t = org_copy.units
    return await session.scalar(sa.select(t.c.name).where(t.c.id == unit_id).order_by(t.c.valid_from.desc()))


async def line_service_unit(session: AsyncSession, line_id: UUID | None, day: date) -> UUID | None:
    if line_id is None:
        return None
    t = org_copy.lines
    return await session.scalar(sa.select(t.c.service_unit_id).where(t.c.id == line_id, in_force(t, day)))


async def major_projects_office(session: AsyncSession, day: date) -> UUID | None:
    found = await units_with_role(session, UnitRole.MAJOR_PROJECTS_OFFICE, day)
    return found[0] if found else None


async def coordinator_unit(session: AsyncSession, line_id: UUID | None, day: date) -> UUID | None:
    """The unit that accepts a reported problem and receives handling opinions: the line's service
    department (包保区级领导综合协调办, §五(一)), or 区重大项目办 for an unrouted project (docs/registry.md,
    routing)."""
    return await line_service_unit(session, line_id, day) or await major_projects_office(session, day)


async def holders_at(
    session: AsyncSession, *, layer: int, line_id: UUID | None, project_unit_id: UUID | None, day: date
) -> Holders:
    """The holders of a matter at ``layer`` on ``day``."""
    if layer <= 1:
        return Holders(unit_ids=(project_unit_id,) if project_unit_id else ())
    if layer == 2:
        t = org_copy.lines
        row = None
        if line_id is not None:
            result = await session.execute(
                sa.select(t.c.leader_post_id, t.c.service_unit_id).where(t.c.id == line_id, in_force(t, day))
            )
            row = result.first()
        if row is not None:
            return Holders(post_ids=(row.leader_post_id,), unit_ids=(row.service_unit_id,))
        office = await major_projects_office(session, day)
        return Holders(unit_ids=(office,) if office else ())
    p = org_copy.posts
    leaders = await session.execute(
        sa.select(p.c.id).where(p.c.kind == str(PostKind.DISTRICT_LEADER), in_force(p, day)).order_by(p.c.id)
    )
    office = await major_projects_office(session, day)
    return Holders(post_ids=tuple(leaders.scalars()), unit_ids=(office,) if office else ())
