"""The ASGI edge: correlation ids, the body size limit, the access log line and the latency metric."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from lkg.common import log as logmod
from lkg.common.http.middleware import (
    UNMATCHED_ROUTE,
    RouteLabels,
    install_middleware,
    new_correlation_id,
    render_access_line,
)
from lkg.common.http.problems import install_problem_handlers

LIMIT = 64


def build_app(service: str = "test-mw") -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    labels = RouteLabels(default_service=service)
    install_middleware(app, max_body_bytes=LIMIT, labels=labels)
    router = APIRouter(prefix="/api/v1/widgets")

    @router.get("/{widget_id}")
    async def get_widget(widget_id: int) -> dict:
        return {"id": widget_id, "correlation_id": logmod.correlation_id.get()}

    @router.post("")
    async def upload(request: Request) -> dict:
        return {"size": len(await request.body())}

    @router.post("/{widget_id}/photos", max_body_size=4 * LIMIT)
    async def upload_photo(widget_id: int, request: Request) -> dict:
        return {"size": len(await request.body())}

    @router.get("/crash/now")
    async def crash() -> dict:
        raise ZeroDivisionError

    labels.assign_service(router.routes, "widgets")
    app.include_router(router)
    labels.rebuild(app.routes)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


async def test_a_valid_correlation_id_is_used_for_the_request_and_echoed() -> None:
    async with client(build_app()) as c:
        response = await c.get("/api/v1/widgets/1", headers={"X-Correlation-Id": "mobile-7f3a:retry.2"})
    assert response.headers["x-correlation-id"] == "mobile-7f3a:retry.2"
    assert response.json()["correlation_id"] == "mobile-7f3a:retry.2"
    assert logmod.correlation_id.get() is None  # reset after the request


@pytest.mark.parametrize("sent", [None, b"", b"has space", b"x" * 129, "换行".encode(), b'a"b'])
async def test_a_missing_or_unsafe_correlation_id_is_replaced_by_a_new_one(sent: bytes | None) -> None:
    headers = {} if sent is None else {"X-Correlation-Id": sent}
    async with client(build_app()) as c:
        response = await c.get("/api/v1/widgets/1", headers=headers)
    generated = response.headers["x-correlation-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert response.json()["correlation_id"] == generated


async def test_body_at_the_limit_passes() -> None:
    async with client(build_app()) as c:
        response = await c.post("/api/v1/widgets", content=b"a" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


async def test_declared_content_length_over_the_limit_is_refused_before_reading() -> None:
    async with client(build_app()) as c:
        response = await c.post("/api/v1/widgets", content=b"a" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["max_body_bytes"], body["instance"]) == (
        "payload_too_large",
        LIMIT,
        "/api/v1/widgets",
    )
    assert response.headers["x-correlation-id"] == body["correlation_id"]


async def test_a_chunked_body_is_counted_while_streaming() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"b" * 20

    async def small() -> AsyncIterator[bytes]:
        yield b"b" * 20
        yield b"b" * 20

    async with client(build_app()) as c:
        too_big = await c.post("/api/v1/widgets", content=chunks())
        fine = await c.post("/api/v1/widgets", content=small())
    assert "content-length" not in too_big.request.headers
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "payload_too_large"
    assert fine.json() == {"size": 40}


async def test_a_route_with_its_own_larger_limit_takes_uploads_up_to_it() -> None:
    async def chunks(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield b"p" * LIMIT

    async with client(build_app()) as c:
        photo = await c.post("/api/v1/widgets/7/photos", content=b"p" * (3 * LIMIT))
        streamed = await c.post("/api/v1/widgets/7/photos", content=chunks(4))
        too_big = await c.post("/api/v1/widgets/7/photos", content=b"p" * (4 * LIMIT + 1))
        too_big_streamed = await c.post("/api/v1/widgets/7/photos", content=chunks(5))
        elsewhere = await c.post("/api/v1/widgets", content=b"p" * (3 * LIMIT))
    assert (photo.status_code, photo.json()) == (200, {"size": 3 * LIMIT})
    assert (streamed.status_code, streamed.json()) == (200, {"size": 4 * LIMIT})
    assert (too_big.status_code, too_big.json()["max_body_bytes"]) == (413, 4 * LIMIT)
    assert (too_big_streamed.status_code, too_big_streamed.json()["code"]) == (413, "payload_too_large")
    # Every other route keeps the service's limit.
    assert (elsewhere.status_code, elsewhere.json()["max_body_bytes"]) == (413, LIMIT)


def _count(service: str, route: str, status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "lkg_http_request_duration_seconds_count",
        {"service": service, "method": method, "route": route, "status": status},
    )
    return value or 0.0


async def test_latency_is_labelled_by_route_template_and_service_not_raw_path() -> None:
    before = _count("widgets", "/api/v1/widgets/{widget_id}", "200")
    before_unmatched = _count("test-mw", UNMATCHED_ROUTE, "404")
    async with client(build_app()) as c:
        for widget_id in (1, 2, 3):
            await c.get(f"/api/v1/widgets/{widget_id}")
        await c.get("/no/such/path")
    assert _count("widgets", "/api/v1/widgets/{widget_id}", "200") == before + 3
    assert _count("test-mw", UNMATCHED_ROUTE, "404") == before_unmatched + 1
    assert (
        REGISTRY.get_sample_value(
            "lkg_http_request_duration_seconds_count",
            {"service": "widgets", "method": "GET", "route": "/api/v1/widgets/1", "status": "200"},
        )
        is None
    )


@pytest.fixture
def access_lines() -> Iterator[list[dict]]:
    """The access lines written while the test runs, as dicts (the sink is swapped, then restored)."""
    lines: list[dict] = []
    previous = logmod.set_access_sink(lambda line, _encode: lines.append(line))
    yield lines
    logmod.set_access_sink(previous)


async def test_one_access_line_per_request_with_masked_path(access_lines) -> None:
    async with client(build_app()) as c:
        await c.get("/api/v1/widgets/13812345678", headers={"X-Correlation-Id": "cid-1"})
    lines = access_lines
    assert len(lines) == 1
    line = lines[0]
    assert {k: line[k] for k in ("method", "path", "route", "status", "service", "correlation_id")} == {
        "method": "GET",
        "path": "/api/v1/widgets/138****5678",
        "route": "/api/v1/widgets/{widget_id}",
        "status": 200,
        "service": "widgets",
        "correlation_id": "cid-1",
    }
    assert line["duration_ms"] >= 0


async def test_an_escaping_exception_is_a_logged_500_problem_with_the_correlation_id(access_lines) -> None:
    with capture_logs() as logs:
        async with client(build_app()) as c:
            response = await c.get("/api/v1/widgets/crash/now", headers={"X-Correlation-Id": "cid-500"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.json()["correlation_id"] == "cid-500"
    assert response.headers["x-correlation-id"] == "cid-500"
    errors = [e for e in logs if e["event"] == "unhandled_error"]
    assert [(e["error"], e["correlation_id"]) for e in errors] == [("ZeroDivisionError", "cid-500")]
    assert [(e["status"], e["route"]) for e in access_lines] == [(500, "/api/v1/widgets/crash/now")]


@pytest.mark.parametrize(
    "path, cid",
    [
        ("/api/v1/widgets/1", "cid-1"),
        ('/api/v1/项目/"引号"\\反斜杠\t制表\x01', None),
        ("/api/v1/widgets/138****5678", "a" * 128),
    ],
)
def test_the_access_line_renders_as_json_dumps_would(path: str, cid: str | None) -> None:
    line = {
        "method": "GET",
        "path": path,
        "route": "/api/v1/widgets/{widget_id}",
        "status": 404,
        "duration_ms": 12.5,
        "service": "问题 issues",
        "event": "http_request",
        "level": "info",
        "timestamp": "2026-11-26T23:27:38.624998Z",
    }
    if cid is not None:
        line["correlation_id"] = cid
    rendered = render_access_line(line)
    assert rendered == json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(rendered) == line


def test_correlation_ids_are_unique_and_a_forked_worker_does_not_repeat_its_parents() -> None:
    ids = [new_correlation_id() for _ in range(1000)]  # several draws from the OS
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without running anything of pytest's
        os.write(write_end, new_correlation_id().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    assert len(child_id) == 32
    assert child_id != new_correlation_id()
