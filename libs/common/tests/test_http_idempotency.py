"""Idempotency-Key on creates: a retry replays, a reused key is refused, duplicates never both create."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
import sqlalchemy as sa
from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.responses import JSONResponse, Response

from lkg.common.db import make_metadata
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.problems import IdempotencyKeyReused, NotFound, install_problem_handlers
from lkg.common.testing import eventually
from lkg.common.testing.infra import engine_with_tables

metadata = make_metadata()
problem = sa.Table(
    "problem",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
)


class NewProblem(BaseModel):
    title: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own on the test PostgreSQL (lkg.common.testing.infra)."""
    async with engine_with_tables(fresh_database_url, metadata) as engine:
        yield engine


def build_app(engine: AsyncEngine, created: list[int], hold: asyncio.Event | None = None) -> FastAPI:
    """A create route written the way services write theirs: one transaction, commit at the edge."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/api/v1/problems", status_code=201)
    async def report(body: NewProblem, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
        principal = request.headers["x-test-principal"]
        async with sessions() as session, session.begin():

            async def create() -> Response:
                if body.title == "missing project":
                    raise NotFound("项目不存在", code="project_not_found")
                new_id = (
                    await session.execute(problem.insert().values(title=body.title).returning(problem.c.id))
                ).scalar_one()
                created.append(new_id)
                if hold is not None:
                    await hold.wait()
                return JSONResponse(
                    {"id": new_id, "title": body.title},
                    status_code=201,
                    headers={
                        "Location": f"/api/v1/problems/{new_id}",
                        "ETag": f'"{new_id}-1"',
                        "X-Other": "no",
                    },
                )

            return await idempotent_create(
                session,
                principal=principal,
                key=idempotency_key,
                method=request.method,
                path=request.url.path,
                request_hash=request_hash(body),
                create=create,
            )

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


def headers(key: str | None, principal: str = "person:p-1") -> dict[str, str]:
    out = {"x-test-principal": principal}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


async def count_problems(engine: AsyncEngine, title: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(problem.c.title == title))).scalar_one()


async def test_a_retry_with_the_same_key_replays_the_stored_response(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    key = str(uuid.uuid4())
    async with client(build_app(http_engine, created)) as c:
        first = await c.post("/api/v1/problems", json={"title": "道路未通"}, headers=headers(key))
        retry = await c.post("/api/v1/problems", json={"title": "道路未通"}, headers=headers(key))
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert (retry.headers["location"], retry.headers["etag"]) == (
        first.headers["location"],
        first.headers["etag"],
    )
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert "x-other" not in retry.headers
    assert len(created) == 1
    assert await count_problems(http_engine, "道路未通") == 1


async def test_the_same_key_with_another_request_is_422(http_engine: AsyncEngine) -> None:
    key = str(uuid.uuid4())
    async with client(build_app(http_engine, [])) as c:
        await c.post("/api/v1/problems", json={"title": "用电报装"}, headers=headers(key))
        reused = await c.post("/api/v1/problems", json={"title": "另一个问题"}, headers=headers(key))
    assert reused.status_code == 422
    assert reused.json()["code"] == IdempotencyKeyReused.code
    assert await count_problems(http_engine, "另一个问题") == 0


async def test_keys_are_scoped_per_principal(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    key = "shared-key-1"
    async with client(build_app(http_engine, created)) as c:
        a = await c.post("/api/v1/problems", json={"title": "供水"}, headers=headers(key, "person:a"))
        b = await c.post("/api/v1/problems", json={"title": "供水"}, headers=headers(key, "person:b"))
    assert a.json()["id"] != b.json()["id"]
    assert len(created) == 2


async def test_without_a_key_every_request_creates(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    async with client(build_app(http_engine, created)) as c:
        responses = [
            await c.post("/api/v1/problems", json={"title": "无幂等键"}, headers=headers(None))
            for _ in range(2)
        ]
    assert [r.status_code for r in responses] == [201, 201], responses[0].text
    assert len(created) == 2


async def test_a_malformed_key_is_refused_by_the_documented_header_pattern(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    async with client(build_app(http_engine, created)) as c:
        response = await c.post("/api/v1/problems", json={"title": "x"}, headers=headers("has space"))
    assert (response.status_code, response.json()["code"]) == (422, "validation_failed")
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert created == []


async def test_a_failed_create_stores_nothing_and_the_key_stays_usable(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    key = str(uuid.uuid4())
    async with client(build_app(http_engine, created)) as c:
        failed = await c.post("/api/v1/problems", json={"title": "missing project"}, headers=headers(key))
        again = await c.post("/api/v1/problems", json={"title": "missing project"}, headers=headers(key))
    assert [failed.status_code, again.status_code] == [404, 404]
    assert "idempotent-replayed" not in again.headers
    async with http_engine.connect() as conn:
        stored = (
            await conn.execute(sa.text("SELECT count(*) FROM idempotency_key WHERE key = :k"), {"k": key})
        ).scalar_one()
    assert stored == 0


async def test_concurrent_duplicates_create_once_and_the_second_replays(http_engine: AsyncEngine) -> None:
    created: list[int] = []
    hold = asyncio.Event()
    key = str(uuid.uuid4())
    app = build_app(http_engine, created, hold)
    async with client(app) as c:
        first = asyncio.create_task(c.post("/api/v1/problems", json={"title": "并发"}, headers=headers(key)))
        await eventually(lambda: bool(created))  # the first request has claimed the key, is creating
        second = asyncio.create_task(c.post("/api/v1/problems", json={"title": "并发"}, headers=headers(key)))
        await _wait_for_a_lock_wait(http_engine)  # the second request waits on the first's claim
        hold.set()
        responses = await asyncio.gather(first, second)
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].content == responses[1].content
    assert responses[1].headers["idempotent-replayed"] == "true"
    assert len(created) == 1
    assert await count_problems(http_engine, "并发") == 1


async def _wait_for_a_lock_wait(engine: AsyncEngine) -> None:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def waiting() -> None:
        async with engine.connect() as conn:
            waits = (await conn.execute(query)).scalar_one()
        assert waits >= 1, "the second request never waited on the first one's key"

    await eventually(waiting)


async def test_the_stored_row_sits_in_the_create_transaction(http_engine: AsyncEngine) -> None:
    # Rolled back together: a create whose transaction does not commit leaves no key behind.
    sessions = async_sessionmaker(http_engine, expire_on_commit=False)
    key = str(uuid.uuid4())

    async def create() -> Response:
        return JSONResponse({"ok": True}, status_code=201)

    async with sessions() as session:
        session: AsyncSession
        await idempotent_create(
            session, principal="p", key=key, method="POST", path="/x", request_hash="h", create=create
        )
        await session.rollback()
    async with http_engine.connect() as conn:
        stored = (
            await conn.execute(sa.text("SELECT count(*) FROM idempotency_key WHERE key = :k"), {"k": key})
        ).scalar_one()
    assert stored == 0


def test_request_hash_ignores_key_order_but_not_content() -> None:
    assert request_hash({"a": 1, "b": "二"}) == request_hash({"b": "二", "a": 1})
    assert request_hash(NewProblem(title="x")) == request_hash({"title": "x"})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
