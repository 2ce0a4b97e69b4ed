"""``StrictQuery``: a route admits exactly the query parameters it declares, each single-valued one once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.http.app import create_http_app
from lkg.common.http.problems import install_problem_handlers
from lkg.common.http.query import StrictQuery, StrictQueryRoute, refuse_unknown_query
from lkg.common.settings import ServiceSettings


def _client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter(dependencies=[StrictQuery])

    @router.get("/things")
    async def things(
        state: str | None = None, tag: Annotated[list[str] | None, Query()] = None
    ) -> dict[str, object]:
        return {"state": state, "tag": tag}

    app.include_router(router)
    return TestClient(app)


def test_a_single_valued_parameter_given_twice_is_refused_not_silently_the_last():
    answer = _client().get("/things?state=open&state=closed")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "repeated_query_parameter"
    assert [e["loc"] for e in answer.json()["errors"]] == [["query", "state"]]


def test_a_list_parameter_takes_many_values_and_a_single_one_takes_one():
    answer = _client().get("/things?state=open&tag=a&tag=b")
    assert answer.status_code == 200
    assert answer.json() == {"state": "open", "tag": ["a", "b"]}


def test_an_undeclared_parameter_is_refused():
    answer = _client().get("/things?stat=open")
    assert answer.status_code == 422
    assert answer.json()["code"] == "unknown_query_parameter"


# ---- served by create_http_app: the route makes the check itself --------------------------------------

_SECRET = "strict-query-test-secret-long-enough-0123"


def _served() -> tuple[FastAPI, TestClient]:
    router = APIRouter(prefix="/api/v1/things", dependencies=[StrictQuery])

    @router.get("")
    async def things(
        state: str | None = None, page_size: int = 10, tag: Annotated[list[str] | None, Query()] = None
    ) -> dict[str, object]:
        return {"state": state, "page_size": page_size, "tag": tag}

    @router.delete("/{thing_id}")
    async def forget(thing_id: int) -> dict[str, object]:
        return {"forgotten": thing_id}

    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    app = create_http_app(
        settings=ServiceSettings(jwt_secret=_SECRET, service_name="lkg-test"),
        title="t",
        description="t",
        version="1",
        routers=[("registry", router)],
        readiness=ready,
    )
    token = mint_token(
        ServiceSettings(jwt_secret=_SECRET), person="p1", roles=[Role.ADMIN], now=wall_clock_utc()
    )
    return app, TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_a_served_route_checks_the_query_itself_not_through_a_dependency():
    app, client = _served()
    route = next(r for r in app.routes if getattr(r, "path", None) == "/api/v1/things")
    assert isinstance(route, StrictQueryRoute)
    assert not any(d.call is refuse_unknown_query for d in route.dependant.dependencies)
    assert client.get("/api/v1/things?state=open&tag=a&tag=b").json() == {
        "state": "open",
        "page_size": 10,
        "tag": ["a", "b"],
    }
    unknown = client.get("/api/v1/things?stat=open")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_query_parameter")
    twice = client.get("/api/v1/things?state=open&state=closed")
    assert (twice.status_code, twice.json()["code"]) == (422, "repeated_query_parameter")
    # First, before any parameter is read, as the dependency was: not the bad page size's 422.
    both = client.get("/api/v1/things?page_size=many&stat=open")
    assert (both.status_code, both.json()["code"]) == (422, "unknown_query_parameter")
    # A method the route does not take is still 405, whatever the query says.
    assert client.post("/api/v1/things?stat=open").status_code == 405
    assert client.delete("/api/v1/things/3?x=1").json()["code"] == "unknown_query_parameter"
