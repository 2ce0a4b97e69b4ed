"""Real ids for the fuzzing (issue #11 item 14): what a seeded deployment holds, fed into generated cases.

A generated id (a random UUID, a made-up code) finds nothing, so every route behind an id answers 404 and
its handler is never reached. :func:`crawl` reads a running deployment the way an integrator would: every
``GET`` of its OpenAPI document that needs no id, then every ``GET`` whose ids it has found, and keeps
each ``id`` it sees with the path parameters it was found under (a milestone with its project, an
attachment with its matter). :meth:`IdPool.fill` then swaps real ids into a generated case — its path
parameters, and the query parameters and top-level body fields named like an id (``project_id``) — for
most cases, chosen from the case itself so that a run is reproducible; the rest keep their generated
value and still meet the 404. Only parts generated as valid data are touched: a part meant to be invalid
must stay invalid.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

_PARAM = re.compile(r"\{([^}]+)\}")

#: Per path-parameter combination at most this many concrete URLs are read in the second round.
FOLLOW_PER_PATH = 4
#: Fields other than ``*_id`` that path parameters take.
NAMED_VALUES = frozenset({"project_code", "version", "month", "number", "kind", "period"})
#: Out of 4 cases, this many get real ids (the others keep what was generated).
REAL_SHARE = 3


@dataclass(frozen=True)
class Found:
    value: Any
    #: The path parameters the value was found under (``{"project_id": ...}`` for a milestone).
    context: tuple[tuple[str, Any], ...] = ()


@dataclass
class IdPool:
    #: "id"s of the objects a list (or a detail) path answers, keyed by that path's template.
    by_path: dict[str, list[Found]] = field(default_factory=lambda: defaultdict(list))
    #: Values by field name: ``project_id``, ``milestone_id`` (an "id" inside ``milestones``), ...
    by_name: dict[str, list[Found]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0

    # ---- what a path parameter may take ------------------------------------------------------------

    def candidates(self, template: str, name: str) -> list[Found]:
        """Real values for ``{name}`` in ``template``: the ids of the list the parameter indexes (the
        path before it), else any value found under that name."""
        prefix = template[: template.index("{" + name + "}")].rstrip("/")
        out = list(self.by_path.get(prefix, ()))
        out += self.by_name.get(name, [])
        seen: set[Any] = set()
        unique = []
        for found in out:
            key = (repr(found.value), found.context)
            if key not in seen:
                seen.add(key)
                unique.append(found)
        return unique

    # ---- filling a case ----------------------------------------------------------------------------------

    def fill(self, case: Any) -> bool:
        """Swap real values into ``case`` (a schemathesis Case); True when something was swapped."""
        from schemathesis.core.parameters import ParameterLocation

        meta = case.meta
        chooser = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
        if chooser % 4 >= REAL_SHARE:
            return False

        def valid(location: ParameterLocation) -> bool:
            return meta is None or not meta.is_negative_at(location)

        changed = False
        template = case.operation.path
        names = _PARAM.findall(template)
        if names and valid(ParameterLocation.PATH):
            params = dict(case.path_parameters or {})
            # A value found under the parameter's name may not be one the parameter takes (a report's
            # ``month`` 5 for a ranking's ``{month}`` 2020-05): only what fits its schema is swapped in, so
            # a case that is positive stays positive.
            declared = {p.name: p for p in case.operation.path_parameters}
            # The most specific parameter first: its context fixes the ones before it (a milestone's project).
            fixed: dict[str, Any] = {}
            for name in reversed(names):
                if name in fixed:
                    params[name] = fixed[name]
                    continue
                options = [
                    f
                    for f in self.candidates(template, name)
                    if _fits(f.context, fixed) and (name not in declared or _takes(declared[name], f.value))
                ]
                if not options:
                    continue
                found = options[chooser % len(options)]
                params[name] = found.value
                fixed.update(found.context)
            if params != case.path_parameters:
                case.path_parameters = params
                changed = True
        if case.query and valid(ParameterLocation.QUERY):
            query = dict(case.query)
            for name, value in case.query.items():
                options = self.by_name.get(name, [])
                if options and isinstance(value, str):
                    query[name] = str(options[chooser % len(options)].value)
            if query != case.query:
                case.query = query
                changed = True
        if isinstance(case.body, dict) and valid(ParameterLocation.BODY):
            body = dict(case.body)
            for name, value in case.body.items():
                options = self.by_name.get(name, [])
                if options and name.endswith("_id") and isinstance(value, str):
                    body[name] = str(options[chooser % len(options)].value)
            if body != case.body:
                case.body = body
                changed = True
        return changed


def _takes(parameter: Any, value: Any) -> bool:
    """Whether a path parameter's schema admits ``value`` as it goes into the URL (as it is, or as text)."""
    return bool(parameter.is_valid(value) or parameter.is_valid(str(value)))


