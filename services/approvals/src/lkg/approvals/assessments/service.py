"""Use cases of regional assessments (区域评估, policy §四(一)): record one, change it, read them; each
recording or change is applied at once to the plans of the projects in its area
(:mod:`lkg.approvals.assessments.apply`), or, for one valid from a later day, by the scan on that day.

The approval bureau (行政审批局) and 重大项目办 record them; every signed-in caller may read them (an area and
what it spares projects there is no secret: it is what investment promotion tells an investor).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.assessments.apply import apply_everywhere, in_force
from lkg.approvals.models import ApprovalItem, CatalogueItem, RegionalAssessment, org
from lkg.approvals.settings import ApprovalsRuntime
from lkg.common.access import permitted
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ, Clock
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound
from lkg.common.orgcopy import in_force as unit_in_force
from lkg.common.scans import scan_due

BY_CREATED = Keyset(sort=RegionalAssessment.created_at, id=RegionalAssessment.id, name="created")


def _refused(field: str, message: str, code: str, **extra: Any) -> Conflict:
    """409: the request is well formed, but what the service holds (the catalogue, the directory, the
    assessment as it stands) refuses it, as ``unknown_prerequisite`` does (docs/approvals.md)."""
    return Conflict(message, code=code, extra={"field": field, **extra})


def _once(values: list[Any]) -> list[Any]:
    """Repeats taken once, in the order given."""
    return list(dict.fromkeys(values))


def check_shape(values: dict[str, Any], held: RegionalAssessment | None = None) -> dict[str, Any]:
    """An area with at least one street, park or plot (repeats taken once); each catalogue code at most once;
    ``valid_to`` not before ``valid_from`` (as changed, else as held). Returns the values to store."""
    values = {k: (_once(v) if k in ("streets", "parks", "plots") else v) for k, v in values.items()}
    area = [values.get(k, getattr(held, k, None) or []) for k in ("streets", "parks", "plots")]
    if not any(area):
        raise _refused("streets", "须给出评估范围：街道、园区或地块", "assessment_area_empty")
    if "effects" in values:
        codes = [e["code"] for e in values["effects"]]
        if repeated := sorted({c for c in codes if codes.count(c) > 1}):
            raise _refused("effects", "同一审批事项只能给出一种效力", "duplicate_effect", repeated=repeated)
    valid_from = values.get("valid_from", held.valid_from if held else None)
    valid_to = values.get("valid_to", held.valid_to if held else None)
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise _refused("valid_to", "有效期止不得早于有效期起", "validity_reversed")
    return values


async def _check_references(session: AsyncSession, values: dict[str, Any], day: date) -> None:
    """Catalogue codes the catalogue has; streets that are streets of the directory on ``day``; an issuing
    unit the directory knows (409 naming them, nothing recorded)."""
    if "effects" in values:
        codes = {e["code"] for e in values["effects"]}
        known = set((await session.scalars(sa.select(CatalogueItem.code))).all())
        if unknown := sorted(codes - known):
            raise _refused("effects", "审批事项目录中没有这些事项", "unknown_catalogue_item", unknown=unknown)
    units = org.units
    if values.get("streets"):
        wanted = {uuid.UUID(s) for s in values["streets"]}
        streets = set(
            (
                await session.scalars(
                    sa.select(units.c.id).where(
                        units.c.id.in_(wanted), units.c.kind == "street", unit_in_force(units, day)
                    )
                )
            ).all()
        )
        if missing := sorted(str(s) for s in wanted - streets):
            raise _refused("streets", "组织目录中没有这些街道", "unknown_street", unknown=missing)
    if values.get("issuing_unit_id") is not None:
        found = await session.scalar(sa.select(units.c.id).where(units.c.id == values["issuing_unit_id"]))
        if found is None:
            raise _refused("issuing_unit_id", "组织目录中没有该单位", "unknown_unit")


def _apply_at(valid_from: date, now: datetime) -> datetime | None:
    """When the scan must apply an assessment valid from a later day (the start of that day)."""
    return datetime.combine(valid_from, time(0), tzinfo=TZ) if valid_from > local_date(now) else None


async def create_assessment(
    session: AsyncSession,
    *,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    values: dict[str, Any],
) -> RegionalAssessment:
    """Record an assessment and apply it to the plans in its area (from ``valid_from``)."""
    permitted(caller.manages_all, "只有行政审批局或重大项目办可登记区域评估")
    now = clock.now()
    values = check_shape(values)
    await _check_references(session, values, local_date(now))
    assessment = RegionalAssessment(
        id=uuid.uuid4(),
        revision=1,
        **values,
        apply_at=_apply_at(values["valid_from"], now),
        recorded_by=caller.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(assessment)
    await session.flush()
    if assessment.apply_at is None:
        await apply_everywhere(session, calendar, now, [assessment])
    return assessment


async def get_assessment(session: AsyncSession, assessment_id: uuid.UUID) -> RegionalAssessment:
    found = await session.get(RegionalAssessment, assessment_id)
    if found is None:
        raise NotFound("区域评估不存在", code="regional_assessment_not_found")
    return found


async def update_assessment(
    session: AsyncSession,
    *,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    assessment: RegionalAssessment,
    expected_revision: int,
    changes: dict[str, Any],
) -> RegionalAssessment:
    """Change an assessment's area, effects or validity, then bring the plans of the old and the new area in
    step (a plan that left the area gets back what it was spared)."""
    permitted(caller.manages_all, "只有行政审批局或重大项目办可修改区域评估")
    now = clock.now()
    changes = check_shape(changes, assessment)
    await _check_references(session, changes, local_date(now))
    valid_from = changes.get("valid_from", assessment.valid_from)
    row = {**changes, "updated_at": now, "apply_at": _apply_at(valid_from, now)}
    await update_if_revision(session, RegionalAssessment, assessment.id, expected_revision, row)
    await session.refresh(assessment)
    await apply_everywhere(session, calendar, now, [assessment])
    return assessment


async def list_assessments(
    session: AsyncSession, *, page: PageParams
) -> tuple[list[RegionalAssessment], str | None]:
    return await fetch_page(session, sa.select(RegionalAssessment), BY_CREATED, page)


async def plans_applied(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many plans carry each assessment's effects now."""
    rows = await session.execute(
        sa.select(ApprovalItem.assessment_id, sa.func.count(sa.distinct(ApprovalItem.plan_id)))
        .where(ApprovalItem.assessment_id.in_(ids))
        .group_by(ApprovalItem.assessment_id)
    )
    return {row[0]: row[1] for row in rows if row[0] is not None}


def is_in_force(assessment: RegionalAssessment, now: datetime) -> bool:
    return in_force(assessment, local_date(now))


async def scan_assessments(runtime: ApprovalsRuntime, until: datetime) -> int:
    """Apply each assessment recorded ahead of its ``valid_from`` on that day, once (SKIP LOCKED)."""
    table = RegionalAssessment.__table__

    async def handle(session: AsyncSession, row: Any) -> bool:
        assessment = await session.get(RegionalAssessment, row.id)
        assert assessment is not None
        assessment.apply_at = None
        await apply_everywhere(session, runtime.calendar, runtime.clock.now(), [assessment])
        return False

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=table,
        due_column=table.c.apply_at,
        until=until,
        handle=handle,
    )
