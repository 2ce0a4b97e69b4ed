"""Published JSON schemas of the event contracts, and the rule that keeps them compatible (docs/events.md).

Streams are retained from the start, so a consumer built today replays messages written under every
earlier shape of a contract, and during a rolling deploy an old consumer reads what a new producer writes.
A contract may therefore only grow: a new optional field is fine; removing a field, changing a field's
type, making an optional field required, adding a required field, or removing an enum value is not — that
is a new version (``version = 2``, a new class, both published side by side).

The published schemas are checked in (``libs/common/tests/contract_schemas/``, one file per type and
version) and the contract test compares the current contracts with them::

    python -m lkg.common.events.schemas --write libs/common/tests/contract_schemas   # publish
    python -m lkg.common.events.schemas --check libs/common/tests/contract_schemas   # CI

``--write`` refuses to overwrite a published schema with an incompatible one.

The schema is pydantic's *serialization* schema: what goes on the wire (money as strings, derived fields
such as ``above_100m`` present). Descriptions and titles are documentation and never affect compatibility.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from lkg.common.events.base import Event, contract_registry

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_FROM = "x-resolved-from"  # marks a node reached through a $ref, so each definition pair is compared once


def schema_filename(event_type: str, version: int) -> str:
    """``problem.escalated`` v1 → ``problem.escalated.v1.json``."""
    return f"{event_type}.v{version}.json"


def published_schema(contract: type[Event]) -> dict[str, Any]:
    """The JSON schema of one contract as it is published: the wire shape plus its identity."""
    return json.loads(published_text(contract))


@cache  # contract classes do not change while a process runs, and generating a schema is not free
def published_text(contract: type[Event]) -> str:
    """The published schema file's content for one contract."""
    schema = contract.model_json_schema(mode="serialization")
    return render(
        {
            "$schema": SCHEMA_DIALECT,
            "$id": f"urn:lkg:event:{contract.event_type}:v{contract.version}",
            "x-lkg-event": {
                "type": contract.event_type,
                "version": contract.version,
                "producer": contract.producer,
                "subject": contract.subject(),
            },
            **schema,
        }
    )


def current_texts() -> dict[str, str]:
    """File name → file content, for every contract defined now."""
    return {
        schema_filename(event_type, version): published_text(contract)
        for (event_type, version), contract in sorted(contract_registry().items())
    }


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name → published schema, for every contract defined now."""
    return {name: json.loads(text) for name, text in current_texts().items()}


def render(schema: dict[str, Any]) -> str:
    """The file content: stable key order, readable Chinese, a final newline (clean diffs)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_published(directory: Path) -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    }


def check_directory(directory: Path) -> list[str]:
    """Every reason the current contracts break the published ones in ``directory`` (empty: all good).

    A published schema with no current contract is a break too: the stream still holds its messages.
    """
    published = load_published(directory)
    current = current_schemas()
    reasons: list[str] = []
    for name, old in published.items():
        if name not in current:
            reasons.append(f"{name}: published contract no longer defined")
            continue
        reasons.extend(f"{name}: {reason}" for reason in check_compatible(old, current[name]))
    return reasons


def unpublished(directory: Path) -> list[str]:
    """Files that are missing or differ from the current contracts (compatible or not): run ``--write``."""
    published = load_published(directory)
    return [name for name, schema in current_schemas().items() if published.get(name) != schema]


def dump_schemas(directory: Path, *, force: bool = False) -> list[Path]:
    """Write every current contract's schema into ``directory``; returns the files written or rewritten.

    Raises :class:`IncompatibleSchema` rather than overwrite a published schema incompatibly, unless
    ``force`` (only for a contract nobody has consumed yet). Published files of contracts that no longer
    exist are left in place, so ``--check`` keeps reporting them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not force:
        reasons = check_directory(directory)
        if reasons:
            raise IncompatibleSchema(reasons)
    written = []
    for name, text in current_texts().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


class IncompatibleSchema(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


# ---------------------------------------------------------------------------------------------------------
# Compatibility


def check_compatible(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot replace the published ``old`` (empty list: it can).

    Reported: a removed field; a changed type (including a changed format, or a value that becomes
    nullable or stops being so); an optional field made required; a new required field; a removed enum
    value; a changed event type, version or producer. Allowed: new optional fields, new enum values, and
    any change to titles, descriptions, examples and defaults. Nested models are compared field by field,
    through ``$ref``, ``anyOf`` (optional values), arrays and maps.
    """
    reasons: list[str] = []
    old_id, new_id = old.get("x-lkg-event"), new.get("x-lkg-event")
    if old_id and new_id:
        for key in ("type", "version", "producer"):
            if old_id.get(key) != new_id.get(key):
                reasons.append(f"event {key} changed from {old_id.get(key)!r} to {new_id.get(key)!r}")
    _Comparison(old, new, reasons).node(old, new, "")
    return reasons


