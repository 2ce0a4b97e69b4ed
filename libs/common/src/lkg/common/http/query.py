"""Unknown query parameters are refused (422), as unknown body fields are (``extra="forbid"``).

Why: a filter whose name is misspelt (``?stat=issued``, ``?projectid=…``) would otherwise be ignored and the
caller would get the unfiltered list — the wrong red cards, every plan of a department, the whole district's
problems in an export — with a 200 that looks right. A route admits exactly the query parameters its OpenAPI
document declares, and the answer names the ones it does not know.

A parameter that takes one value (every one that is not a list) given twice (``?cursor=a&cursor=b``) is
refused too (422 ``repeated_query_parameter``): the framework would silently keep the last one, so a client
that built the query wrong would get an answer to a question it did not ask.

Used as a router dependency (``APIRouter(dependencies=[StrictQuery])``): it takes only the request, so it
adds nothing to the document; the parameters a route declares are read from the route FastAPI matched. The
apps :func:`~lkg.common.http.app.create_http_app` builds serve such a router's routes as
:class:`StrictQueryRoute`, which makes the same check itself instead of having it solved as a dependency.
"""

from __future__ import annotations

import collections.abc
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from lkg.common.http.problems import ValidationFailed

#: Per route: (every declared query parameter, the ones that take a single value).
_DECLARED: dict[int, tuple[frozenset[str], frozenset[str]]] = {}

_SEQUENCES = (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set)


def _takes_many(annotation: Any) -> bool:
    """Whether a query parameter of this type takes several values (``list[str]``, ``list[X] | None``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in _SEQUENCES or annotation in _SEQUENCES


def _query_params(dependant: Dependant) -> dict[str, bool]:
    """Every query parameter ``dependant`` and its sub-dependencies declare, and whether it takes many."""
    names: dict[str, bool] = {}
    for field in dependant.query_params:
        annotation: Any = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query parameter model (``Annotated[Filters, Query()]``): its fields are the parameters.
            for name, f in annotation.model_fields.items():
                names[f.alias or name] = _takes_many(f.annotation)
        else:
            names[field.alias] = _takes_many(annotation)
    for sub in dependant.dependencies:
        names.update(_query_params(sub))
    return names


def _declared(route: Any) -> tuple[frozenset[str], frozenset[str]]:
    key = id(route)
    if key not in _DECLARED:
        dependant = getattr(route, "dependant", None)
        params = _query_params(dependant) if dependant is not None else {}
        _DECLARED[key] = (frozenset(params), frozenset(name for name, many in params.items() if not many))
    return _DECLARED[key]


def declared_query(route: Any) -> frozenset[str]:
    """The query parameter names ``route`` declares (computed once per route)."""
    return _declared(route)[0]


def _refused(detail: str, code: str, msg: str, kind: str, names: list[str]) -> ValidationFailed:
    errors = [{"loc": ["query", name], "msg": msg, "type": kind} for name in names]
    return ValidationFailed(detail, code=code, errors=errors)


def refuse_query(route: Any, given: QueryParams) -> None:
    """422 ``unknown_query_parameter`` naming each query parameter ``route`` does not declare, then 422
    ``repeated_query_parameter`` naming each single-valued one given more than once."""
    declared, single = _declared(route)
    unknown = sorted(set(given.keys()) - declared)
    if unknown:
        detail, code = "请求包含未定义的查询参数", "unknown_query_parameter"
        raise _refused(detail, code, "未定义的查询参数", "extra_forbidden", unknown)
    if len(given.multi_items()) == len(given):
        return  # no name given twice
    repeated = sorted(name for name in single if len(given.getlist(name)) > 1)
    if repeated:
        detail, code = "查询参数只能给出一次", "repeated_query_parameter"
        raise _refused(detail, code, "该查询参数只接受一个值", "repeated", repeated)


async def refuse_unknown_query(request: Request) -> None:
    """The check as a dependency: on the route FastAPI matched, when the request has a query string."""
    route = request.scope.get("route")
    if route is not None and request.scope.get("query_string"):
        refuse_query(route, request.query_params)


class StrictQueryRoute(APIRoute):
    """A route that makes :data:`StrictQuery`'s check itself, first, as the dependency would (before any
    parameter is read), but without FastAPI solving a dependency on every request: that cost a small
    route about a fifth of its time. :func:`lkg.common.http.app.create_http_app` serves the routes of a
    ``StrictQuery`` router through it. A request whose method the route does not take is left to the route
    (405), as it was."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string")
        if query and (not self.methods or scope["method"] in self.methods):
            refuse_query(self, QueryParams(query))
        await super().handle(scope, receive, send)


def without_strict_query(dependencies: Sequence[Any]) -> list[Any] | None:
    """``dependencies`` without :data:`StrictQuery`, or ``None`` when it is not among them."""
    kept = [d for d in dependencies if getattr(d, "dependency", None) is not refuse_unknown_query]
    return kept if len(kept) < len(dependencies) else None


StrictQuery = Depends(refuse_unknown_query)
