"""Rendering a template: the text is parsed once and substituted exactly as
:meth:`string.Template.safe_substitute` would (an unknown placeholder is left as written)."""

from __future__ import annotations

import string

import pytest

from lkg.notifier.templates import DEFAULT_TEMPLATES, _substitute

VALUES = {
    "matter": "用地$指标",
    "project": "产业园",
    "unit": "区科经局",
    "layer": "第二层",
    "link": "https://x/#/a",
}

EDGES = [
    "",
    "$",
    "$$",
    "$$matter",
    "$$$matter",
    "${matter}${unit}",
    "${unknown} $unknown",
    "${ matter}",
    "${",
    "$1 $matter_x $matter.",
    "trailing $",
]


@pytest.mark.parametrize(
    "text",
    [t.title for t in DEFAULT_TEMPLATES.values()] + [t.body for t in DEFAULT_TEMPLATES.values()] + EDGES,
)
def test_substitute_is_safe_substitute(text: str) -> None:
    assert _substitute(text, VALUES) == string.Template(text).safe_substitute(VALUES)
