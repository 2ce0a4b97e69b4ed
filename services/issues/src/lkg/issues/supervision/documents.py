"""The 《督查问题专报》 as Word (GB/T 9704 layout) and Excel, figure for figure the JSON the reader gets;
dated its issue, so the same report downloads as the same bytes every time (the shared writers of
:mod:`lkg.common.documents`)."""

from __future__ import annotations

from lkg.common.clock import TZ
from lkg.common.documents import (
    Figure,
    Heading,
    OfficialDocument,
    Paragraph,
    Sheet,
    Table,
    bar_chart,
    render_docx,
    render_xlsx,
)
from lkg.common.documents.workbook import Cell
from lkg.issues.supervision.schemas import ReportCategory, ReportFinding, ReportReferral, SupervisionReport

OFFICE = "区政府督查室"

STATE_LABEL = {"proposed": "待认定", "issued": "已发红牌", "dismissed": "不予认定", "withdrawn": "已撤销"}
KIND_LABEL = {"responsible_unit": "项目责任单位", "approval_department": "审批部门"}
REFERRAL_LABEL = {
    "requested": "待包保领导同意",
    "consented": "包保领导已同意，待移交",
    "referred": "已移交，待反馈",
    "concluded": "已反馈",
}
OUTCOME_LABEL = {"accountability_taken": "予以问责", "no_accountability": "不予问责"}
ORDINALS = "一二三四五六七八九十"

FINDING_COLUMNS = [
    "类别",
    "项目或事项",
    "所属线",
    "督查情况",
    "红牌对象",
    "对象类别",
    "认定结果",
    "不予认定理由",
]
REFERRAL_COLUMNS = [
    "督查月份",
    "红牌对象",
    "事由",
    "项目或事项",
    "移交状态",
    "移交日期",
    "问责结果",
    "结果说明",
    "作出日期",
]
SUMMARY_COLUMNS = ["类别", "发现", "拟定红牌", "发出红牌", "不予认定", "待认定"]


def _finding_rows(category: ReportCategory, finding: ReportFinding) -> list[list[str]]:
    notes = "；".join(finding.notes)
    return [
        [
            category.label,
            finding.name,
            finding.line_name or "未分线",
            notes,
            card.target_unit_name,
            KIND_LABEL.get(card.target_kind, card.target_kind),
            STATE_LABEL[card.state],
            card.dismissal_reason or "",
        ]
        for card in finding.cards
    ]


def _referral_rows(referrals: list[ReportReferral]) -> list[list[str]]:
    return [
        [
            f"{r.round_year}年{r.round_month}月",
            r.target_unit_name,
            r.reason,
            r.subject,
            REFERRAL_LABEL[r.referral_state],
            r.referred_at.astimezone(TZ).date().isoformat() if r.referred_at else "",
            OUTCOME_LABEL[r.outcome] if r.outcome else "",
            r.outcome_note or "",
            r.outcome_on.isoformat() if r.outcome_on else "",
        ]
        for r in referrals
    ]


def _summary_rows(report: SupervisionReport) -> list[list[Cell]]:
    return [
        [x.label, len(x.findings), x.proposed, x.confirmed, x.dismissed, x.pending] for x in report.categories
    ]


def _label(report: SupervisionReport) -> str:
    return f"{report.year}年{report.month}月"


def to_docx(report: SupervisionReport) -> bytes:
    assert report.number is not None and report.issued_at is not None
    t = report.totals
    blocks: list[Heading | Paragraph | Table | Figure] = [
        Paragraph(
            f"{_label(report)}最后一周，区政府督查室会同区重大项目办，采取明查暗访、实地核实等方式，对全区投资和"
            f"重大产业项目落地建设情况开展督查，共发现问题{t.findings}个，拟定红牌{t.proposed}张，经核实发出红牌"
            f"{t.confirmed}张、不予认定{t.dismissed}张。现将有关情况通报如下。"
        ),
        Table(
            SUMMARY_COLUMNS,
            [[str(v) for v in row] for row in _summary_rows(report)],
            caption=f"表1 {_label(report)}督查发现汇总",
        ),
    ]
    if t.proposed:
        blocks.append(
            Figure(
                bar_chart(
                    f"{_label(report)}各类别发出红牌",
                    [x.label for x in report.categories],
                    [float(x.confirmed) for x in report.categories],
                    value_label="张",
                ),
                caption=f"图1 {_label(report)}各类别发出红牌数",
            )
        )
    for n, category in enumerate(report.categories):
        blocks.append(Heading(f"{ORDINALS[n]}、{category.label}"))
        if not category.findings:
            blocks.append(Paragraph("本月督查未发现此类问题。"))
            continue
        blocks.append(
            Paragraph(
                f"发现{len(category.findings)}个，拟定红牌{category.proposed}张，发出{category.confirmed}张，"
                f"不予认定{category.dismissed}张。"
            )
        )
        rows = [row for finding in category.findings for row in _finding_rows(category, finding)]
        blocks.append(
            Table(FINDING_COLUMNS[1:], [row[1:] for row in rows], caption=f"表{n + 2} {category.label}")
        )
    blocks.append(Heading(f"{ORDINALS[len(report.categories)]}、移交区纪委监委问责情况"))
    if report.referrals:
        blocks.append(
            Paragraph(f"经包保区级领导同意，移交区纪委监委{t.referred}件，已反馈问责结果{t.concluded}件。")
        )
        blocks.append(Table(REFERRAL_COLUMNS, _referral_rows(report.referrals), caption="表6 移交问责情况"))
    else:
        blocks.append(Paragraph("本期无移交区纪委监委问责事项。"))
    return render_docx(
        OfficialDocument(
            title=report.title, office=OFFICE, number=report.number, issued=report.issued_at, blocks=blocks
        )
    )


def to_xlsx(report: SupervisionReport) -> bytes:
    assert report.issued_at is not None
    findings = [
        row
        for category in report.categories
        for finding in category.findings
        for row in _finding_rows(category, finding)
    ]
    return render_xlsx(
        [
            Sheet("汇总", SUMMARY_COLUMNS, _summary_rows(report)),
            Sheet("督查发现", FINDING_COLUMNS, findings),
            Sheet("移交问责", REFERRAL_COLUMNS, _referral_rows(report.referrals)),
        ],
        report.issued_at,
    )
