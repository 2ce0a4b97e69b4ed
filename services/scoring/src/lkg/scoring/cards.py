"""Supervision red cards on the monthly sheets (督查红牌, §五(三)): a card 督查室 confirmed in the month-end
round of a month counts against the carded unit's sheet of that month (the responsible unit's, or the host
unit's when it is about a meeting matter or is given to an approval department) until it is withdrawn
(撤销); a dismissed card (不予认定) never counts (docs/scoring.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import local_date
from lkg.scoring.evidence import CardDetail, Evidence
from lkg.scoring.models import red_card_fact
from lkg.scoring.periods import Span

#: What a red card is for, in the words the report prints (§五(三) four categories, §六(三) ranking).
CARD_REASON_LABEL = {
    "no_real_progress": "亿元以上新开工项目无实质进展",
    "behind_schedule": "亿元以上续建项目进度相对滞后",
    "not_enrolled": "项目未入统",
    "meeting_matter_overdue": "会议议定事项超过时限仍未解决",
    "bottom_of_ranking": "月度考核等级排名后3名",
}
CARD_SOURCE_LABEL = {"supervision": "月末督查", "ranking": "月度考核排名"}


@dataclass
class Cards:
    counted: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {"supervision_cards": self.counted}


def on_host_sheet(target_kind: str | None, reason: str | None) -> bool:
    """A card to an approval department (相关审批部门), or about a meeting matter the unit must solve, is
    about what the host-unit sheet measures (§六(一)三); any other is about the unit's projects
    (§六(一)二)."""
    return target_kind == "approval_department" or reason == "meeting_matter_overdue"


async def supervision_cards(
    session: AsyncSession, span: Span, as_of: datetime
) -> tuple[dict[UUID, Cards], dict[UUID, Cards]]:
    """Per unit, the supervision cards of the month ``span`` issued by ``as_of``, for its responsible-unit
    sheet and for its host-unit sheet: counted unless withdrawn by ``as_of`` (then shown, not counted)."""
    r = red_card_fact.c
    rows = (
        await session.execute(
            sa.select(red_card_fact)
            .where(
                r.source == "supervision",
                r.period_kind == "month",
                r.period_start == span.start,
                r.issued_at.is_not(None),
                r.issued_at <= as_of,
            )
            .order_by(r.issued_at, r.red_card_id)
        )
    ).all()
    units: dict[UUID, Cards] = defaultdict(Cards)
    hosts: dict[UUID, Cards] = defaultdict(Cards)
    for row in rows:
        acc = (hosts if on_host_sheet(row.target_kind, row.card_reason) else units)[row.target_unit_id]
        label = CARD_REASON_LABEL.get(row.card_reason or "", row.card_reason or "")
        issued_on = local_date(row.issued_at)
        withdrawn = row.withdrawn_at is not None and row.withdrawn_at <= as_of
        detail = CardDetail(
            source=row.source,
            reason=row.card_reason or "",
            reason_label=label,
            period_start=row.period_start,
            issued_on=issued_on,
            withdrawn_on=local_date(row.withdrawn_at) if withdrawn else None,
            withdrawal_reason=row.reason if withdrawn else None,
        )
        note = f"督查红牌（{label}）{issued_on.isoformat()}认定" + (f"：{row.note}" if row.note else "")
        if withdrawn:
            acc.evidence.append(
                Evidence(
                    "red_card",
                    row.red_card_id,
                    row.withdrawn_event_id,
                    f"{note}；{local_date(row.withdrawn_at).isoformat()}撤销（{row.reason}），不计",
                    "not_counted",
                    detail,
                )
            )
            continue
        acc.counted += 1
        acc.evidence.append(
            Evidence("red_card", row.red_card_id, row.issued_event_id, note, "red_card", detail)
        )
    return units, hosts


def with_cards(score: Decimal, cards: Cards | None, penalty: Decimal) -> Decimal:
    if cards is None or not cards.counted:
        return score
    return max(Decimal(0), score - penalty * cards.counted).quantize(Decimal("0.01"))
