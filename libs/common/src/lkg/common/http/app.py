"""The one HTTP app factory every service uses, alone (a pod) or several in one process (DESIGN §3, §6).

``create_http_app`` gives every app the same edge: correlation ids, the body size limit, access logs and
latency metrics, problem+json errors, ``/healthz``, ``/readyz`` and ``/metrics``, an OpenAPI document in
Chinese and English, a token on every service route, and a refusal to start when two routers claim the
same method and path (two services in one process).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response

from lkg.common.auth import (
    BEARER_SCHEME_NAME,
    BEARER_SECURITY_SCHEME,
    ReachResolver,
    TokenVerifier,
    get_current_principal,
    is_public_route,
)
from lkg.common.http.middleware import RouteLabels, install_middleware
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from lkg.common.log import get_logger
from lkg.common.settings import ServiceSettings

log = get_logger(__name__)

#: zh + en descriptions of the tags the platform uses; a service's router is tagged with its name.
TAG_DESCRIPTIONS: dict[str, str] = {
    "registry": "组织架构、项目、里程碑、投资填报、入统与承诺 / Org directory, projects, milestones, "
    "investment reports, statistical enrolment and commitments",
    "approvals": "审批事项目录与项目审批计划 / Approval catalogue and per-project approval plans",
    "issues": "问题与会议议定事项、逐级上报、督查与红牌 / Problems and meeting matters, escalation, "
    "supervision and red cards",
    "scoring": "考评规则、评分、排名与通报 / Evaluation rules, score sheets, rankings and bulletins",
    "notifier": "站内信、推送渠道与投递记录 / Inboxes, channels and delivery log",
    "ops": "健康检查、就绪检查与指标 / Liveness, readiness and metrics",
    "dev": "仅限开发环境：模拟时钟 / Development only: the simulated clock",
}


class RouteConflictError(RuntimeError):
    """Two routers claim the same method and path: the process must not start."""


class Readiness(BaseModel):
    """``/readyz`` body: ``fail`` answers 503; warnings (e.g. a provisional calendar) keep 200."""

    status: Literal["ok", "fail"]
    checks: dict[str, Any] = Field(default_factory=dict)
    warnings: list[Any] = Field(default_factory=list)


# ---- route conflicts -----------------------------------------------------------------------------

_PARAM = re.compile(r"\{[^}]*\}")


def find_route_conflicts(app: FastAPI, owners: Mapping[int, str] | None = None) -> list[str]:
    """Every (method, path) claimed more than once, as readable lines. Parameter names don't matter:
    ``/x/{id}`` and ``/x/{pid}`` collide."""
    owners = owners or {}
    seen: dict[tuple[str, str], str] = {}
    conflicts: list[str] = []
    for context in iter_route_contexts(app.routes):
        methods = context.methods
        path = context.path_format
        if not methods or not path:
            continue  # mounts, websockets
        owner = owners.get(id(context.original_route), "app")
        shape = _PARAM.sub("{}", path)
        for method in sorted(methods):
            claimant = f"{owner} ({path})"
            first = seen.setdefault((method, shape), claimant)
            if first is not claimant:
                conflicts.append(f"{method} {path}: claimed by {first} and by {claimant}")
    return conflicts


def check_route_conflicts(app: FastAPI, owners: Mapping[int, str] | None = None) -> None:
    conflicts = find_route_conflicts(app, owners)
    if conflicts:
        raise RouteConflictError("two routers claim the same method and path:\n  " + "\n  ".join(conflicts))


# ---- OpenAPI -------------------------------------------------------------------------------------


def _problem_components() -> tuple[dict[str, Any], dict[str, Any]]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    schemas = {**defs, "Problem": schema}
    responses = {
        "Problem": {
            "description": "错误（RFC 9457 problem+json，code 为稳定的机器代码）/ Error (RFC 9457 problem "
            "details; `code` is the stable machine code)",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    }
    return schemas, responses


def _finish_openapi(schema: dict[str, Any], guarded: set[tuple[str, str]]) -> None:
    """Declare ``bearerAuth`` on guarded operations, problem bodies for 4xx, and drop FastAPI's unused
    validation models (our 422 is a Problem too)."""
    components = schema.setdefault("components", {})
    schemas, responses = _problem_components()
    components.setdefault("schemas", {}).update(schemas)
    components.setdefault("responses", {}).update(responses)
    components.setdefault("securitySchemes", {})[BEARER_SCHEME_NAME] = BEARER_SECURITY_SCHEME
    problem_ref = {"$ref": "#/components/responses/Problem"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].pop("422", None)
            operation["responses"].setdefault("4XX", problem_ref)
            if (path, method) in guarded:
                operation.setdefault("security", [{BEARER_SCHEME_NAME: []}])
    text = json.dumps(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            components["schemas"].pop(unused, None)


def _install_openapi(app: FastAPI, guarded_routes: Mapping[int, str]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        guarded: set[tuple[str, str]] = set()
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if id(route) in guarded_routes and not is_public_route(route) and context.path_format:
                guarded.update((context.path_format, m.lower()) for m in context.methods or ())
        _finish_openapi(schema, guarded)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# ---- ops routes ----------------------------------------------------------------------------------


def _ops_router(readiness: Callable[[], Awaitable[Mapping[str, Any]]]) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="存活检查 Liveness", response_model=dict[str, str])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="就绪检查 Readiness",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "未就绪 / not ready"}},
    )
    async def readyz() -> JSONResponse:
        try:
            report = dict(await readiness())
        except Exception as exc:  # a readiness check must answer, not crash the probe
            log.error("readiness_failed", error=type(exc).__name__, exc_info=exc)
            report = {
                "status": "fail",
                "checks": {"readiness": f"error: {type(exc).__name__}"},
                "warnings": [],
            }
        report.setdefault("checks", {})
        report.setdefault("warnings", [])
        status = 503 if report.get("status") == "fail" else 200
        return JSONResponse(jsonable_encoder(report), status_code=status)

    @router.get("/metrics", summary="Prometheus 指标 Metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


# ---- the factory ---------------------------------------------------------------------------------

Lifespan = Callable[[FastAPI], Any]


def create_http_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    version: str,
    routers: Sequence[tuple[str, APIRouter]],
    lifespan: Lifespan | None = None,
    readiness: Callable[[], Awaitable[Mapping[str, Any]]],
    extra_routers: Sequence[APIRouter | tuple[str, APIRouter]] = (),
    openapi_tags: Sequence[Mapping[str, Any]] = (),
    reach_resolvers: Mapping[str, ReachResolver] | None = None,
) -> FastAPI:
    """Build a service's (or several services') app.

    ``routers`` pairs a service name with its router; each route requires a valid token (unless marked
    ``PUBLIC_ROUTE``) and is known as the service's, for per-service resolvers and metric labels.
    ``extra_routers`` are platform routes owned by no service (the dev clock): guarded the same way under
    ``settings.service_name`` unless given as ``(name, router)``. ``lifespan`` is the runtime's (engines,
    NATS); ``readiness`` returns ``{"status": "ok"|"fail", "checks": {...}, "warnings": [...]}``. Title and
    description should carry Chinese and English. Raises :class:`RouteConflictError` when two routers claim
    one method and path, here and again at start-up (routes added later are caught too).
    """
    labels = RouteLabels(default_service=settings.service_name)

    @asynccontextmanager
    async def guarded_lifespan(app: FastAPI) -> AsyncIterator[Any]:
        check_route_conflicts(app, labels.service_of)
        labels.rebuild(app.routes)
        if lifespan is None:
            yield None
            return
        async with lifespan(app) as state:
            yield state

    used_tags = {name for name, _ in routers} | {"ops"}
    tags = [dict(t) for t in openapi_tags]
    described = {t["name"] for t in tags}
    for name in sorted(used_tags | ({"dev"} if extra_routers else set())):
        if name not in described and name in TAG_DESCRIPTIONS:
            tags.append({"name": name, "description": TAG_DESCRIPTIONS[name]})

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=guarded_lifespan,
        openapi_tags=tags,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    app.state.reach_resolvers = dict(reach_resolvers or {})
    #: id(route) -> service name, for per-service lookups (reach resolvers) and metric labels.
    app.state.route_services = labels.service_of

    install_problem_handlers(app)
    install_middleware(app, max_body_bytes=settings.max_body_bytes, labels=labels)

    guarded: list[tuple[str, APIRouter, bool]] = [(name, router, True) for name, router in routers]
    for extra in extra_routers:
        if isinstance(extra, tuple):
            guarded.append((extra[0], extra[1], False))
        else:
            guarded.append((settings.service_name, extra, False))
    for service, router, tag in guarded:
        labels.assign_service(router.routes, service)
        # The same callable as CurrentPrincipal: a route declaring both resolves the token once.
        app.include_router(
            router, tags=[service] if tag else None, dependencies=[Depends(get_current_principal)]
        )

    # After the service routes: routes are matched in order, and API calls outnumber probes.
    app.include_router(_ops_router(readiness))

    check_route_conflicts(app, labels.service_of)
    labels.rebuild(app.routes)
    _install_openapi(app, labels.service_of)
    return app
