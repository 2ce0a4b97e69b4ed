"""The two ASGI apps ``bench/http.py`` serves: a bare FastAPI route, and the same route behind the common
stack.

Both answer the same small JSON body with the same return annotation, so the difference between them is
what ``create_http_app`` adds to every request: correlation id, access log line and latency histogram,
body size limit, problem+json error handling, the bearer-token check at the edge and the route's
``CurrentPrincipal`` parameter. Logging really runs (INFO, JSON, one line per request to the server's
stderr, which the benchmark sends to a file); turning it off would measure a stack nobody deploys.

Run as a server (the benchmark does this, pinned to one core)::

    python -P bench/_http_apps.py --app stack --port 8123

``bench/http.py`` would shadow the standard library's ``http`` package if ``bench/`` came first on
``sys.path`` (as it does for ``python bench/_http_apps.py``, which ``make bench`` runs): ``-P`` keeps it
off, and the lines below move it last for a run without ``-P``.
"""

# ruff: noqa: E402 - the imports below must follow the sys.path fix.
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(_HERE)

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from lkg.common.auth import CurrentPrincipal, Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.http.app import create_http_app
from lkg.common.log import configure_logging
from lkg.common.settings import ServiceSettings

#: The body both routes return.
PAYLOAD: dict[str, str] = {"status": "ok", "service": "bench"}

BARE_PATH = "/bare"
STACK_PATH = "/api/v1/bench/ping"
APPS = ("bare", "stack")

# A fixed development secret: the benchmark process mints the token, the server process verifies it.
_BENCH_SECRET = "lkg-bench-only-secret-not-for-any-deployment"


def bench_settings() -> ServiceSettings:
    """Development settings with logging on at INFO as JSON, the way a service runs by default."""
    return ServiceSettings(
        env="development",
        service_name="bench",
        jwt_secret=_BENCH_SECRET,
        log_level="INFO",
        log_json=True,
    )


def bench_token(settings: ServiceSettings, *, ttl_seconds: int = 3600) -> str:
    """A real HS256 token the stack's verifier accepts (minted as a responsible unit's user)."""
    return mint_token(
        settings,
        person="bench-user",
        roles=[Role.UNIT_USER],
        name="压测用户",
        ttl_seconds=ttl_seconds,
        now=wall_clock_utc(),
    )


def create_bare_app() -> FastAPI:
    """``FastAPI()`` and one route: the baseline the stack is measured against."""
    app = FastAPI()

    @app.get(BARE_PATH)
    async def bare() -> dict[str, str]:
        return PAYLOAD

    return app


def create_stack_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The same route as a service route of ``create_http_app``: guarded, logged, measured.

    No database or NATS: the lifespan does nothing and readiness is always ok, so only the HTTP edge is
    measured.
    """
    settings = settings or bench_settings()
    configure_logging(settings.log_level, settings.log_json)

    router = APIRouter(prefix="/api/v1/bench")

    @router.get("/ping")
    async def ping(principal: CurrentPrincipal) -> dict[str, str]:
        return PAYLOAD

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield None

    async def readiness() -> Mapping[str, Any]:
        return {"status": "ok", "checks": {}, "warnings": []}

    return create_http_app(
        settings=settings,
        title="压测 Bench",
        description="HTTP 栈压测 / HTTP stack benchmark",
        version="0.0.0",
        routers=[("bench", router)],
        lifespan=lifespan,
        readiness=readiness,
    )


def serve(app_name: str, port: int) -> None:
    """uvicorn with uvloop and httptools, one worker, no access log of its own, warnings only."""
    import uvicorn

    app = create_bare_app() if app_name == "bare" else create_stack_app()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--app", choices=APPS, required=False)
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    if args.app is None:
        # `make bench` runs every bench/*.py; this module is a helper, not a benchmark.
        print("bench/_http_apps.py: the apps served by bench/http.py (nothing to run on its own)")
        return
    serve(args.app, args.port)


if __name__ == "__main__":
    main()
