"""The monthly ranking of units (月度考核排名) and its bottom (§六(三)).

A unit's monthly entry joins its sheets of the month (responsible unit, street/office/department): its
grade is the lower of its grades (below plan in either is below plan), its score the mean of its scores.
The ranking orders by grade, then score (等级排名), best first; equal keys share a rank (1, 2, 2, 4).

The bottom ``n`` (3 in 2020) are the carded candidates. With ``cards_need_fail_grade`` (the 2020 rule) only
those graded 不合格 among them get a card: a red card sanctions 推进不力、解决问题不及时, which a unit on
plan is not. When the units at the boundary share one key and not all of them fit, the proposal names
them and how many places are left: 重大项目办 decides (a recorded decision), never the sort order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from lkg.common.events.contracts import EvaluationSubject, Grade
from lkg.scoring.rules import Consequences
from lkg.scoring.sheets import GRADE_ORDER, Evidence, Sheet

_UNIT_KINDS = (EvaluationSubject.RESPONSIBLE_UNIT, EvaluationSubject.HOST_UNIT)


@dataclass
class Entry:
    rank: int
    unit_id: UUID
    label: str
    score: Decimal
    grade: Grade
    subject_kinds: list[EvaluationSubject]
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, Decimal]:
        return (GRADE_ORDER[self.grade], self.score)


@dataclass
class Bottom:
    carded: list[UUID]
    """Units carded (before a pending tie is decided: only those below the tie)."""
    tie_candidates: list[UUID]
    """Units sharing the boundary key when not all fit; empty when there is no tie."""
    tie_places: int
    tie_decided: bool


def rank_units(sheets: list[Sheet]) -> list[Entry]:
    by_unit: dict[UUID, list[Sheet]] = {}
    for s in sheets:
        if s.subject_kind in _UNIT_KINDS:
            by_unit.setdefault(s.subject_id, []).append(s)
    entries = []
    for unit, own in by_unit.items():
        grade = min((s.final_grade for s in own), key=lambda g: GRADE_ORDER[g])
        score = (sum((s.score for s in own), Decimal(0)) / len(own)).quantize(Decimal("0.01"))
        evidence = [e for s in own for e in s.evidence]
        entries.append(
            Entry(0, unit, own[0].subject_label, score, grade, [s.subject_kind for s in own], evidence)
        )
    entries.sort(key=lambda e: (-GRADE_ORDER[e.grade], -e.score, e.label, str(e.unit_id)))
    for i, e in enumerate(entries):
        e.rank = entries[i - 1].rank if i and entries[i - 1].key == e.key else i + 1
    return entries


def bottom(entries: list[Entry], rule: Consequences, tie_decision: dict[str, Any] | None) -> Bottom:
    n = rule.bottom
    if n == 0 or not entries:
        return Bottom([], [], 0, False)
    ascending = list(reversed(entries))
    boundary = ascending[min(n, len(ascending)) - 1].key
    below = [e for e in ascending if e.key < boundary]
    at = [e for e in ascending if e.key == boundary]

    def eligible(e: Entry) -> bool:
        return e.grade is Grade.FAIL or not rule.cards_need_fail_grade

    carded = [e.unit_id for e in below if eligible(e)]
    places = n - len(below)
    if len(at) <= places:
        return Bottom(carded + [e.unit_id for e in at if eligible(e)], [], 0, False)
    if not eligible(at[0]):  # one key, one grade: the whole boundary group is out of the cards
        return Bottom(carded, [], 0, False)
    candidates = sorted((e.unit_id for e in at), key=str)
    if tie_decision is not None:
        chosen = [UUID(u) for u in tie_decision["carded"]]
        return Bottom(carded + chosen, candidates, places, True)
    return Bottom(carded, candidates, places, False)
