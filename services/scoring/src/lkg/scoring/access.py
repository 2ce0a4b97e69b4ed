"""Who may see and change evaluations (docs/scoring.md, access; issue 13).

* 重大项目办, the top leaders, the assessment office (区委组织部考评办) and admins see everything.
* A unit sees its own evaluations and the published rankings; other units' evidence in a ranking is
  withheld from it (the figures stay, so a unit sees where it stands).
* A line leader's evaluation is seen by the top leaders, the assessment office, 重大项目办 and the leader
  (whoever holds the line's leader post now, from the org read copy), nobody else.
* 督查室 sees the units' evaluations (it supervises the 不合格 ones, §六(三)), not the line leaders'.
* The dispatch board (日调度) is filtered by reach: a line's leader and service department see the line,
  a unit what concerns it; 督查室 and those who see everything see it whole.
* Only the assessment office and 重大项目办 change rules; 重大项目办 confirms a month, a top leader a quarter
  (§六(二)).

A resource the caller may not see is a 404; one they see but may not act on is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from lkg.common.access import BaseCaller
from lkg.common.auth import Role
from lkg.common.events.contracts import EvaluationSubject, PeriodKind
from lkg.common.http.problems import Forbidden

RULE_EDITORS = (Role.ASSESSMENT_OFFICE, Role.MAJOR_PROJECTS_OFFICE)


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """The caller of one request with what they act for now."""

    SEE_ALL: ClassVar[frozenset[Role]] = frozenset(
        {Role.MAJOR_PROJECTS_OFFICE, Role.TOP_LEADER, Role.ASSESSMENT_OFFICE, Role.ADMIN}
    )

    @property
    def name(self) -> str:
        return self.principal.name

    def sees_subject(
        self, kind: EvaluationSubject, subject_id: UUID, leader_post: UUID | None = None
    ) -> bool:
        if self.sees_all:
            return True
        if kind is EvaluationSubject.LINE_LEADER:
            return leader_post is not None and leader_post in self.reach.posts
        if self.principal.has_role(Role.SUPERVISION_OFFICE):
            return True
        return subject_id in self.reach.units

    def sees_evidence_of_unit(self, unit_id: UUID) -> bool:
        return (
            self.sees_all or self.principal.has_role(Role.SUPERVISION_OFFICE) or unit_id in self.reach.units
        )

    @property
    def sees_every_project(self) -> bool:
        """The dispatch board whole: those who see everything, and 督查室 (全程督查, §三(二))."""
        return self.sees_all or self.principal.has_role(Role.SUPERVISION_OFFICE)

    def sees_line(self, line_id: UUID) -> bool:
        return self.sees_every_project or line_id in self.reach.lines

    def sees_project(self, line_id: UUID | None, units: tuple[UUID | None, ...]) -> bool:
        """On the dispatch board: a project (or a matter, an approval) on a line the caller acts for (its
        leader, its service department), or concerning a unit the caller acts for (the responsible unit,
        the unit that must solve a matter, the department handling an approval)."""
        if self.sees_every_project or (line_id is not None and line_id in self.reach.lines):
            return True
        return any(u in self.reach.units for u in units if u is not None)

    def require_rule_editor(self) -> None:
        if not self.principal.has_role(*RULE_EDITORS):
            raise Forbidden("只有区委组织部考评办和区重大项目办可以修改考核规则", code="forbidden")

    def require_confirmer(self, kind: PeriodKind) -> None:
        # §六(二): units and departments monthly by 重大项目办; line leaders quarterly by 区委、区政府.
        if kind is PeriodKind.MONTH and not self.principal.has_role(Role.MAJOR_PROJECTS_OFFICE):
            raise Forbidden("月度考核由区重大项目办综合评定", code="forbidden")
        if kind is PeriodKind.QUARTER and not self.principal.has_role(Role.TOP_LEADER):
            raise Forbidden("包保区级领导季度评价由区委、区政府综合评定", code="forbidden")

    def require_office(self) -> None:
        if not self.principal.has_role(Role.MAJOR_PROJECTS_OFFICE):
            raise Forbidden("只有区重大项目办可以复核红牌", code="forbidden")
