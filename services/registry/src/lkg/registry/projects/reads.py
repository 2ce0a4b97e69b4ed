"""The register's read path for HTTP: get by id, look-up by project code, the filtered list.

Every other system and every mobile client reads the register, so these three routes answer from one SQL
statement each on a plain pooled connection (:mod:`lkg.registry.connections`), without an ORM session: no
BEGIN/ROLLBACK (a single statement sees one snapshot whether or not a transaction wraps it), no ORM
objects, and PostgreSQL writes the JSON (``json_build_object``), field for field what ``ProjectDetail`` /
``ProjectOut`` write. Measured by ``bench/registry.py``: the response schemas' validation and serialisation
were the largest share of a list request's CPU.

Which projects the list holds is not written here: the conditions are :mod:`lkg.registry.projects.filters`'
(the workbook export binds the same ones through the ORM). A list statement is compiled once per shape
(the filters in use, the order, a cursor or not) and then only bound. ``services/registry/tests/
test_reads.py`` checks the bodies against the response schemas and each filter against its rule.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN
from lkg.common.http.pagination import Keyset, PageParams, build_page
from lkg.common.http.problems import InvalidCursor, NotFound
from lkg.registry.access import Caller
from lkg.registry.connections import connection
from lkg.registry.projects.filters import ListQuery, conditions, order_by, selection
from lkg.registry.projects.models import Project
from lkg.registry.projects.schemas import (
    MilestoneOut,
    ProjectDetail,
    ProjectOut,
    ProjectPage,
)


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
    "id": "project.id",
    "revision": "project.revision",
    "project_code": "project.project_code",
    "name": "project.name",
    "enterprise": "project.enterprise",
    "category": "project.category",
    "project_class": "project.project_class",
    "responsible_unit_id": "project.responsible_unit_id",
    "responsible_unit_name": "project.responsible_unit_name",
    "line_id": "project.line_id",
    "routing_basis": "project.routing_basis",
    "routing_rule_id": "project.routing_rule_id",
    "routing_reason": "project.routing_reason",
    "enterprise_credit_code": "project.enterprise_credit_code",
    "project_code_warnings": "project.project_code_warnings",
    "provincial_municipal": "project.provincial_municipal",
    "fast_track": "project.fast_track",
    "approval_type": "project.approval_type",
    "total_investment": "project.total_investment::text",
    "above_100m": f"project.total_investment >= {int(ONE_HUNDRED_MILLION_YUAN)}",
    "plan_year": "project.plan_year",
    "planned_annual_investment": "project.planned_annual_investment::text",
    "status": "project.status",
    "stage": "project.stage",
    "enrolment_status": "project.enrolment_status",
    "statistics_contact_id": "project.statistics_contact_id",
    "integrity_flags": "project.integrity_flags",
    "terminated_on": "project.terminated_on",
    "deregistered_on": "project.deregistered_on",
    "site": "CASE WHEN project.site_street_id IS NULL THEN NULL ELSE json_build_object("
    "'street_id', project.site_street_id, 'street_name', project.site_street_name, "
    "'park', project.site_park, 'plot', project.site_plot) END",
    "service_contact": "CASE WHEN project.service_contact_id IS NULL THEN NULL ELSE json_build_object("
    "'id', project.service_contact_id, 'name', project.service_contact_name) END",
    "agent": "CASE WHEN project.agent_id IS NULL THEN NULL ELSE json_build_object("
    "'id', project.agent_id, 'name', project.agent_name) END",
    "statistics_contact": "CASE WHEN project.statistics_contact_id IS NULL THEN NULL ELSE json_build_object("
    "'id', project.statistics_contact_id, 'name', project.statistics_contact_name) END",
    "effective_at": _instant("project.effective_at"),
    "created_at": _instant("project.created_at"),
    "updated_at": _instant("project.updated_at"),
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
    raise RuntimeError("projects.reads: the SQL JSON no longer matches ProjectOut / MilestoneOut")
if list(ProjectDetail.model_fields) != [*ProjectOut.model_fields, "milestones"] or list(
    ProjectPage.model_fields
) != ["items", "next_cursor"]:
    raise RuntimeError("projects.reads: ProjectDetail or ProjectPage changed shape")


def _object(fields: dict[str, str]) -> str:
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"


_PROJECT_JSON = _object(_PROJECT_FIELDS)
# The milestones in the order of ``service.milestones_of``.
_DETAIL_JSON = _object(
    {
        **_PROJECT_FIELDS,
        "milestones": f"COALESCE((SELECT json_agg({_object(_MILESTONE_FIELDS)} ORDER BY m.position) "
        "FROM milestone m WHERE m.project_id = project.id), '[]'::json)",
    }
)
_DETAIL_SELECT = (
    f"SELECT {_DETAIL_JSON}::text AS body, project.id, project.revision, project.responsible_unit_id, "
    "project.line_id FROM project"
)
_BY_ID = _DETAIL_SELECT + " WHERE project.id = $1"
_BY_CODE = _DETAIL_SELECT + " WHERE project.project_code = $1"


async def _detail(engine: AsyncEngine, sql: str, key: Any, caller: Caller, missing: str) -> tuple[Any, bytes]:
    async with connection(engine) as conn:
        row = await conn.fetchrow(sql, key)
    # A project outside the caller's reach answers exactly as one that does not exist.
    if row is None or not caller.sees(row["responsible_unit_id"], row["line_id"]):
        raise NotFound(missing, code="project_not_found")
    return row, row["body"].encode()


async def project_json(engine: AsyncEngine, project_id: uuid.UUID, caller: Caller) -> tuple[Any, bytes]:
    """The project (id and revision, for the ETag) and its ``ProjectDetail`` JSON; 404 when there is no
    such project or it is outside what ``caller`` sees."""
    return await _detail(engine, _BY_ID, project_id, caller, "项目不存在")


async def project_json_by_code(engine: AsyncEngine, code: str, caller: Caller) -> tuple[Any, bytes]:
    """As :func:`project_json`, looked up by project code (trimmed, upper case, as stored)."""
    return await _detail(engine, _BY_CODE, code.strip().upper(), caller, "没有此项目代码的项目")


_BODY: sa.Label[Any] = sa.literal_column(f"{_PROJECT_JSON}::text").label("body")
#: Compiled list statements by (shape, order, cursor or not): the SQL and its parameters' names in order.
_STATEMENTS: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
_STATEMENTS_KEPT = 1024


def _compiled(
    dialect: Dialect, key: tuple[Any, ...], keyset: Keyset, after: bool
) -> tuple[str, tuple[str, ...]]:
    found = _STATEMENTS.get(key)
    if found is None:
        stmt = sa.select(_BODY, keyset.sort.label("sort_value"), Project.id).where(*conditions(key[0]))
        if after:
            bound = sa.tuple_(
                sa.bindparam("after_sort", type_=keyset.sort.type),
                sa.bindparam("after_id", type_=Project.id.type),
            )
            # A row-value comparison lets PostgreSQL walk the (sort, id) index from the position.
            position = sa.tuple_(keyset.sort, Project.id)
            stmt = stmt.where(position < bound if keyset.descending else position > bound)
        stmt = stmt.order_by(*order_by(keyset)).limit(sa.bindparam("limit", type_=sa.Integer))
        compiled = stmt.compile(dialect=dialect)
        if len(_STATEMENTS) >= _STATEMENTS_KEPT:
            _STATEMENTS.clear()
        found = _STATEMENTS[key] = (compiled.string, tuple(compiled.positiontup or ()))
    return found


def list_statement(
    dialect: Dialect, page: PageParams, caller: Caller, query: ListQuery
) -> tuple[str, list[Any], Keyset]:
    """The list page's SQL, its parameters and its keyset."""
    keyset = query.keyset
    shape, values = selection(caller, query)
    after = page.position is not None
    if page.position is not None:
        if page.position.name != keyset.name or len(page.position.values) != 2:
            raise InvalidCursor("分页游标不属于此列表，请从第一页重新获取")
        values["after_sort"], values["after_id"] = page.position.values
    values["limit"] = page.limit + 1
    sql, names = _compiled(dialect, (shape, keyset.name, after), keyset, after)
    return sql, [values[name] for name in names], keyset


async def page_json(engine: AsyncEngine, page: PageParams, caller: Caller, query: ListQuery) -> bytes:
    """A keyset page of the projects ``caller`` sees as ``ProjectPage`` JSON."""
    sql, values, keyset = list_statement(engine.dialect, page, caller, query)
    async with connection(engine) as conn:
        rows: Sequence[Any] = await conn.fetch(sql, *values)
    items, next_cursor = build_page(rows, keyset, page, key=lambda r: (r["sort_value"], r["id"]))
    cursor = b"null" if next_cursor is None else json.dumps(next_cursor).encode()
    return b'{"items":[' + ",".join(r["body"] for r in items).encode() + b'],"next_cursor":' + cursor + b"}"
