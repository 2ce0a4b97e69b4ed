"""The ``POST /{id}/<verb>`` action routes of matters and red cards: load what the caller sees (404
otherwise), check ``If-Match`` against its revision, run one use case in the unit of work, answer the
result with its new ETag."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for
from lkg.issues.access import Caller
from lkg.issues.deps import CallerDep, Runtime, UnitOfWork

#: The outcomes every action route may answer besides 200.
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "可见但无权执行 / visible but not allowed"},
    404: {"description": "不存在或不可见 / not found or not visible"},
    409: {"description": "状态不允许 / not allowed in this state"},
    412: {"description": "已被他人修改 / changed by someone else"},
    428: {"description": "缺少 If-Match / If-Match required"},
}


def add_action(
    router: APIRouter,
    *,
    path: str,
    param: str,
    name: str,
    body: type[BaseModel] | None,
    summary: str,
    load: Callable[[AsyncSession, UUID, Caller], Awaitable[Any]],
    use_case: Callable[..., Awaitable[Any]],
    render: Callable[[AsyncSession, Any], Awaitable[JSONResponse]],
    response_model: type[BaseModel],
) -> None:
    """``POST {path}`` (``{param}`` the thing's id) on ``router``: ``use_case(session, runtime, caller, thing,
    expected_revision=…, **body)`` on the thing ``load`` finds for the caller, answered by ``render``."""

    async def act(**kwargs: Any) -> JSONResponse:
        session, caller, body_in = kwargs["session"], kwargs["caller"], kwargs.get("body")
        thing = await load(session, kwargs[param], caller)
        check_if_match(kwargs["if_match"], etag_for(thing.id, thing.revision))
        fields = body_in.model_dump() if body_in is not None else {}
        thing = await use_case(
            session, kwargs["runtime"], caller, thing, expected_revision=thing.revision, **fields
        )
        return await render(session, thing)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(param, keyword, annotation=UUID),
        *([inspect.Parameter("body", keyword, annotation=body)] if body is not None else []),
        inspect.Parameter("session", keyword, annotation=UnitOfWork),
        inspect.Parameter("runtime", keyword, annotation=Runtime),
        inspect.Parameter("caller", keyword, annotation=CallerDep),
        inspect.Parameter("if_match", keyword, annotation=IfMatch, default=None),
    ]
    act.__signature__ = inspect.Signature(parameters, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    act.__name__ = name
    router.add_api_route(
        path,
        act,
        methods=["POST"],
        response_model=response_model,
        summary=summary,
        responses=ACTION_RESPONSES,
    )
