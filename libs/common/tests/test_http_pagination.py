"""Cursor pagination: opaque keyset cursors, tamper → 400, pages neither skip nor repeat rows."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from lkg.common.auth import PUBLIC_ROUTE
from lkg.common.db import make_metadata
from lkg.common.http.app import create_http_app
from lkg.common.http.pagination import (
    Keyset,
    Page,
    PageParams,
    PageQuery,
    UpdatedSince,
    apply_keyset,
    apply_updated_since,
    build_page,
    cursor_key,
    decode_cursor,
    encode_cursor,
    fetch_page,
)
from lkg.common.http.problems import InvalidCursor, install_problem_handlers
from lkg.common.settings import ServiceSettings
from lkg.common.testing.infra import engine_with_tables

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "values",
    [
        (datetime(2020, 5, 1, 9, 0, tzinfo=CST), uuid.UUID("0196c7e2-7a54-7cc4-9d1e-5c2f0b8f4d11")),
        (date(2020, 5, 1), 42),
        (Decimal("12345.6700"), "项目-甲"),
        (True, None),
    ],
)
def test_cursors_round_trip_with_their_types(values: tuple) -> None:
    cursor = encode_cursor("by_x", values)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    decoded = decode_cursor(cursor)
    assert (decoded.name, decoded.values) == ("by_x", values)
    assert [type(v) for v in decoded.values] == [type(v) for v in values]


def _b64(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm90LWpzb24",  # "not-json"
        _b64([1, 2]),
        _b64({"o": "by_x", "k": []}),
        _b64({"o": "by_x", "k": [["q", "1"]]}),
        _b64({"o": "by_x", "k": [["i", "one"]]}),
        _b64({"o": "by_x", "k": [["t", "2020-05-01T09:00:00"]]}),  # naive datetime
        "a" * 2000,
    ],
)
def test_a_tampered_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def _edited(cursor: str, edit) -> str:
    """The cursor with its document changed by ``edit`` and its signature kept, as a curious client would."""
    payload, _, signature = cursor.partition(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{_b64(edit(document))}.{signature}"


def test_a_cursor_signed_with_another_key_or_edited_is_invalid() -> None:
    cursor = encode_cursor("by_x", (date(2020, 5, 1), 42), key=cursor_key("one secret"))
    assert decode_cursor(cursor, key=cursor_key("one secret")).values == (date(2020, 5, 1), 42)
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, key=cursor_key("another secret"))
    with pytest.raises(InvalidCursor):
        decode_cursor(
            _edited(cursor, lambda d: {**d, "k": [["d", "2020-05-01"], ["i", "41"]]}),
            key=cursor_key("one secret"),
        )
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor.partition(".")[0], key=cursor_key("one secret"))  # signature dropped


NUMBERS = Keyset(sort=sa.column("n"), id=sa.column("n"), name="n")


def numbers_app(secret: str) -> FastAPI:
    router = APIRouter()

    @router.get("/api/v1/numbers", openapi_extra=PUBLIC_ROUTE)
    async def numbers(page: PageQuery) -> Page[int]:
        start = page.position.values[1] + 1 if page.position else 0
        rows = list(range(start, 10))[: page.limit + 1]
        items, next_cursor = build_page(rows, NUMBERS, page, key=lambda n: (n, n))
        return Page(items=items, next_cursor=next_cursor)

    async def ready() -> dict:
        return {"status": "ok"}

    settings = ServiceSettings(jwt_secret=secret, service_name="lkg-test")
    return create_http_app(
        settings=settings, title="t", description="t", version="1", routers=[("t", router)], readiness=ready
    )


async def test_an_edited_or_foreign_cursor_answers_400_invalid_cursor_over_http() -> None:
    """The docs promise it (docs/http-conventions.md): a cursor is opaque, a changed one answers 400."""
    app = numbers_app("numbers-test-secret-long-enough-0123456789")
    other = numbers_app("another-deployment-secret-0123456789abcdef")
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c,
        httpx.AsyncClient(transport=httpx.ASGITransport(other), base_url="http://t") as o,
    ):
        first = (await c.get("/api/v1/numbers", params={"limit": 3})).json()
        second = await c.get("/api/v1/numbers", params={"limit": 3, "cursor": first["next_cursor"]})
        skipped = _edited(first["next_cursor"], lambda d: {**d, "k": [["i", "7"], ["i", "7"]]})
        edited = await c.get("/api/v1/numbers", params={"limit": 3, "cursor": skipped})
        foreign = await o.get("/api/v1/numbers", params={"limit": 3, "cursor": first["next_cursor"]})
    assert first["items"] == [0, 1, 2]
    assert second.json()["items"] == [3, 4, 5]
    for refused in (edited, foreign):
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_cursor"), refused.text


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/items")
    async def items(page: PageQuery, since: UpdatedSince) -> Page[int]:
        return Page(items=[page.limit], next_cursor=since.isoformat() if since else None)

    return app


async def test_limit_defaults_to_50_and_is_bounded_to_1_200() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app()), base_url="http://t") as c:
        default = await c.get("/items")
        top = await c.get("/items", params={"limit": 200})
        too_big = await c.get("/items", params={"limit": 201})
        zero = await c.get("/items", params={"limit": 0})
    assert default.json() == {"items": [50], "next_cursor": None}
    assert top.json()["items"] == [200]
    assert [too_big.status_code, zero.status_code] == [422, 422]
    assert too_big.json()["errors"] == [
        {"loc": ["query", "limit"], "msg": "必须小于或等于 200", "type": "less_than_equal"}
    ]


async def test_a_bad_cursor_is_a_400_problem() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app()), base_url="http://t") as c:
        response = await c.get("/items", params={"cursor": "tampered!"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_updated_since_needs_an_offset() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app()), base_url="http://t") as c:
        aware = await c.get("/items", params={"updated_since": "2020-05-01T09:00:00+08:00"})
        naive = await c.get("/items", params={"updated_since": "2020-05-01T09:00:00"})
    assert aware.json()["next_cursor"] == "2020-05-01T09:00:00+08:00"
    assert naive.status_code == 422
    assert naive.json()["errors"] == [
        {"loc": ["query", "updated_since"], "msg": "必须带时区偏移（如 +08:00）", "type": "timezone_aware"}
    ]


def test_a_cursor_of_another_ordering_is_refused() -> None:
    table = sa.table("t", sa.column("id", sa.Integer), sa.column("updated_at", sa.DateTime(timezone=True)))
    keyset = Keyset(sort=table.c.updated_at, id=table.c.id, name="updated_at")
    page = PageParams(limit=10, cursor=encode_cursor("title", ["x", 1]))
    with pytest.raises(InvalidCursor, match="不属于此列表"):
        apply_keyset(sa.select(table), keyset, page)


# ---- against PostgreSQL --------------------------------------------------------------------------

metadata = make_metadata()
project = sa.Table(
    "project",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
START = datetime(2020, 5, 1, 9, 0, tzinfo=CST)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own on the test PostgreSQL (lkg.common.testing.infra)."""
    async with engine_with_tables(fresh_database_url, metadata) as engine:
        async with engine.begin() as conn:
            # 7 rows, several sharing one updated_at: the id breaks ties
            await conn.execute(
                project.insert(),
                [{"id": i, "updated_at": START + timedelta(hours=i // 3)} for i in range(1, 8)],
            )
        yield engine


async def _walk(
    engine: AsyncEngine, keyset: Keyset, limit: int, since: datetime | None = None
) -> list[list[int]]:
    sessions = async_sessionmaker(engine)
    pages: list[list[int]] = []
    cursor: str | None = None
    async with sessions() as session:
        while True:
            stmt = apply_updated_since(
                sa.select(project.c.id, project.c.updated_at), project.c.updated_at, since
            )
            rows, cursor = await fetch_page(
                session, stmt, keyset, PageParams(limit=limit, cursor=cursor), scalars=False
            )
            pages.append([row.id for row in rows])
            if cursor is None:
                return pages


async def test_pages_walk_every_row_once_in_order(http_engine: AsyncEngine) -> None:
    keyset = Keyset(sort=project.c.updated_at, id=project.c.id, name="updated_at")
    assert await _walk(http_engine, keyset, 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert await _walk(http_engine, keyset, 7) == [[1, 2, 3, 4, 5, 6, 7]]


async def test_descending_order_and_updated_since(http_engine: AsyncEngine) -> None:
    newest_first = Keyset(sort=project.c.updated_at, id=project.c.id, name="updated_at_desc", descending=True)
    assert await _walk(http_engine, newest_first, 2) == [[7, 6], [5, 4], [3, 2], [1]]
    ascending = Keyset(sort=project.c.updated_at, id=project.c.id, name="updated_at")
    # inclusive: rows updated exactly at the instant are included (in UTC here, the same instant)
    since = (START + timedelta(hours=1)).astimezone(UTC)
    assert await _walk(http_engine, ascending, 10, since) == [[3, 4, 5, 6, 7]]
