"""The reports' Word and Excel renderers on their own: a chart whose labels hold a character the chart font
lacks becomes a note (the report is still issued, and never shows a box), and the same body renders to the
same bytes."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from docx import Document

from lkg.common.clock import TZ
from lkg.common.documents import Figure, Paragraph
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports import scorecard
from lkg.scoring.reports.documents import chart

RARE = "\U00030000"  # a CJK Extension G character: outside Noto Sans CJK SC


def test_a_label_the_chart_font_lacks_gives_a_note_instead_of_a_chart() -> None:
    drawn = chart("得分", ["金银湖街", "长青街"], [100.0, 90.0], "得分", "图1 得分")
    assert isinstance(drawn, Figure) and drawn.png.startswith(b"\x89PNG")
    note = chart("得分", ["金银湖街", f"{RARE}街"], [100.0, 90.0], "得分", "图1 得分")
    assert isinstance(note, Paragraph)
    assert note.text == f"（图1 得分略：图表字体缺少“{RARE}”等字符，数据见上表。）"


def _card(unit: str) -> s.ClosureScorecard:
    row = s.ScorecardRow(
        subject_id=None,
        label="第二线",
        due=2,
        closed_on_time=1,
        closed_late=0,
        open=1,
        closure_rate=Decimal("0.5"),
    )
    return s.ClosureScorecard(
        label="2020年5月",
        start=date(2020, 5, 1),
        end=date(2020, 5, 31),
        as_of=datetime(2020, 6, 3, tzinfo=TZ),
        total=row.model_copy(update={"label": "合计"}),
        by_line=[row],
        by_unit=[row.model_copy(update={"label": unit})],
        matters=[],
    )


def test_the_same_scorecard_renders_to_the_same_bytes() -> None:
    issued = datetime(2020, 6, 3, tzinfo=TZ)
    card = _card("=1+2")
    assert scorecard.to_docx(card, 1, issued) == scorecard.to_docx(card, 1, issued)
    assert scorecard.to_xlsx(card, issued) == scorecard.to_xlsx(card, issued)
    doc = Document(io.BytesIO(scorecard.to_docx(card, 1, issued)))
    assert [c.text for c in doc.tables[1].rows[1].cells] == ["=1+2", "2", "1", "0", "1", "50.0%"]
