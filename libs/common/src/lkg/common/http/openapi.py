"""The OpenAPI document as integrators generate clients from it (issue #11 item 26).

FastAPI's document is close, but three of its defaults break client generators such as
``openapi-python-client`` on the one-process document:

- two services' models with one class name (``ClockOut`` in approvals and issues) become
  ``lkg__issues__matters__schemas__ClockOut``, and a model that validates differently from how it
  serialises becomes ``RuleBook-Input`` / ``RuleBook-Output``; generators cannot resolve or name these.
  :func:`rename_schemas` gives every such schema a plain, platform-unique name: the service's name before
  the class name (``IssuesClockOut``, ``ApprovalsClockOut``) and the mode spelled out (``RuleBookInput``).
  A name no other service shares stays as it is, so a service's own document (the pod shape) keeps its
  short names; a name two services share is prefixed in the one-process document only.
- ``operationId`` is the function name glued to the path and method (``units_api_v1_org_units_get``),
  which changes with the path and reads badly. :func:`assign_operation_ids` makes it
  ``<service>_<function>`` (``registry_list_projects``), the same in every shape; where one service has
  two routes with one function name (the issues service serves problems and meeting matters from one
  set of handlers), the path's last or first fixed segment tells them apart (``issues_list_matters_problems``,
  ``issues_list_matters_meeting_matters``). A route that names its own ``operation_id`` keeps it.
- a download with no schema (a ledger, an attachment) is declared as binary, an event stream as text,
  and an operation with no docstring is described by its summary (which is Chinese and English already).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lkg.common.http.concurrency import OPTIONAL_IF_MATCH

REF_PREFIX = "#/components/schemas/"

#: pydantic's disambiguated form: module path and class joined by ``__``, e.g. ``lkg__issues__schemas__X``.
_QUALIFIED = re.compile(r"^(?P<module>[A-Za-z0-9_]+?)__(?P<cls>[A-Za-z0-9_]+)$")
_MODE = re.compile(r"^(?P<base>.+)-(?P<mode>Input|Output)$")
_WORD = re.compile(r"[^A-Za-z0-9]+")


class OpenApiNameError(RuntimeError):
    """Two schemas or operations would get one name: the document would be ambiguous."""


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in _WORD.split(text) if part)


def _snake(text: str) -> str:
    return "_".join(part.lower() for part in _WORD.split(text) if part)


def _plain_name(name: str) -> list[str]:
    """Candidate plain names for a schema name, shortest first."""
    mode = ""
    found = _MODE.match(name)
    if found:
        name, mode = found["base"], found["mode"]
    if "__" not in name:
        return [f"{name}{mode}"]
    *module, cls = name.split("__")
    if module and module[0] == "lkg":
        module = module[1:]  # lkg__issues__matters__schemas → issues, matters, schemas
    module = [part for part in module if part not in {"schemas", "models", "api"}]
    # The service first, then more of the module path while names still collide.
    return [_pascal("_".join(module[:n])) + cls + mode for n in range(1, len(module) + 1)] or [cls + mode]


def rename_schemas(schema: dict[str, Any]) -> dict[str, str]:
    """Rename the components generators cannot use; rewrite every ``$ref``. Returns the renames."""
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    if not components:
        return {}
    taken = {name for name in components if "__" not in name and not _MODE.match(name)}
    renames: dict[str, str] = {}
    for name in sorted(components):
        if name in taken and name not in renames:
            continue
        candidates = _plain_name(name)
        chosen = next((c for c in candidates if c not in taken), None)
        if chosen is None:
            raise OpenApiNameError(f"no platform-unique name for schema {name!r} (tried {candidates})")
        taken.add(chosen)
        renames[name] = chosen
    if not renames:
        return {}
    schema["components"]["schemas"] = {renames.get(k, k): v for k, v in components.items()}
    for new in renames.values():
        # Generators name the class after the title (the class name, shared by both): the new name it is.
        schema["components"]["schemas"][new]["title"] = new
    refs = {REF_PREFIX + old: REF_PREFIX + new for old, new in renames.items()}
    _rewrite_refs(schema, refs)
    return renames


def _rewrite_refs(node: Any, refs: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        for value in node.values():
            _rewrite_refs(value, refs)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, refs)


@dataclass(frozen=True)
class RouteName:
    """What the app knows of an operation: the function's name, and an id the route set itself."""

    name: str
    operation_id: str | None = None


