"""The 月度通报 built from a published month's figures (never stored: computed from the facts and the
decisions as of the published cut-off, so it is the same document however often it is read)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import EvaluationSubject, Grade, PeriodKind
from lkg.common.http.problems import NotFound
from lkg.scoring import rankings, service
from lkg.scoring.cards import CARD_REASON_LABEL
from lkg.scoring.reports import schemas as s

GRADE_LABEL = {Grade.EXCELLENT: "优秀", Grade.PASS: "合格", Grade.FAIL: "不合格"}


async def published_months(session: AsyncSession) -> list[Any]:
    """Published months, oldest first (the order gives each bulletin its number, 第N期)."""
    rows = await service.list_periods(session, kind=PeriodKind.MONTH, state="published", updated_since=None)
    return sorted(rows, key=lambda row: row.start)


async def list_bulletins(session: AsyncSession) -> list[s.BulletinSummary]:
    return [
        s.BulletinSummary(
            period_id=row.id, label=service.span_of(row).label, number=n, published_at=row.published_at
        )
        for n, row in enumerate(await published_months(session), start=1)
    ]


async def monthly_bulletin(session: AsyncSession, pid: UUID) -> s.MonthlyBulletin:
    """The 月度通报 of the published month ``pid``; 404 ``bulletin_not_found`` otherwise."""
    months = await published_months(session)
    found = [(n, row) for n, row in enumerate(months, start=1) if row.id == pid]
    if not found:
        raise NotFound("该月考核结果尚未发布，没有月度通报", code="bulletin_not_found")
    number, row = found[0]
    view = await service.view_period(session, row)
    carded = list(view.bottom.carded) if view.bottom else []
    labels = {x.subject_id: x.subject_label for x in view.sheets}
    failing = sorted(
        {
            x.subject_id
            for x in view.sheets
            if x.final_grade is Grade.FAIL and x.subject_kind is not EvaluationSubject.LINE_LEADER
        },
        key=lambda u: labels[u],
    )
    heads = await service.unit_heads(session, carded + failing, row.end)

    def listed(units: list[UUID]) -> list[s.BulletinListed]:
        return [
            s.BulletinListed(unit_id=u, label=labels.get(u, str(u)), heads=heads.get(u, [])) for u in units
        ]

    def invested(rows: list[rankings.InvestmentRow]) -> list[s.BulletinInvestment]:
        return [
            s.BulletinInvestment(
                label=r.label, plan=r.plan, year_to_date=r.year_to_date, completion=r.completion
            )
            for r in rows
        ]

    as_of = min(rankings.month_end(row.start.year, row.start.month), row.as_of)
    entries = {e.unit_id: e.label for e in view.ranking}
    ranks = {e.unit_id: e.rank for e in view.ranking}
    # Supervision cards as the sheets counted them at the published cut-off; then the ranking's.
    cards = [
        s.BulletinCard(
            source=e.card.source,
            unit_id=x.subject_id,
            label=x.subject_label,
            reason=e.card.reason,
            reason_label=e.card.reason_label,
            red_card_id=e.id,
            issued_on=e.card.issued_on,
            note=e.note,
        )
        for x in view.sheets
        for e in x.evidence
        if e.card is not None and e.counts == "red_card"
    ]
    cards.sort(key=lambda x: (x.issued_on or row.end, x.label, str(x.red_card_id)))
    cards += [
        s.BulletinCard(
            source="ranking",
            unit_id=u,
            label=entries.get(u, labels.get(u, str(u))),
            reason="bottom_of_ranking",
            reason_label=CARD_REASON_LABEL["bottom_of_ranking"],
            red_card_id=None,
            issued_on=None,
            note=f"月度考核等级排名第{ranks[u]}名" if u in ranks else "月度考核等级排名后3名",
        )
        for u in sorted(carded, key=lambda u: (ranks.get(u, 0), entries.get(u, labels.get(u, str(u)))))
    ]
    return s.MonthlyBulletin(
        period_id=row.id,
        label=view.span.label,
        number=number,
        start=row.start,
        end=row.end,
        as_of=row.as_of,
        published_at=row.published_at,
        ranking=[
            s.BulletinEntry(
                rank=e.rank,
                unit_id=e.unit_id,
                label=e.label,
                score=e.score,
                grade=e.grade,
                carded=e.unit_id in carded,
            )
            for e in view.ranking
        ],
        carded=[entries.get(u, labels.get(u, str(u))) for u in carded],
        interviews=listed(carded),
        statements=listed(failing),
        investment_by_line=invested(await rankings.investment(session, row.start.year, "line", as_of)),
        investment_by_unit=invested(await rankings.investment(session, row.start.year, "unit", as_of)),
        red_cards=cards,
    )
