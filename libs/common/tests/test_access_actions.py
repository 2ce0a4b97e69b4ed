"""The caller building block (lkg.common.access) and the action-route builder (lkg.common.http.actions),
over HTTP with real tokens and PostgreSQL: visibility is decided first (a hidden card and a missing one
answer the same 404, before If-Match is even looked at), then permission (403), state (409) and revision
(412/428); an action commits in the unit of work and answers the new ETag."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import httpx
import pytest_asyncio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from lkg.common.access import BaseCaller, caller_dependency, permitted, visible
from lkg.common.auth import Principal, Reach, Role, TokenVerifier, mint_token
from lkg.common.db import Database, make_metadata
from lkg.common.http.actions import ACTION_RESPONSES, ActionRoutes
from lkg.common.http.app import create_http_app
from lkg.common.http.concurrency import etag_for, etag_header, update_if_revision
from lkg.common.http.problems import Conflict
from lkg.common.runtime.deps import ServiceDeps
from lkg.common.runtime.service import Platform, ServiceRuntime, ServiceSpec
from lkg.common.settings import ServiceSettings

SETTINGS = ServiceSettings(jwt_secret="access-test-secret-long-enough-0123456789", service_name="cards")
NOW = datetime(2020, 5, 8, 1, 0, tzinfo=UTC)
UNIT_A, UNIT_B = uuid.uuid4(), uuid.uuid4()
CLERK_A, CLERK_B = str(uuid.uuid4()), str(uuid.uuid4())

metadata = make_metadata()
card = sa.Table(
    "card",
    metadata,
    sa.Column("id", PG_UUID(as_uuid=True), primary_key=True),
    sa.Column("unit_id", PG_UUID(as_uuid=True), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("revision", sa.Integer, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """督查室 sees every card but acts on none; a unit sees and closes its own."""

    SEE_ALL: ClassVar[frozenset[Role]] = frozenset({Role.SUPERVISION_OFFICE})

    def visibility(self) -> sa.ColumnElement[bool]:
        return sa.true() if self.sees_all else card.c.unit_id.in_(self.units)


class ReachOfClerks:
    """The reach resolver plugged in for the service: each clerk acts for one unit."""

    async def resolve(self, principal: Principal) -> Reach:
        units = {CLERK_A: UNIT_A, CLERK_B: UNIT_B}
        unit = units.get(principal.person_id or "")
        return Reach(units=frozenset({unit})) if unit else Reach()


DEPS = ServiceDeps[ServiceSettings]("cards")
Runtime = Annotated[ServiceRuntime[ServiceSettings], DEPS.runtime]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CallerDep = Annotated[Caller, Depends(caller_dependency(Caller.of))]


class CloseBody(BaseModel):
    note: str


class CardOut(BaseModel):
    id: uuid.UUID
    state: str
    note: str | None
    revision: int


async def load(session: AsyncSession, card_id: uuid.UUID, caller: Caller) -> Any:
    row = (await session.execute(sa.select(card).where(card.c.id == card_id, caller.visibility()))).first()
    return visible(row, True)


async def close(
    session: AsyncSession, runtime: Any, caller: Caller, thing: Any, *, expected_revision: int, note: str
) -> Any:
    permitted(caller.acts_for(units=[thing.unit_id]), "只有本单位可以办结")
    if thing.state != "open":
        raise Conflict("已办结", code="not_open")
    await update_if_revision(session, card, thing.id, expected_revision, {"state": "closed", "note": note})
    return (await session.execute(sa.select(card).where(card.c.id == thing.id))).one()


async def render(session: AsyncSession, thing: Any) -> Response:
    out = CardOut.model_validate(thing, from_attributes=True)
    return JSONResponse(out.model_dump(mode="json"), headers=etag_header(out.id, out.revision))


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/cards")
    actions = ActionRoutes[Caller, Any](
        router=r,
        base="/{card_id}",
        param="card_id",
        name="card",
        load=load,
        render=render,
        response_model=CardOut,
        session=UnitOfWork,
        runtime=Runtime,
        caller=CallerDep,
    )
    actions("close", CloseBody, "办结 Close", close)
    return r


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(fresh_database_url: str) -> AsyncIterator[FastAPI]:
    settings = SETTINGS.model_copy(update={"database_url": fresh_database_url})
    spec = ServiceSpec[ServiceSettings](
        name="cards", title="cards", description="", version="0", settings_cls=ServiceSettings,
        metadata=metadata, migrations="", router=router,
    )  # fmt: skip
    runtime = ServiceRuntime(spec=spec, settings=settings, platform=Platform(settings))
    runtime.db = Database(fresh_database_url)
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    async def ready() -> dict[str, Any]:
        return {"status": "ok", "checks": {}, "warnings": []}

    application = create_http_app(
        settings=SETTINGS,
        title="cards",
        description="cards",
        version="0",
        routers=[("cards", router())],
        readiness=ready,
        reach_resolvers={"cards": ReachOfClerks()},
    )
    application.state.runtimes = {"cards": runtime}
    application.state.token_verifier = TokenVerifier(SETTINGS, now=lambda: NOW)
    try:
        yield application
    finally:
        await runtime.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


def as_(person: str, *roles: Role, **headers: str) -> dict[str, str]:
    token = mint_token(SETTINGS, person=person, roles=roles or (Role.UNIT_USER,), now=NOW)
    return {"Authorization": f"Bearer {token}", **headers}


async def new_card(app: FastAPI, unit: uuid.UUID, state: str = "open") -> uuid.UUID:
    card_id = uuid.uuid4()
    async with app.state.runtimes["cards"].db.transaction() as session:
        await session.execute(card.insert().values(id=card_id, unit_id=unit, state=state, revision=1))
    return card_id


async def stored(app: FastAPI, card_id: uuid.UUID) -> tuple[str, str | None, int]:
    async with app.state.runtimes["cards"].db.engine.connect() as conn:
        row = (await conn.execute(sa.select(card).where(card.c.id == card_id))).one()
    return row.state, row.note, row.revision


async def test_a_hidden_card_and_a_missing_one_answer_the_same_404_before_if_match(app: FastAPI) -> None:
    theirs = await new_card(app, UNIT_B)
    async with client(app) as c:
        hidden = await c.post(f"/api/v1/cards/{theirs}/close", json={"note": "x"}, headers=as_(CLERK_A))
        missing = await c.post(
            f"/api/v1/cards/{uuid.uuid4()}/close", json={"note": "x"}, headers=as_(CLERK_A)
        )
    assert hidden.status_code == missing.status_code == 404  # not 428: If-Match is looked at after
    assert {k: v for k, v in hidden.json().items() if k not in ("instance", "correlation_id")} == {
        k: v for k, v in missing.json().items() if k not in ("instance", "correlation_id")
    }
    assert await stored(app, theirs) == ("open", None, 1)


async def test_seeing_is_not_acting_then_state_then_revision(app: FastAPI) -> None:
    mine = await new_card(app, UNIT_A)
    done = await new_card(app, UNIT_A, state="closed")
    supervisor = as_(str(uuid.uuid4()), Role.SUPERVISION_OFFICE, **{"If-Match": etag_for(mine, 1)})
    async with client(app) as c:
        forbidden = await c.post(f"/api/v1/cards/{mine}/close", json={"note": "督查"}, headers=supervisor)
        no_tag = await c.post(f"/api/v1/cards/{mine}/close", json={"note": "x"}, headers=as_(CLERK_A))
        closed = await c.post(
            f"/api/v1/cards/{mine}/close",
            json={"note": "已办结"},
            headers=as_(CLERK_A, **{"If-Match": etag_for(mine, 1)}),
        )
        stale = await c.post(
            f"/api/v1/cards/{mine}/close",
            json={"note": "再办"},
            headers=as_(CLERK_A, **{"If-Match": etag_for(mine, 1)}),
        )
        conflict = await c.post(
            f"/api/v1/cards/{done}/close",
            json={"note": "x"},
            headers=as_(CLERK_A, **{"If-Match": etag_for(done, 1)}),
        )
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    assert (no_tag.status_code, no_tag.json()["code"]) == (428, "precondition_required")
    assert closed.status_code == 200
    assert closed.json() == {"id": str(mine), "state": "closed", "note": "已办结", "revision": 2}
    assert closed.headers["etag"] == etag_for(mine, 2)
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "not_open")
    assert await stored(app, mine) == ("closed", "已办结", 2)
    assert await stored(app, done) == ("closed", None, 1)


async def test_the_action_route_is_documented_with_its_outcomes(app: FastAPI) -> None:
    async with client(app) as c:
        schema = (await c.get("/openapi.json")).json()
    operation = schema["paths"]["/api/v1/cards/{card_id}/close"]["post"]
    assert operation["operationId"] == "cards_card_close"  # <service>_<function> (lkg.common.http.openapi)
    # 4XX: the app's generic problem+json answer (validation included), documented once per route.
    assert sorted(operation["responses"]) == sorted(["200", "4XX", *map(str, ACTION_RESPONSES)])
    assert [p["name"] for p in operation["parameters"]] == ["card_id", "If-Match"]


def test_a_caller_acts_for_its_reach_only() -> None:
    principal = Principal(
        subject="p",
        kind="person",
        person_id=CLERK_A,
        client_id=None,
        name="办事员",
        roles=frozenset({Role.UNIT_USER}),
    )
    caller = Caller.of(principal, Reach(units=frozenset({UNIT_A})))
    assert (caller.sees_all, caller.actor, caller.person_id) == (
        False,
        f"person:{CLERK_A}",
        uuid.UUID(CLERK_A),
    )
    assert caller.acts_for(units=[None, UNIT_A]) and not caller.acts_for(units=[UNIT_B], lines=[None])
    office = Caller.of(
        principal.__class__(**{**_fields(principal), "roles": frozenset({Role.SUPERVISION_OFFICE})}), Reach()
    )
    assert office.sees_all and not office.acts_for(units=[UNIT_A])


def _fields(principal: Principal) -> dict[str, Any]:
    return {name: getattr(principal, name) for name in principal.__slots__}
