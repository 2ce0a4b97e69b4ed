"""The HTTP edge as plain ASGI middleware: correlation id, security headers, body size limit, bearer token,
access log and latency metric; CORS for the origins a deployment allows.

Plain ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, no buffering of streamed bodies,
and context variables set here are seen by the endpoint. Order, outermost first (see
:func:`install_middleware`): correlation id → access log/metrics (which also turns an unexpected exception
into a 500 problem, logged with the correlation id) → body size limit → token check → the app.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.exceptions import HTTPException
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lkg.common import log as logmod
from lkg.common.clock import wall_clock_utc
from lkg.common.http.problems import internal_error_response, problem_response
from lkg.common.metrics import HTTP_LATENCY

if TYPE_CHECKING:
    from lkg.common.http.edge import EdgeGuard

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_HEADER_RAW = CORRELATION_HEADER.lower().encode("latin-1")
# The id travels on into NATS headers and log lines: a bounded, header-safe alphabet only.
_VALID_CORRELATION_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

#: Scripts, styles, images and calls from the platform itself only; no plugins, no framing, no <base>. The
#: console runs in browsers; /docs and /redoc are served from the platform (lkg.common.http.docs). Inline
#: styles stay allowed: Swagger UI and ReDoc set them, and a style cannot run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: What a response says about caching when it says nothing: API answers and exports carry personal and
#: unpublished data, so no browser or proxy keeps them.
DEFAULT_CACHE_CONTROL = "no-store"
#: HSTS, sent only when TLS is terminated in front of us (``LKG_TLS_IN_FRONT``): a year, subdomains too.
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, hsts: bool) -> tuple[tuple[bytes, bytes], ...]:
    """Headers every response carries, whatever answered (a route, a problem, the token check, a 404)."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if hsts:
        headers.append((b"strict-transport-security", HSTS.encode("latin-1")))
    return tuple(headers)


_CACHE_CONTROL = (b"cache-control", DEFAULT_CACHE_CONTROL.encode("latin-1"))
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("latin-1"))

#: Route label for requests no route matched: keeps the metric's cardinality bounded.
UNMATCHED_ROUTE = "unmatched"

_error_logger = logmod.get_logger("lkg.http")


# Random bytes for correlation ids, drawn from the OS 256 ids at a time (one system call, not one per
# request). A forked worker drops the parent's unused bytes, so two processes never hand out one id.
_ID_BYTES = 16
_random_pool = b""
_random_at = 0
_random_lock = threading.Lock()  # apps served from several threads (a test client) share the pool


def _drop_random_pool() -> None:
    global _random_pool, _random_at, _random_lock
    _random_pool, _random_at, _random_lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_drop_random_pool)


def new_correlation_id() -> str:
    """128 random bits as hex (the same shape as a UUID's hex, without building a UUID)."""
    global _random_pool, _random_at
    with _random_lock:
        at = _random_at
        if at + _ID_BYTES > len(_random_pool):
            _random_pool, at = os.urandom(256 * _ID_BYTES), 0
        _random_at = at + _ID_BYTES
        pool = _random_pool
    return pool[at : at + _ID_BYTES].hex()


# ---- the access line ---------------------------------------------------------------------------------
# One JSON line per request, written straight to the log stream: the same keys as every structlog line
# (event, level, timestamp, correlation_id), the path masked like all personal data. Going through
# structlog's processor chain cost about a third of a small route's time (bench/http.py).

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
#: JSON string literal of a str, non-ASCII kept readable: the routine ``json`` itself uses (C).
_quote: Callable[[str], str] = json.encoder.encode_basestring


def render_access_line(line: dict[str, Any]) -> str:
    """The line :func:`write_access_line` builds, as compact JSON: byte for byte what ``json.dumps(line,
    ensure_ascii=False, separators=(",", ":"))`` writes, faster, because its keys and their types are
    known and only the strings need quoting. Only for that dict (the sinks get it as ``encode``)."""
    cid = line.get("correlation_id")
    return "".join(
        (
            '{"method":',
            _quote(line["method"]),
            ',"path":',
            _quote(line["path"]),
            ',"route":',
            _quote(line["route"]),
            ',"status":',
            repr(line["status"]),
            ',"duration_ms":',
            repr(line["duration_ms"]),
            ',"service":',
            _quote(line["service"]),
            ',"event":',
            _quote(line["event"]),
            ',"level":',
            _quote(line["level"]),
            ',"timestamp":',
            _quote(line["timestamp"]),
            "}" if cid is None else ',"correlation_id":' + _quote(cid) + "}",
        )
    )


