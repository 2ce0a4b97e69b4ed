"""Optimistic concurrency: ``ETag`` / ``If-Match`` on updates and actions (docs/http-conventions.md).

Two officials act on the same problem at once: both read revision 7 and send ``If-Match`` with its ETag.
The edge checks the header against the current row (:func:`require_if_match`: missing → 428, stale → 412);
then the use case writes with :func:`update_if_revision`, a conditional ``UPDATE … WHERE revision = 7``.
PostgreSQL row locking lets exactly one of the two UPDATEs match; the other matches 0 rows and fails with
412 inside its transaction, so nothing it did is committed: one wins, the other changes nothing.

A route::

    @router.post("/api/v1/problems/{problem_id}/escalations")
    async def escalate(problem_id: UUID, request: Request, ..., if_match: IfMatch = None) -> ...:
        problem = await service.get_problem(session, problem_id, reach=reach)       # 404 if hidden
        require_if_match(request, etag_for(problem.id, problem.revision))           # 428 / 412
        problem = await service.escalate(session, problem, expected_revision=problem.revision, ...)
        await session.commit()
        response.headers["ETag"] = etag_for(problem.id, problem.revision)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.problems import NotFound, PreconditionFailed, PreconditionRequired

#: Declares the header in OpenAPI (give it ``= None``); :func:`require_if_match` does the checking, so a
#: missing header is 428 ``precondition_required`` rather than a 422 validation error.
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="资源当前的 ETag（更新与操作必填）/ the resource's current ETag (required on updates)",
    ),
]

#: Marks an ``If-Match`` the route takes but does not require (:data:`OptionalIfMatch`); the OpenAPI
#: document (``lkg.common.http.openapi.require_if_match``) lists every other one as required, with 412/428.
OPTIONAL_IF_MATCH = "x-lkg-if-match-optional"

#: An If-Match a route checks only when given (a stale one is 412; a missing one is accepted).
OptionalIfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="资源当前的 ETag（可选；给出时须为最新）/ the resource's current ETag (checked if given)",
        json_schema_extra={OPTIONAL_IF_MATCH: True},
    ),
]


def etag_for(id: Any, revision: int) -> str:
    """A strong ETag for a row's revision: quoted, opaque (a hash), stable across processes."""
    digest = hashlib.blake2b(f"{id}:{revision}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _entity_tags(header: str) -> list[str]:
    # RFC 9110 §8.8.3: a comma-separated list of entity tags; commas cannot occur inside one.
    return [part.strip() for part in header.split(",") if part.strip()]


def check_if_match(if_match: str | None, current_etag: str) -> None:
    """Compare an ``If-Match`` value with the current ETag (strong comparison, RFC 9110 §13.1.1).

    Missing → :class:`PreconditionRequired` (428): an update without a version could silently overwrite
    someone else's change. A weak tag (``W/…``) never matches. ``*`` matches any existing resource.
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("更新和操作须携带 If-Match 请求头（取自资源的 ETag）")
    tags = _entity_tags(if_match)
    if "*" in tags:
        return
    if current_etag not in (t for t in tags if not t.startswith("W/")):
        raise PreconditionFailed("资源已被他人修改，请刷新后重试")


def require_if_match(request: Request, current_etag: str) -> None:
    """:func:`check_if_match` on the request's ``If-Match`` header."""
    check_if_match(request.headers.get("if-match"), current_etag)


def etag_header(id: Any, revision: int) -> dict[str, str]:
    """``{"ETag": …}`` for a response."""
    return {"ETag": etag_for(id, revision)}


async def update_if_revision(
    session: AsyncSession,
    table_or_model: Any,
    id: Any,
    expected_revision: int,
    values: Mapping[str, Any],
    *,
    id_column: str = "id",
    revision_column: str = "revision",
) -> int:
    """``UPDATE … SET values, revision = revision + 1 WHERE id = :id AND revision = :expected``.

    Returns the new revision. No matching row: :class:`NotFound` if the row is gone, else
    :class:`PreconditionFailed` (someone else changed it first). Given a mapped class, the object in the
    session's identity map is refreshed from ``RETURNING``, so the caller sees the new state without a
    second query. The caller's transaction stays open (use cases don't commit).
    """
    if revision_column in values:
        raise ValueError("the revision is advanced here; leave it out of values")
    mapper = sa.inspect(table_or_model, raiseerr=False)
    is_model = (
        mapper is not None and hasattr(mapper, "local_table") and not isinstance(table_or_model, sa.Table)
    )
    table: sa.Table = mapper.local_table if is_model else table_or_model
    id_col = table.c[id_column]
    revision_col = table.c[revision_column]

    new_values = {**values, revision_column: revision_col + 1}
    condition = sa.and_(id_col == id, revision_col == expected_revision)
    if is_model:
        # ORM-enabled UPDATE … RETURNING the entity: the identity map gets the new row.
        stmt = (
            sa.update(table_or_model)
            .where(condition)
            .values(new_values)
            .returning(table_or_model)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        updated = (await session.execute(stmt)).scalar_one_or_none()
        new_revision = (
            None if updated is None else getattr(updated, mapper.get_property_by_column(revision_col).key)
        )
    else:
        stmt = sa.update(table).where(condition).values(new_values).returning(revision_col)
        new_revision = (await session.execute(stmt)).scalar_one_or_none()

    if new_revision is None:
        exists = await session.scalar(sa.select(sa.literal(True)).where(id_col == id))
        if exists:
            raise PreconditionFailed(
                "资源已被他人修改，请刷新后重试", extra={"expected_revision": expected_revision}
            )
        raise NotFound()
    return int(new_revision)
