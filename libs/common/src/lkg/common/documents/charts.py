"""Charts for reports: matplotlib on its Agg canvas (no display, no pyplot global state), drawn with the
shipped CJK font, reproducible to the byte.

Before drawing, every label is checked against the font's character map (fontTools); matplotlib's own
missing-glyph warning is turned into an error as well, so a chart never ships with boxes in it. PNG is
written without the ``Software`` text chunk, SVG without its date and with a fixed id salt, so the same
figures give the same bytes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Any, Literal

from lkg.common.documents.fonts import MissingGlyphError, chart_font_path, missing_chars, require_glyphs

ChartFormat = Literal["png", "svg"]

#: Bars are drawn in this colour (the red of an official bulletin's rule, muted).
BAR_COLOUR = "#b22222"


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    value_label: str = "",
    fmt: ChartFormat = "png",
    width_in: float = 6.0,
    height_in: float = 3.6,
    dpi: int = 150,
) -> bytes:
    """A vertical bar chart of ``values`` over ``labels`` as PNG or SVG bytes, each bar with its value on top.

    Raises :class:`MissingGlyphError` if the chart font lacks a glyph for any character of the title, the
    labels or the axis label, and ``ValueError`` when labels and values differ in length."""
    if len(labels) != len(values):
        raise ValueError("labels and values differ in length")
    shown = [f"{value:g}" for value in values]
    require_glyphs("".join([title, value_label, *labels, *shown]))

    from matplotlib import font_manager, rc_context

    font_path = chart_font_path()
    font_manager.fontManager.addfont(str(font_path))
    family = font_manager.FontProperties(fname=str(font_path)).get_name()
    settings: dict[Any, Any] = {
        "font.family": [family],
        "axes.unicode_minus": False,
        "svg.hashsalt": "lkg",
        "svg.fonttype": "path",
    }
    out = io.BytesIO()
    with rc_context(settings), warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*[Gg]lyph .* missing from")
        try:
            _draw(title, labels, values, shown, value_label, (width_in, height_in), dpi, fmt, out)
        except UserWarning as warning:  # matplotlib's missing-glyph warning, made an error above
            raise MissingGlyphError(missing_chars(title + "".join(labels)) or str(warning)) from warning
    return out.getvalue()


def _draw(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    shown: list[str],
    value_label: str,
    size: tuple[float, float],
    dpi: int,
    fmt: ChartFormat,
    out: io.BytesIO,
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    bars = axes.bar(positions, list(values), color=BAR_COLOUR, width=0.6)
    axes.set_xticks(positions, list(labels))
    if sum(len(label) for label in labels) > 24:  # long labels side by side would overlap: slant them
        axes.tick_params(axis="x", labelrotation=30)
        for tick in axes.get_xticklabels():
            tick.set_horizontalalignment("right")
    axes.bar_label(bars, labels=shown, padding=2)
    axes.set_title(title)
    if value_label:
        axes.set_ylabel(value_label)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(y=0.15)
    figure.tight_layout()
    if fmt == "png":
        figure.savefig(out, format="png", metadata={"Software": None})
    else:
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
