"""Unknown query parameters are refused (422), as unknown body fields are (``extra="forbid"``).

Why: a filter whose name is misspelt (``?stat=issued``, ``?projectid=…``) would otherwise be ignored and the
caller would get the unfiltered list — the wrong red cards, every plan of a department, the whole district's
problems in an export — with a 200 that looks right. A route admits exactly the query parameters its OpenAPI
document declares, and the answer names the ones it does not know.

Used as a router dependency (``APIRouter(dependencies=[StrictQuery])``): it takes only the request, so it
adds nothing to the document; the parameters a route declares are read from the route FastAPI matched.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel

from lkg.common.http.problems import ValidationFailed

_DECLARED: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    """Names of every query parameter ``dependant`` and its sub-dependencies declare."""
    names: set[str] = set()
    for field in dependant.query_params:
        annotation: Any = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query parameter model (``Annotated[Filters, Query()]``): its fields are the parameters.
            names.update(f.alias or name for name, f in annotation.model_fields.items())
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def declared_query(route: Any) -> frozenset[str]:
    """The query parameter names ``route`` declares (computed once per route)."""
    key = id(route)
    if key not in _DECLARED:
        dependant = getattr(route, "dependant", None)
        _DECLARED[key] = frozenset(_query_names(dependant)) if dependant is not None else frozenset()
    return _DECLARED[key]


async def refuse_unknown_query(request: Request) -> None:
    """422 ``unknown_query_parameter`` naming each query parameter the matched route does not declare."""
    route = request.scope.get("route")
    if route is None:
        return
    unknown = sorted(set(request.query_params.keys()) - declared_query(route))
    if unknown:
        raise ValidationFailed(
            "请求包含未定义的查询参数",
            code="unknown_query_parameter",
            errors=[
                {"loc": ["query", name], "msg": "未定义的查询参数", "type": "extra_forbidden"}
                for name in unknown
            ],
        )


StrictQuery = Depends(refuse_unknown_query)
