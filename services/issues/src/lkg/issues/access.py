"""Who may see and act on a matter (DESIGN §3 Access; issue #5).

A unit sees the matters it reported, must solve, or whose project it is responsible for; a line leader and
the line's service department see their line's; top leaders, 重大项目办 and 督查室 see everything. A matter
a caller may not see is a 404; acting on one they may see but not touch is a 403; nothing changes either
way. The caller's units, lines and posts come from the org read copy at request time (a handover takes
effect at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lkg.common.auth import Principal, Reach, Role
from lkg.common.http.problems import Forbidden
from lkg.issues.models import matter

#: Roles that see every matter.
SEE_ALL = (Role.TOP_LEADER, Role.MAJOR_PROJECTS_OFFICE, Role.SUPERVISION_OFFICE, Role.ADMIN)
#: Roles that coordinate every matter (督查室 sees all but supervises; it does not handle matters).
COORDINATE_ALL = (Role.TOP_LEADER, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN)


@dataclass(frozen=True)
class Viewer:
    """The caller of one request with what they act for now."""

    principal: Principal
    reach: Reach

    @property
    def sees_all(self) -> bool:
        return self.principal.has_role(*SEE_ALL)

    @property
    def coordinates_all(self) -> bool:
        return self.principal.has_role(*COORDINATE_ALL)

    @property
    def actor(self) -> str:
        return self.principal.key

    def visibility(self) -> sa.ColumnElement[bool] | None:
        """A WHERE clause for the matters this caller may see (None: all of them)."""
        if self.sees_all:
            return None
        m = matter.c
        units, lines, posts = list(self.reach.units), list(self.reach.lines), list(self.reach.posts)
        conditions: list[sa.ColumnElement[bool]] = []
        if units:
            conditions += [
                m.reported_by_unit_id.in_(units),
                m.resolving_unit_id.in_(units),
                m.project_unit_id.in_(units),
                m.holder_unit_ids.overlap(sa.cast(units, m.holder_unit_ids.type)),
            ]
        if lines:
            conditions.append(m.line_id.in_(lines))
        if posts:
            conditions.append(m.holder_post_ids.overlap(sa.cast(posts, m.holder_post_ids.type)))
        return sa.or_(*conditions) if conditions else sa.false()

    # ---- what the caller may do with a matter it sees -------------------------------------------

    def holds(self, row: Any) -> bool:
        """Holds the matter at its current layer (the layer that confirms closure, 销号)."""
        if self.coordinates_all:
            return True
        units = self.reach.units
        if row.layer <= 1:
            return row.project_unit_id in units or row.reported_by_unit_id in units
        return (
            bool(set(row.holder_unit_ids) & units)
            or bool(set(row.holder_post_ids) & self.reach.posts)
            or (row.line_id is not None and row.line_id in self.reach.lines)
        )

    def coordinates(self, row: Any) -> bool:
        """Accepts, returns, assigns and merges: the line's service department and leader (the
        coordination office), the holders above layer 1, and 重大项目办."""
        if self.coordinates_all:
            return True
        if row.line_id is not None and row.line_id in self.reach.lines:
            return True
        return row.layer >= 2 and self.holds(row)

    def resolves(self, row: Any) -> bool:
        """Answers, reports progress, reports it solved: the resolving unit (it keeps the duty to solve)."""
        return self.coordinates_all or (
            row.resolving_unit_id is not None and row.resolving_unit_id in self.reach.units
        )

    def reported(self, row: Any) -> bool:
        return self.coordinates_all or row.reported_by_unit_id in self.reach.units


def require(allowed: bool, what: str) -> None:
    """403 for a matter the caller sees but may not act on this way."""
    if not allowed:
        raise Forbidden(f"无权{what}", code="forbidden")
