"""Regional assessments applied to plans (区域评估、审批结果互认, policy §四(一)).

An assessment covers a project when the project's site (from the registry's snapshot) lies in its area:
its street is one of the assessment's streets, or its park or plot is named. On a covered plan each item the
assessment names is, while the item is untouched:

- ``waive`` (免于单独办理): the item moves to ``waived``, done on the day it was applied; it blocks nothing,
  and it counts as done for the items that wait on it;
- ``shorten``: the item's limit is its catalogue limit less ``days`` (never below one day), recorded as
  ``limit_saved_days``; a clock started after that counts the shorter limit.

Several assessments naming one item do not add up: a waiver wins, else the largest saving. "Untouched"
means not yet applied for (``planned``) for a waiver, and not yet accepted (``planned``, ``submitted``) for a
shorter limit: once the department accepted, the clock runs on the limit it was accepted with.

An assessment applies from its ``valid_from`` (a scan applies one recorded ahead of time on that day) to its
``valid_to``: a plan that comes into its area while it is in force gets its effects. What it did to a plan
stays after it expires, as a decision taken stays; it is undone (each step written to the item's history)
only when the project's site leaves the area, or the assessment is changed so that it no longer covers the
site or names the item. Applying is idempotent: running it again on the same facts changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.items.service import record_change
from lkg.approvals.models import ApprovalItem, ApprovalPlan, RegionalAssessment
from lkg.approvals.risk import items_of, reassess
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.events.contracts import ProjectSnapshot

#: Item states a waiver may start from, and those in which the limit may still change.
WAIVABLE = frozenset({"planned"})
SHORTENABLE = frozenset({"planned", "submitted"})


@dataclass(frozen=True)
class Site:
    """项目选址: the project's street (a registry unit id) and, where known, its park and plot."""

    street_id: uuid.UUID | None = None
    park: str | None = None
    plot: str | None = None


def site_of_snapshot(project: ProjectSnapshot) -> Site:
    """The site as the registry's snapshot gives it (none until the registry records one)."""
    site = project.site
    if site is None:
        return Site()
    return Site(street_id=site.street_id, park=site.park, plot=site.plot)


def site_of(plan: ApprovalPlan) -> Site:
    return Site(plan.site_street_id, plan.site_park, plan.site_plot)


def covers(assessment: RegionalAssessment, site: Site) -> bool:
    """The site lies in the assessment's area."""
    return (
        (site.street_id is not None and str(site.street_id) in assessment.streets)
        or (site.park is not None and site.park in assessment.parks)
        or (site.plot is not None and site.plot in assessment.plots)
    )


def in_force(assessment: RegionalAssessment, day: date) -> bool:
    return assessment.valid_from <= day and (assessment.valid_to is None or day <= assessment.valid_to)


@dataclass(frozen=True)
class Effect:
    assessment: RegionalAssessment
    waive: bool
    days: int

    @property
    def rank(self) -> tuple[bool, int, int, str]:
        # A waiver wins, then the largest saving; ties by the earlier issue, then the id (deterministic).
        return (self.waive, self.days, -self.assessment.issued_on.toordinal(), str(self.assessment.id))


def effects_for(
    assessments: Iterable[RegionalAssessment], site: Site, day: date, held: set[uuid.UUID]
) -> dict[str, Effect]:
    """The effect each catalogue code gets on a plan at ``site`` on ``day``: from the assessments in force
    that cover it, and from those already applied to the plan (``held``) that still cover it."""
    best: dict[str, Effect] = {}
    for assessment in assessments:
        if not covers(assessment, site) or not (in_force(assessment, day) or assessment.id in held):
            continue
        for entry in assessment.effects:
            effect = Effect(assessment, entry["effect"] == "waive", int(entry.get("days") or 0))
            current = best.get(entry["code"])
            if current is None or effect.rank > current.rank:
                best[entry["code"]] = effect
    return best


def _touch(item: ApprovalItem, now: datetime) -> None:
    item.revision += 1
    item.updated_at = now