def _static_segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s and not s.startswith("{") and s not in {"api", "v1"}]


def assign_operation_ids(schema: dict[str, Any], routes: Mapping[tuple[str, str], RouteName]) -> None:
    """Set every operation's ``operationId`` to ``<tag>_<function>`` (see the module docstring)."""
    wanted: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for path, method, operation in _operations(schema):
        route = routes.get((path, method))
        if route is not None and route.operation_id:
            operation["operationId"] = route.operation_id
            continue
        tag = _snake((operation.get("tags") or ["api"])[0])
        name = route.name if route is not None else operation.get("operationId", method)
        base = f"{tag}_{_snake(name)}"
        wanted[base].append((path, method, operation))
    for base, operations in wanted.items():
        if len(operations) == 1:
            operations[0][2]["operationId"] = base
            continue
        for path, method, operation in operations:
            operation["operationId"] = _tie_break(base, path, method, [(p, m) for p, m, _ in operations])
    seen: dict[str, str] = {}
    for path, method, operation in _operations(schema):
        where = f"{method.upper()} {path}"
        first = seen.setdefault(operation["operationId"], where)
        if first != where:
            raise OpenApiNameError(f"operationId {operation['operationId']!r} of {first} and of {where}")


def _tie_break(base: str, path: str, method: str, group: list[tuple[str, str]]) -> str:
    """A suffix that tells ``path`` apart from the others of its group: the last fixed segment, else the
    first (the collection), else all fixed segments, else these and the method."""

    def last(p: str) -> str:
        return _snake((_static_segments(p) or ["root"])[-1])

    def first(p: str) -> str:
        return _snake((_static_segments(p) or ["root"])[0])

    def every(p: str) -> str:
        return _snake("_".join(_static_segments(p)))

    for suffix in (last, first, every):
        if len({suffix(p) for p, _ in group}) == len(group):
            return f"{base}_{suffix(path)}"
    return f"{base}_{every(path)}_{method}"


def _operations(schema: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


BINARY = {"type": "string", "format": "binary"}


def describe_operations(schema: dict[str, Any]) -> None:
    """Binary downloads as binary, event streams as text, and a description on every operation."""
    for _, _, operation in _operations(schema):
        if not operation.get("description") and operation.get("summary"):
            operation["description"] = operation["summary"]
        for response in operation.get("responses", {}).values():
            for media_type, content in (response.get("content") or {}).items():
                if content.get("schema") or "json" in media_type:
                    continue
                if media_type.startswith("text/"):
                    content["schema"] = {"type": "string"}
                else:
                    content["schema"] = dict(BINARY)


def require_if_match(schema: dict[str, Any]) -> None:
    """An ``If-Match`` header (``IfMatch``) is required wherever it is declared: the update or action checks
    it (``check_if_match``: missing → 428, stale → 412), although the route declares it optional so that a
    missing one is a 428 rather than a 422. The document says so, and lists both answers. A route that
    checks it only when given declares ``OptionalIfMatch`` and stays optional."""
    problem = {"$ref": "#/components/responses/Problem"}
    for _, _, operation in _operations(schema):
        headers = [p for p in operation.get("parameters", []) if p.get("in") == "header"]
        if_match = [p for p in headers if p.get("name", "").lower() == "if-match"]
        optional = [p.get("schema", {}).pop(OPTIONAL_IF_MATCH, False) for p in if_match]
        for parameter in if_match:
            parameter["required"] = not any(optional)  # OptionalIfMatch: checked only when given
            # FastAPI writes the optional type as anyOf [string, null]: a header is never null.
            options = [o for o in parameter.get("schema", {}).get("anyOf", []) if o.get("type") != "null"]
            if len(options) == 1:
                parameter["schema"].pop("anyOf")
                parameter["schema"].update(options[0])
        if if_match:
            operation["responses"].setdefault("412", problem)
            if not any(optional):
                operation["responses"].setdefault("428", problem)


def finish_for_integrators(schema: dict[str, Any], routes: Mapping[tuple[str, str], RouteName]) -> None:
    rename_schemas(schema)
    assign_operation_ids(schema, routes)
    describe_operations(schema)
    require_if_match(schema)
