"""The one HTTP app factory every service uses, alone (a pod) or several in one process.

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
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.routing import BaseRoute

from lkg.common.auth import (
    BEARER_SCHEME_NAME,
    BEARER_SECURITY_SCHEME,
    ReachResolver,
    TokenVerifier,
    is_public_route,
    principal_from_scope,
)
from lkg.common.http.docs import install_docs
from lkg.common.http.edge import EdgeGuard
from lkg.common.http.middleware import RouteLabels, install_middleware
from lkg.common.http.openapi import RouteName, finish_for_integrators
from lkg.common.http.pagination import cursor_key_for
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from lkg.common.http.query import StrictQueryRoute, without_strict_query
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
            declared = operation["responses"].get("422")
            if declared is not None and "HTTPValidationError" in json.dumps(declared):
                operation["responses"].pop("422")  # FastAPI's own: our 422 is a Problem (4XX below)
            elif declared is not None:  # a route's own 422 (naming its codes) stays, as a Problem
                declared.setdefault(
                    "content", {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                )
            operation["responses"].setdefault("4XX", problem_ref)
            if (path, method) in guarded:
                operation.setdefault("security", [{BEARER_SCHEME_NAME: []}])
    text = json.dumps(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            components["schemas"].pop(unused, None)


def _install_openapi(app: FastAPI, guard: EdgeGuard) -> None:
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
        names: dict[tuple[str, str], RouteName] = {}
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not context.path_format:
                continue
            methods = [m.lower() for m in context.methods or ()]
            if id(route) not in guard.open_routes and not is_public_route(route):
                guarded.update((context.path_format, m) for m in methods)
            if context.name:
                name = RouteName(context.name, getattr(route, "operation_id", None))
                names.update(((context.path_format, m), name) for m in methods)
        _finish_openapi(schema, guarded)
        finish_for_integrators(schema, names)
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


# ---- routes, flattened -----------------------------------------------------------------------------


def _flat_copy(context: RouteContext, provider: Any) -> APIRoute | None:
    """The route as FastAPI serves it through its routers (the prefixes, tags, dependencies and responses
    of every enclosing router applied), as one plain route of the app, its CurrentPrincipal parameters
    read from the scope (:func:`principal_from_scope`); ``None`` when it cannot be copied faithfully (a
    custom route class, a streaming endpoint whose item type FastAPI infers)."""
    original = context.original_route
    if type(original) is not APIRoute or context.stream_item_type is not None:
        return None
    if context.path is None or context.endpoint is None:
        return None
    dependencies = list(context.dependencies)
    # StrictQuery made by the route itself rather than solved as a dependency (lkg.common.http.query).
    strict = without_strict_query(dependencies)
    route_class = APIRoute if strict is None else StrictQueryRoute
    return route_class(
        context.path,
        endpoint=principal_from_scope(context.endpoint) or context.endpoint,
        response_model=context.response_model,
        status_code=context.status_code,
        tags=list(context.tags),
        dependencies=dependencies if strict is None else strict,
        summary=context.summary,
        description=context.description,
        response_description=context.response_description,
        responses=dict(context.responses),
        deprecated=context.deprecated,
        name=context.name,
        methods=set(context.methods or ()),
        operation_id=context.operation_id,
        response_model_include=context.response_model_include,
        response_model_exclude=context.response_model_exclude,
        response_model_by_alias=context.response_model_by_alias,
        response_model_exclude_unset=context.response_model_exclude_unset,
        response_model_exclude_defaults=context.response_model_exclude_defaults,
        response_model_exclude_none=context.response_model_exclude_none,
        include_in_schema=context.include_in_schema,
        response_class=context.response_class,
        dependency_overrides_provider=provider,
        callbacks=context.callbacks,
        openapi_extra=context.openapi_extra,
        generate_unique_id_function=context.generate_unique_id_function,
        strict_content_type=context.strict_content_type,
        max_body_size=context.max_body_size,
        form_limits=original.form_limits or None,
    )


def _flatten(router: APIRouter, tags: list[str], provider: Any) -> list[BaseRoute]:
    """``router``'s routes as plain routes of the app, or the router included as FastAPI includes it when
    one of its routes cannot be copied (then it is matched through its nested routers, which costs more
    per request but serves the same)."""
    holder = APIRouter(dependency_overrides_provider=provider)
    tag_list: list[str | Enum] = [*tags]
    holder.include_router(router, tags=tag_list or None)
    flat: list[BaseRoute] = []
    for context in iter_route_contexts(holder.routes):
        copy = _flat_copy(context, provider)
        if copy is None:
            return list(holder.routes)
        flat.append(copy)
    return flat


@dataclass
class _Mounts:
    """The routers of an app, mounted as one flat block of plain routes.

    FastAPI keeps an included router as a node the router walks into on every request (twice: to match
    and again to handle), once per level of nesting; a service router two levels deep paid that on every
    call. Copies of the effective routes, matched directly, serve the same: same paths, dependencies,
    responses and OpenAPI document. The block is rebuilt at start-up when a router gained routes after
    the app was made, so those are served (and checked for conflicts) too.
    """

    app: FastAPI
    labels: RouteLabels
    guard: EdgeGuard
    #: (service, router, tag it with the service's name); the service's routes need a token.
    services: list[tuple[str, APIRouter, bool]]
    #: Routers anyone may call (probes and metrics), mounted after the service routes.
    open_routers: list[APIRouter]
    #: Routes the app had before mounting: FastAPI's own (OpenAPI document and docs pages), open too.
    framework_routes: list[BaseRoute] = field(default_factory=list)
    mounted: list[BaseRoute] = field(default_factory=list)
    signature: tuple[int, ...] | None = None

    def _routers_now(self) -> tuple[int, ...]:
        routers = [router for _, router, _ in self.services] + self.open_routers
        return tuple(id(c.original_route) for router in routers for c in iter_route_contexts(router.routes))

    def mount(self) -> bool:
        """(Re)build the block if the routers changed since the last time; True when it was rebuilt."""
        signature = self._routers_now()
        if signature == self.signature:
            return False
        provider = self.app.router.dependency_overrides_provider
        block: list[BaseRoute] = []
        service_of: dict[int, str] = {}
        for service, router, tag in self.services:
            routes = _flatten(router, [service] if tag else [], provider)
            for context in iter_route_contexts(routes):
                service_of[id(context.original_route)] = service
            block.extend(routes)
        open_block = [route for router in self.open_routers for route in _flatten(router, [], provider)]
        block.extend(open_block)

        routes = self.app.router.routes
        # First: routes are matched in order, and API calls outnumber requests for the docs pages (a route
        # claiming a docs page's method and path is refused as a conflict either way).
        at = 0
        if self.mounted:
            first = self.mounted[0]
            at = next((i for i, r in enumerate(routes) if r is first), at)
            old = {id(r) for r in self.mounted}
            routes[:] = [r for r in routes if id(r) not in old]
            at = min(at, len(routes))
        routes[at:at] = block
        self.mounted = block
        self.signature = signature

        self.labels.service_of.clear()  # the same dict as app.state.route_services
        self.labels.service_of.update(service_of)
        self.labels.rebuild(routes)
        opened = [*self.framework_routes, *open_block]
        self.guard.open_routes = frozenset(id(c.original_route) for c in iter_route_contexts(opened))
        self.app.openapi_schema = None
        return True


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
        mounts.mount()  # routes added to a router since the app was made
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
        # Served from the platform itself, not from a CDN (lkg.common.http.docs): offline, and under the CSP.
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app, title)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    app.state.cursor_key = cursor_key_for(settings)
    app.state.reach_resolvers = dict(reach_resolvers or {})
    #: id(route) -> service name, for per-service lookups (reach resolvers) and metric labels.
    app.state.route_services = labels.service_of

    # The token is checked once, at the edge, for every route but the open ones (probes, metrics, docs)
    # and those marked PUBLIC_ROUTE: no per-route dependency resolves it again (bench/http.py).
    guard = EdgeGuard(app)
    install_problem_handlers(app)
    install_middleware(
        app,
        max_body_bytes=settings.max_body_bytes,
        labels=labels,
        guard=guard,
        hsts=settings.tls_in_front,
        cors_origins=settings.cors_allow_origins,
    )

    services: list[tuple[str, APIRouter, bool]] = [(name, router, True) for name, router in routers]
    for extra in extra_routers:
        if isinstance(extra, tuple):
            services.append((extra[0], extra[1], False))
        else:
            services.append((settings.service_name, extra, False))
    # The ops routes come after the service routes: routes are matched in order, and API calls outnumber
    # probes.
    mounts = _Mounts(
        app=app,
        labels=labels,
        guard=guard,
        services=services,
        open_routers=[_ops_router(readiness)],
        framework_routes=list(app.router.routes),
    )
    mounts.mount()

    check_route_conflicts(app, labels.service_of)
    _install_openapi(app, guard)
    return app
