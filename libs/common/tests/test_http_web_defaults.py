"""Web-facing defaults (issue 11, items 15 and 16): every response carries nosniff, frame protection, a CSP
that allows scripts from the platform only and a Cache-Control; HSTS when TLS is terminated in front; /docs
works offline under that CSP; no ``server`` header; CORS only for the origins a deployment lists."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ValidationError

from lkg.common.auth import PUBLIC_ROUTE, Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.http.app import create_http_app
from lkg.common.http.middleware import CONTENT_SECURITY_POLICY
from lkg.common.runtime.cli import server_config
from lkg.common.settings import ServiceSettings
from lkg.common.testing import eventually

SECRET = "web-defaults-test-secret-long-enough-0123"
CONSOLE = "https://console.example.gov.cn"


class Body(BaseModel):
    n: int


def build(**settings) -> FastAPI:
    router = APIRouter(prefix="/api/v1/things")

    @router.get("")
    async def things() -> list[int]:
        return [1]

    @router.post("", openapi_extra=PUBLIC_ROUTE)
    async def create(body: Body) -> dict:
        return {"n": body.n}

    async def ready() -> dict:
        return {"status": "ok"}

    return create_http_app(
        settings=ServiceSettings(jwt_secret=SECRET, service_name="lkg-test", **settings),
        title="临空港测试 LKG test",
        description="t",
        version="1",
        routers=[("registry", router)],
        readiness=ready,
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


def bearer() -> dict[str, str]:
    settings = ServiceSettings(jwt_secret=SECRET)
    token = mint_token(settings, person="p1", roles=[Role.ADMIN], now=wall_clock_utc())
    return {"Authorization": f"Bearer {token}"}


async def every_kind_of_response(app: FastAPI) -> dict[str, httpx.Response]:
    async with client(app) as c:
        return {
            "api json": await c.get("/api/v1/things", headers=bearer()),
            "401 problem": await c.get("/api/v1/things"),
            "422 problem": await c.post("/api/v1/things", json={"n": "x"}),
            "404 no route": await c.get("/nowhere"),
            "405": await c.delete("/healthz"),
            "healthz": await c.get("/healthz"),
            "readyz": await c.get("/readyz"),
            "metrics": await c.get("/metrics"),
            "openapi": await c.get("/openapi.json"),
            "docs": await c.get("/docs"),
            "413": await c.post("/api/v1/things", content=b"x" * (2 * 1024 * 1024)),
        }


async def test_every_response_carries_nosniff_frame_protection_csp_and_cache_control() -> None:
    responses = await every_kind_of_response(build())
    assert responses["api json"].status_code == 200
    for kind, response in responses.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", kind
        assert headers["x-frame-options"] == "DENY", kind
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, kind
        assert headers["referrer-policy"] == "no-referrer", kind
        assert "strict-transport-security" not in headers, kind
        expected = "no-cache" if kind == "docs" else "no-store"
        assert headers["cache-control"] == expected, kind
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


async def test_hsts_only_when_tls_is_terminated_in_front() -> None:
    responses = await every_kind_of_response(build(tls_in_front=True))
    for kind, response in responses.items():
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", kind


async def test_docs_loads_swagger_ui_from_the_platform_with_no_inline_script() -> None:
    app = build()
    async with client(app) as c:
        page = (await c.get("/docs")).text
        redoc = await c.get("/redoc")
        sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) + re.findall(
            r'(?:src|spec-url)="([^"]+)"', redoc.text
        )
        loaded = {source: await c.get(source) for source in sources}
        missing = await c.get("/docs/assets/swagger-ui-bundle.js.map")
    # No CDN: every asset is a path on the platform itself, and each is there.
    assert sources and all(source.startswith("/") for source in sources), sources
    assert "cdn" not in page and "http" not in page.replace("http-equiv", "")
    assert set(loaded) == {
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-init.js",
        "/docs/assets/redoc.standalone.js",
        "/openapi.json",
    }
    for source, response in loaded.items():
        assert response.status_code == 200, source
    bundle = loaded["/docs/assets/swagger-ui-bundle.js"]
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["cache-control"] == "public, max-age=86400"
    assert "SwaggerUIBundle" in bundle.text and len(bundle.content) > 1_000_000
    assert "url: root.dataset.openapiUrl" in loaded["/docs/assets/swagger-init.js"].text
    assert 'data-openapi-url="/openapi.json"' in page
    # Every <script> has a src and no body: script-src 'self' allows exactly these.
    assert re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL) == [
        (' src="/docs/assets/swagger-ui-bundle.js"', ""),
        (' src="/docs/assets/swagger-init.js"', ""),
    ]
    assert "worker-src 'self' blob:" in redoc.headers["content-security-policy"]
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_lkg_run_serves_without_a_server_header() -> None:
    port = free_port()
    server = uvicorn.Server(server_config(build(), "127.0.0.1", port))
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            await eventually(lambda: server.started, what="uvicorn started")
            response = await c.get("/healthz")
    finally:
        server.should_exit = True
        await task
    assert response.status_code == 200
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


# ---- CORS --------------------------------------------------------------------------------------------


async def preflight(c: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await c.options(
        "/api/v1/things",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,if-match",
        },
    )


async def test_no_origin_is_allowed_by_default() -> None:
    async with client(build()) as c:
        asked = await preflight(c, CONSOLE)
        called = await c.get("/api/v1/things", headers={"Origin": CONSOLE, **bearer()})
    assert "access-control-allow-origin" not in asked.headers
    assert asked.status_code in (401, 405)
    assert called.status_code == 200 and "access-control-allow-origin" not in called.headers


async def test_a_listed_origin_may_call_the_api_from_a_browser_and_others_may_not() -> None:
    app = build(cors_allow_origins=(CONSOLE,))
    async with client(app) as c:
        asked = await preflight(c, CONSOLE)
        called = await c.get("/api/v1/things", headers={"Origin": CONSOLE, **bearer()})
        stranger = await preflight(c, "https://evil.example.com")
        stranger_call = await c.get(
            "/api/v1/things", headers={"Origin": "https://evil.example.com", **bearer()}
        )
    assert asked.status_code == 200
    assert asked.headers["access-control-allow-origin"] == CONSOLE
    assert "If-Match" in asked.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in asked.headers
    assert called.headers["access-control-allow-origin"] == CONSOLE
    assert "ETag" in called.headers["access-control-expose-headers"]
    assert called.headers["x-content-type-options"] == "nosniff"
    assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
    assert stranger_call.status_code == 200 and "access-control-allow-origin" not in stranger_call.headers


def test_allowed_origins_come_comma_separated_from_the_environment_and_must_be_origins(monkeypatch) -> None:
    monkeypatch.setenv("LKG_CORS_ALLOW_ORIGINS", f"{CONSOLE}, http://127.0.0.1:5173")
    assert ServiceSettings().cors_allow_origins == (CONSOLE, "http://127.0.0.1:5173")
    monkeypatch.delenv("LKG_CORS_ALLOW_ORIGINS")
    assert ServiceSettings().cors_allow_origins == ()
    for wrong in ("*", f"{CONSOLE}/", f"{CONSOLE}/app", "console.example.gov.cn"):
        monkeypatch.setenv("LKG_CORS_ALLOW_ORIGINS", wrong)
        with pytest.raises(ValidationError):
            ServiceSettings()
