"""Use cases that keep open matters with the posts and lines that hold them when the registry or the org
directory changes (matters belong to posts and units, never to people: docs/issues.md#holders).

* A project that moves to another line (or another responsible unit) takes its open matters along: each
  one's line and layer-1 unit follow the project, its holders are resolved again, and the others are told
  (``problem.rerouted`` / ``meeting_matter.rerouted``). Only a snapshot the read copy took (newer than the
  one it held) moves anything: the read copy's hook calls this only then.
* An org change (a new line leader post or service department, a new 重大项目办) re-resolves the holders of
  open matters above layer 1.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.readcopy import ProjectCopyChange
from lkg.issues import org
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, record
from lkg.issues.matters.events import tell
from lkg.issues.matters.rows import advanced
from lkg.issues.models import OPEN_STATES, matter


async def follow_project(session: AsyncSession, change: ProjectCopyChange) -> list[Any]:
    """The project's open matters follow it to the line and responsible unit of ``change`` (a snapshot the
    read copy took: newer than the one it held). Each matter that was elsewhere moves once: its line and
    layer-1 unit follow the project, its holders at its layer are resolved again, its audit trail says
    ``rerouted`` and the others are told (``problem.rerouted`` / ``meeting_matter.rerouted``); its layer and
    clocks stay. Returns the matters moved, as they stand."""
    project = change.project
    at = project.effective_at
    rows = (
        await session.execute(
            sa.select(matter)
            .where(
                matter.c.project_id == project.id,
                matter.c.state.in_(OPEN_STATES),
                sa.or_(
                    matter.c.line_id.is_distinct_from(project.line_id),
                    matter.c.project_unit_id.is_distinct_from(project.responsible_unit_id),
                ),
            )
            .order_by(matter.c.reported_at, matter.c.id)
            .with_for_update()
        )
    ).all()
    moved = []
    for was in rows:
        holders = await org.holders_at(
            session,
            layer=was.layer,
            line_id=project.line_id,
            project_unit_id=project.responsible_unit_id,
            day=at.date(),
        )
        follows = {"line_id": project.line_id, "project_unit_id": project.responsible_unit_id}
        m = await advanced(session, was.id, {**follows, **holders.columns()}, at)
        await tell(
            session,
            m,
            "rerouted",
            at,
            from_line_id=was.line_id,
            responsible_unit_id=project.responsible_unit_id,
            from_responsible_unit_id=was.project_unit_id,
            reason=project.routing_reason,
            project_revision=change.revision,
            holder_post_ids=holders.post_ids,
            holder_unit_ids=holders.unit_ids,
        )
        await record(
            session,
            m,
            "rerouted",
            actor=SYSTEM,
            actor_name=SYSTEM_NAME,
            at=at,
            layer=m.layer,
            detail={
                "line_id": str(project.line_id) if project.line_id else None,
                "from_line_id": str(was.line_id) if was.line_id else None,
                "reason": project.routing_reason,
                "project_revision": change.revision,
                **holders.detail(),
            },
        )
        moved.append(m)
    return moved


async def refresh_holders(session: AsyncSession, where: Any, day: date, at: datetime, why: str) -> int:
    """Re-resolve the holders of the open matters above layer 1 selected by ``where`` on ``day``; a matter
    whose holders are unchanged is left as it is. Returns how many changed."""
    rows = (
        await session.execute(
            sa.select(matter).where(matter.c.state.in_(OPEN_STATES), matter.c.layer >= 2, where)
        )
    ).all()
    groups: dict[tuple[int, Any], list[Any]] = defaultdict(list)
    for m in rows:
        groups[(m.layer, m.line_id)].append(m)
    changed = 0
    for (layer, line_id), members in groups.items():
        holders = await org.holders_at(session, layer=layer, line_id=line_id, project_unit_id=None, day=day)
        for m in members:
            if tuple(m.holder_post_ids) == holders.post_ids and tuple(m.holder_unit_ids) == holders.unit_ids:
                continue
            changed += 1
            await advanced(session, m.id, holders.columns(), at)
            await record(
                session,
                m,
                "holders_changed",
                actor=SYSTEM,
                actor_name=SYSTEM_NAME,
                at=at,
                layer=m.layer,
                detail={
                    "why": why,
                    **holders.detail(),
                },
            )
    return changed