def _set_limit(session: AsyncSession, item: ApprovalItem, effect: Effect | None, now: datetime) -> bool:
    base = item.limit_days + item.limit_saved_days
    shortening = effect if effect is not None and not effect.waive else None
    saved = min(shortening.days, base - 1) if shortening is not None else 0
    assessment_id = shortening.assessment.id if shortening is not None and saved else None
    if (saved, assessment_id) == (item.limit_saved_days, item.assessment_id):
        return False
    record_change(
        session,
        item,
        action="limit_shortened" if saved else "limit_restored",
        to_state=item.state,
        actor="system",
        at=now,
        note=(
            f"区域评估互认，办理时限缩短{saved}天：{shortening.assessment.title}"
            if shortening is not None and saved
            else "不再适用区域评估，办理时限恢复"
        ),
        details={
            "assessment_id": str(assessment_id) if assessment_id else None,
            "limit_days_before": item.limit_days,
            "limit_days": base - saved,
        },
    )
    item.limit_days, item.limit_saved_days, item.assessment_id = base - saved, saved, assessment_id
    _touch(item, now)
    return True


def reconcile_plan(
    session: AsyncSession,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    assessments: Sequence[RegionalAssessment],
    now: datetime,
) -> bool:
    """Bring the plan's items in step with the assessments covering its site today; True if any changed."""
    if plan.project_status != "active":
        return False  # a closed plan keeps what it had
    held = {i.assessment_id for i in items if i.assessment_id is not None}
    wanted = effects_for(assessments, site_of(plan), local_date(now), held)
    changed = False
    for item in items:
        effect = wanted.get(item.code)
        if item.state == "waived" and not (effect is not None and effect.waive):
            record_change(
                session,
                item,
                action="waiver_revoked",
                to_state="planned",
                actor="system",
                at=now,
                note="项目已不在区域评估范围内，须单独办理",
                details={"assessment_id": str(item.assessment_id) if item.assessment_id else None},
            )
            item.state, item.decided_at, item.assessment_id = "planned", None, None
            _touch(item, now)
            changed = True
        if item.state in WAIVABLE and effect is not None and effect.waive:
            changed |= _set_limit(session, item, None, now)
            record_change(
                session,
                item,
                action="waived",
                to_state="waived",
                actor="system",
                at=now,
                note=f"区域评估互认，免于单独办理：{effect.assessment.title}",
                details={"assessment_id": str(effect.assessment.id), "kind": effect.assessment.kind},
            )
            item.state, item.decided_at, item.assessment_id = "waived", now, effect.assessment.id
            _touch(item, now)
            changed = True
        elif item.state in SHORTENABLE:
            changed |= _set_limit(session, item, effect, now)
    if changed:
        plan.revision += 1
        plan.updated_at = now
    return changed


async def all_assessments(session: AsyncSession) -> list[RegionalAssessment]:
    """Every assessment (a district records a few dozen: read whole)."""
    return list((await session.scalars(sa.select(RegionalAssessment))).all())


async def apply_to_plan(session: AsyncSession, plan: ApprovalPlan, now: datetime) -> bool:
    """A plan made, or its project's site or state changed: the assessments covering it applied."""
    items = await items_of(session, plan.id)
    return reconcile_plan(session, plan, items, await all_assessments(session), now)


async def apply_everywhere(
    session: AsyncSession,
    calendar: WorkingCalendar,
    now: datetime,
    concerned: Sequence[RegionalAssessment],
) -> int:
    """Assessments recorded or changed (``concerned``): every active plan they cover, or whose items carry
    their effects, brought in step and its start looked at again. Returns how many plans changed."""
    ids = {a.id for a in concerned}
    carrying = sa.select(ApprovalItem.plan_id).where(ApprovalItem.assessment_id.in_(ids))
    candidates = (
        await session.scalars(
            sa.select(ApprovalPlan)
            .where(
                ApprovalPlan.project_status == "active",
                sa.or_(
                    ApprovalPlan.site_street_id.is_not(None),
                    ApprovalPlan.site_park.is_not(None),
                    ApprovalPlan.site_plot.is_not(None),
                    ApprovalPlan.id.in_(carrying),
                ),
            )
            .order_by(ApprovalPlan.id)
            .with_for_update()
        )
    ).all()
    assessments = await all_assessments(session)
    changed = 0
    for plan in candidates:
        if not any(covers(a, site_of(plan)) for a in concerned):
            items = await items_of(session, plan.id)
            if not any(i.assessment_id in ids for i in items):
                continue
        else:
            items = await items_of(session, plan.id)
        if reconcile_plan(session, plan, items, assessments, now):
            changed += 1
            await session.flush()
            await reassess(session, calendar, plan, now)
    return changed
