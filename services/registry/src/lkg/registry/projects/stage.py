"""A project's stage (阶段) in its life cycle, derived from what has happened, never typed in.

The stages are 前期 → 审批 → 开工 → 投资 → 竣工 → 达产达效 (docs/registry.md). The policy has no rule for
telling them apart; ours, from the project's milestones with an actual date and its monthly investment
reports:

==================  =======  ==============================================================================
stage               阶段     when
==================  =======  ==============================================================================
``full_production`` 达产达效  达产 (``full_production``) achieved
``completion``      竣工     竣工 or 投产 (``completion``, ``production_start``) achieved
``investment``      投资     开工 achieved and an investment report (not superseded) with an amount above 0
``construction``    开工     开工 (``construction_start``) achieved
``approval``        审批     签约, 缴纳土地保证金 or 进资 achieved (the investor is committed; approvals run)
``preliminary``     前期     none of these yet (洽谈 under way, or nothing recorded)
==================  =======  ==============================================================================

Each row is checked from the top: a project is in the furthest stage it has reached, even when an earlier
step was not recorded (a completed project whose 开工 date nobody entered is still ``completion``). The
same rule exists twice, as :func:`derive_stage` for one loaded project and as :func:`stage_condition` in
SQL; ``tests`` checks that they agree.

The stage is stored (``project.stage``, indexed for the list's ``stage=`` filter): registration derives it
from the plan's actual dates, every later use case that records an actual date or an investment report
calls :func:`refresh_stage`, and a change of stage is a change of the project (revision, history,
``project.changed``). :func:`stage_updates` sets it for every
project at once from :func:`stage_condition` (the migration that added the column backfills with it).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

# The stages are part of the project snapshot's contract (``ProjectSnapshot.stage``), so the enum lives
# with the contracts; the rule that picks one is here.
from lkg.common.events.contracts import MilestoneType, ProjectStage
from lkg.registry.projects.models import InvestmentReport, Milestone, Project

__all__ = [
    "STAGE_LABELS",
    "ProjectStage",
    "derive_stage",
    "refresh_stage",
    "stage_condition",
    "stage_updates",
]


STAGE_LABELS = {
    ProjectStage.PRELIMINARY: "前期",
    ProjectStage.APPROVAL: "审批",
    ProjectStage.CONSTRUCTION: "开工",
    ProjectStage.INVESTMENT: "投资",
    ProjectStage.COMPLETION: "竣工",
    ProjectStage.FULL_PRODUCTION: "达产达效",
}

_PRODUCTION = frozenset({MilestoneType.FULL_PRODUCTION})
_COMPLETED = frozenset({MilestoneType.COMPLETION, MilestoneType.PRODUCTION_START})
_STARTED = frozenset({MilestoneType.CONSTRUCTION_START})
_COMMITTED = frozenset({MilestoneType.SIGNING, MilestoneType.LAND_DEPOSIT, MilestoneType.CAPITAL_INJECTION})


def derive_stage(achieved: Iterable[MilestoneType | str], *, invested: bool) -> ProjectStage:
    """The stage of a project whose milestones of the types ``achieved`` have an actual date; ``invested``:
    it has an investment report (not superseded) with an amount above 0."""
    done = {MilestoneType(t) for t in achieved}
    if done & _PRODUCTION:
        return ProjectStage.FULL_PRODUCTION
    if done & _COMPLETED:
        return ProjectStage.COMPLETION
    if done & _STARTED:
        return ProjectStage.INVESTMENT if invested else ProjectStage.CONSTRUCTION
    if done & _COMMITTED:
        return ProjectStage.APPROVAL
    return ProjectStage.PRELIMINARY


def _achieved(types: frozenset[MilestoneType]) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        Milestone.project_id == Project.id,
        Milestone.type.in_(sorted(types)),
        Milestone.actual_date.is_not(None),
    )


def _invested() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        InvestmentReport.project_id == Project.id,
        InvestmentReport.amount > 0,
        InvestmentReport.superseded.is_(False),
    )


def stage_condition(stage: ProjectStage) -> sa.ColumnElement[bool]:
    """A WHERE condition on ``project``, true exactly for the projects :func:`derive_stage` puts in
    ``stage``."""
    production, completed = _achieved(_PRODUCTION), _achieved(_COMPLETED)
    started, committed = _achieved(_STARTED), _achieved(_COMMITTED)
    match stage:
        case ProjectStage.FULL_PRODUCTION:
            return production
        case ProjectStage.COMPLETION:
            return sa.and_(~production, completed)
        case ProjectStage.INVESTMENT:
            return sa.and_(~production, ~completed, started, _invested())
        case ProjectStage.CONSTRUCTION:
            return sa.and_(~production, ~completed, started, ~_invested())
        case ProjectStage.APPROVAL:
            return sa.and_(~production, ~completed, ~started, committed)
        case ProjectStage.PRELIMINARY:
            return sa.and_(~production, ~completed, ~started, ~committed)
    raise ValueError(stage)


def stage_updates() -> list[sa.Update]:
    """One ``UPDATE project SET stage = ...`` per stage, each over the projects :func:`stage_condition`
    puts there (and not there already): run together they make every stored stage the rule's."""
    return [
        sa.update(Project).where(stage_condition(s), Project.stage != s.value).values(stage=s.value)
        for s in ProjectStage
    ]


async def refresh_stage(session: AsyncSession, project: Project) -> dict[str, tuple[str, str]]:
    """Set ``project.stage`` from its rows (pending changes flushed first); ``{"stage": (before, after)}``
    when it changed (for the change history and ``project.changed``), else ``{}``."""
    await session.flush()
    achieved = await session.execute(
        sa.select(Milestone.type).where(
            Milestone.project_id == project.id, Milestone.actual_date.is_not(None)
        )
    )
    invested = await session.scalar(
        sa.select(
            sa.exists().where(
                InvestmentReport.project_id == project.id,
                InvestmentReport.amount > 0,
                InvestmentReport.superseded.is_(False),
            )
        )
    )
    stage = derive_stage(achieved.scalars(), invested=bool(invested)).value
    if project.stage == stage:
        return {}
    before, project.stage = project.stage, stage
    return {"stage": (before, stage)}