def _utc_timestamp() -> str:
    # Log metadata is wall-clock time, like the envelope's occurred_at: never the simulated clock.
    return wall_clock_utc().isoformat().replace("+00:00", "Z")


def write_access_line(
    *, method: str, path: str, route: str, status: int, duration_ms: float, service: str
) -> None:
    sink = logmod.access_sink()
    if sink is None:
        return
    line = {
        "method": method,
        "path": logmod.mask_personal_data(path),
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
        "service": service,
        "event": "http_request",
        "level": "info",
        "timestamp": _utc_timestamp(),
    }
    cid = logmod.correlation_id.get()
    if cid is not None:
        line["correlation_id"] = cid
    sink(line, render_access_line)


@dataclass
class RouteLabels:
    """Route template and owning service per matched route, for bounded metric labels.

    FastAPI keeps included routers unflattened, so ``scope["route"]`` is the route as declared, without the
    router's prefix; the templates here come from the app's effective routes (prefix included).
    """

    default_service: str
    by_route: dict[int, tuple[str, str]] = field(default_factory=dict)
    service_of: dict[int, str] = field(default_factory=dict)

    def assign_service(self, routes: list[Any], service: str) -> None:
        """Record that the routes of a service router belong to ``service``."""
        for context in iter_route_contexts(routes):
            self.service_of[id(context.original_route)] = service

    def rebuild(self, app_routes: list[Any]) -> None:
        by_route: dict[int, tuple[str, str]] = {}
        for context in iter_route_contexts(app_routes):
            original = context.original_route
            template = context.path_format or getattr(original, "path", None) or UNMATCHED_ROUTE
            by_route[id(original)] = (template, self.service_of.get(id(original), self.default_service))
        self.by_route = by_route

    def lookup(self, scope: Scope) -> tuple[str, str]:
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE, self.default_service
        labels = self.by_route.get(id(route))
        if labels is None:
            # A route added after start: learn it once.
            app = scope.get("app")
            if app is not None:
                self.rebuild(app.routes)
            labels = self.by_route.get(id(route))
            if labels is None:
                template = getattr(route, "path_format", None) or getattr(route, "path", UNMATCHED_ROUTE)
                learnt = (str(template), self.service_of.get(id(route), self.default_service))
                self.by_route[id(route)] = learnt
                return learnt
        return labels


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="请求体过大")


