"""Every error leaves the edge as RFC 9457 problem+json with a stable code and a zh-CN message."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field

from lkg.common.http.middleware import EdgeMiddleware, RouteLabels
from lkg.common.http.problems import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    DomainError,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationFailed,
    field_errors,
    install_problem_handlers,
)


class ProblemNotFound(NotFound):
    code = "problem_not_found"
    title = "问题单不存在"


class NewProblem(BaseModel):
    title: str = Field(min_length=2, max_length=10)
    days: int = Field(ge=1, le=30)


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/problems/{problem_id}")
    async def get_problem(problem_id: int) -> dict:
        raise ProblemNotFound(f"编号为 {problem_id} 的问题单不存在")

    @app.post("/problems")
    async def create_problem(body: NewProblem) -> dict:
        return {"ok": True}

    @app.post("/conflict")
    async def conflict() -> dict:
        raise Conflict("该问题已销号", code="problem_closed", extra={"state": "closed"})

    @app.post("/stale")
    async def stale() -> dict:
        raise PreconditionFailed()

    @app.get("/login")
    async def login() -> dict:
        raise Unauthenticated()

    @app.post("/rule")
    async def rule() -> dict:
        raise ValidationFailed(
            "截止日期早于开始日期", errors=[{"loc": ["body", "due"], "msg": "早于开始日期"}]
        )

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals: password=hunter2")

    return app


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_a_domain_error_subclass_becomes_a_problem_with_its_code_and_chinese_detail() -> None:
    async with client(build_app()) as c:
        response = await c.get("/problems/7")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "urn:lkg:problem:problem_not_found",
        "title": "问题单不存在",
        "status": 404,
        "code": "problem_not_found",
        "detail": "编号为 7 的问题单不存在",
        "instance": "/problems/7",
    }


async def test_code_narrowed_per_raise_and_extra_members_are_kept() -> None:
    async with client(build_app()) as c:
        response = await c.post("/conflict")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["type"], body["detail"], body["state"]) == (
        "problem_closed",
        "urn:lkg:problem:problem_closed",
        "该问题已销号",
        "closed",
    )


async def test_detail_defaults_to_the_title() -> None:
    async with client(build_app()) as c:
        response = await c.post("/stale")
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    assert response.json()["detail"] == "资源已被他人修改，请刷新后重试"


async def test_unauthenticated_carries_www_authenticate() -> None:
    async with client(build_app()) as c:
        response = await c.get("/login")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


async def test_request_validation_is_validation_failed_with_chinese_field_errors() -> None:
    async with client(build_app()) as c:
        response = await c.post("/problems", json={"title": "x", "days": 31})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["title"] == "请求参数校验失败"
    assert body["errors"] == [
        {"loc": ["body", "title"], "msg": "长度不能少于 2 个字符", "type": "string_too_short"},
        {"loc": ["body", "days"], "msg": "必须小于或等于 30", "type": "less_than_equal"},
    ]


async def test_missing_body_field_and_malformed_json() -> None:
    async with client(build_app()) as c:
        missing = await c.post("/problems", json={"title": "新问题"})
        malformed = await c.post("/problems", content=b"{", headers={"content-type": "application/json"})
    assert missing.json()["errors"] == [{"loc": ["body", "days"], "msg": "缺少必填项", "type": "missing"}]
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["msg"] == "JSON 格式错误"


async def test_a_domain_validation_error_has_the_same_shape() -> None:
    async with client(build_app()) as c:
        response = await c.post("/rule")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "due"], "msg": "早于开始日期"}]


async def test_unknown_route_is_404_and_wrong_method_is_405_both_problems() -> None:
    async with client(build_app()) as c:
        unknown = await c.get("/nowhere")
        wrong = await c.delete("/problems/1")
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["detail"]) == (
        404,
        "not_found",
        "资源不存在",
    )
    assert unknown.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"


async def test_unexpected_exception_is_500_without_internals_and_with_the_correlation_id() -> None:
    app = EdgeMiddleware(build_app(), labels=RouteLabels(default_service="test"), max_body_bytes=1024)
    async with client(app) as c:
        response = await c.get("/boom", headers={"X-Correlation-Id": "req-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["correlation_id"] == "req-42"
    assert "hunter2" not in response.text and "Traceback" not in response.text


def test_field_errors_leave_out_the_input_and_keep_value_error_sentences() -> None:
    errors = [
        {
            "type": "value_error",
            "loc": ("body", "phone"),
            "msg": "Value error, 手机号格式不正确",
            "input": "138",
        },
        {"type": "some_new_type", "loc": ("query", 0), "msg": "English fallback", "input": "x"},
    ]
    assert field_errors(errors) == [
        {"loc": ["body", "phone"], "msg": "手机号格式不正确", "type": "value_error"},
        {"loc": ["query", 0], "msg": "English fallback", "type": "some_new_type"},
    ]


def test_domain_error_defaults() -> None:
    error = DomainError()
    assert (error.code, error.status, error.detail, error.extra) == ("bad_request", 400, "请求无法处理", {})
