"""Route builders of the issues service: creates that honour ``Idempotency-Key``, and the
``POST /{id}/<verb>`` action routes of matters and red cards: load what the caller sees (404
otherwise), check ``If-Match`` against its revision, run one use case in the unit of work, answer the
result with its new ETag."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for
from lkg.common.http.idempotency import idempotent_create
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


def route_signature(route: Callable[..., Any], name: str, **parameters: Any) -> None:
    """Give ``route`` (a ``**kwargs`` function) the name and keyword parameters FastAPI reads: each an
    annotation, or (annotation, default)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    route.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(p, keyword, annotation=a[0], default=a[1])
            if isinstance(a, tuple)
            else inspect.Parameter(p, keyword, annotation=a)
            for p, a in parameters.items()
        ]
    )
    route.__name__ = name


async def create_once(
    request: Request,
    session: AsyncSession,
    caller: Caller,
    key: str | None,
    body_hash: str,
    create: Callable[[], Awaitable[Response]],
) -> Response:
    """Run ``create`` once per ``Idempotency-Key`` of the caller: a retry with the same key and request gets
    the first answer again (:func:`lkg.common.http.idempotency.idempotent_create`), committed with it."""
    return await idempotent_create(
        session,
        principal=caller.principal.key,
        key=key,
        method="POST",
        path=request.url.path,
        request_hash=body_hash,
        create=create,
    )


@dataclass(frozen=True)
class Actions:
    """The action routes ``POST {base}/<verb>`` of one kind of thing on ``router`` (``{param}`` in ``base``
    is its id): each runs ``use_case(session, runtime, caller, thing, expected_revision=…, **body)`` on the
    thing ``load`` finds for the caller (404 otherwise) once ``If-Match`` matches its revision, in the unit
    of work, and answers with ``render``."""

    router: APIRouter
    base: str
    param: str
    name: str
    load: Callable[[AsyncSession, UUID, Caller], Awaitable[Any]]
    render: Callable[[AsyncSession, Any], Awaitable[JSONResponse]]
    response_model: type[BaseModel]

    def __call__(
        self, verb: str, body: type[BaseModel] | None, summary: str, use_case: Callable[..., Awaitable[Any]]
    ) -> None:
        load, render, param = self.load, self.render, self.param

        async def act(**kwargs: Any) -> JSONResponse:
            session, caller, body_in = kwargs["session"], kwargs["caller"], kwargs.get("body")
            thing = await load(session, kwargs[param], caller)
            check_if_match(kwargs["if_match"], etag_for(thing.id, thing.revision))
            fields = body_in.model_dump() if body_in is not None else {}
            thing = await use_case(
                session, kwargs["runtime"], caller, thing, expected_revision=thing.revision, **fields
            )
            return await render(session, thing)

        bodies: dict[str, Any] = {"body": body} if body is not None else {}
        route_signature(
            act,
            f"{self.name}_{verb.replace('-', '_')}",
            **{param: UUID},
            **bodies,
            session=UnitOfWork,
            runtime=Runtime,
            caller=CallerDep,
            if_match=(IfMatch, None),
        )
        self.router.add_api_route(
            f"{self.base}/{verb}",
            act,
            methods=["POST"],
            response_model=self.response_model,
            summary=summary,
            responses=ACTION_RESPONSES,
        )
