"""Computed periods as the API shows them, filtered for the caller (:class:`lkg.scoring.access.Caller`)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.problems import NotFound
from lkg.scoring import consequences, publication, service
from lkg.scoring import schemas as s
from lkg.scoring.access import Caller
from lkg.scoring.sheets import Evidence, Sheet, line_labels


def _card(e: Evidence) -> s.RedCardEvidence | None:
    if e.card is None:
        return None
    return s.RedCardEvidence(
        red_card_id=e.id,
        source=e.card.source,
        reason=e.card.reason,
        reason_label=e.card.reason_label,
        period_start=e.card.period_start,
        issued_on=e.card.issued_on,
        withdrawn_on=e.card.withdrawn_on,
        withdrawal_reason=e.card.withdrawal_reason,
    )


def _evidence(items: list[Evidence]) -> list[s.EvidenceOut]:
    return [
        s.EvidenceOut(
            kind=e.kind, id=e.id, event_id=e.event_id, note=e.note, counts=e.counts, red_card=_card(e)
        )
        for e in items
    ]


def sheet_out(sheet: Sheet, corrections: list[s.SheetCorrection] | None = None) -> s.SheetOut:
    return s.SheetOut(
        subject_kind=sheet.subject_kind,
        subject_id=sheet.subject_id,
        subject_label=sheet.subject_label,
        score=sheet.score,
        proposed_grade=sheet.proposed_grade,
        grade=sheet.final_grade,
        grade_reason=sheet.grade_reason,
        figures=sheet.figures,
        evidence=_evidence(sheet.evidence),
        corrections=corrections or [],
    )


async def _leader_posts(session: AsyncSession, view: service.PeriodView) -> dict[UUID, UUID]:
    if view.span.kind.value != "quarter":
        return {}
    return {line: post for line, (_, post) in (await line_labels(session, view.span)).items()}


def _visible(caller: Caller, sheet: Sheet, posts: dict[UUID, UUID]) -> bool:
    return caller.sees_subject(sheet.subject_kind, sheet.subject_id, posts.get(sheet.subject_id))


def ranking_out(caller: Caller, view: service.PeriodView) -> list[s.RankingEntryOut]:
    carded = set(view.bottom.carded) if view.bottom else set()
    return [
        s.RankingEntryOut(
            rank=e.rank,
            unit_id=e.unit_id,
            label=e.label,
            score=e.score,
            grade=e.grade,
            subject_kinds=e.subject_kinds,
            carded=e.unit_id in carded,
            evidence=_evidence(e.evidence) if caller.sees_evidence_of_unit(e.unit_id) else None,
        )
        for e in view.ranking
    ]


async def period_out(session: AsyncSession, caller: Caller, row: Any) -> s.PeriodOut:
    view = await service.view_period(session, row)
    posts = await _leader_posts(session, view)
    sheets = [x for x in view.sheets if _visible(caller, x, posts)]
    if row.state != "published" and not caller.sees_all and not sheets:
        raise NotFound("没有该考核周期", code="period_not_found")  # a proposal is for those who decide
    corrections = await service.corrections_of(session, row.id)
    per_subject: dict[tuple[Any, UUID], list[s.SheetCorrection]] = {}
    previous = {(x.subject_kind, x.subject_id): x for x in view.sheets}
    for corr in corrections:
        later = await service.view_period(session, row, as_of=corr.as_of)
        now = {(x.subject_kind, x.subject_id): x for x in later.sheets}
        for key in set(previous) | set(now):
            a, b = previous.get(key), now.get(key)
            if (a and (a.score, a.final_grade)) != (b and (b.score, b.final_grade)):
                per_subject.setdefault(key, []).append(
                    s.SheetCorrection(
                        number=corr.number, score=b.score if b else None, grade=b.final_grade if b else None
                    )
                )
        previous = now
    tie = None
    if view.bottom is not None and view.bottom.tie_candidates:
        tie = s.TieOut(
            candidates=view.bottom.tie_candidates,
            places=view.bottom.tie_places,
            decided=view.bottom.tie_decided,
            decision=row.tie_decision,
        )
    published = row.state == "published"
    return s.PeriodOut(
        id=row.id,
        kind=row.kind,
        label=view.span.label,
        start=row.start,
        end=row.end,
        state=row.state,
        revision=row.revision,
        rule_version=row.rule_version,
        rule_label=view.rules.label,
        closes_at=row.closes_at,
        as_of=row.as_of,
        published_at=row.published_at,
        confirmed_by_name=row.confirmed_by_name,
        confirmation_note=row.confirmation_note,
        sheets=[sheet_out(x, per_subject.get((x.subject_kind, x.subject_id))) for x in sheets],
        ranking=ranking_out(caller, view) if (published or caller.sees_all) else [],
        carded=list(view.bottom.carded) if view.bottom and (published or caller.sees_all) else [],
        tie=tie if caller.sees_all else None,
        corrections=[r.number for r in corrections],
        updated_at=row.updated_at,
    )


async def corrections_out(session: AsyncSession, caller: Caller, row: Any) -> list[s.CorrectionOut]:
    if row.state != "published":
        return []
    out = []
    prev = await service.view_period(session, row)
    for corr in await service.corrections_of(session, row.id):
        after = await service.view_period(session, row, as_of=corr.as_of)
        posts = await _leader_posts(session, after)
        before_by = {(x.subject_kind, x.subject_id): x for x in prev.sheets}
        after_by = {(x.subject_kind, x.subject_id): x for x in after.sheets}
        changes = []
        for key in sorted(set(before_by) | set(after_by), key=lambda k: (k[0], str(k[1]))):
            a, b = before_by.get(key), after_by.get(key)
            if (a and (a.score, a.final_grade)) == (b and (b.score, b.final_grade)):
                continue
            sheet = b or a
            assert sheet is not None
            if not _visible(caller, sheet, posts):
                continue
            changes.append(
                s.ChangeOut(
                    subject_kind=key[0],
                    subject_id=key[1],
                    subject_label=sheet.subject_label,
                    before_score=a.score if a else None,
                    before_grade=a.final_grade if a else None,
                    score=b.score if b else None,
                    grade=b.final_grade if b else None,
                )
            )
        out.append(
            s.CorrectionOut(
                number=corr.number,
                cause_event_id=corr.cause_event_id,
                cause_event_type=corr.cause_event_type,
                as_of=corr.as_of,
                reason=corr.reason,
                card_review=corr.card_review,
                card_decision=corr.card_decision,
                carded_before=list(prev.bottom.carded) if prev.bottom else [],
                carded_after=list(after.bottom.carded) if after.bottom else [],
                changes=changes,
                created_at=corr.created_at,
            )
        )
        prev = after
    return out


async def consequences_out(session: AsyncSession, caller: Caller, row: Any) -> s.ConsequencesOut:
    if row.state != "published":
        raise NotFound("考核结果尚未发布", code="period_not_published")
    view = await service.view_period(session, row)
    labels = {x.subject_id: x.subject_label for x in view.sheets}
    found = consequences.lists_of(view)
    carded, failing = found.interviews, found.statements
    heads = await service.unit_heads(session, carded + failing, row.end)

    def listed(units: list[UUID]) -> list[s.PersonOnList]:
        return [
            s.PersonOnList(unit_id=u, unit_label=labels.get(u, str(u)), heads=heads.get(u, [])) for u in units
        ]

    cards = [s.CardOut(**card) for card in await publication.cards_of(session, row.id)]
    if not caller.sees_all:
        cards = [card for card in cards if caller.sees_evidence_of_unit(card.unit_id)]
    return s.ConsequencesOut(
        interviews=listed(carded), statements=listed(failing), key_supervision=listed(failing), cards=cards
    )


async def live_out(session: AsyncSession, caller: Caller, view: service.PeriodView) -> s.LiveOut:
    posts = await _leader_posts(session, view)
    return s.LiveOut(
        kind=view.span.kind,
        label=view.span.label,
        start=view.span.start,
        end=view.span.end,
        as_of=view.as_of,
        rule_label=view.rules.label,
        sheets=[sheet_out(x) for x in view.sheets if _visible(caller, x, posts)],
        ranking=ranking_out(caller, view),
    )


async def year_record_out(session: AsyncSession, caller: Caller, year: int) -> s.YearRecordOut:
    """Every published result of ``year`` (after its latest correction); a line leader's quarter lists who
    held the post and for how many days of it (a handover mid-quarter splits the record)."""
    entries: list[s.YearRecordEntry] = []
    rows = [r for r in await service.list_periods(session, kind=None, state="published", updated_since=None)]
    for row in sorted((r for r in rows if r.start.year == year), key=lambda r: (r.end, r.kind)):
        corrections = await service.corrections_of(session, row.id)
        view = await service.view_period(session, row, as_of=corrections[-1].as_of if corrections else None)
        posts = await _leader_posts(session, view)
        for sheet in view.sheets:
            if not _visible(caller, sheet, posts):
                continue
            tenure = [
                s.TenureOut(
                    person_id=h["person_id"],
                    name=h["name"],
                    start=h["from"],
                    end=h["to"],
                    days=(date.fromisoformat(h["to"]) - date.fromisoformat(h["from"])).days + 1,
                )
                for h in sheet.figures.get("holders", [])
            ]
            entries.append(
                s.YearRecordEntry(
                    period_id=row.id,
                    period_label=view.span.label,
                    subject_kind=sheet.subject_kind,
                    subject_id=sheet.subject_id,
                    subject_label=sheet.subject_label,
                    score=sheet.score,
                    grade=sheet.final_grade,
                    corrected=bool(corrections),
                    tenure=tenure,
                )
            )
    return s.YearRecordOut(year=year, entries=entries)
