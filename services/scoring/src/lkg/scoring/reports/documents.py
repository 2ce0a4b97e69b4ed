"""The 月度通报 as Word (GB/T 9704 layout) and Excel, figure for figure the JSON; dated its publication, so
the same month downloads as the same bytes every time."""

from __future__ import annotations

from decimal import Decimal

from lkg.common.documents import (
    Figure,
    Heading,
    MissingGlyphError,
    OfficialDocument,
    Paragraph,
    Sheet,
    Table,
    bar_chart,
    missing_chars,
    render_docx,
    render_xlsx,
)
from lkg.scoring.reports.schemas import BulletinInvestment, BulletinListed, MonthlyBulletin
from lkg.scoring.reports.service import GRADE_LABEL

TITLE = "重大产业项目建设月度通报"
OFFICE = "区重大项目建设工作领导小组办公室"

RANKING_COLUMNS = ["排名", "单位", "得分", "等级", "红牌"]
LISTED_COLUMNS = ["单位", "单位负责人"]
INVESTMENT_COLUMNS = ["名称", "年度计划投资（万元）", "累计完成（万元）", "完成率"]
CARD_COLUMNS = ["单位", "来源", "事由", "认定日期", "说明"]
_CARD_SOURCE = {"supervision": "月末督查", "ranking": "月度考核排名后3名"}


def chart(
    title: str, labels: list[str], values: list[float], value_label: str, caption: str
) -> Figure | Paragraph:
    """A bar chart, or, when a label holds a character the chart font lacks (a rare character in a unit's
    name), a note in its place: the report is still issued, and a chart never shows a box."""
    try:
        return Figure(bar_chart(title, labels, values, value_label=value_label), caption=caption)
    except MissingGlyphError:
        lacking = missing_chars("".join([title, value_label, *labels]))
        return Paragraph(f"（{caption}略：图表字体缺少“{lacking}”等字符，数据见上表。）")


def _wan(value: Decimal) -> str:
    """元 → 万元, two decimals."""
    return f"{value / Decimal(10000):.2f}"


def _rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ranking_rows(bulletin: MonthlyBulletin) -> list[list[str]]:
    return [
        [str(e.rank), e.label, f"{e.score:.2f}", GRADE_LABEL[e.grade], "是" if e.carded else ""]
        for e in bulletin.ranking
    ]


def _listed_rows(items: list[BulletinListed]) -> list[list[str]]:
    return [[item.label, "、".join(item.heads)] for item in items]


def _investment_rows(items: list[BulletinInvestment]) -> list[list[str]]:
    # The JSON is in 元 as the registry reports it; the tables say 万元.
    return [[i.label, _wan(i.plan), _wan(i.year_to_date), _rate(i.completion)] for i in items]


def _card_rows(bulletin: MonthlyBulletin) -> list[list[str]]:
    return [
        [
            x.label,
            _CARD_SOURCE.get(x.source, x.source),
            x.reason_label,
            x.issued_on.isoformat() if x.issued_on else "",
            x.note,
        ]
        for x in bulletin.red_cards
    ]


def _names(items: list[BulletinListed]) -> str:
    return "、".join(item.label for item in items) or "无"


def to_docx(bulletin: MonthlyBulletin) -> bytes:
    graded = len(bulletin.ranking)
    failing = sum(1 for e in bulletin.ranking if GRADE_LABEL[e.grade] == "不合格")
    blocks: list[Heading | Paragraph | Table | Figure] = [
        Heading("一、考核等级及排名"),
        Paragraph(
            f"{bulletin.label}共有{graded}个单位参加月度考核，其中{failing}个单位等级为不合格。"
            f"等级排名后3名且不合格、提请红牌的单位：{'、'.join(bulletin.carded) or '无'}。"
        ),
        Table(RANKING_COLUMNS, _ranking_rows(bulletin), caption=f"表1 {bulletin.label}考核等级排名"),
    ]
    if bulletin.ranking:
        blocks.append(
            chart(
                f"{bulletin.label}考核得分",
                [e.label for e in bulletin.ranking],
                [float(e.score) for e in bulletin.ranking],
                "得分",
                f"图1 {bulletin.label}各单位考核得分",
            )
        )
    blocks += [
        Heading("二、表态发言和约谈"),
        Paragraph(f"在区长办公会上表态发言的单位：{_names(bulletin.statements)}。"),
        Paragraph(f"约谈单位主要负责人：{_names(bulletin.interviews)}。"),
        Table(LISTED_COLUMNS, _listed_rows(bulletin.interviews), caption="表2 约谈名单"),
        Heading("三、投资完成情况"),
        Table(INVESTMENT_COLUMNS, _investment_rows(bulletin.investment_by_line), caption="表3 按线投资完成"),
        Table(
            INVESTMENT_COLUMNS, _investment_rows(bulletin.investment_by_unit), caption="表4 按单位投资完成"
        ),
        Heading("四、红牌警告"),
        Paragraph(
            f"本月红牌{len(bulletin.red_cards)}张：月末督查"
            f"{sum(x.source == 'supervision' for x in bulletin.red_cards)}张，月度考核排名后3名"
            f"{sum(x.source == 'ranking' for x in bulletin.red_cards)}张。"
        ),
        Table(CARD_COLUMNS, _card_rows(bulletin), caption="表5 本月红牌"),
    ]
    return render_docx(
        OfficialDocument(
            title=TITLE, office=OFFICE, number=bulletin.number, issued=bulletin.published_at, blocks=blocks
        )
    )


def to_xlsx(bulletin: MonthlyBulletin) -> bytes:
    return render_xlsx(
        [
            Sheet("考核排名", RANKING_COLUMNS, _ranking_rows(bulletin)),
            Sheet("表态发言", LISTED_COLUMNS, _listed_rows(bulletin.statements)),
            Sheet("约谈", LISTED_COLUMNS, _listed_rows(bulletin.interviews)),
            Sheet("按线投资", INVESTMENT_COLUMNS, _investment_rows(bulletin.investment_by_line)),
            Sheet("按单位投资", INVESTMENT_COLUMNS, _investment_rows(bulletin.investment_by_unit)),
            Sheet("红牌", CARD_COLUMNS, _card_rows(bulletin)),
        ],
        bulletin.published_at,
    )
