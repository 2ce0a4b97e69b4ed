"""The register's read path for HTTP: get by id, look-up by project code, the filtered list.

Every other system and every mobile client reads the register (issue #3), so these three routes answer
from one SQL statement each on a pooled connection, without an ORM session: no BEGIN/ROLLBACK (a single
statement sees one snapshot whether or not a transaction wraps it; under READ COMMITTED the ORM path's
two statements saw two anyway), no ORM objects, and the JSON is written once by the response schema
(``ProjectDetail`` / ``ProjectPage``) from the row's columns. Measured by ``bench/registry.py``.

The answers are the ORM path's (:func:`lkg.registry.service.get_project`, ``get_by_code``,
``list_projects`` and :mod:`lkg.registry.schemas`): same bodies, same 404s, same filters, order and
cursors; ``tests/test_reads.py`` in this service compares both on the same rows. The list's filters are
written out in SQL here, next to :func:`lkg.registry.service._filtered`: a filter added there must be added
here too (the comparison test walks every filter).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN
from lkg.common.http.pagination import PageParams, build_page
from lkg.common.http.problems import InvalidCursor, NotFound
from lkg.registry.schemas import ProjectDetail, ProjectFilters, ProjectPage, ProjectSort
from lkg.registry.service import Visibility, ordering

#: ProjectOut's columns, in its field order (``above_100m`` is derived, as the model's property derives it).
_COLUMNS = (
    "id",
    "revision",
    "project_code",
    "name",
    "enterprise",
    "category",
    "project_class",
    "responsible_unit_id",
    "responsible_unit_name",
    "line_id",
    "routing_basis",
    "routing_rule_id",
    "routing_reason",
    "enterprise_credit_code",
    "project_code_warnings",
    "provincial_municipal",
    "fast_track",
    "approval_type",
    "total_investment",
    "plan_year",
    "planned_annual_investment",
    "status",
    "enrolment_status",
    "statistics_contact_id",
    "integrity_flags",
    "terminated_on",
    "deregistered_on",
    "effective_at",
    "created_at",
    "updated_at",
)
_MILESTONE_COLUMNS = ("id", "type", "label", "planned_date", "baseline_date", "actual_date", "missed_at")
_PROJECT_SELECT = (
    "SELECT "
    + ", ".join(f"p.{c}" for c in _COLUMNS)
    + f", p.total_investment >= {int(ONE_HUNDRED_MILLION_YUAN)} AS above_100m"
)
# The milestones as an array of anonymous records, in the order of ``service.milestones_of``.
_DETAIL_SELECT = (
    _PROJECT_SELECT
    + ", ARRAY(SELECT ROW("
    + ", ".join(f"m.{c}" for c in _MILESTONE_COLUMNS)
    + ") FROM milestone m WHERE m.project_id = p.id ORDER BY m.position) AS milestones FROM project p"
)
_BY_ID = _DETAIL_SELECT + " WHERE p.id = $1"
_BY_CODE = _DETAIL_SELECT + " WHERE p.project_code = $1"


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The asyncpg connection of one of ``engine``'s pooled connections, for statements that need no
    transaction. Nothing begins one: SQLAlchemy's asyncpg adapter starts a transaction on its own first
    statement only, so returning the connection to the pool rolls nothing back (no round trip)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


def _detail_dict(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["milestones"] = [dict(zip(_MILESTONE_COLUMNS, m, strict=True)) for m in row["milestones"]]
    return out


async def _detail(
    engine: AsyncEngine, sql: str, key: Any, seen: Visibility, missing: str
) -> tuple[Any, bytes]:
    async with connection(engine) as conn:
        row = await conn.fetchrow(sql, key)
    if row is None:
        raise NotFound(missing, code="project_not_found")
    if not seen.sees_row(row["responsible_unit_id"], row["line_id"]):
        raise NotFound("项目不存在", code="project_not_found")
    detail = ProjectDetail.model_validate(_detail_dict(row))
    return row, detail.model_dump_json().encode()


async def project_json(engine: AsyncEngine, project_id: uuid.UUID, seen: Visibility) -> tuple[Any, bytes]:
    """The project (id and revision, for the ETag) and its ``ProjectDetail`` JSON; 404 when there is no
    such project or it is outside ``seen``."""
    return await _detail(engine, _BY_ID, project_id, seen, "项目不存在")


async def project_json_by_code(engine: AsyncEngine, code: str, seen: Visibility) -> tuple[Any, bytes]:
    """As :func:`project_json`, looked up by project code (trimmed, upper case, as stored)."""
    return await _detail(engine, _BY_CODE, code.strip().upper(), seen, "没有此项目代码的项目")


def _escape_like(text: str) -> str:
    """SQLAlchemy's ``contains(..., autoescape=True)``: ``/`` escapes ``%``, ``_`` and itself."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


