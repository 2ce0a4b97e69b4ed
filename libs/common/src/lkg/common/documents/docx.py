"""Word documents in the layout of a government bulletin (GB/T 9704-2012, 党政机关公文格式).

A4; top margin (天头) 37 mm, left margin (订口) 28 mm, type area (版心) 156 × 225 mm; title 2号 小标宋,
centred, then 第N期, then the issuing office and the date over a red rule; body 3号 仿宋, 22 lines to
the page; first-level headings 黑体; page numbers "— 1 —" in 4号 宋体 at the foot. These fonts are named in
the document, not shipped: Word on the reader's machine has them or substitutes. Every run names its font for
East Asian text too (``w:eastAsia``): python-docx's ``font.name`` sets only the Latin one, and a run without
it shows its 汉字 in whatever font the reader's Word picks.

Tables repeat their header row on each page. The file's bytes depend only on the document and the moment it
is dated: core properties and zip entry times are that moment, images are named by their content.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lkg.common.clock import TZ
from lkg.common.xlsx import CREATOR, fix_times

#: The media type of a .docx document (a download's ``Content-Type``).
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

#: Fonts named in the document (GB/T 9704: 小标宋 title, 仿宋 body, 黑体 headings, 宋体 page numbers).
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
PAGE_NUMBER_FONT = "宋体"
#: The Latin font of every run (digits and Latin letters in the body).
LATIN_FONT = "Times New Roman"

#: Chinese type sizes in points: 二号 22, 三号 16, 四号 14.
SIZE_2 = 22.0
SIZE_3 = 16.0
SIZE_4 = 14.0
#: Table text is 四号 less a step (小四, 12 pt) so that a ranking's columns fit 156 mm.
SIZE_TABLE = 12.0

#: Page and margins in millimetres: A4, 天头 37, 订口 28, 版心 156 × 225.
PAGE_W, PAGE_H = 210.0, 297.0
TOP, LEFT = 37.0, 28.0
TYPE_W, TYPE_H = 156.0, 225.0
#: 22 lines in the 225 mm type area: the exact line pitch in points.
LINE_PITCH_PT = TYPE_H / 25.4 * 72 / 22

RED = "C00000"


@dataclass(frozen=True)
class Heading:
    """A first-level heading (一、…), 黑体."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    """A body paragraph, 仿宋, first line indented two characters."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table: its header row repeats on every page it spans. Cells are shown as given (text)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A picture (PNG bytes, e.g. from :func:`lkg.common.documents.bar_chart`) with a caption below it."""

    png: bytes
    caption: str
    width_mm: float = 150.0


Block = Heading | Paragraph | Table | Figure


@dataclass(frozen=True)
class OfficialDocument:
    """A bulletin: ``title`` (e.g. 重大产业项目建设月度通报), issued by ``office`` as issue ``number``
    (第N期) on ``issued`` (an aware instant; its Asia/Shanghai date is printed), with its ``blocks`` in
    order."""

    title: str
    office: str
    number: int
    issued: datetime
    blocks: Sequence[Block] = field(default_factory=tuple)


def render_docx(document: OfficialDocument) -> bytes:
    """The document as .docx bytes, dated ``document.issued`` in its properties and zip entries."""
    if document.issued.tzinfo is None:
        raise ValueError("issued must be an aware datetime")
    from docx import Document as new_document

    doc = new_document()
    _page_setup(doc)
    _base_style(doc)
    _head(doc, document)
    for block in document.blocks:
        if isinstance(block, Heading):
            _paragraph(doc, block.text, font=HEADING_FONT, size=SIZE_3, indent=True, keep_with_next=True)
        elif isinstance(block, Paragraph):
            _paragraph(doc, block.text, font=BODY_FONT, size=SIZE_3, indent=True)
        elif isinstance(block, Table):
            _table(doc, block)
        else:
            _figure(doc, block)
    _page_numbers(doc)
    _properties(doc, document)
    raw = io.BytesIO()
    doc.save(raw)
    return fix_times(raw.getvalue(), document.issued)


