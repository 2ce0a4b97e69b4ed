"""Errors as RFC 9457 problem details (``application/problem+json``), the same in every service.

A use case never speaks HTTP: it raises a :class:`DomainError` (or a subclass a service defines, such as
``class ProblemNotFound(NotFound)``) and the edge turns it into a body like::

    {"type": "urn:lkg:problem:not_found", "title": "资源不存在", "status": 404, "code": "not_found",
     "detail": "问题单不存在", "instance": "/api/v1/problems/…", "correlation_id": "…"}

``code`` is the stable machine code clients branch on; ``title`` and ``detail`` are zh-CN text for people
and may be reworded at any time. Extra members (``errors`` for validation) sit beside the standard ones, as
RFC 9457 §3.2 allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from lkg.common import log as logmod

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: ``type`` is a URN built from the code: stable, and it does not pretend to be a page one can open.
PROBLEM_TYPE_PREFIX = "urn:lkg:problem:"

_logger = logmod.get_logger("lkg.http")


# ---- the body ------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One failed field of a request: where (``loc``) and why (``msg``, zh-CN where translated)."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """The OpenAPI description of every error body (RFC 9457 plus ``code`` and ``correlation_id``)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "description": "错误详情（RFC 9457 problem+json）/ Problem details (RFC 9457).",
            "example": {
                "type": "urn:lkg:problem:precondition_failed",
                "title": "资源已被他人修改",
                "status": 412,
                "code": "precondition_failed",
                "detail": "资源已被他人修改，请刷新后重试",
                "instance": "/api/v1/problems/0196c7e2-7a54-7cc4-9d1e-5c2f0b8f4d11/escalations",
                "correlation_id": "6f1c2b9a0e7d4c3f8a5b1d2e3f4a5b6c",
            },
        },
    )

    type: str = Field(description="问题类型 URI / problem type URI")
    title: str = Field(description="简要说明（中文）/ short summary (zh-CN)")
    status: int = Field(description="HTTP 状态码 / HTTP status code")
    code: str = Field(description="稳定的机器可读代码 / stable machine-readable code")
    detail: str | None = Field(default=None, description="具体说明（中文）/ explanation (zh-CN)")
    instance: str | None = Field(default=None, description="出错的请求路径 / request path")
    correlation_id: str | None = Field(default=None, description="关联 ID（X-Correlation-Id）")
    errors: list[FieldError] | None = Field(default=None, description="字段错误（仅校验失败）")


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document as a dict. Standard members win over ``extra`` members of the same name."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "code": code,
        "detail": detail if detail is not None else title,
        "instance": instance,
    }
    cid = logmod.correlation_id.get()
    if cid is not None:
        body["correlation_id"] = cid
    for name, value in (extra or {}).items():
        body.setdefault(name, value)
    return body


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A ``Response`` carrying the problem document (UTF-8 JSON, Chinese left readable)."""
    body = problem_body(status=status, code=code, title=title, detail=detail, instance=instance, extra=extra)
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


# ---- the errors use cases raise ------------------------------------------------------------------


class DomainError(Exception):
    """Base of every error a use case raises. Subclasses set ``code``, ``status`` and ``title``.

    ``detail`` is the zh-CN sentence for this occurrence (defaults to the title); ``extra`` adds members to
    the problem body (keep them free of personal data: bodies end up in client logs); ``code`` may be
    narrowed per raise (``NotFound("项目不存在", code="project_not_found")``) without a new class.
    """

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "请求无法处理"
    #: Response headers the error always carries (e.g. ``WWW-Authenticate`` on 401).
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> None:
        self.detail = detail if detail is not None else self.title
        self.extra: dict[str, Any] = dict(extra or {})
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may narrow the class's code
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class BadRequest(DomainError):
    code = "bad_request"
    status = 400
    title = "请求无法处理"


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 400
    title = "分页游标无效"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    title = "未登录或登录已失效"
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    """The caller may see the resource but not act on it. Hidden resources are 404 (lkg.common.access)."""

    code = "forbidden"
    status = 403
    title = "无权执行此操作"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "资源不存在"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "与当前状态冲突"


class PreconditionFailed(DomainError):
    code = "precondition_failed"
    status = 412
    title = "资源已被他人修改，请刷新后重试"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    title = "请求体过大"


class ValidationFailed(DomainError):
    """A request that is well-formed but breaks a rule (``errors`` lists the fields, like schema errors)."""

    code = "validation_failed"
    status = 422
    title = "请求参数校验失败"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, code=code, extra=extra)
        if errors:
            self.extra["errors"] = [dict(e) for e in errors]


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = "幂等键已用于另一个请求"


class PreconditionRequired(DomainError):
    code = "precondition_required"
    status = 428
    title = "缺少 If-Match 请求头"


class InternalError(DomainError):
    code = "internal_error"
    status = 500
    title = "服务器内部错误"


# ---- request validation, in Chinese where practical -------------------------------------------------

_ZH_MESSAGES: dict[str, str] = {
    "missing": "缺少必填项",
    "string_type": "必须是字符串",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多允许 {max_length} 项",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "必须大于或等于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "必须小于或等于 {le}",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_from_float": "必须是整数",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "decimal_type": "必须是数字",
    "decimal_parsing": "必须是数字",
    "decimal_max_digits": "数字位数过多（最多 {max_digits} 位）",
    "decimal_max_places": "小数位数过多（最多 {decimal_places} 位）",
    "bool_type": "必须是布尔值",
    "bool_parsing": "必须是布尔值",
    "uuid_type": "必须是 UUID",
    "uuid_parsing": "必须是 UUID",
    "date_type": "必须是日期（YYYY-MM-DD）",
    "date_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "必须是日期，不能带时间",
    "datetime_type": "必须是 ISO 8601 日期时间",
    "datetime_parsing": "必须是 ISO 8601 日期时间",
    "datetime_from_date_parsing": "必须是 ISO 8601 日期时间",
    "timezone_aware": "必须带时区偏移（如 +08:00）",
    "timezone_naive": "不能带时区偏移",
    "enum": "必须是以下值之一：{expected}",
    "literal_error": "必须是以下值之一：{expected}",
    "dict_type": "必须是对象",
    "model_type": "必须是对象",
    "model_attributes_type": "必须是对象",
    "list_type": "必须是数组",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "JSON 格式错误",
    "json_type": "JSON 格式错误",
    "url_parsing": "必须是有效的 URL",
    "url_type": "必须是有效的 URL",
}


def _zh_message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "value_error":
        # Validators raise ValueError with a Chinese sentence; pydantic prefixes "Value error, ".
        return str(error.get("msg", "")).removeprefix("Value error, ")
    template = _ZH_MESSAGES.get(kind)
    if template is None:
        return str(error.get("msg", ""))
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(error.get("msg", ""))


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic/FastAPI errors as ``[{loc, msg, type}]``; the input value is left out (personal data)."""
    out: list[dict[str, Any]] = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        out.append({"loc": loc, "msg": _zh_message(error), "type": str(error.get("type", ""))})
    return out


