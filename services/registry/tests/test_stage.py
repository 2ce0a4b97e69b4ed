"""A project's stage from its achieved milestones and investment reports (lkg.registry.projects.stage)."""

from __future__ import annotations

import pytest

from lkg.common.events.contracts import MilestoneType as M
from lkg.registry.projects.stage import STAGE_LABELS, ProjectStage, derive_stage


@pytest.mark.parametrize(
    ("achieved", "invested", "stage"),
    [
        ((), False, ProjectStage.PRELIMINARY),
        ((M.NEGOTIATION,), False, ProjectStage.PRELIMINARY),
        ((M.NEGOTIATION, M.SIGNING), False, ProjectStage.APPROVAL),
        ((M.LAND_DEPOSIT,), True, ProjectStage.APPROVAL),  # money before 开工 is not the 投资 stage
        ((M.SIGNING, M.CONSTRUCTION_START), False, ProjectStage.CONSTRUCTION),
        ((M.SIGNING, M.CONSTRUCTION_START), True, ProjectStage.INVESTMENT),
        ((M.CONSTRUCTION_START, M.COMPLETION), True, ProjectStage.COMPLETION),
        ((M.PRODUCTION_START,), False, ProjectStage.COMPLETION),  # the furthest step counts
        ((M.CONSTRUCTION_START, M.PRODUCTION_START, M.FULL_PRODUCTION), True, ProjectStage.FULL_PRODUCTION),
        ((M.OTHER,), False, ProjectStage.PRELIMINARY),
    ],
)
def test_a_project_is_in_the_furthest_stage_it_has_reached(achieved, invested, stage) -> None:
    assert derive_stage(achieved, invested=invested) is stage
    assert derive_stage([str(t) for t in achieved], invested=invested) is stage


def test_every_stage_has_the_design_s_chinese_name() -> None:
    assert [STAGE_LABELS[s] for s in ProjectStage] == ["前期", "审批", "开工", "投资", "竣工", "达产达效"]
