"""lkg.common.documents: the Word layout's fonts, charts' font coverage, reproducible bytes, text-only
workbook cells."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Length
from fontTools.ttLib import TTFont
from openpyxl import load_workbook

from lkg.common.clock import TZ
from lkg.common.documents import (
    Figure,
    Heading,
    MissingGlyphError,
    OfficialDocument,
    Paragraph,
    Sheet,
    Table,
    bar_chart,
    chart_font_path,
    missing_chars,
    render_docx,
    render_xlsx,
)

ISSUED = datetime(2026, 12, 7, 9, 30, tzinfo=TZ)
pytestmark = pytest.mark.filterwarnings("error")  # any warning (a missing glyph among them) fails

UNITS = ["航空物流园", "临空经济区管委会", "综合保税区"]
RATES = [92.5, 100.0, 66.7]
#: Chinese characters and punctuation, and the em dash of the page numbers (set in 宋体 too).
CJK = re.compile(r"[\u2014\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _chart() -> bytes:
    return bar_chart("11月 问题按期销号率（%）", UNITS, RATES, value_label="销号率（%）")


def _document(chart: bytes | None = None) -> OfficialDocument:
    rows = [
        [unit, f"{rate:.1f}%", str(index + 1)]
        for index, (unit, rate) in enumerate(zip(UNITS, RATES, strict=True))
    ]
    return OfficialDocument(
        title="重大产业项目建设月度通报",
        office="临空港重大项目建设指挥部办公室",
        number=12,
        issued=ISSUED,
        blocks=(
            Heading("一、总体情况"),
            Paragraph("11月共评定3个责任单位，按期销号率平均86.4%。"),
            Table(columns=["单位", "按期销号率", "排名"], rows=rows * 30, caption="表1 销号情况"),
            Figure(png=chart or _chart(), caption="图1 按期销号率"),
        ),
    )


def _runs_xml(data: bytes) -> list[tuple[str, str, bytes]]:
    """(part name, run text, run XML) for every run with text in the document body and footers."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"word/(document|footer\d*|header\d*)\.xml", name):
                xml = archive.read(name)
                for run in re.findall(rb"<w:r>.*?</w:r>|<w:r [^>]*>.*?</w:r>", xml, flags=re.S):
                    text = "".join(t.decode() for t in re.findall(rb"<w:t[^>]*>([^<]*)</w:t>", run))
                    found.append((name, text, run))
    return found


def test_every_chinese_run_names_its_east_asian_font() -> None:
    data = render_docx(_document())
    runs = [(part, text, xml) for part, text, xml in _runs_xml(data) if CJK.search(text)]
    parts = {part for part, _, _ in runs}
    assert parts == {"word/document.xml", "word/footer1.xml"}
    # title, 第N期, office, date, heading, paragraph, table caption, 3 header cells, 90 unit cells, figure
    # caption; the footer's two dashes.
    assert len(runs) == 1 + 1 + 1 + 1 + 1 + 1 + 1 + 3 + 90 + 1 + 2
    for part, text, xml in runs:
        assert b"w:eastAsia=" in xml, (part, text)
    doc = Document(io.BytesIO(data))
    fonts = {
        run.text: run._element.rPr.rFonts.get(qn("w:eastAsia"))
        for paragraph in doc.paragraphs
        for run in paragraph.runs
        if run.text
    }
    assert fonts["重大产业项目建设月度通报"] == "方正小标宋简体"
    assert fonts["一、总体情况"] == "黑体"
    assert fonts["11月共评定3个责任单位，按期销号率平均86.4%。"] == "仿宋_GB2312"