def set_run_font(run: Any, name: str, size: float | None = None, *, bold: bool = False) -> None:
    """``run`` set in ``name`` for East Asian text (``w:eastAsia``) and :data:`LATIN_FONT` for the rest."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.name = LATIN_FONT
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    fonts.set(qn("w:hint"), "eastAsia")
    if size is not None:
        run.font.size = Pt(size)
    run.font.bold = bold


def _page_setup(doc: Any) -> None:
    from docx.shared import Mm

    section = doc.sections[0]
    section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
    section.top_margin, section.left_margin = Mm(TOP), Mm(LEFT)
    section.right_margin = Mm(PAGE_W - LEFT - TYPE_W)
    section.bottom_margin = Mm(PAGE_H - TOP - TYPE_H)
    section.footer_distance = Mm(PAGE_H - TOP - TYPE_H - 7)


def _base_style(doc: Any) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    normal = doc.styles["Normal"]
    normal.font.name = LATIN_FONT
    normal.font.size = Pt(SIZE_3)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)


def _paragraph(
    doc: Any,
    text: str,
    *,
    font: str,
    size: float,
    indent: bool = False,
    centre: bool = False,
    bold: bool = False,
    keep_with_next: bool = False,
) -> Any:
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Pt

    paragraph = doc.add_paragraph()
    layout = paragraph.paragraph_format
    layout.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    layout.line_spacing = Pt(LINE_PITCH_PT)
    layout.keep_with_next = keep_with_next
    if indent:
        layout.first_line_indent = Pt(size * 2)
    if centre:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    else:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    if text:
        set_run_font(paragraph.add_run(text), font, size, bold=bold)
    return paragraph


def _head(doc: Any, document: OfficialDocument) -> None:
    from docx.enum.text import WD_TAB_ALIGNMENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    title = _paragraph(doc, document.title, font=TITLE_FONT, size=SIZE_2, centre=True)
    title.paragraph_format.line_spacing = Pt(SIZE_2 * 1.6)
    title.paragraph_format.space_after = Pt(SIZE_2 / 2)
    _paragraph(doc, f"第{document.number}期", font=BODY_FONT, size=SIZE_3, centre=True)
    local = document.issued.astimezone(TZ)
    line = _paragraph(doc, "", font=BODY_FONT, size=SIZE_3)
    line.paragraph_format.tab_stops.add_tab_stop(Mm(TYPE_W), WD_TAB_ALIGNMENT.RIGHT)
    set_run_font(line.add_run(document.office), BODY_FONT, SIZE_3)
    set_run_font(line.add_run(f"\t{local.year}年{local.month}月{local.day}日"), BODY_FONT, SIZE_3)
    # The red rule under the head (版头中的分隔线): a bottom border on that line.
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "1"), ("w:color", RED)):
        bottom.set(qn(key), value)
    borders.append(bottom)
    line.paragraph_format.element.get_or_add_pPr().append(borders)
    line.paragraph_format.space_after = Pt(SIZE_3)


def _table(doc: Any, block: Table) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    if block.caption:
        _paragraph(
            doc, block.caption, font=HEADING_FONT, size=SIZE_TABLE + 2, centre=True, keep_with_next=True
        )
    table = doc.add_table(rows=1 + len(block.rows), cols=len(block.columns))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    # One pass over the rows: python-docx's ``table.rows[i]`` lists every row each time (quadratic: a
    # 250-row table took seconds).
    texts = [list(block.columns), *[list(r) for r in block.rows]]
    for index, (tr, row) in enumerate(zip(table.rows, texts, strict=True)):
        if len(row) != len(block.columns):
            raise ValueError(f"table row {index} has {len(row)} cells, the header {len(block.columns)}")
        cells = tr.cells
        for cell, text in zip(cells, row, strict=True):
            paragraph = cell.paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            paragraph.paragraph_format.space_after = Pt(0)
            font = HEADING_FONT if index == 0 else BODY_FONT
            set_run_font(paragraph.add_run(str(text)), font, SIZE_TABLE)
    # The header row repeats at the top of each page the table spans (w:tblHeader), and never splits.
    properties = table.rows[0]._tr.get_or_add_trPr()
    for tag in ("w:tblHeader", "w:cantSplit"):
        flag = OxmlElement(tag)
        flag.set(qn("w:val"), "true")
        properties.append(flag)
    _paragraph(doc, "", font=BODY_FONT, size=SIZE_3)


def _figure(doc: Any, block: Figure) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm

    doc.add_picture(io.BytesIO(block.png), width=Mm(min(block.width_mm, TYPE_W)))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    _paragraph(doc, block.caption, font=BODY_FONT, size=SIZE_TABLE + 2, centre=True)


def _page_numbers(doc: Any) -> None:
    """ "— N —" in 4号 宋体 at the foot of each page (a PAGE field between two em dashes)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph = doc.sections[0].footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    set_run_font(paragraph.add_run("— "), PAGE_NUMBER_FONT, SIZE_4)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
        run = paragraph.add_run()
        set_run_font(run, PAGE_NUMBER_FONT, SIZE_4)
        if kind is not None:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._element.append(char)
        elif text == " PAGE ":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._element.append(instr)
        else:
            run.text = text
    set_run_font(paragraph.add_run(" —"), PAGE_NUMBER_FONT, SIZE_4)


def _properties(doc: Any, document: OfficialDocument) -> None:
    from datetime import UTC

    stamp = document.issued.astimezone(UTC).replace(tzinfo=None)
    core = doc.core_properties
    core.title = f"{document.title}（第{document.number}期）"
    core.author = document.office
    core.last_modified_by = CREATOR
    core.created = stamp
    core.modified = stamp
    core.last_printed = stamp
    core.revision = 1
    core.comments = ""
