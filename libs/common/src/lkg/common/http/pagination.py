"""Cursor (keyset) pagination and the ``updated_since`` filter (docs/http-conventions.md).

A list answers ``{"items": [...], "next_cursor": "…" | null}``. The cursor is opaque to clients: base64url
of a small JSON document naming the ordering and the last row's (sort value, id), then ``.`` and an HMAC of
it (SHA-256, cut to 128 bits) under a key derived from the deployment's token secret, so an edited or
forged cursor answers 400 ``invalid_cursor`` rather than starting a page anywhere a client likes. Keyset
pagination, unlike offsets, costs the same on page 1 and page 500 and neither skips nor repeats rows when
rows are added between pages. The sort column must be NOT NULL and the id unique, so (sort, id) orders
rows totally.

In a route::

    @router.get("/api/v1/problems")
    async def list_problems(page: PageQuery, since: UpdatedSince, session: SessionDep) -> Page[ProblemOut]:
        rows, next_cursor = await service.list_problems(session, page=page, updated_since=since)
        return Page(items=[ProblemOut.model_validate(r) for r in rows], next_cursor=next_cursor)

and in the use case::

    BY_UPDATED = Keyset(sort=Problem.updated_at, id=Problem.id, name="updated_at")
    stmt = apply_updated_since(select(Problem), Problem.updated_at, updated_since)
    return await fetch_page(session, stmt, BY_UPDATED, page)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.problems import InvalidCursor, ValidationFailed
from lkg.common.settings import PLACEHOLDER_SECRET, ServiceSettings

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_CURSOR_CHARS = 1024

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    """One page of a list (``next_cursor`` is null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="下一页游标，最后一页为 null / cursor of the next page, null on the last"
    )


# ---- the cursor ----------------------------------------------------------------------------------
# Values keep their type through JSON with a one-letter tag, so a datetime compares as a datetime.


def _tag(value: Any) -> list[Any]:
    if value is None:
        return ["z", None]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, UUID):
        return ["u", str(value)]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("keyset datetimes must be timezone-aware")
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    if isinstance(value, str):
        return ["s", value]
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


def _untag(item: Any) -> Any:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
        raise ValueError("not a tagged value")
    tag, raw = item
    if tag == "z" and raw is None:
        return None
    if tag == "b" and isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise ValueError("tagged value must be a string")
    match tag:
        case "i":
            return int(raw)
        case "u":
            return UUID(raw)
        case "t":
            parsed = datetime.fromisoformat(raw)
            if parsed.tzinfo is None:
                raise ValueError("naive datetime")
            return parsed
        case "d":
            return date.fromisoformat(raw)
        case "n":
            return Decimal(raw)
        case "s":
            return raw
    raise ValueError(f"unknown tag {tag!r}")


def cursor_key(secret: str) -> bytes:
    """The key cursors are signed with, derived from the token secret (never the secret itself)."""
    return hmac.new(secret.encode(), b"lkg pagination cursor v1", hashlib.sha256).digest()


def cursor_key_for(settings: ServiceSettings) -> bytes:
    return cursor_key(settings.jwt_secret.get_secret_value())


#: The key of code that runs outside an app (use cases called from the CLI or a test): the placeholder's.
DEFAULT_CURSOR_KEY = cursor_key(PLACEHOLDER_SECRET)

