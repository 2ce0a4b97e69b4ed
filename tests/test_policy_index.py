"""docs/policy.md names files, functions and tests: each must exist, so the policy index cannot go stale."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "policy.md"

#: A backticked repository path, optionally followed by ``::name``.
REFERENCE = re.compile(r"`((?:services|libs|tests|docs|bench)/[^`\s:]+)(?:::([A-Za-z_][A-Za-z0-9_]*))?`")


def _names_defined(path: Path) -> set[str]:
    """Every class, function and module-level name a Python file defines, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def references() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in REFERENCE.finditer(INDEX.read_text(encoding="utf-8"))]


def test_the_index_names_only_files_and_functions_that_exist() -> None:
    refs = references()
    assert len(refs) > 50, "the index should name the code and the tests of every clause"
    missing = []
    for path, name in refs:
        target = ROOT / path
        if not target.exists():
            missing.append(f"{path} (no such file)")
        elif name is not None and name not in _names_defined(target):
            missing.append(f"{path}::{name} (not defined there)")
    assert missing == [], "docs/policy.md is out of date:\n" + "\n".join(missing)


def test_every_part_of_the_policy_has_a_section() -> None:
    text = INDEX.read_text(encoding="utf-8")
    for part in ("§一", "§二", "§三", "§四", "§五", "§六"):
        assert f"## {part}" in text or f"and {part}" in text, part
