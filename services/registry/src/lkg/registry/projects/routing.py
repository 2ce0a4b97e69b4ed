"""Routing a project to its line (分线, policy §一(一)): a pure function of the project and the rule table.

Precedence is by basis: an explicit assignment (line 1's 2019 list, the named part of 机电产业办's projects,
line 8's named not-yet-landed projects; an override by 重大项目办) > category (every real-estate project →
line 6, every agricultural project → line 7) > responsible unit (the street or industry office → its line).
A project no rule covers is **unrouted**: it waits for 重大项目办, never silently on a line
(docs/registry.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from lkg.common.events.contracts import LineSnapshot, ProjectCategory, RoutingBasis, RoutingRuleSnapshot

PRECEDENCE = (RoutingBasis.EXPLICIT, RoutingBasis.CATEGORY, RoutingBasis.RESPONSIBLE_UNIT)

_BASIS_WORDS = {
    RoutingBasis.EXPLICIT: "明确指定",
    RoutingBasis.CATEGORY: "按项目类型",
    RoutingBasis.RESPONSIBLE_UNIT: "按责任单位",
}
_CATEGORY_WORDS = {
    ProjectCategory.INDUSTRIAL: "工业项目",
    ProjectCategory.SERVICES: "现代服务业项目",
    ProjectCategory.REAL_ESTATE: "房地产项目",
    ProjectCategory.AGRICULTURAL: "农业项目",
}


@dataclass(frozen=True)
class Route:
    """Where a project goes and why."""

    line_id: UUID | None
    basis: RoutingBasis
    rule_id: UUID | None
    reason: str


def _matches(rule: RoutingRuleSnapshot, project_id: UUID, category: ProjectCategory, unit_id: UUID) -> bool:
    if rule.basis is RoutingBasis.EXPLICIT:
        return rule.project_id == project_id
    if rule.basis is RoutingBasis.CATEGORY:
        return rule.category == category
    return rule.responsible_unit_id == unit_id


def route(
    *,
    project_id: UUID,
    category: ProjectCategory,
    responsible_unit_id: UUID,
    responsible_unit_name: str,
    rules: Iterable[RoutingRuleSnapshot],
    lines: Mapping[UUID, LineSnapshot],
    day: date,
) -> Route:
    """The line of a project on ``day`` under ``rules`` (only rules and lines in force count)."""
    candidates = [
        r
        for r in rules
        if r.in_force(day)
        and r.line_id in lines
        and lines[r.line_id].in_force(day)
        and _matches(r, project_id, category, responsible_unit_id)
    ]
    for basis in PRECEDENCE:
        found = [r for r in candidates if r.basis is basis]
        if not found:
            continue
        # Two rules of one basis: the one in force most recently wins (an override replaces an assignment).
        rule = max(found, key=lambda r: (r.valid_from, r.revision, str(r.id)))
        line = lines[rule.line_id]
        if basis is RoutingBasis.CATEGORY:
            what = f"{_CATEGORY_WORDS[category]}统一由{line.name}包保"
        elif basis is RoutingBasis.RESPONSIBLE_UNIT:
            what = f"责任单位{responsible_unit_name}的项目由{line.name}包保"
        else:
            what = f"本项目明确由{line.name}包保"
        note = f"（{rule.note}）" if rule.note else ""
        return Route(line.id, basis, rule.id, f"{_BASIS_WORDS[basis]}：{what}{note}")
    return Route(
        None,
        RoutingBasis.UNROUTED,
        None,
        f"待分线：没有分线规则覆盖此项目（责任单位{responsible_unit_name}，{_CATEGORY_WORDS[category]}），"
        "待重大项目办确定包保线",
    )