# ---- exception handlers --------------------------------------------------------------------------

#: Problems for Starlette's own HTTP errors (unknown route, wrong method, body too large, ...).
_HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求无法处理"),
    401: ("unauthenticated", "未登录或登录已失效"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    406: ("not_acceptable", "无法提供所请求的格式"),
    409: ("conflict", "与当前状态冲突"),
    412: ("precondition_failed", "资源已被他人修改，请刷新后重试"),
    413: ("payload_too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_failed", "请求参数校验失败"),
    428: ("precondition_required", "缺少 If-Match 请求头"),
    429: ("too_many_requests", "请求过于频繁"),
    503: ("service_unavailable", "服务暂不可用"),
}


def _instance(request: Request) -> str:
    return request.url.path


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        instance=_instance(request),
        extra=exc.extra,
        headers=exc.headers,
    )


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        status=422,
        code="validation_failed",
        title="请求参数校验失败",
        instance=_instance(request),
        extra={"errors": field_errors(exc.errors())},
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code, title = _HTTP_PROBLEMS.get(status, (f"http_{status}", _phrase(status)))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _phrase(status) else None
    if detail is not None and detail.isascii():
        # Framework defaults are English sentences ("Not Found"); the body stays zh-CN.
        detail = None
    headers = exc.headers
    if status == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(
        status=status, code=code, title=title, detail=detail, instance=_instance(request), headers=headers
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path: Starlette answers 405 from the first route whose
    path matched, and FastAPI makes one route per method, so its ``Allow`` would list one of them."""
    from starlette.routing import Match

    scope = {**request.scope, "method": "__any__"}
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    """Last resort: log the error with the correlation id, answer 500 without a stack trace."""
    _logger.error(
        "unhandled_error",
        path=request.url.path,
        error=type(exc).__name__,
        correlation_id=logmod.correlation_id.get(),
        exc_info=exc,
    )
    return internal_error_response(request.url.path)


def internal_error_response(instance: str | None) -> Response:
    return problem_response(
        status=500,
        code=InternalError.code,
        title=InternalError.title,
        detail="服务器内部错误，请稍后重试；如持续出现，请提供关联 ID 联系管理员",
        instance=instance,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)
