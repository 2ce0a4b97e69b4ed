"""Who may see and act on a matter or a red card (policy §二; docs/issues.md#access).

A unit sees the matters it reported, must solve, or whose project it is responsible for; a line leader and
the line's service department see their line's; top leaders, 重大项目办 and 督查室 see everything. A matter
a caller may not see is a 404; acting on one they may see but not touch is a 403; nothing changes either
way, and the use case decides what the caller sees before it says anything else about the thing asked for.
The caller's units, lines and posts come from the org read copy at request time (a handover takes effect at
once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

import sqlalchemy as sa

from lkg.common.access import BaseCaller, permitted
from lkg.common.auth import Role
from lkg.issues.models import matter
from lkg.issues.supervision.models import red_card

#: Roles that coordinate every matter (督查室 sees all but supervises; it does not handle matters).
COORDINATE_ALL = (Role.TOP_LEADER, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN)
#: Roles that decide on red cards (区政府督查室, §五(三)).
SUPERVISE = (Role.SUPERVISION_OFFICE, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """The caller of one request with what they act for now (built per request by
    :func:`lkg.common.access.caller_dependency` from the token and the org read copy)."""

    #: Roles that see every matter and card.
    SEE_ALL: ClassVar[frozenset[Role]] = frozenset(
        {Role.TOP_LEADER, Role.MAJOR_PROJECTS_OFFICE, Role.SUPERVISION_OFFICE, Role.ADMIN}
    )

    @property
    def coordinates_all(self) -> bool:
        return self.principal.has_role(*COORDINATE_ALL)

    @property
    def supervises(self) -> bool:
        return self.principal.has_role(*SUPERVISE)

    @property
    def name(self) -> str | None:
        return self.principal.name

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

    def sees_project(self, project: Any) -> bool:
        """Sees the project (its read copy row): whoever sees every matter, its responsible unit, its line."""
        return (
            self.sees_all
            or project.responsible_unit_id in self.reach.units
            or (project.line_id is not None and project.line_id in self.reach.lines)
        )

    def card_visibility(self) -> sa.ColumnElement[bool] | None:
        """A WHERE clause for the red cards this caller may see: whoever sees every matter, the card's target
        unit and its line (None: all of them)."""
        if self.sees_all:
            return None
        return sa.or_(
            red_card.c.target_unit_id.in_(list(self.reach.units)),
            red_card.c.line_id.in_(list(self.reach.lines)),
        )

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

    def takes_part(self, row: Any) -> bool:
        """Reports, resolves, holds or coordinates the matter (may add to its file, e.g. an attachment)."""
        return self.reported(row) or self.resolves(row) or self.holds(row) or self.coordinates(row)

    def leads_line_of(self, card: Any) -> bool:
        """The line leader (包保区级领导) of the card's line."""
        if self.principal.has_role(Role.ADMIN):
            return True
        return (
            self.principal.has_role(Role.LINE_LEADER)
            and card.line_id is not None
            and card.line_id in self.reach.lines
        )


def require(allowed: bool, what: str) -> None:
    """403 for a thing the caller sees but may not act on this way."""
    permitted(allowed, f"无权{what}")


def person_uuid(person_id: str | None) -> UUID | None:
    """A principal's person id as the events carry it (None for a client or a malformed id)."""
    try:
        return UUID(person_id) if person_id else None
    except ValueError:
        return None
