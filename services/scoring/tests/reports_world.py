"""What the issued-report scenarios share (issue 16): the reports' path, listing them over HTTP, and the
check that every run of Chinese text in a Word file names an East Asian font.

The scoring service alone, with an org of the module's units, is the ``reports_world`` fixture of
``tests/conftest.py`` (built by :func:`reports_system`); a module's own fixture adds its projects and facts.
This module lives beside ``scoring_world.py`` because the tests run in importlib mode: only the folders on
pytest's ``pythonpath`` (pyproject.toml) import as modules, and ``tests/`` is not one of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from docx.oxml.ns import qn
from scoring_world import Org, scoring_world

from lkg.common.testing.system import System
from lkg.scoring.app import SPEC as SCORING

REPORTS = "/api/v1/reports"


@asynccontextmanager
async def reports_system(
    db_factory: Any, nats_url: str, prefix: str, units: Sequence[tuple[str, str]]
) -> AsyncIterator[System]:
    """The scoring service alone with ``units`` ((name, kind) pairs) in one line; ``system.org`` is the
    :class:`~scoring_world.Org`."""
    org = Org(list(units))
    async with scoring_world(db_factory, nats_url, prefix, [SCORING], org) as system:
        system.org = org  # type: ignore[attr-defined]
        yield system


async def listed(system: System, headers: dict[str, str] | None = None, **params: str) -> list[dict]:
    """``GET /api/v1/reports`` with ``params`` (``kind``, ``period``) as ``headers`` (重大项目办 by default):
    the items, newest first."""
    got = await system.client.get(REPORTS, params=params, headers=headers or system.operator)
    assert got.status_code == 200, got.text
    items: list[dict] = got.json()["items"]
    return items


def east_asian_fonts_everywhere(doc: Any) -> bool:
    """Whether every run of Chinese text in ``doc`` (python-docx) sets ``w:eastAsia`` (python-docx's
    ``font.name`` alone sets only the Latin font); there must be some Chinese text."""
    runs = [r for p in doc.paragraphs for r in p.runs]
    runs += [
        r for t in doc.tables for row in t.rows for cell in row.cells for p in cell.paragraphs for r in p.runs
    ]
    chinese = [r for r in runs if any("\u4e00" <= ch <= "\u9fff" for ch in r.text)]
    assert chinese
    return all(r._element.rPr is not None and r._element.rPr.rFonts.get(qn("w:eastAsia")) for r in chinese)
