"""The register's read path for HTTP: get by id, look-up by project code, the filtered list.

Every other system and every mobile client reads the register (issue #3), so these three routes answer
from one SQL statement each on a pooled connection, without an ORM session: no BEGIN/ROLLBACK (a single
statement sees one snapshot whether or not a transaction wraps it; under READ COMMITTED the ORM path's
two statements saw two anyway), no ORM objects, and PostgreSQL writes the JSON (``json_build_object``),
field for field what ``ProjectDetail`` / ``ProjectOut`` write. Measured by ``bench/registry.py``: the
response schemas' validation and serialisation were the largest share of a list request's CPU.

The answers are the ORM path's (:func:`lkg.registry.service.get_project`, ``get_by_code``,
``list_projects`` and :mod:`lkg.registry.schemas`): same bodies, same 404s, same filters, order and
cursors; ``services/registry/tests/test_reads.py`` compares both on the same rows. The list's filters are
written out in SQL here, next to :func:`lkg.registry.service._filtered`: a filter added there must be added
here too (the comparison test walks every filter); a field added to the schemas fails this module's import
until it is written here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from lkg.common.db import asyncpg_dsn
from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN
from lkg.common.http.pagination import PageParams, build_page
from lkg.common.http.problems import InvalidCursor, NotFound
from lkg.registry.schemas import (
    MilestoneOut,
    ProjectDetail,
    ProjectFilters,
    ProjectOut,
    ProjectPage,
    ProjectSort,
)
from lkg.registry.service import Visibility, ordering


def _instant(column: str) -> str:
    """An ``Instant`` as the API writes it (``lkg.common.http.types``: ``isoformat()`` in Asia/Shanghai): the
    microseconds only when there are any, and the offset, +08:00 for every instant since 1991 (instants
    here are the shared clock's times, never typed in)."""
    local = f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    return f"replace({local}, '.000000', '') || '+08:00'"


#: ProjectOut's fields as SQL, in the schema's order. What PostgreSQL's ``json_build_object`` writes for
#: a uuid, text, text[], integer, boolean and date is what the schema writes; money (``Yuan``) is the
#: numeric(18, 2)'s text, and ``above_100m`` is derived as the model's property derives it.
_PROJECT_FIELDS = {
    "id": "p.id",
    "revision": "p.revision",
    "project_code": "p.project_code",
    "name": "p.name",
    "enterprise": "p.enterprise",
    "category": "p.category",
    "project_class": "p.project_class",
    "responsible_unit_id": "p.responsible_unit_id",
    "responsible_unit_name": "p.responsible_unit_name",
    "line_id": "p.line_id",
    "routing_basis": "p.routing_basis",
    "routing_rule_id": "p.routing_rule_id",
    "routing_reason": "p.routing_reason",
    "enterprise_credit_code": "p.enterprise_credit_code",
    "project_code_warnings": "p.project_code_warnings",
    "provincial_municipal": "p.provincial_municipal",
    "fast_track": "p.fast_track",
    "approval_type": "p.approval_type",
    "total_investment": "p.total_investment::text",
    "above_100m": f"p.total_investment >= {int(ONE_HUNDRED_MILLION_YUAN)}",
    "plan_year": "p.plan_year",
    "planned_annual_investment": "p.planned_annual_investment::text",
    "status": "p.status",
    "stage": "p.stage",
    "enrolment_status": "p.enrolment_status",
    "statistics_contact_id": "p.statistics_contact_id",
    "integrity_flags": "p.integrity_flags",
    "terminated_on": "p.terminated_on",
    "deregistered_on": "p.deregistered_on",
    "effective_at": _instant("p.effective_at"),
    "created_at": _instant("p.created_at"),
    "updated_at": _instant("p.updated_at"),
}
_MILESTONE_FIELDS = {
    "id": "m.id",
    "type": "m.type",
    "label": "m.label",
    "planned_date": "m.planned_date",
    "baseline_date": "m.baseline_date",
    "actual_date": "m.actual_date",
    "missed_at": _instant("m.missed_at"),
}
# A field added to the schemas must be written here too: fail at import rather than answer without it.
if list(_PROJECT_FIELDS) != list(ProjectOut.model_fields) or list(_MILESTONE_FIELDS) != list(
    MilestoneOut.model_fields
):
    raise RuntimeError("lkg.registry.reads: the SQL JSON no longer matches ProjectOut / MilestoneOut")
if list(ProjectDetail.model_fields) != [*ProjectOut.model_fields, "milestones"] or list(
    ProjectPage.model_fields
) != ["items", "next_cursor"]:
    raise RuntimeError("lkg.registry.reads: ProjectDetail or ProjectPage changed shape")


def _object(fields: dict[str, str]) -> str:
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"


_PROJECT_JSON = _object(_PROJECT_FIELDS)
# The milestones in the order of ``service.milestones_of``.
_DETAIL_JSON = _object(
    {
        **_PROJECT_FIELDS,
        "milestones": f"COALESCE((SELECT json_agg({_object(_MILESTONE_FIELDS)} ORDER BY m.position) "
        "FROM milestone m WHERE m.project_id = p.id), '[]'::json)",
    }
)
_DETAIL_SELECT = (
    f"SELECT {_DETAIL_JSON}::text AS body, p.id, p.revision, p.responsible_unit_id, p.line_id FROM project p"
)
_BY_ID = _DETAIL_SELECT + " WHERE p.id = $1"
_BY_CODE = _DETAIL_SELECT + " WHERE p.project_code = $1"


class ReadConnections:
    """Plain asyncpg connections for the read path, next to ``engine``'s pool, at most ``size`` at once.

    Why not the engine's pool: taking a connection from it and giving it back costs ~30 us of CPU (two
    greenlet switches and the pool's bookkeeping, measured here against ~12 us for the statement itself),
    about a tenth of a get-by-id. These statements need no transaction and no ORM, so they take an idle
    connection from a list. At most ``size`` are open, so 50 concurrent readers queue here rather than
    opening connections per request. A connection that failed other than by a PostgreSQL error (network,
    cancellation) is closed, not reused. The engine's ``dispose()`` closes the idle ones (and those in use
    when they come back), so a service's shutdown leaves none behind.
    """

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self.dsn, self.kwargs = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
        self.size = size
        self.idle: list[asyncpg.Connection] = []
        self.slots = asyncio.Semaphore(size)
        self.closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn = self.idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await asyncpg.connect(self.dsn, **self.kwargs)
            reusable = False
            try:
                yield conn
                reusable = True
            except asyncpg.PostgresError:
                reusable = True
                raise
            finally:
                if reusable and not self.closed and not conn.is_closed():
                    self.idle.append(conn)
                else:
                    conn.terminate()

    def close(self, *_: Any) -> None:
        """Close the idle connections now and the others as they come back (an ``engine_disposed``
        listener: synchronous, so ``terminate``, which needs no round trip)."""
        self.closed = True
        while self.idle:
            self.idle.pop().terminate()


_READERS: weakref.WeakKeyDictionary[Any, ReadConnections] = weakref.WeakKeyDictionary()


def readers(engine: AsyncEngine) -> ReadConnections:
    """The read connections of ``engine``: as many as its pool keeps but two, which stay for the write
    paths' sessions."""
    sync_engine = engine.sync_engine
    found = _READERS.get(sync_engine)
    if found is None or found.closed:
        kept = sync_engine.pool.size() if hasattr(sync_engine.pool, "size") else 3
        found = _READERS[sync_engine] = ReadConnections(engine, max(1, kept - 2))
        sa.event.listen(sync_engine, "engine_disposed", found.close)
    return found


def connection(engine: AsyncEngine) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection of :func:`readers` for statements that need no transaction."""
    return readers(engine).connection()


async def _detail(
    engine: AsyncEngine, sql: str, key: Any, seen: Visibility, missing: str
) -> tuple[Any, bytes]:
    async with connection(engine) as conn:
        row = await conn.fetchrow(sql, key)
    if row is None:
        raise NotFound(missing, code="project_not_found")
    if not seen.sees_row(row["responsible_unit_id"], row["line_id"]):
        raise NotFound("项目不存在", code="project_not_found")
    return row, row["body"].encode()


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
    if f.stage is not None:
        where.append(f"p.stage = {params.add(f.stage.value)}")
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
    sql = f"SELECT {_PROJECT_JSON}::text AS body, p.{column} AS sort_value, p.id FROM project p"
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
    items, next_cursor = build_page(rows, keyset, page, key=lambda r: (r["sort_value"], r["id"]))
    cursor = b"null" if next_cursor is None else json.dumps(next_cursor).encode()
    return b'{"items":[' + ",".join(r["body"] for r in items).encode() + b'],"next_cursor":' + cursor + b"}"