_SIGNATURE_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _signature(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode_cursor(name: str, values: Sequence[Any], *, key: bytes = DEFAULT_CURSOR_KEY) -> str:
    """The opaque cursor for ordering ``name`` positioned after ``values`` (sort value, id), signed."""
    document = {"o": name, "k": [_tag(v) for v in values]}
    payload = _b64(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_b64(_signature(key, payload))}"


@dataclass(frozen=True, slots=True)
class Cursor:
    """A decoded cursor: the ordering it belongs to and the position after which the next page starts."""

    name: str
    values: tuple[Any, ...]


def decode_cursor(cursor: str, *, key: bytes = DEFAULT_CURSOR_KEY) -> Cursor:
    """Parse a cursor; anything edited, forged or malformed is :class:`InvalidCursor` (400
    ``invalid_cursor``). The signature is checked before anything of the document is read."""
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("分页游标过长")
    try:
        payload, _, signature = cursor.partition(".")
        if not hmac.compare_digest(_unb64(signature), _signature(key, payload)):
            raise ValueError("bad signature")
        document = json.loads(_unb64(payload))
        if not isinstance(document, dict) or not isinstance(document.get("o"), str):
            raise ValueError("not a cursor document")
        values = document.get("k")
        if not isinstance(values, list) or not values:
            raise ValueError("no keyset values")
        return Cursor(name=document["o"], values=tuple(_untag(v) for v in values))
    except (ValueError, TypeError, UnicodeError, binascii.Error, InvalidOperation) as exc:
        raise InvalidCursor("分页游标无效，请从第一页重新获取") from exc


# ---- the FastAPI dependency ----------------------------------------------------------------------


_LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数（1–200）/ page size (1–200)")]
_CursorQuery = Annotated[
    str | None,
    Query(max_length=_MAX_CURSOR_CHARS, description="上一页返回的 next_cursor / next_cursor"),
]


class PageParams:
    """``limit`` and ``cursor`` query parameters; use as ``page: PageQuery``.

    The cursor is decoded here, so a tampered cursor fails with 400 before the use case runs; ``key`` signs
    the next page's cursor (:func:`build_page`) and checks this one.
    """

    __slots__ = ("cursor", "key", "limit", "position")

    def __init__(
        self, limit: int = DEFAULT_LIMIT, cursor: str | None = None, *, key: bytes = DEFAULT_CURSOR_KEY
    ) -> None:
        self.limit = limit
        self.cursor = cursor
        self.key = key
        self.position: Cursor | None = decode_cursor(cursor, key=key) if cursor else None

    @classmethod
    def first(cls, limit: int = DEFAULT_LIMIT) -> PageParams:
        """The first page, for use cases called outside HTTP (CLI, scenario tests)."""
        return cls(limit=limit, cursor=None)

    def __repr__(self) -> str:
        return f"PageParams(limit={self.limit}, cursor={self.cursor!r})"


async def page_params(
    request: Request, limit: _LimitQuery = DEFAULT_LIMIT, cursor: _CursorQuery = None
) -> PageParams:
    """The :data:`PageQuery` dependency, with the app's cursor key (``app.state.cursor_key``, set by
    :func:`lkg.common.http.app.create_http_app`). ``async`` although it awaits nothing: FastAPI runs a class
    or a plain ``def`` dependency in its thread pool, a thread hop on every list request."""
    key = getattr(request.app.state, "cursor_key", DEFAULT_CURSOR_KEY)
    return PageParams(limit=limit, cursor=cursor, key=key)


PageQuery = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Keyset:
    """A total order for keyset pagination: ``ORDER BY sort, id`` (both ascending or both descending).

    ``name`` is written into cursors so that a cursor of one ordering is refused by another.
    """

    sort: Any  # a NOT NULL column (ORM attribute or Core column)
    id: Any  # a unique column
    name: str
    descending: bool = False


def apply_keyset(stmt: sa.Select[Any], keyset: Keyset, page: PageParams) -> sa.Select[Any]:
    """Order ``stmt`` by the keyset, start after the cursor, fetch ``limit + 1`` rows (to know if more)."""
    if page.position is not None:
        if page.position.name != keyset.name or len(page.position.values) != 2:
            raise InvalidCursor("分页游标不属于此列表，请从第一页重新获取")
        after = sa.tuple_(keyset.sort, keyset.id)
        sort_value, id_value = page.position.values
        bound = sa.tuple_(
            sa.literal(sort_value, type_=keyset.sort.type), sa.literal(id_value, type_=keyset.id.type)
        )
        # A row-value comparison lets PostgreSQL walk a (sort, id) index from the position.
        stmt = stmt.where(after < bound if keyset.descending else after > bound)
    if keyset.descending:
        stmt = stmt.order_by(keyset.sort.desc(), keyset.id.desc())
    else:
        stmt = stmt.order_by(keyset.sort.asc(), keyset.id.asc())
    return stmt.limit(page.limit + 1)


def _attribute_name(column: Any) -> str:
    return getattr(column, "key", None) or column.name


def build_page(
    rows: Sequence[Row],
    keyset: Keyset,
    page: PageParams,
    *,
    key: Callable[[Row], tuple[Any, Any]] | None = None,
) -> tuple[list[Row], str | None]:
    """Cut the ``limit + 1`` rows of :func:`apply_keyset` to a page and make the next cursor.

    ``key`` gives a row's (sort value, id); by default it reads the keyset's attribute names from the row
    (ORM objects, or ``Row`` results that selected those columns).
    """
    items = list(rows[: page.limit])
    if len(rows) <= page.limit:
        return items, None
    last = items[-1]
    if key is None:
        sort_name, id_name = _attribute_name(keyset.sort), _attribute_name(keyset.id)
        values: tuple[Any, Any] = (getattr(last, sort_name), getattr(last, id_name))
    else:
        values = key(last)
    return items, encode_cursor(keyset.name, values, key=page.key)


async def fetch_page(
    session: AsyncSession,
    stmt: sa.Select[Any],
    keyset: Keyset,
    page: PageParams,
    *,
    scalars: bool = True,
    key: Callable[[Any], tuple[Any, Any]] | None = None,
) -> tuple[list[Any], str | None]:
    """Run a keyset page of ``stmt``: the items (ORM objects when ``scalars``, else rows) and next cursor."""
    result = await session.execute(apply_keyset(stmt, keyset, page))
    rows = list(result.scalars().all()) if scalars else list(result.all())
    return build_page(rows, keyset, page, key=key)


# ---- updated_since -------------------------------------------------------------------------------


async def updated_since_param(
    updated_since: Annotated[
        str | None,
        Query(
            description=(
                "只返回此时刻及之后更新的记录（ISO 8601，必须带时区，如 2020-05-01T09:00:00+08:00）"
                " / only records updated at or after this instant (ISO 8601 with offset)"
            ),
            json_schema_extra={"format": "date-time"},
            max_length=64,
        ),
    ] = None,
) -> datetime | None:
    """The ``updated_since`` filter for systems that sync. Only ISO 8601 with an offset: a time without one
    is ambiguous, and a bare number (which pydantic would read as a Unix timestamp) is not a time here.
    ``async`` so that FastAPI calls it inline rather than in its thread pool."""
    if updated_since is None:
        return None
    try:
        parsed = datetime.fromisoformat(updated_since)
    except ValueError:
        parsed = None
    if parsed is None or not _ISO_INSTANT.match(updated_since):
        raise ValidationFailed(
            errors=[
                {"loc": ["query", "updated_since"], "msg": "须为 ISO 8601 时刻", "type": "datetime_parsing"}
            ]
        )
    if parsed.utcoffset() is None:
        raise ValidationFailed(
            errors=[
                {
                    "loc": ["query", "updated_since"],
                    "msg": "必须带时区偏移（如 +08:00）",
                    "type": "timezone_aware",
                }
            ]
        )
    return parsed


_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


UpdatedSince = Annotated[datetime | None, Depends(updated_since_param)]


def apply_updated_since(stmt: sa.Select[Any], column: Any, since: datetime | None) -> sa.Select[Any]:
    """Keep rows with ``column >= since`` (inclusive: a syncing client dedupes by id rather than miss a row
    updated in the same instant as the last one it saw)."""
    if since is None:
        return stmt
    return stmt.where(column >= since)
