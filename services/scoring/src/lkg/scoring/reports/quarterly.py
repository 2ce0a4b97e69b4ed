"""季度考评 (policy §六(一)(二)): the line leaders' published evaluation of a quarter with its evidence, as a
report of restricted readership (the top leaders, the assessment office, 重大项目办, and each leader for
their own line: :func:`visible_part`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.documents import (
    Figure,
    Heading,
    OfficialDocument,
    Paragraph,
    Sheet,
    Table,
    render_docx,
    render_xlsx,
)
from lkg.common.events.contracts import EvaluationSubject
from lkg.scoring import service
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports.documents import chart
from lkg.scoring.reports.service import GRADE_LABEL

TITLE = "包保区级领导季度考评"
OFFICE = "区重大项目建设工作领导小组办公室"


def _part(figures: dict[str, Any], name: str) -> Decimal | None:
    part = figures.get(name)
    return Decimal(part["score"]) if part else None


async def build(session: AsyncSession, row: Any) -> s.QuarterlyEvaluation:
    view = await service.view_period(session, row)
    entries = [
        s.QuarterlyEntry(
            line_id=x.subject_id,
            label=x.subject_label,
            score=x.score,
            grade=x.final_grade,
            grade_reason=x.grade_reason,
            holders=[f"{h['name']}（{h['from']}至{h['to']}）" for h in x.figures.get("holders", [])],
            progress=_part(x.figures, "progress"),
            problems=_part(x.figures, "problems"),
            enrolment=_part(x.figures, "enrolment"),
            evidence=[e.note for e in x.evidence],
        )
        for x in view.sheets
        if x.subject_kind is EvaluationSubject.LINE_LEADER
    ]
    return s.QuarterlyEvaluation(
        period_id=row.id,
        label=view.span.label,
        start=row.start,
        end=row.end,
        as_of=row.as_of,
        published_at=row.published_at,
        entries=sorted(entries, key=lambda e: (-e.score, e.label)),
    )


# ---- documents ---------------------------------------------------------------------------------------

COLUMNS = ["包保线", "任职", "得分", "等级", "项目推进", "破解难题", "纳统入规", "等级调整理由"]
EVIDENCE_COLUMNS = ["包保线", "依据"]


def _score(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def rows(report: s.QuarterlyEvaluation) -> list[list[str]]:
    return [
        [
            e.label,
            "；".join(e.holders),
            f"{e.score:.2f}",
            GRADE_LABEL[e.grade],
            _score(e.progress),
            _score(e.problems),
            _score(e.enrolment),
            e.grade_reason or "",
        ]
        for e in report.entries
    ]


def evidence_rows(report: s.QuarterlyEvaluation) -> list[list[str]]:
    return [[e.label, note] for e in report.entries for note in e.evidence]


def to_docx(report: s.QuarterlyEvaluation, number: int, issued: datetime) -> bytes:
    blocks: list[Heading | Paragraph | Table | Figure] = [
        Heading("一、考评结果"),
        Paragraph(f"{report.label}包保区级领导考评经区委、区政府综合评定，结果如下。"),
        Table(COLUMNS, rows(report), caption=f"表1 {report.label}包保区级领导考评结果"),
    ]
    if report.entries:
        blocks.append(
            chart(
                f"{report.label}考评得分",
                [e.label for e in report.entries],
                [float(e.score) for e in report.entries],
                "得分",
                "图1 各包保线考评得分",
            )
        )
    blocks += [
        Heading("二、考评依据"),
        Table(EVIDENCE_COLUMNS, evidence_rows(report), caption="表2 考评依据"),
    ]
    return render_docx(
        OfficialDocument(title=TITLE, office=OFFICE, number=number, issued=issued, blocks=blocks)
    )


def to_xlsx(report: s.QuarterlyEvaluation, issued: datetime) -> bytes:
    return render_xlsx(
        [
            Sheet("考评结果", COLUMNS, rows(report)),
            Sheet("考评依据", EVIDENCE_COLUMNS, evidence_rows(report)),
        ],
        issued,
    )
