"""The app factory: probes, metrics, tokens on every service route, OpenAPI, route conflicts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute, _IncludedRouter, iter_route_contexts
from pydantic import BaseModel, Field

from lkg.common import log as logmod
from lkg.common.auth import (
    PUBLIC_ROUTE,
    CurrentPrincipal,
    CurrentReach,
    Principal,
    Reach,
    Role,
    TokenVerifier,
    mint_token,
    require_roles,
)
from lkg.common.http.app import RouteConflictError, _ops_router, create_http_app
from lkg.common.http.problems import BadRequest, Problem
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


# ---- the token, checked once at the edge ---------------------------------------------------------


class CountingVerifier(TokenVerifier):
    """The real verifier, counting the tokens it had to verify (cache misses)."""

    def __init__(self) -> None:
        super().__init__(SETTINGS, now=lambda: NOW)
        self.verified = 0

    async def verify(self, token: str) -> Principal:
        self.verified += 1
        return await super().verify(token)


def whoami_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/whoami")

    @router.get("")
    async def whoami(principal: CurrentPrincipal, again: CurrentPrincipal) -> dict:
        return {"who": principal.key, "same": principal is again}

    return router


async def test_a_token_is_verified_once_and_current_principal_reads_what_the_edge_found() -> None:
    app = build(routers=[("issues", whoami_router())])
    verifier = app.state.token_verifier = CountingVerifier()
    headers = token(person="p-7", roles=[Role.UNIT_USER])
    async with client(app) as c:
        answers = [await c.get("/api/v1/whoami", headers=headers) for _ in range(3)]
    assert [(r.status_code, r.json()) for r in answers] == [(200, {"who": "person:p-7", "same": True})] * 3
    assert verifier.verified == 1  # then the cache answers, without a signature check


async def test_without_a_token_the_app_still_answers_404_for_no_route_and_405_for_a_wrong_method() -> None:
    app = at_now(build())
    async with client(app) as c:
        unknown = await c.get("/api/v1/nothing-here")
        wrong_method = await c.delete("/api/v1/problems/1")
        redirected = await c.get("/api/v1/rankings/")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"
    assert (redirected.status_code, redirected.headers["location"]) == (307, "http://t/api/v1/rankings")


async def test_a_bad_token_is_refused_on_a_public_route_and_ignored_by_probes_and_docs() -> None:
    app = at_now(build())
    bad = {"Authorization": "Bearer not-a-jwt"}
    async with client(app) as c:
        public = await c.post("/api/v1/problems/sync-token", headers=bad)
        probes = [await c.get(path, headers=bad) for path in ("/healthz", "/readyz", "/metrics")]
        docs = [await c.get(path, headers=bad) for path in ("/openapi.json", "/docs", "/redoc")]
    assert (public.status_code, public.json()["code"], public.json()["detail"]) == (
        401,
        "unauthenticated",
        "令牌无效",
    )
    assert [r.status_code for r in probes + docs] == [200] * 6


async def test_the_401_is_a_problem_with_the_correlation_id_and_is_logged_under_its_route() -> None:
    app = at_now(build())
    lines: list[dict] = []
    previous = logmod.set_access_sink(lambda line, _encode: lines.append(line))
    try:
        async with client(app) as c:
            response = await c.get("/api/v1/problems/13812345678", headers={"X-Correlation-Id": "cid-401"})
    finally:
        logmod.set_access_sink(previous)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "cid-401"
    assert response.json() == {
        "type": "urn:lkg:problem:unauthenticated",
        "title": "未登录或登录已失效",
        "status": 401,
        "code": "unauthenticated",
        "detail": "请提供登录令牌（Authorization: Bearer …）",
        "instance": "/api/v1/problems/13812345678",
        "correlation_id": "cid-401",
    }
    assert [(x["status"], x["route"], x["service"], x["path"]) for x in lines] == [
        (401, "/api/v1/problems/{problem_id}", "issues", "/api/v1/problems/138****5678")
    ]


async def test_an_expired_token_is_refused() -> None:
    app = build()
    app.state.token_verifier = TokenVerifier(SETTINGS, now=lambda: NOW + timedelta(hours=2))
    async with client(app) as c:
        response = await c.get("/api/v1/rankings", headers=token(person="p", ttl_seconds=3600))
    assert (response.status_code, response.json()["detail"]) == (401, "登录已过期，请重新登录")


async def test_a_route_added_to_the_app_later_needs_a_token_too() -> None:
    app = at_now(build())

    @app.get("/api/v1/added-later")
    async def added_later() -> dict:
        return {"ok": True}

    async with client(app) as c:
        anonymous = await c.get("/api/v1/added-later")
        signed_in = await c.get("/api/v1/added-later", headers=token(person="p"))
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert signed_in.json() == {"ok": True}


async def test_a_route_a_service_router_gains_after_creation_is_served_from_start_guarded() -> None:
    late = APIRouter(prefix="/api/v1/late")
    app = at_now(build(routers=[("issues", issues_router()), ("scoring", late)]))

    @late.get("/{item_id}")
    async def late_item(item_id: int, principal: CurrentPrincipal) -> dict:
        return {"item": item_id, "who": principal.key}

    async with app.router.lifespan_context(app), client(app) as c:
        anonymous = await c.get("/api/v1/late/4")
        signed_in = await c.get("/api/v1/late/4", headers=token(person="p"))
    assert anonymous.status_code == 401
    assert signed_in.json() == {"item": 4, "who": "person:p"}
    assert app.state.route_services[id(_route(app, "/api/v1/late/{item_id}"))] == "scoring"
    assert "/api/v1/late/{item_id}" in app.openapi()["paths"]


def _route(app: FastAPI, path: str) -> Any:
    return next(c.original_route for c in iter_route_contexts(app.routes) if c.path_format == path)


# ---- routes flattened: the same API as FastAPI's nested routers ----------------------------------


class WidgetIn(BaseModel):
    name: str = Field(min_length=2)


class WidgetOut(BaseModel):
    id: int
    name: str


async def refuse_x(request: Request) -> None:
    if "x" in request.query_params:
        raise BadRequest("不接受参数 x", code="x_refused")


def nested_routers() -> APIRouter:
    """A service router shaped like the services' own: nested routers with prefixes, tags, responses and
    dependencies at several levels, a docstring, a status code, a response class, a public route."""
    widgets = APIRouter(
        prefix="/api/v1/widgets",
        tags=["widgets"],
        responses={404: {"description": "没有这个部件"}},
        dependencies=[Depends(refuse_x)],
    )

    @widgets.get("/export.txt", response_class=PlainTextResponse, include_in_schema=False)
    async def export() -> str:
        return "widgets"

    @widgets.get("/{widget_id}", summary="查看部件 Get a widget", response_model=WidgetOut)
    async def get_widget(widget_id: int, principal: CurrentPrincipal) -> dict:
        """Read one widget.

        \f
        Not in the document.
        """
        return {"id": widget_id, "name": principal.key, "extra": "dropped by the response model"}

    @widgets.post("", status_code=201, responses={409: {"model": Problem, "description": "重复"}})
    async def create_widget(body: WidgetIn, principal: CurrentPrincipal) -> WidgetOut:
        return WidgetOut(id=1, name=body.name)

    gadgets = APIRouter(tags=["gadgets"])

    @gadgets.get("/{gadget_id}", deprecated=True, openapi_extra=PUBLIC_ROUTE)
    async def get_gadget(gadget_id: str) -> dict[str, str]:
        return {"gadget": gadget_id}

    outer = APIRouter()
    outer.include_router(widgets)
    outer.include_router(gadgets, prefix="/api/v1/gadgets", responses={410: {"description": "已撤销"}})
    return outer


def test_flat_routes_describe_the_same_api_as_the_nested_routers() -> None:
    async def ready() -> dict:
        return {"status": "ok"}

    app = build(routers=[("issues", nested_routers())])
    reference = FastAPI()
    reference.include_router(nested_routers(), tags=["issues"])
    reference.include_router(_ops_router(ready))
    ours = get_openapi(title="t", version="1", routes=app.routes)
    theirs = get_openapi(title="t", version="1", routes=reference.routes)
    assert ours == theirs
    assert not any(isinstance(route, _IncludedRouter) for route in app.routes)
    assert ours["paths"]["/api/v1/widgets/{widget_id}"]["get"]["description"] == "Read one widget."


async def test_flat_routes_serve_as_the_nested_routers_do() -> None:
    app = at_now(build(routers=[("issues", nested_routers())]))
    headers = token(person="p")
    async with client(app) as c:
        widget = await c.get("/api/v1/widgets/3", headers=headers)
        refused = await c.get("/api/v1/widgets/3?x=1", headers=headers)
        created = await c.post("/api/v1/widgets", json={"name": "阀门"}, headers=headers)
        invalid = await c.post("/api/v1/widgets", json={"name": "阀"}, headers=headers)
        exported = await c.get("/api/v1/widgets/export.txt", headers=headers)
        gadget = await c.get("/api/v1/gadgets/g-1")
    assert (widget.status_code, widget.json()) == (200, {"id": 3, "name": "person:p"})
    assert (refused.status_code, refused.json()["code"]) == (400, "x_refused")
    assert (created.status_code, created.json()) == (201, {"id": 1, "name": "阀门"})
    assert (invalid.status_code, invalid.json()["errors"][0]["loc"]) == (422, ["body", "name"])
    assert (exported.headers["content-type"], exported.text) == ("text/plain; charset=utf-8", "widgets")
    assert gadget.json() == {"gadget": "g-1"}


async def test_roles_are_checked_on_flat_routes_and_current_principal_costs_no_dependency() -> None:
    router = APIRouter(prefix="/api/v1/red-cards")

    @router.post("", status_code=201)
    async def issue(principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISION_OFFICE))]) -> dict:
        return {"by": principal.key}

    app = at_now(build(routers=[("issues", router), ("scoring", whoami_router())]))
    async with client(app) as c:
        unit = token(person="p", roles=[Role.UNIT_USER])
        office = token(person="s", roles=[Role.SUPERVISION_OFFICE])
        denied = await c.post("/api/v1/red-cards", headers=unit)
        allowed = await c.post("/api/v1/red-cards", headers=office)
    assert (denied.status_code, denied.json()["required_roles"]) == (403, ["supervision_office"])
    assert (allowed.status_code, allowed.json()) == (201, {"by": "person:s"})
    whoami = _route(app, "/api/v1/whoami")
    assert whoami.dependant.dependencies == []  # the principal comes from the scope, not a dependency
    assert whoami.dependant.request_param_name == "lkg_request_for_principal"


async def test_a_router_that_cannot_be_copied_is_included_as_it_is_and_guarded_the_same() -> None:
    class TimedRoute(APIRoute):
        """A custom route class: its routes are not copied, the router is included as FastAPI does."""

    router = APIRouter(prefix="/api/v1/timed", route_class=TimedRoute)

    @router.get("/{item_id}")
    async def timed(item_id: int, principal: CurrentPrincipal) -> dict:
        return {"item": item_id, "who": principal.key}

    app = at_now(build(routers=[("issues", router)]))
    assert any(isinstance(route, _IncludedRouter) for route in app.routes)
    async with client(app) as c:
        anonymous = await c.get("/api/v1/timed/5")
        signed_in = await c.get("/api/v1/timed/5", headers=token(person="p"))
        wrong_method = await c.post("/api/v1/timed/5")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert signed_in.json() == {"item": 5, "who": "person:p"}
    assert wrong_method.status_code == 405
    assert app.state.route_services[id(_route(app, "/api/v1/timed/{item_id}"))] == "issues"