class _Comparison:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any], reasons: list[str]) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.reasons = reasons
        self.seen: set[tuple[str, str]] = set()

    def node(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_alts = _alternatives(self.old_root, old)
        new_alts = _alternatives(self.new_root, new)
        old_kinds, new_kinds = list(old_alts), list(new_alts)
        if set(old_kinds) != set(new_kinds):
            self.reasons.append(
                f"{path or '<root>'}: type changed from {_describe(old_kinds)} to {_describe(new_kinds)}"
            )
        for kind in old_kinds:
            if kind in new_alts:
                self.same_kind(old_alts[kind], new_alts[kind], path)

    def same_kind(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        refs = (old.get(_FROM, ""), new.get(_FROM, ""))
        if refs[0] and refs[1]:
            if refs in self.seen:
                return  # each pair of definitions is compared once (and a recursive model ends here)
            self.seen.add(refs)
        if "enum" in old and "enum" in new:
            removed = [value for value in old["enum"] if value not in new["enum"]]
            if removed:
                self.reasons.append(f"{path}: enum value(s) removed: {', '.join(map(repr, removed))}")
        elif "enum" in new:
            self.reasons.append(f"{path}: type narrowed to the enum {new['enum']!r}")
        if "properties" in old or "properties" in new:
            self.properties(old, new, path)
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            self.node(old["items"], new["items"], f"{path}[]")
        if isinstance(old.get("additionalProperties"), dict) and isinstance(
            new.get("additionalProperties"), dict
        ):
            self.node(old["additionalProperties"], new["additionalProperties"], f"{path}{{}}")

    def properties(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        prefix = f"{path}." if path else ""
        for name, old_field in old_props.items():
            where = prefix + name
            if name not in new_props:
                self.reasons.append(f"{where}: field removed")
                continue
            if name in new_required and name not in old_required:
                self.reasons.append(f"{where}: optional field made required")
            self.node(old_field, new_props[name], where)
        for name in new_props.keys() - old_props.keys():
            if name in new_required:
                self.reasons.append(f"{prefix}{name}: required field added")


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (to ``#/$defs/...``), keeping sibling keywords; other keys win over the target's."""
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            raise ValueError(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}, _FROM: ref}
    return node


def _alternatives(root: dict[str, Any], node: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The value shapes a schema node allows, keyed by kind: ``("string", "date-time")``, ``("null",)``, ...

    ``anyOf``/``oneOf`` are flattened (``X | None`` is two alternatives). Several object alternatives are
    told apart by title; a single one is keyed ``("object",)``, so that renaming a nested model's class
    (which changes nothing on the wire) is not a break.
    """
    shapes = _shapes(root, node)
    objects = [kind for kind in shapes if kind[0] == "object"]
    if len(objects) == 1:
        shapes[("object",)] = shapes.pop(objects[0])
    return shapes


def _shapes(root: dict[str, Any], node: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    node = _resolve(root, node)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return {kind: shape for branch in branches for kind, shape in _shapes(root, branch).items()}
    if isinstance(node.get("type"), list):
        return {
            kind: shape
            for member in node["type"]
            for kind, shape in _shapes(root, {**node, "type": member}).items()
        }
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    kind = _kind(node)
    if kind[0] == "object":
        kind = ("object", node.get("title", ""))
    return {kind: node}


def _kind(node: dict[str, Any]) -> tuple[str, ...]:
    declared = node.get("type")
    if declared is None:
        if "properties" in node:
            declared = "object"
        elif "enum" in node:
            declared = _enum_type(node["enum"])
        else:
            return ("any",)
    if declared in ("string", "integer", "number") and node.get("format"):
        return (declared, node["format"])
    return (declared,)


def _enum_type(values: Sequence[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    return "any"


def _describe(kinds: Sequence[tuple[str, ...]]) -> str:
    return " | ".join(":".join(part for part in kind if part) for kind in sorted(kinds)) or "nothing"


# ---------------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lkg.common.events.schemas",
        description="Publish or check the event contracts' JSON schemas (one file per type and version).",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="DIR", type=Path, help="write the current schemas into DIR")
    action.add_argument("--check", metavar="DIR", type=Path, help="check the contracts against DIR")
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --write: overwrite even incompatibly (unconsumed contracts)",
    )
    args = parser.parse_args(argv)

    if args.write is not None:
        try:
            written = dump_schemas(args.write, force=args.force)
        except IncompatibleSchema as error:
            _report("incompatible with the published schemas (publish a new version instead):", error.reasons)
            return 1
        print(f"{len(written)} schema file(s) written to {args.write}")
        return 0

    reasons = check_directory(args.check)
    stale = unpublished(args.check)
    if reasons:
        _report("incompatible with the published schemas:", reasons)
    if stale:
        _report(f"not published yet (run --write {args.check}):", stale)
    if reasons or stale:
        return 1
    print(f"{len(current_schemas())} contracts match the published schemas in {args.check}")
    return 0


def _report(title: str, lines: Sequence[str]) -> None:
    print(title, file=sys.stderr)
    for line in lines:
        print(f"  - {line}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
