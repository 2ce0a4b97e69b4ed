"""The unit of work of a write route: committed before the response is sent, rolled back on any error, a
failed commit answers an error (never the 200 the route prepared); ETag and Idempotency-Key flows through it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest_asyncio
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from lkg.common.db import Database, make_metadata
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header, update_if_revision
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.problems import Conflict, NotFound, install_problem_handlers
from lkg.common.runtime.deps import ServiceDeps
from lkg.common.runtime.service import Platform, ServiceRuntime, ServiceSpec
from lkg.common.settings import ServiceSettings

metadata = make_metadata()
parent = sa.Table("parent", metadata, sa.Column("id", sa.Integer, primary_key=True))
child = sa.Table(
    "child",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    # Checked at COMMIT, not at the INSERT: the way to make a commit fail after the route has returned.
    sa.Column(
        "parent_id",
        sa.Integer,
        sa.ForeignKey("parent.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
)


class Settings(ServiceSettings):
    greeting: str = "你好"


DEPS = ServiceDeps[Settings]("uow")
Runtime = Annotated[ServiceRuntime[Settings], DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]


class ChildIn(BaseModel):
    title: str
    parent_id: int = 1


class Rename(BaseModel):
    title: str


def router() -> APIRouter:
    r = APIRouter(prefix="/children")

    @r.post("", status_code=201)
    async def create(body: ChildIn, session: UnitOfWork) -> dict[str, int]:
        if body.title == "冲突":
            await session.execute(child.insert().values(title=body.title, parent_id=1))
            raise Conflict("状态不允许", code="not_allowed")
        new_id = (
            await session.execute(
                child.insert().values(title=body.title, parent_id=body.parent_id).returning(child.c.id)
            )
        ).scalar_one()
        return {"id": new_id}

    @r.post("/idempotent", status_code=201)
    async def create_once(
        body: ChildIn, request: Request, session: UnitOfWork, idempotency_key: IdempotencyKey = None
    ) -> Response:
        async def make() -> Response:
            new_id = (
                await session.execute(
                    child.insert().values(title=body.title, parent_id=body.parent_id).returning(child.c.id)
                )
            ).scalar_one()
            return JSONResponse({"id": new_id}, status_code=201, headers=etag_header(new_id, 1))

        return await idempotent_create(
            session,
            principal="person:p-1",
            key=idempotency_key,
            method=request.method,
            path=request.url.path,
            request_hash=request_hash(body),
            create=make,
        )

    @r.post("/{child_id}/rename")
    async def rename(
        child_id: int, body: Rename, response: Response, session: UnitOfWork, if_match: IfMatch = None
    ) -> dict[str, int]:
        row = (await session.execute(sa.select(child).where(child.c.id == child_id))).first()
        if row is None:
            raise NotFound()
        check_if_match(if_match, etag_for(row.id, row.revision))
        revision = await update_if_revision(session, child, child_id, row.revision, {"title": body.title})
        response.headers.update(etag_header(child_id, revision))
        return {"revision": revision}

    @r.post("/read-only")
    async def write_through_a_read_session(body: ChildIn, session: Session) -> dict[str, str]:
        await session.execute(child.insert().values(title=body.title, parent_id=body.parent_id))
        return {"status": "not committed"}

    @r.get("/settings")
    async def settings(runtime: Runtime) -> dict[str, str]:
        return {"greeting": runtime.settings.greeting}  # typed: no getattr, no cast

    return r


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(fresh_database_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(service_name="uow", database_url=fresh_database_url)
    spec = ServiceSpec[Settings](
        name="uow",
        title="uow",
        description="",
        version="0",
        settings_cls=Settings,
        metadata=metadata,
        migrations="",
        router=router,
    )
    runtime = ServiceRuntime(spec=spec, settings=settings, platform=Platform(settings))
    runtime.db = Database(fresh_database_url)
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(parent.insert().values(id=1))
    application = FastAPI()
    install_problem_handlers(application)
    application.include_router(router())
    application.state.runtimes = {"uow": runtime}
    try:
        yield application
    finally:
        await runtime.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: an unhandled error answers 500 as it would through a server.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url="http://t"
    )


async def titles(app: FastAPI, title: str) -> int:
    async with app.state.runtimes["uow"].db.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(child.c.title == title))).scalar_one()


async def test_a_route_that_returns_is_committed(app: FastAPI) -> None:
    async with client(app) as c:
        r = await c.post("/children", json={"title": "道路未通"})
    assert r.status_code == 201
    assert await titles(app, "道路未通") == 1


async def test_a_failing_commit_answers_an_error_not_the_prepared_response(app: FastAPI) -> None:
    async with client(app) as c:
        r = await c.post("/children", json={"title": "无主", "parent_id": 99})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "id" not in r.json()
    assert await titles(app, "无主") == 0


async def test_a_domain_error_rolls_back_what_the_route_wrote(app: FastAPI) -> None:
    async with client(app) as c:
        r = await c.post("/children", json={"title": "冲突"})
    assert (r.status_code, r.json()["code"]) == (409, "not_allowed")
    assert await titles(app, "冲突") == 0


async def test_a_read_session_commits_nothing(app: FastAPI) -> None:
    async with client(app) as c:
        r = await c.post("/children/read-only", json={"title": "只读"})
    assert r.status_code == 200
    assert await titles(app, "只读") == 0


async def test_etag_flow_new_revision_on_the_response_and_a_stale_tag_changes_nothing(app: FastAPI) -> None:
    async with client(app) as c:
        created = (await c.post("/children", json={"title": "用地"})).json()["id"]
        tag = {"If-Match": etag_for(created, 1)}
        first = await c.post(f"/children/{created}/rename", json={"title": "用地 2"}, headers=tag)
        stale = await c.post(f"/children/{created}/rename", json={"title": "用地 3"}, headers=tag)
        missing = await c.post(f"/children/{created}/rename", json={"title": "用地 4"})
    assert (first.status_code, first.json(), first.headers["etag"]) == (
        200,
        {"revision": 2},
        etag_for(created, 2),
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    assert (missing.status_code, missing.json()["code"]) == (428, "precondition_required")
    assert [await titles(app, t) for t in ("用地 2", "用地 3", "用地 4")] == [1, 0, 0]


async def test_an_idempotent_create_commits_the_create_and_its_replay_together(app: FastAPI) -> None:
    key = str(uuid.uuid4())
    async with client(app) as c:
        first = await c.post("/children/idempotent", json={"title": "供水"}, headers={"Idempotency-Key": key})
        retry = await c.post("/children/idempotent", json={"title": "供水"}, headers={"Idempotency-Key": key})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.content == first.content
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert await titles(app, "供水") == 1


async def test_a_failed_commit_leaves_the_idempotency_key_free(app: FastAPI) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with client(app) as c:
        failed = await c.post("/children/idempotent", json={"title": "供电", "parent_id": 99}, headers=key)
        corrected = await c.post("/children/idempotent", json={"title": "供电"}, headers=key)
    assert failed.status_code == 500
    assert corrected.status_code == 201
    assert "idempotent-replayed" not in corrected.headers
    assert await titles(app, "供电") == 1


async def test_settings_are_read_typed(app: FastAPI) -> None:
    async with client(app) as c:
        r = await c.get("/children/settings")
    assert r.json() == {"greeting": "你好"}
