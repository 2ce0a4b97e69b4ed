"""The app factory: probes, metrics, tokens on every service route, OpenAPI, route conflicts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from lkg.common.auth import PUBLIC_ROUTE, CurrentReach, Principal, Reach, Role, TokenVerifier, mint_token
from lkg.common.http.app import RouteConflictError, create_http_app
from lkg.common.settings import ServiceSettings

SETTINGS = ServiceSettings(jwt_secret="app-test-secret-long-enough-0123456789", service_name="lkg-test")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def issues_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/problems")

    @router.get("/{problem_id}", summary="查看问题 Get a problem")
    async def get_problem(problem_id: int, reach: CurrentReach) -> dict:
        return {"id": problem_id, "units": len(reach.units)}

    @router.post("/sync-token", openapi_extra=PUBLIC_ROUTE)
    async def public_route() -> dict:
        return {"public": True}

    return router


def scoring_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/rankings")

    @router.get("")
    async def rankings() -> list:
        return []

    return router


async def ready_ok() -> dict:
    return {"status": "ok", "checks": {"database": "ok"}, "warnings": []}


def build(readiness=ready_ok, routers=None, **kwargs) -> FastAPI:
    return create_http_app(
        settings=SETTINGS,
        title="临空港测试 LKG test",
        description="测试应用 / A test app",
        version="9.9.9",
        routers=routers
        if routers is not None
        else [("issues", issues_router()), ("scoring", scoring_router())],
        readiness=readiness,
        **kwargs,
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


def token(**kwargs) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SETTINGS, now=NOW, **kwargs)}"}


def at_now(app: FastAPI) -> FastAPI:
    # Tokens in these tests are minted at NOW; the verifier checks them against the same instant.
    app.state.token_verifier = TokenVerifier(SETTINGS, now=lambda: NOW)
    return app


async def test_the_factory_sets_the_verifier_and_resolvers_from_settings() -> None:
    app = build()
    assert isinstance(app.state.token_verifier, TokenVerifier)
    assert app.state.reach_resolvers == {}


async def test_healthz_is_always_ok_without_a_token() -> None:
    async with client(build()) as c:
        response = await c.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_ok_warnings_and_failures() -> None:
    async def warn() -> dict:
        return {
            "status": "ok",
            "checks": {"calendar": "provisional 2027"},
            "warnings": ["provisional calendar"],
        }

    async def fail() -> dict:
        return {"status": "fail", "checks": {"database": "unreachable"}}

    async def crash() -> dict:
        raise ConnectionError("db down")

    async with client(build()) as c:
        ok = await c.get("/readyz")
    async with client(build(readiness=warn)) as c:
        warned = await c.get("/readyz")
    async with client(build(readiness=fail)) as c:
        failed = await c.get("/readyz")
    async with client(build(readiness=crash)) as c:
        crashed = await c.get("/readyz")
    assert (ok.status_code, ok.json()) == (200, await ready_ok())
    assert (warned.status_code, warned.json()["warnings"]) == (200, ["provisional calendar"])
    assert (failed.status_code, failed.json()) == (
        503,
        {"status": "fail", "checks": {"database": "unreachable"}, "warnings": []},
    )
    assert (crashed.status_code, crashed.json()["checks"]) == (503, {"readiness": "error: ConnectionError"})


async def test_metrics_are_exposed_in_prometheus_text() -> None:
    async with client(build()) as c:
        await c.get("/healthz")
        response = await c.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'lkg_http_request_duration_seconds_count{method="GET",route="/healthz",service="lkg-test"' in (
        response.text
    )


async def test_every_service_route_needs_a_token() -> None:
    app = at_now(build())
    async with client(app) as c:
        anonymous = [await c.get("/api/v1/problems/1"), await c.get("/api/v1/rankings")]
        signed_in = await c.get("/api/v1/problems/1", headers=token(person="p", roles=[Role.UNIT_USER]))
        public = await c.post("/api/v1/problems/sync-token")
    assert [(r.status_code, r.json()["code"]) for r in anonymous] == [(401, "unauthenticated")] * 2
    assert (signed_in.status_code, signed_in.json()) == (200, {"id": 1, "units": 0})
    assert public.json() == {"public": True}


async def test_resolvers_are_per_service() -> None:
    class TwoUnits:
        async def resolve(self, principal: Principal) -> Reach:
            return Reach(units=frozenset({1, 2}))  # type: ignore[arg-type]

    app = at_now(build(reach_resolvers={"issues": TwoUnits()}))
    async with client(app) as c:
        response = await c.get("/api/v1/problems/1", headers=token(person="p"))
    assert response.json() == {"id": 1, "units": 2}


async def test_errors_carry_the_correlation_id_header() -> None:
    async with client(build()) as c:
        response = await c.get("/api/v1/nothing-here", headers={"X-Correlation-Id": "abc-1"})
    assert response.status_code == 404
    assert response.headers["x-correlation-id"] == "abc-1"
    assert response.json()["correlation_id"] == "abc-1"


def test_two_services_claiming_one_method_and_path_fail_at_creation() -> None:
    clash = APIRouter()

    @clash.get("/api/v1/problems/{pid}")
    async def other(pid: int) -> dict:
        return {}

    with pytest.raises(RouteConflictError) as caught:
        build(routers=[("issues", issues_router()), ("scoring", clash)])
    message = str(caught.value)
    assert "GET /api/v1/problems/{pid}" in message
    assert (
        "issues (/api/v1/problems/{problem_id})" in message and "scoring (/api/v1/problems/{pid})" in message
    )


def test_the_same_path_with_other_methods_is_fine() -> None:
    other_method = APIRouter()

    @other_method.delete("/api/v1/problems/{problem_id}")
    async def delete(problem_id: int) -> dict:
        return {}

    build(routers=[("issues", issues_router()), ("scoring", other_method)])


async def test_a_conflict_added_after_creation_fails_at_start() -> None:
    late = APIRouter()
    app = build(routers=[("issues", issues_router()), ("scoring", late)])

    @late.get("/healthz")
    async def shadow() -> dict:
        return {}

    with pytest.raises(RouteConflictError, match="GET /healthz"):
        async with app.router.lifespan_context(app):
            pass


async def test_the_lifespan_passed_in_runs_inside_the_factory_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    app = build(lifespan=lifespan)
    async with app.router.lifespan_context(app):
        events.append("serving")
    assert events == ["start", "serving", "stop"]


def test_openapi_declares_bearer_auth_problem_bodies_and_bilingual_tags() -> None:
    schema = build().openapi()
    assert schema["info"] == {
        "title": "临空港测试 LKG test",
        "description": "测试应用 / A test app",
        "version": "9.9.9",
    }
    assert schema["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    get_problem = schema["paths"]["/api/v1/problems/{problem_id}"]["get"]
    assert get_problem["security"] == [{"bearerAuth": []}]
    assert get_problem["responses"]["4XX"] == {"$ref": "#/components/responses/Problem"}
    assert "422" not in get_problem["responses"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    problem_response = schema["components"]["responses"]["Problem"]
    assert problem_response["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status", "code"}
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "security" not in schema["paths"]["/api/v1/problems/sync-token"]["post"]
    assert "/metrics" not in schema["paths"]
    tags = {t["name"]: t["description"] for t in schema["tags"]}
    assert set(tags) == {"issues", "scoring", "ops"}
    assert (
        tags["issues"].startswith("问题与会议议定事项") and "Problems and meeting matters" in tags["issues"]
    )
