"""The ``POST /{id}/<verb>`` action routes every service has: load what the caller sees (404 otherwise),
check ``If-Match`` against its revision (428 / 412), run one use case in the unit of work, answer the result
with its new ``ETag``.

A service builds one :class:`ActionRoutes` per kind of thing, with its own dependency aliases, and adds one
route per verb::

    actions = ActionRoutes(
        router=r, base="/{matter_id}", param="matter_id", name="problem",
        load=service.get_matter_for, render=render_matter, response_model=MatterOut,
        session=UnitOfWork, runtime=Runtime, caller=CallerDep,
    )
    actions("accept", AcceptBody, "受理 Accept", service.accept)

The route calls ``use_case(session, runtime, caller, thing, expected_revision=thing.revision, **body)``.
``load`` decides visibility before anything else is looked at, so a thing the caller may not see answers
exactly the 404 of a thing that does not exist (docs/architecture.md, "The caller").
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for

C = TypeVar("C")
T = TypeVar("T")

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
    signature = inspect.Signature(
        [
            inspect.Parameter(p, keyword, annotation=a[0], default=a[1])
            if isinstance(a, tuple)
            else inspect.Parameter(p, keyword, annotation=a)
            for p, a in parameters.items()
        ]
    )
    route.__signature__ = signature  # type: ignore[attr-defined]
    route.__name__ = name


def _id_and_revision(thing: Any) -> tuple[Any, int]:
    return thing.id, thing.revision


@dataclass(frozen=True)
class ActionRoutes(Generic[C, T]):
    """The action routes ``POST {base}/<verb>`` of one kind of thing on ``router`` (``{param}`` in ``base``
    is its id). ``session``, ``runtime`` and ``caller`` are the service's ``Annotated`` aliases (the session
    one must be the unit of work: the route does not commit). ``version`` gives the thing's id and
    revision for its ETag (default: ``thing.id``, ``thing.revision``)."""

    router: APIRouter
    base: str
    param: str
    name: str
    load: Callable[[AsyncSession, UUID, C], Awaitable[T]]
    render: Callable[[AsyncSession, T], Awaitable[Response]]
    response_model: type[BaseModel]
    session: Any
    runtime: Any
    caller: Any
    version: Callable[[T], tuple[Any, int]] = _id_and_revision

    def __call__(
        self,
        verb: str,
        body: type[BaseModel] | None,
        summary: str,
        use_case: Callable[..., Awaitable[T]],
        *,
        description: str | None = None,
    ) -> None:
        load, render, param, version = self.load, self.render, self.param, self.version

        async def act(**kwargs: Any) -> Response:
            session, caller, body_in = kwargs["session"], kwargs["caller"], kwargs.get("body")
            thing = await load(session, kwargs[param], caller)
            thing_id, revision = version(thing)
            check_if_match(kwargs["if_match"], etag_for(thing_id, revision))
            fields = body_in.model_dump() if body_in is not None else {}
            thing = await use_case(
                session, kwargs["runtime"], caller, thing, expected_revision=revision, **fields
            )
            return await render(session, thing)

        bodies: dict[str, Any] = {"body": body} if body is not None else {}
        route_signature(
            act,
            f"{self.name}_{verb.replace('-', '_')}",
            **{param: UUID},
            **bodies,
            session=self.session,
            runtime=self.runtime,
            caller=self.caller,
            if_match=(IfMatch, None),
        )
        self.router.add_api_route(
            f"{self.base}/{verb}",
            act,
            methods=["POST"],
            response_model=self.response_model,
            summary=summary,
            description=description,
            responses=ACTION_RESPONSES,
        )