def test_layout_is_gb_t_9704() -> None:
    doc = Document(io.BytesIO(render_docx(_document())))
    section = doc.sections[0]

    def mm(length: int) -> float:  # Word stores twips: to a tenth of a millimetre
        return round(Length(length).mm, 1)

    assert (mm(section.page_width), mm(section.page_height)) == (210.0, 297.0)
    assert (mm(section.top_margin), mm(section.left_margin)) == (37.0, 28.0)
    assert mm(section.page_width - section.left_margin - section.right_margin) == 156.0
    assert mm(section.page_height - section.top_margin - section.bottom_margin) == 225.0
    texts = [paragraph.text for paragraph in doc.paragraphs]
    assert texts[:3] == [
        "重大产业项目建设月度通报",
        "第12期",
        "临空港重大项目建设指挥部办公室\t2026年12月7日",
    ]
    assert doc.paragraphs[0].runs[0].font.size.pt == 22
    assert doc.paragraphs[3].runs[0].font.size.pt == 16
    footer = section.footer.paragraphs[0]
    assert footer.text == "— 1 —"
    assert b'<w:instrText xml:space="preserve"> PAGE </w:instrText>' in footer._element.xml.encode()
    assert {run.font.size.pt for run in footer.runs} == {14}


def test_docx_holds_the_figures_given_and_the_chart() -> None:
    chart = _chart()
    doc = Document(io.BytesIO(render_docx(_document(chart))))
    (table,) = doc.tables
    assert [cell.text for cell in table.rows[0].cells] == ["单位", "按期销号率", "排名"]
    assert [[cell.text for cell in row.cells] for row in table.rows[1:4]] == [
        ["航空物流园", "92.5%", "1"],
        ["临空经济区管委会", "100.0%", "2"],
        ["综合保税区", "66.7%", "3"],
    ]
    assert len(table.rows) == 91
    header = table.rows[0]._tr.trPr
    assert header.find(qn("w:tblHeader")) is not None
    assert all(row._tr.trPr is None or row._tr.trPr.find(qn("w:tblHeader")) is None for row in table.rows[1:])
    (image,) = [part for part in doc.part.package.parts if part.partname.startswith("/word/media/")]
    assert image.blob == chart


def test_rendering_twice_is_byte_identical() -> None:
    assert _chart() == _chart()
    assert bar_chart("图", UNITS, RATES, fmt="svg") == bar_chart("图", UNITS, RATES, fmt="svg")
    assert b"Software" not in _chart()
    first = render_docx(_document())
    assert render_docx(_document()) == first
    later = OfficialDocument(**{**_document().__dict__, "issued": ISSUED.replace(minute=31)})
    assert render_docx(later) != first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 12, 7, 9, 30, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert "2026-12-07T01:30:00Z" in core
    sheets = [Sheet("成绩", ["单位", "得分"], [["航空物流园", 92.5]])]
    assert render_xlsx(sheets, ISSUED) == render_xlsx(sheets, ISSUED)


def test_chart_font_covers_every_char_drawn() -> None:
    path = chart_font_path()
    assert path.name == "NotoSansCJKsc-Regular.otf"
    with TTFont(str(path), lazy=True) as font:
        cmap = font.getBestCmap()
    drawn = "11月 问题按期销号率（%）" + "".join(UNITS) + "销号率（%）" + "92.5100.066.7"
    assert [char for char in drawn if not char.isspace() and ord(char) not in cmap] == []
    assert missing_chars(drawn) == ""
    # A character outside the font (a Linear B ideogram) is refused before anything is drawn.
    assert missing_chars("销号\U00010080率") == "\U00010080"
    with pytest.raises(MissingGlyphError) as caught:
        bar_chart("销号\U00010080", UNITS, RATES)
    assert caught.value.chars == "\U00010080"


def test_formula_like_text_stays_text_in_xlsx() -> None:
    hostile = ["=1+2", "+SUM(A1:A2)", "-3+4", "@cmd", '=HYPERLINK("http://x","点我")']
    data = render_xlsx([Sheet("清单", ["单位", "备注", "数"], [[text, text, 7] for text in hostile])], ISSUED)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    ws = load_workbook(io.BytesIO(data))["清单"]
    assert [[cell.value for cell in row] for row in ws.iter_rows(min_row=2)] == [[t, t, 7] for t in hostile]
    assert {cell.data_type for row in ws.iter_rows(min_row=2, max_col=2) for cell in row} == {"s"}
    assert ws["C2"].data_type == "n"
    assert ws["A1"].font.b is True
    assert ws.freeze_panes == "A2"
