"""The CJK font charts are drawn with, and the check that it covers every character drawn."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

#: The font file inside the ``mplfonts`` package: Noto Sans CJK SC Regular (SIL Open Font License 1.1).
CHART_FONT_FILE = "NotoSansCJKsc-Regular.otf"


class MissingGlyphError(ValueError):
    """Text to be drawn holds characters the chart font has no glyph for (they would show as boxes)."""

    def __init__(self, chars: str) -> None:
        self.chars = chars
        super().__init__(f"图表字体缺少以下字符的字形：{chars!r}")


def chart_font_path() -> Path:
    """The path of the chart font, shipped by the ``mplfonts`` package (a dependency, not the machine)."""
    path = Path(str(resources.files("mplfonts") / "fonts" / CHART_FONT_FILE))
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


@cache
def _codepoints(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # no py.typed

    with TTFont(str(path), lazy=True) as font:
        cmap = font.getBestCmap()
    return frozenset(cmap)


def missing_chars(text: str, path: Path | None = None) -> str:
    """The distinct characters of ``text`` (whitespace aside) that the font at ``path`` (the chart font by
    default) has no glyph for, in first-seen order; empty when it covers them all."""
    covered = _codepoints(path or chart_font_path())
    seen: dict[str, None] = {}
    for char in text:
        if not char.isspace() and ord(char) not in covered:
            seen[char] = None
    return "".join(seen)


def require_glyphs(text: str, path: Path | None = None) -> None:
    """Raise :class:`MissingGlyphError` unless the font covers every character of ``text``."""
    missing = missing_chars(text, path)
    if missing:
        raise MissingGlyphError(missing)
