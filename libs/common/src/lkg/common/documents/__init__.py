"""Official documents the platform issues: Word (the GB/T 9704-2012 layout of a government bulletin),
Excel workbooks and charts, each byte-identical for the same input and moment.

Installed with the ``documents`` extra of ``lkg-common`` (python-docx, openpyxl, matplotlib, mplfonts,
fontTools). Charts are drawn with Noto Sans CJK SC as shipped by the ``mplfonts`` package (SIL Open Font
License), never with a font that happens to be on the machine; every character drawn is checked against the
font's character map first, so a chart never shows a box in place of a 汉字.
"""

from lkg.common.documents.charts import bar_chart
from lkg.common.documents.docx import (
    DOCX_MEDIA_TYPE,
    Figure,
    Heading,
    OfficialDocument,
    Paragraph,
    Table,
    render_docx,
)
from lkg.common.documents.fonts import MissingGlyphError, chart_font_path, missing_chars
from lkg.common.documents.workbook import Sheet, render_xlsx

__all__ = [
    "DOCX_MEDIA_TYPE",
    "Figure",
    "Heading",
    "MissingGlyphError",
    "OfficialDocument",
    "Paragraph",
    "Sheet",
    "Table",
    "bar_chart",
    "chart_font_path",
    "missing_chars",
    "render_docx",
    "render_xlsx",
]
