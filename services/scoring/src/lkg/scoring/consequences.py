"""结果运用 (§六(三)): who a published period puts on the lists the policy acts on.

* **约谈** (二是领导约谈): the units carded among a month's bottom 3 (红牌); their heads (主要负责同志) are
  interviewed by the district's leaders.
* **表态发言** (一是会议表态): the units graded 不合格; they speak at the director's office meeting
  (管委会主任办公会), and 督查室 and 重大项目办 supervise them closely (重点督查、督办). Line leaders
  (quarterly) are evaluated, not listed.

One definition for the consequences page (``GET /api/v1/evaluations/periods/{id}/consequences``) and for the
events that tell the people concerned (``evaluation.interview_listed``, ``evaluation.statement_listed``),
staged once, when the period is first published: a later correction's card changes go to 重大项目办's
review first (:mod:`lkg.scoring.publication`), and the page shows the lists as they stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from lkg.common.events import contracts as c
from lkg.common.events.base import Event
from lkg.scoring.service import PeriodView
from lkg.scoring.sheets import GRADE_ORDER, Sheet


@dataclass(frozen=True)
class Lists:
    interviews: list[UUID]
    """Carded units, in the ranking's order."""
    statements: list[UUID]
    """Units graded 不合格, by name."""


def lists_of(view: PeriodView) -> Lists:
    labels = {x.subject_id: x.subject_label for x in view.sheets}
    carded = list(view.bottom.carded) if view.bottom else []
    failing = sorted(
        {
            x.subject_id
            for x in view.sheets
            if x.final_grade is c.Grade.FAIL and x.subject_kind is not c.EvaluationSubject.LINE_LEADER
        },
        key=lambda u: labels[u],
    )
    return Lists(interviews=carded, statements=failing)


def listed_events(view: PeriodView, *, at: datetime) -> list[Event]:
    """The lists of a period being published, one event per list and unit."""
    found = lists_of(view)
    entries = {e.unit_id: e for e in view.ranking}
    sheets: dict[UUID, list[Sheet]] = {}
    for x in view.sheets:
        sheets.setdefault(x.subject_id, []).append(x)
    events: list[Event] = []
    for contract, units in (
        (c.EvaluationInterviewListed, found.interviews),
        (c.EvaluationStatementListed, found.statements),
    ):
        for unit in units:
            responsible_first = sorted(
                sheets[unit], key=lambda x: x.subject_kind is not c.EvaluationSubject.RESPONSIBLE_UNIT
            )
            first = responsible_first[0]
            entry = entries.get(unit)
            worst = min((x.final_grade for x in responsible_first), key=GRADE_ORDER.__getitem__)
            events.append(
                contract(
                    effective_at=at,
                    period_id=view.row.id,
                    period=view.span.contract,
                    subject_kind=first.subject_kind,
                    subject_id=unit,
                    subject_label=first.subject_label,
                    grade=entry.grade if entry is not None else worst,
                    rank=entry.rank if entry is not None else None,
                )
            )
    return events
