"""The HTTP edge as plain ASGI middleware: correlation id, body size limit, access log and latency metric.

Plain ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, no buffering of streamed bodies,
and context variables set here are seen by the endpoint. Order, outermost first (see
:func:`install_middleware`): correlation id → access log/metrics (which also turns an unexpected exception
into a 500 problem, logged with the correlation id) → body size limit → the app.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import HTTPException
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lkg.common import log as logmod
from lkg.common.http.problems import internal_error_response, problem_response
from lkg.common.metrics import HTTP_LATENCY

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_HEADER_RAW = CORRELATION_HEADER.lower().encode("latin-1")
# The id travels on into NATS headers and log lines: a bounded, header-safe alphabet only.
_VALID_CORRELATION_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

#: Route label for requests no route matched: keeps the metric's cardinality bounded.
UNMATCHED_ROUTE = "unmatched"

_error_logger = logmod.get_logger("lkg.http")


def new_correlation_id() -> str:
    """128 random bits as hex (the same shape as a UUID's hex, without building a UUID)."""
    return os.urandom(16).hex()


# ---- a lean pipeline for the one access line per request -------------------------------------------
# The general pipeline of lkg.common.log masks every string of every line; an access line has one
# free-text field (the path), and masking the rest cost a third of a small route's time. This pipeline
# writes the same keys through the same renderer, sink and level filter, masking just the path.


def _add_correlation_id(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    cid = logmod.correlation_id.get()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


def _mask_path(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["path"] = logmod.mask_personal_data(event_dict["path"])
    return event_dict


# json.dumps builds a new encoder per call when given options; one shared encoder is several times faster.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _render_json(_logger: Any, _name: str, event_dict: dict[str, Any]) -> str:
    return _JSON.encode(event_dict)


class _AccessLog:
    """Builds the access logger from the current structlog configuration, again whenever it changes."""

    def __init__(self) -> None:
        self._source: Any = None
        self._logger: Any = None

    def get(self) -> Any:
        config = structlog.get_config()
        processors = config["processors"]
        # structlog.testing.capture_logs swaps the contents of the same list, hence the last item too.
        source = (id(processors), id(processors[-1]) if processors else None)
        if source != self._source or self._logger is None:
            renderer = processors[-1] if processors else structlog.processors.JSONRenderer()
            if isinstance(renderer, structlog.processors.JSONRenderer):
                renderer = _render_json
            self._logger = structlog.wrap_logger(
                config["logger_factory"](),
                processors=[
                    structlog.contextvars.merge_contextvars,
                    _add_correlation_id,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    _mask_path,
                    renderer,
                ],
                wrapper_class=config["wrapper_class"],
                context_class=config["context_class"],
            )
            self._source = source
        return self._logger


_access_log = _AccessLog()


class CorrelationIdMiddleware:
    """Reads ``X-Correlation-Id`` (or makes one), sets it for logs and events, echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid: str | None = None
        for name, value in scope["headers"]:
            if name == _CORRELATION_HEADER_RAW:
                if _VALID_CORRELATION_ID.fullmatch(value):
                    cid = value.decode("ascii")
                break
        if cid is None:
            cid = new_correlation_id()
        header = (_CORRELATION_HEADER_RAW, cid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = logmod.correlation_id.set(cid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logmod.correlation_id.reset(token)


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
                labels = (template, self.service_of.get(id(route), self.default_service))
                self.by_route[id(route)] = labels
        return labels


class AccessLogMiddleware:
    """One structured log line and one latency observation per request, labelled by route template.

    An exception that escapes the app becomes a 500 problem here (inside the correlation id), so the
    client gets a problem+json body and the log line carries the id the client sees.
    """

    def __init__(self, app: ASGIApp, *, labels: RouteLabels) -> None:
        self.app = app
        self.labels = labels
        self._children: dict[tuple[str, str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            _error_logger.error(
                "unhandled_error",
                path=scope.get("path"),
                error=type(exc).__name__,
                correlation_id=logmod.correlation_id.get(),
                exc_info=exc,
            )
            if started:
                raise  # the response is half sent; only the server can close the connection
            status = 500
            await internal_error_response(scope.get("path"))(scope, receive, send)
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
            _access_log.get().info(
                "http_request",
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                service=service,
            )


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="请求体过大")


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self, scope: Scope) -> Any:
        return problem_response(
            status=413,
            code="payload_too_large",
            title="请求体过大",
            detail=f"请求体不能超过 {self.max_body_bytes} 字节",
            instance=scope.get("path"),
            extra={"max_body_bytes": self.max_body_bytes},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            # The server holds the client to its Content-Length, so checking the declared size suffices.
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        # Chunked (or no) body: count as it arrives.
        received = 0
        exceeded = False
        started = False
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, send_guarded)
        except Exception:
            if not exceeded or started:
                raise
            await self._too_large(scope)(scope, receive, send)


def install_middleware(app: FastAPI, *, max_body_bytes: int, labels: RouteLabels) -> None:
    """Add the edge middleware in its order (the last added runs first)."""
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(AccessLogMiddleware, labels=labels)
    app.add_middleware(CorrelationIdMiddleware)


__all__ = [
    "CORRELATION_HEADER",
    "UNMATCHED_ROUTE",
    "AccessLogMiddleware",
    "BodySizeLimitMiddleware",
    "CorrelationIdMiddleware",
    "RouteLabels",
    "install_middleware",
    "new_correlation_id",
]