def _fits(context: tuple[tuple[str, Any], ...], fixed: dict[str, Any]) -> bool:
    return all(fixed.get(k, v) == v for k, v in context)


def crawl(base_url: str, headers: dict[str, str], document: dict[str, Any], *, timeout: float = 30) -> IdPool:
    """Read every ``GET`` of ``document`` on the deployment at ``base_url``, twice (see the module)."""
    pool = IdPool()
    gets = [
        (path, operation)
        for path, methods in document["paths"].items()
        if (operation := methods.get("get")) is not None and _answers_json(operation)
    ]
    with requests.Session() as session:
        session.headers.update(headers)
        for path, operation in gets:
            if not _PARAM.search(path):
                _read(session, pool, base_url, path, {}, operation, timeout)
        for path, operation in gets:
            names = _PARAM.findall(path)
            if not names:
                continue
            combos = _combinations(pool, path, names)
            for params in combos[:FOLLOW_PER_PATH]:
                _read(session, pool, base_url, path, params, operation, timeout)
    return pool


def _combinations(pool: IdPool, path: str, names: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last = names[-1]
    for found in pool.candidates(path, last):
        params = {last: found.value, **dict(found.context)}
        missing = [n for n in names if n not in params]
        choices = [[f.value for f in pool.candidates(path, n)[:2]] for n in missing]
        for values in itertools.product(*choices):
            out.append({**params, **dict(zip(missing, values, strict=True))})
        if len(out) >= FOLLOW_PER_PATH:
            break
    return out


def _answers_json(operation: dict[str, Any]) -> bool:
    ok = operation.get("responses", {}).get("200", {})
    return "application/json" in (ok.get("content") or {})


def _read(
    session: requests.Session,
    pool: IdPool,
    base_url: str,
    template: str,
    params: dict[str, Any],
    operation: dict[str, Any],
    timeout: float,
) -> None:
    query_names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    required = [p for p in operation.get("parameters", []) if p.get("in") == "query" and p.get("required")]
    if required:
        return  # a list that needs a filter the crawler cannot guess
    url = base_url + _PARAM.sub(lambda m: str(params[m.group(1)]), template)
    query = {"limit": 100} if "limit" in query_names else {}
    pool.requests += 1
    response = session.get(url, params=query, timeout=timeout)
    if response.status_code != 200:
        return
    context = tuple(sorted(params.items()))
    _collect(pool, template, response.json(), context, list_name=None, top=True)


def _collect(
    pool: IdPool,
    template: str,
    node: Any,
    context: tuple[tuple[str, Any], ...],
    list_name: str | None,
    top: bool,
) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(pool, template, item, context, list_name, top)
        return
    if not isinstance(node, dict):
        return
    own = node.get("id")
    if isinstance(own, (str, int)) and not isinstance(own, bool):
        if top:
            pool.by_path[template].append(Found(own, context))
        if list_name:
            pool.by_name[_singular(list_name) + "_id"].append(Found(own, context))
    for key, value in node.items():
        scalar = isinstance(value, (str, int)) and not isinstance(value, bool)
        if scalar and (key.endswith("_id") or key in NAMED_VALUES):
            pool.by_name[key].append(Found(value))
        elif isinstance(value, (list, dict)):
            # "items" of a page are the page's own objects; any other list names what it holds.
            nested_top = top and key == "items"
            inner = list_name if key == "items" else key
            _collect(pool, template, value, context, inner, nested_top)


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") else name


def resource_etag(base_url: str, headers: dict[str, str], document: dict[str, Any], case: Any) -> str | None:
    """The current ``ETag`` of the resource an update or action of ``case`` acts on: read from the
    ``GET`` of the longest prefix of its path that ends with an id (``/problems/{matter_id}`` for
    ``/problems/{matter_id}/acceptance``); ``None`` when there is no such ``GET`` or it finds nothing."""
    path = case.operation.path
    for end in sorted((m.end() for m in _PARAM.finditer(path)), reverse=True):
        prefix = path[:end]
        if "get" not in document["paths"].get(prefix, {}):
            continue
        try:
            url = base_url + _PARAM.sub(lambda m: str(case.path_parameters[m.group(1)]), prefix)
        except KeyError:
            return None
        response = requests.get(url, headers=headers, timeout=30)
        return response.headers.get("ETag") if response.status_code == 200 else None
    return None