class _Params:
    """Positional parameters of one statement: ``add`` binds a value and returns its placeholder."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def list_statement(
    page: PageParams,
    *,
    visibility: Visibility,
    filters: ProjectFilters,
    today: date,
    updated_since: datetime | None = None,
    sort: ProjectSort | None = None,
) -> tuple[str, list[Any], Any]:
    """The list page's SQL, its parameters and its keyset (``service.list_projects`` in SQL)."""
    keyset = ordering(sort, updated_since=updated_since)
    params = _Params()
    where: list[str] = []
    if not visibility.all:
        units = params.add(list(visibility.units))
        lines = params.add(list(visibility.lines))
        where.append(f"(p.responsible_unit_id = ANY({units}::uuid[]) OR p.line_id = ANY({lines}::uuid[]))")
    f = filters
    if f.line_id is not None:
        where.append(f"p.line_id = {params.add(f.line_id)}")
    if f.unrouted is not None:
        where.append(f"(p.line_id IS NULL) = {params.add(f.unrouted)}")
    if f.responsible_unit_id is not None:
        where.append(f"p.responsible_unit_id = {params.add(f.responsible_unit_id)}")
    if f.project_class is not None:
        where.append(f"p.project_class = {params.add(f.project_class.value)}")
    if f.category is not None:
        where.append(f"p.category = {params.add(f.category.value)}")
    if f.status is not None:
        where.append(f"p.status = {params.add(f.status.value)}")
    if f.provincial_municipal is not None:
        where.append(f"p.provincial_municipal = {params.add(f.provincial_municipal)}")
    if f.fast_track is not None:
        where.append(f"p.fast_track = {params.add(f.fast_track)}")
    if f.above_100m is not None:
        big = f"p.total_investment >= {params.add(ONE_HUNDRED_MILLION_YUAN)}::numeric"
        where.append(big if f.above_100m else f"NOT ({big})")
    if f.q:
        where.append(f"p.name LIKE '%' || {params.add(_escape_like(f.q))}::text || '%' ESCAPE '/'")
    if f.overdue_milestones:
        where.append(
            "EXISTS (SELECT 1 FROM milestone m WHERE m.project_id = p.id AND m.actual_date IS NULL "
            f"AND m.planned_date < {params.add(today)}::date)"
        )
    if updated_since is not None:
        where.append(f"p.updated_at >= {params.add(updated_since)}::timestamptz")
    column = keyset.sort.key
    direction = "DESC" if keyset.descending else "ASC"
    if page.position is not None:
        if page.position.name != keyset.name or len(page.position.values) != 2:
            raise InvalidCursor("分页游标不属于此列表，请从第一页重新获取")
        sort_value, id_value = page.position.values
        cast = _CASTS[column]
        bound = f"({params.add(sort_value)}::{cast}, {params.add(id_value)}::uuid)"
        # A row-value comparison lets PostgreSQL walk the (sort, id) index from the position.
        where.append(f"(p.{column}, p.id) {'<' if keyset.descending else '>'} {bound}")
    sql = _PROJECT_SELECT + " FROM project p"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY p.{column} {direction}, p.id {direction} LIMIT {params.add(page.limit + 1)}"
    return sql, params.values, keyset


#: The SQL type of each sortable column, for the cursor's bound values.
_CASTS = {
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "name": "text",
    "total_investment": "numeric",
}


async def page_json(
    engine: AsyncEngine,
    page: PageParams,
    *,
    visibility: Visibility,
    filters: ProjectFilters,
    today: date,
    updated_since: datetime | None = None,
    sort: ProjectSort | None = None,
) -> bytes:
    """A keyset page of the projects a caller sees as ``ProjectPage`` JSON."""
    sql, values, keyset = list_statement(
        page, visibility=visibility, filters=filters, today=today, updated_since=updated_since, sort=sort
    )
    async with connection(engine) as conn:
        rows: Sequence[Any] = await conn.fetch(sql, *values)
    column = keyset.sort.key
    items, next_cursor = build_page(rows, keyset, page, key=lambda r: (r[column], r["id"]))
    out = ProjectPage.model_validate({"items": [dict(r) for r in items], "next_cursor": next_cursor})
    return out.model_dump_json().encode()
