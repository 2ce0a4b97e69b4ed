"""``StrictQuery``: a route admits exactly the query parameters it declares, each single-valued one once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient

from lkg.common.http.problems import install_problem_handlers
from lkg.common.http.query import StrictQuery


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
