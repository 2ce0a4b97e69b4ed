"""Which projects a list shows, written once: the caller's reach, the list's filters, ``updated_since``
and the order.

Each filter (a field of :class:`~lkg.registry.projects.schemas.ProjectFilters`) is one SQLAlchemy
condition on ``project`` over bound parameters, in :data:`FILTERS`. :func:`selection` turns a request into
a *shape* (which conditions apply) and the values to bind; :func:`conditions` builds the conditions of a
shape. Both readers of the register use them: the list's read path (:mod:`lkg.registry.projects.reads`)
compiles a statement once per shape and runs it on a plain asyncpg connection, and the workbook export
(:func:`filtered_projects`, through the ORM) binds the same conditions. A field added to ``ProjectFilters``
fails this module's import until it has its condition here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN
from lkg.common.http.pagination import Keyset
from lkg.registry.access import Caller
from lkg.registry.projects.models import Milestone, Project
from lkg.registry.projects.schemas import ProjectFilters, ProjectSort

BY_CREATED = Keyset(sort=Project.created_at, id=Project.id, name="created")
BY_UPDATED = Keyset(sort=Project.updated_at, id=Project.id, name="updated")
#: The list's ``sort=`` fields: each a NOT NULL column, tie-broken by id, so keyset pages stay exact. The
#: names written into cursors keep the two orderings that existed before ``sort=`` (``created``,
#: ``updated``), so cursors handed out earlier still work; a cursor of another ordering is 400.
_SORTABLE = {
    "created_at": (Project.created_at, "created"),
    "updated_at": (Project.updated_at, "updated"),
    "name": (Project.name, "name"),
    "total_investment": (Project.total_investment, "total_investment"),
}


def _given(value: Any) -> bool:
    return value is not None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def escape_like(text: str) -> str:
    """What SQLAlchemy's ``contains(..., autoescape=True)`` does to a literal: ``/`` escapes ``%``, ``_``
    and itself (here for a bound parameter, which ``autoescape`` does not take)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


@dataclass(frozen=True)
class Condition:
    """One condition a list may put on projects.

    ``where(name, variant)`` builds it over bound parameters named after the filter; ``applies`` says
    whether a request's value puts it on at all; ``variant`` picks, from the value, the part of it that
    changes the SQL (``above_100m``: at least or below) rather than a bound value; ``bind`` gives the
    value to bind."""

    where: Callable[[str, Any], sa.ColumnElement[bool]]
    applies: Callable[[Any], bool] = _given
    variant: Callable[[Any], Hashable] = lambda _: None
    bind: Callable[[Any], Any] = _plain


def _equals(column: Any) -> Condition:
    return Condition(lambda name, _: column == sa.bindparam(name, type_=column.type))


_UUIDS = ARRAY(PG_UUID(as_uuid=True))
_ABOVE_100M = Project.total_investment >= sa.literal_column(str(int(ONE_HUNDRED_MILLION_YUAN)))
_OVERDUE = (
    sa.select(Milestone.id)
    .where(
        Milestone.project_id == Project.id,
        Milestone.actual_date.is_(None),
        Milestone.planned_date < sa.bindparam("today", type_=sa.Date),
    )
    .exists()
)

#: The list's filters, by query parameter.
FILTERS: dict[str, Condition] = {
    "line_id": _equals(Project.line_id),
    "unrouted": Condition(lambda name, _: Project.line_id.is_(None) == sa.bindparam(name, type_=sa.Boolean)),
    "responsible_unit_id": _equals(Project.responsible_unit_id),
    "project_class": _equals(Project.project_class),
    "category": _equals(Project.category),
    "status": _equals(Project.status),
    "provincial_municipal": _equals(Project.provincial_municipal),
    "fast_track": _equals(Project.fast_track),
    "above_100m": Condition(lambda _, above: _ABOVE_100M if above else ~_ABOVE_100M, variant=bool),
    # The stored stage (kept by the use cases; tests check it against ``stage_condition``).
    "stage": _equals(Project.stage),
    "overdue_milestones": Condition(lambda *_: _OVERDUE, applies=bool, bind=lambda _: None),
    "q": Condition(
        lambda name, _: Project.name.contains(sa.bindparam(name, type_=sa.Text), escape="/"),
        applies=bool,
        bind=escape_like,
    ),
}
if set(FILTERS) != set(ProjectFilters.model_fields):
    raise RuntimeError("lkg.registry.projects.filters: FILTERS no longer match ProjectFilters")

#: The conditions that do not come from ``ProjectFilters``: the caller's reach and ``updated_since``.
_REACH = Condition(
    lambda *_: sa.or_(
        Project.responsible_unit_id == sa.any_(sa.bindparam("units", type_=_UUIDS)),
        Project.line_id == sa.any_(sa.bindparam("lines", type_=_UUIDS)),
    )
)
_UPDATED_SINCE = Condition(
    lambda name, _: Project.updated_at >= sa.bindparam(name, type_=Project.updated_at.type)
)
_CONDITIONS = {**FILTERS, "reach": _REACH, "updated_since": _UPDATED_SINCE}

#: Which conditions apply (with their variants): the same shape is the same SQL.
Shape = tuple[tuple[str, Hashable], ...]


@dataclass(frozen=True)
class ListQuery:
    """What a list (or the workbook export) asks for: the filters, the day ``overdue_milestones`` is judged
    on, ``updated_since`` and the order."""

    filters: ProjectFilters
    today: date
    updated_since: datetime | None = None
    sort: ProjectSort | None = None

    @property
    def keyset(self) -> Keyset:
        return ordering(self.sort, updated_since=self.updated_since)


def selection(caller: Caller, query: ListQuery) -> tuple[Shape, dict[str, Any]]:
    """The shape of what ``caller`` lists with ``query`` and the values to bind (by parameter name)."""
    filters, updated_since = query.filters, query.updated_since
    shape: list[tuple[str, Hashable]] = []
    values: dict[str, Any] = {"today": query.today}
    if not caller.sees_all:
        shape.append(("reach", None))
        values["units"], values["lines"] = list(caller.units), list(caller.lines)
    for name, condition in FILTERS.items():
        value = getattr(filters, name)
        if condition.applies(value):
            shape.append((name, condition.variant(value)))
            values[name] = condition.bind(value)
    if updated_since is not None:
        shape.append(("updated_since", None))
        values["updated_since"] = updated_since
    return tuple(shape), values


def conditions(shape: Shape) -> list[sa.ColumnElement[bool]]:
    """The conditions of ``shape``, over bound parameters."""
    return [_CONDITIONS[name].where(name, variant) for name, variant in shape]


def ordering(sort: ProjectSort | None, *, updated_since: datetime | None = None) -> Keyset:
    """The list's order: ``sort`` (a field, ``-`` for descending), else registration order, or update
    order when syncing with ``updated_since``."""
    if sort is None:
        return BY_UPDATED if updated_since is not None else BY_CREATED
    descending = sort.value.startswith("-")
    column, name = _SORTABLE[sort.value.lstrip("-")]
    return Keyset(sort=column, id=Project.id, name=f"-{name}" if descending else name, descending=descending)


def order_by(keyset: Keyset) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """The keyset's ORDER BY."""
    if keyset.descending:
        return keyset.sort.desc(), keyset.id.desc()
    return keyset.sort.asc(), keyset.id.asc()


def filtered_projects(caller: Caller, query: ListQuery) -> sa.Select[Project]:
    """The projects ``caller`` sees that pass the query's filters, as ORM rows in its order."""
    shape, values = selection(caller, query)
    return sa.select(Project).where(*conditions(shape)).params(values).order_by(*order_by(query.keyset))