class EdgeMiddleware:
    """The whole HTTP edge in one ASGI layer (each layer costs a call and a wrapped ``send``):

    1. correlation id: read ``X-Correlation-Id`` (or make one), set it for logs and events, echo it back;
    2. body size limit: refuse bodies over ``max_body_bytes`` (or a route's own larger ``max_body_size``,
       for uploads) with 413, by Content-Length or while streaming;
    3. the bearer token, when a ``guard`` is given (:class:`~lkg.common.http.edge.EdgeGuard`): checked once
       here, before routing, instead of by a dependency on every route; 401 for a guarded route without a
       valid one;
    4. one access line and one latency observation per request, labelled by route template;
    5. an exception escaping the app becomes a 500 problem carrying the correlation id;
    6. the security headers on every response (:func:`security_headers`), plus ``Cache-Control: no-store``
       and the platform's Content-Security-Policy unless the response set its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        labels: RouteLabels,
        max_body_bytes: int,
        guard: EdgeGuard | None = None,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.labels = labels
        self.max_body_bytes = max_body_bytes
        self.guard = guard
        self.headers = security_headers(hsts=hsts)
        self._children: dict[tuple[str, str, str, int], Any] = {}

    def _too_large(self, scope: Scope, limit: int) -> Any:
        return problem_response(
            status=413,
            code="payload_too_large",
            title="请求体过大",
            detail=f"请求体不能超过 {limit} 字节",
            instance=scope.get("path"),
            extra={"max_body_bytes": limit},
        )

    def _route_limit(self, scope: Scope) -> int:
        """The body limit of the route ``scope`` is going to: the route's own ``max_body_size`` when it
        declares a larger one (an upload), else the service's ``max_body_bytes``. Asked only once a body
        is over the service's limit, so ordinary requests never pay for the route matching."""
        app = scope.get("app")
        if app is None:
            return self.max_body_bytes
        probe = dict(scope)
        if isinstance(probe.get("fastapi"), dict):
            probe["fastapi"] = dict(probe["fastapi"])  # matching notes its progress there
        for context in iter_route_contexts(app.router.routes):
            own = getattr(context, "max_body_size", None)
            if own and own > self.max_body_bytes and context.matches(probe)[0] is Match.FULL:
                return own
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        cid: str | None = None
        declared: bytes | None = None
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:  # the first one, as Starlette's ``headers.get`` reads it
                    authorization = value
            elif name == _CORRELATION_HEADER_RAW:
                if _VALID_CORRELATION_ID.fullmatch(value):
                    cid = value.decode("ascii")
            elif name == b"content-length":
                declared = value
        if cid is None:
            cid = new_correlation_id()
        header = (_CORRELATION_HEADER_RAW, cid.encode("ascii"))
        status = 500
        started = False
        exceeded = False
        received = 0
        limit = self.max_body_bytes

        async def edge_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = [*message.get("headers", ()), header, *self.headers]
                cache_control = csp = False
                for name, _ in headers:
                    lowered = name.lower()
                    cache_control = cache_control or lowered == b"cache-control"
                    csp = csp or lowered == b"content-security-policy"
                if not cache_control:
                    headers.append(_CACHE_CONTROL)
                if not csp:
                    headers.append(_CSP)
                message["headers"] = headers
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received, exceeded, limit
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and limit == self.max_body_bytes:
                    limit = self._route_limit(scope)
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        token = logmod.correlation_id.set(cid)
        try:
            # The server holds the client to its Content-Length: checking the declared size suffices.
            if (
                declared is not None
                and declared.isdigit()
                and int(declared) > limit
                and int(declared) > (limit := self._route_limit(scope))
            ):
                await self._too_large(scope, limit)(scope, receive, edge_send)
            elif (
                self.guard is not None
                and not self.guard.admit_known(scope, authorization)
                and (refusal := await self.guard.admit(scope, authorization))
            ):
                await refusal(scope, receive, edge_send)
            elif declared is not None:
                await self.app(scope, receive, edge_send)
            else:  # chunked (or no) body: count as it arrives
                await self.app(scope, counting_receive, edge_send)
        except Exception as exc:
            if exceeded and not started:
                await self._too_large(scope, limit)(scope, receive, edge_send)
            else:
                _error_logger.error(
                    "unhandled_error",
                    path=scope.get("path"),
                    error=type(exc).__name__,
                    correlation_id=cid,
                    exc_info=exc,
                )
                if started:
                    raise  # the response is half sent; only the server can close the connection
                status = 500
                await internal_error_response(scope.get("path"))(scope, receive, edge_send)
        finally:
            elapsed = time.perf_counter() - start
            route, service = self.labels.lookup(scope)
            method = scope["method"]
            key = (service, method, route, status)
            child = self._children.get(key)
            if child is None:
                child = HTTP_LATENCY.labels(service, method, route, str(status))
                self._children[key] = child
            child.observe(elapsed)
            write_access_line(
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                service=service,
            )
            logmod.correlation_id.reset(token)


#: What a front end on an allowed origin may send and read (docs/http-conventions.md, "CORS").
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    CORRELATION_HEADER,
)
CORS_EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "Content-Disposition", CORRELATION_HEADER)


def install_middleware(
    app: FastAPI,
    *,
    max_body_bytes: int,
    labels: RouteLabels,
    guard: EdgeGuard | None = None,
    hsts: bool = False,
    cors_origins: tuple[str, ...] = (),
) -> None:
    """Add the edge middleware (with the token check when a ``guard`` is given) and, outside it, CORS for
    ``cors_origins`` when there are any (none by default: the API is called from its own origin or from
    servers). CORS answers a preflight itself, before the token check: a browser sends no token there."""
    app.add_middleware(EdgeMiddleware, labels=labels, max_body_bytes=max_body_bytes, guard=guard, hsts=hsts)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            allow_credentials=False,  # bearer tokens, no cookies
            max_age=600,
        )


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CORRELATION_HEADER",
    "UNMATCHED_ROUTE",
    "EdgeMiddleware",
    "RouteLabels",
    "install_middleware",
    "new_correlation_id",
    "write_access_line",
]
