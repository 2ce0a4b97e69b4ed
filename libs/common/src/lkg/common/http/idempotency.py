"""``Idempotency-Key`` on creates (docs/http-conventions.md: mobile networks retry).

The client sends a fresh key (a UUID) with each create and the same key with every retry of it. The first
request runs the create and stores its response in the ``idempotency_key`` table **in the same transaction**
as the create, so either both are committed or neither is. A retry with the same key and the same request
gets the stored response again (``Idempotent-Replayed: true``); the same key with a different request is a
client bug and answers 422 ``idempotency_key_reused``. Keys are scoped per principal.

Concurrent duplicates: the first request's ``INSERT … ON CONFLICT DO NOTHING`` claims the key; a second
request with the same key waits on that uncommitted row inside PostgreSQL, then either sees it committed
(and replays it) or, if the first rolled back, claims the key itself. Never both create.

A route::

    @router.post("/api/v1/problems", status_code=201)
    async def report_problem(body: ProblemIn, request: Request, principal: CurrentPrincipal,
                             session: SessionDep, idempotency_key: IdempotencyKey = None) -> Response:
        async def create() -> Response:
            problem = await service.report_problem(session, ..., by=principal)
            out = ProblemOut.model_validate(problem)
            return JSONResponse(out.model_dump(mode="json"), status_code=201,
                                headers={"Location": f"/api/v1/problems/{problem.id}", **etag_header(...)})

        response = await idempotent_create(
            session, principal=principal.key, key=idempotency_key, method=request.method,
            path=request.url.path, request_hash=request_hash(body), create=create)
        await session.commit()
        return response
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from starlette.responses import Response

from lkg.common.http.problems import BadRequest, Conflict, IdempotencyKeyReused

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

#: Visible ASCII without spaces or quotes, bounded: a UUID fits, so does any sane client scheme.
_VALID_KEY = re.compile(r"[\x21\x23-\x7e]{1,255}")
#: Response headers replayed as stored; the rest (Content-Length, Date, per-request ids) are made anew.
_REPLAYED_HEADERS = frozenset({"content-type", "location", "etag", "last-modified", "content-language"})

#: The header as a route parameter; give it ``= None`` in the signature (FastAPI takes defaults from there).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=f"^{_VALID_KEY.pattern}$",
        max_length=255,
        description=(
            "创建请求的幂等键（建议 UUID，重试时保持不变）/ idempotency key of a create (a UUID, the same on "
            "every retry)"
        ),
    ),
]

_table = sa.table(
    "idempotency_key",
    sa.column("principal", sa.Text),
    sa.column("key", sa.Text),
    sa.column("method", sa.Text),
    sa.column("path", sa.Text),
    sa.column("request_hash", sa.Text),
    sa.column("status_code", sa.Integer),
    sa.column("response_headers", JSONB),
    sa.column("response_body", sa.LargeBinary),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def request_hash(payload: BaseModel | Mapping[str, Any] | bytes | str | None) -> str:
    """A fingerprint of a create's content: canonical JSON, so key order and spacing do not matter."""
    if payload is None:
        raw = b""
    elif isinstance(payload, bytes):
        raw = payload
    elif isinstance(payload, str):
        raw = payload.encode()
    else:
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        raw = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    return hashlib.sha256(raw).hexdigest()


def _stored_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS}


async def idempotent_create(
    session: AsyncSession,
    *,
    principal: str,
    key: str | None,
    method: str,
    path: str,
    request_hash: str,
    create: Callable[[], Awaitable[Response]],
    required: bool = False,
) -> Response:
    """Run ``create`` once per (principal, key); replay its stored response for retries.

    ``create`` changes rows through ``session`` and returns the response to send (its body must be
    rendered, e.g. a ``JSONResponse``). Nothing is committed here: the caller commits the create and the
    stored response together. A DomainError from ``create`` propagates and, rolled back with the
    transaction, leaves the key free for a corrected retry.
    """
    if key is None:
        if required:
            raise BadRequest("创建请求须携带 Idempotency-Key 请求头", code="idempotency_key_required")
        return await create()
    if not _VALID_KEY.fullmatch(key):
        raise BadRequest("Idempotency-Key 须为 1–255 个可见 ASCII 字符", code="invalid_idempotency_key")

    claim: ReturningInsert[tuple[Any]] = (
        pg_insert(_table)
        .values(
            principal=principal,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            # Placeholder until the create finishes; no other transaction ever sees it uncommitted.
            status_code=0,
            response_headers={},
            response_body=b"",
        )
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(sa.literal_column("1"))
    )
    claimed = (await session.execute(claim)).scalar_one_or_none()
    if claimed is None:
        return await _replay(
            session, principal=principal, key=key, method=method, path=path, digest=request_hash
        )

    response = await create()
    await session.execute(
        sa.update(_table)
        .where(_table.c.principal == principal, _table.c.key == key)
        .values(
            status_code=response.status_code,
            response_headers=_stored_headers(response),
            response_body=bytes(response.body),
        )
    )
    return response


async def _replay(
    session: AsyncSession, *, principal: str, key: str, method: str, path: str, digest: str
) -> Response:
    row = (
        await session.execute(
            sa.select(
                _table.c.method,
                _table.c.path,
                _table.c.request_hash,
                _table.c.status_code,
                _table.c.response_headers,
                _table.c.response_body,
            ).where(_table.c.principal == principal, _table.c.key == key)
        )
    ).one_or_none()
    if row is None:
        # Claimed by a transaction that rolled back after our INSERT gave way, then purged: vanishingly
        # rare; the client's retry settles it.
        raise Conflict("请求正在处理，请稍后重试", code="idempotency_key_in_flight")
    if (row.method, row.path, row.request_hash) != (method, path, digest):
        raise IdempotencyKeyReused("此幂等键已用于另一个请求；新的创建请求请使用新的 Idempotency-Key")
    headers = dict(row.response_headers or {})
    headers[REPLAYED_HEADER] = "true"
    return Response(content=bytes(row.response_body), status_code=row.status_code, headers=headers)


async def purge_idempotency_keys(session: AsyncSession, *, before: datetime) -> int:
    """Delete keys created before ``before`` (retries come within minutes; a day is plenty)."""
    # A DELETE's result is a CursorResult (it carries the rowcount); SQLAlchemy types execute() wider.
    result = cast(
        CursorResult[Any], await session.execute(sa.delete(_table).where(_table.c.created_at < before))
    )
    return int(result.rowcount or 0)
