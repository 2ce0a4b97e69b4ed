"""The red-card register (红牌, §五(三), §六(三)): what a caller sees of it, 督查室's decisions on a card, and
the cards a monthly ranking asks for.

Red cards come from two places only (docs/issues.md#red-cards): the supervision office's month-end round
(:mod:`lkg.issues.supervision.rounds`) and the bottom 3 of a monthly ranking (``red_card.requested`` from
scoring). 督查室 records field checks (明查暗访、实地核实) on a proposed card, then confirms it
(``red_card.issued``) or dismisses it with a reason (``red_card.dismissed``). Referral to 区纪委监委 needs the
L2 leader's consent first, an audited step.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Role
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, Forbidden, NotFound, ValidationFailed
from lkg.common.orgcopy import in_force
from lkg.issues.access import Caller, person_uuid
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, record
from lkg.issues.models import org_copy
from lkg.issues.settings import IssuesRuntime
from lkg.issues.supervision.models import red_card, supervision_report, supervision_round

BY_CREATED = Keyset(sort=red_card.c.created_at, id=red_card.c.id, name="created")
BY_OPENED = Keyset(sort=supervision_round.c.opened_at, id=supervision_round.c.id, name="opened")


def card_event(cls: type, card: Any, **extra: Any) -> Any:
    return cls(
        effective_at=extra.pop("at"),
        red_card_id=card.id,
        target=c.RedCardTarget(
            unit_id=card.target_unit_id,
            unit_name=card.target_unit_name,
            kind=c.RedCardTargetKind(card.target_kind),
        ),
        source=c.RedCardSource(card.source),
        reason=c.RedCardReason(card.reason),
        period=c.Period(kind=c.PeriodKind(card.period_kind), start=card.period_start, end=card.period_end),
        project_id=card.project_id,
        supervision_round_id=card.supervision_round_id,
        request_id=card.request_id,
        evidence=tuple(c.EvidenceRef.model_validate(e) for e in card.evidence),
        **extra,
    )


# ---- what a caller sees -----------------------------------------------------------------------------


async def list_cards(
    session: AsyncSession,
    caller: Caller,
    page: PageParams,
    *,
    state: Literal["proposed", "issued", "dismissed", "withdrawn"] | None = None,
    round_id: UUID | None = None,
) -> tuple[list[Any], str | None]:
    """The cards the caller sees, oldest first, one keyset page at a time."""
    stmt = sa.select(red_card)
    if (visible := caller.card_visibility()) is not None:
        stmt = stmt.where(visible)
    if state is not None:
        stmt = stmt.where(red_card.c.state == state)
    if round_id is not None:
        stmt = stmt.where(red_card.c.supervision_round_id == round_id)
    return await fetch_page(session, stmt, BY_CREATED, page, scalars=False)


async def list_rounds(session: AsyncSession, page: PageParams) -> tuple[list[Any], str | None]:
    """The month-end rounds opened so far, in the order they opened (month by month), each with its report's
    number and issue time once issued."""
    stmt = sa.select(
        supervision_round,
        supervision_report.c.number.label("report_number"),
        supervision_report.c.issued_at.label("report_issued_at"),
    ).outerjoin(supervision_report, supervision_report.c.supervision_round_id == supervision_round.c.id)
    return await fetch_page(session, stmt, BY_OPENED, page, scalars=False)


async def get_card(session: AsyncSession, card_id: UUID, caller: Caller) -> Any:
    """The card if the caller may see it; 404 otherwise (hidden and missing look the same)."""
    stmt = sa.select(red_card).where(red_card.c.id == card_id)
    if (visible := caller.card_visibility()) is not None:
        stmt = stmt.where(visible)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("红牌不存在", code="red_card_not_found")
    return row


# ---- decisions on a card ----------------------------------------------------------------------------


def _supervisor(caller: Caller) -> None:
    if not caller.supervises:
        raise Forbidden("只有区政府督查室可以确认或撤销红牌", code="forbidden")


async def _decided(
    session: AsyncSession,
    caller: Caller,
    card: Any,
    expected: int,
    values: dict[str, Any],
    at: datetime,
    action: str,
    detail: dict[str, Any] | None = None,
    layer: int | None = None,
) -> Any:
    """Change ``card`` if it is still at revision ``expected`` (412 otherwise) and append the caller's
    ``action`` to its audit trail; the card as it stands."""
    await update_if_revision(session, red_card, card.id, expected, {**values, "updated_at": at})
    card = (await session.execute(sa.select(red_card).where(red_card.c.id == card.id))).one()
    await record(
        session,
        card,
        action,
        actor=caller.actor,
        actor_name=caller.name,
        at=at,
        layer=layer,
        subject_kind="red_card",
        detail=detail,
    )
    return card


async def add_field_check(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    method: str,
    note: str,
) -> Any:
    """明查暗访、实地核实: 督查室 records what it found on the spot."""
    _supervisor(caller)
    if card.state != "proposed":
        raise Conflict("只能对待确认的红牌记录核查", code="invalid_state")
    now = runtime.clock.now()
    checks = [*card.field_checks, {"method": method, "note": note, "at": now.isoformat(), "by": caller.actor}]
    return await _decided(
        session,
        caller,
        card,
        expected_revision,
        {"field_checks": checks},
        now,
        "field_checked",
        {"method": method, "note": note},
    )


async def _decide(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    expected_revision: int,
    state: Literal["issued", "dismissed"],
    reason: str | None = None,
) -> Any:
    """督查室 decides on a proposed card: issued or dismissed (with a reason), with exactly one
    ``red_card.issued`` or ``red_card.dismissed``."""
    _supervisor(caller)
    if card.state != "proposed":
        raise Conflict("该红牌已处理", code="invalid_state")
    now = runtime.clock.now()
    person = caller.principal.person_id
    values: dict[str, Any] = {"state": state, "decided_by_person_id": person, "decided_at": now}
    if state == "dismissed":
        values["dismissal_reason"] = reason
    detail = {"reason": reason} if state == "dismissed" else None
    card = await _decided(session, caller, card, expected_revision, values, now, state, detail)
    if state == "issued":
        event = card_event(c.RedCardIssued, card, at=now, confirmed_by_person_id=person_uuid(person))
    else:
        by = person_uuid(person) or uuid.UUID(int=0)
        event = card_event(
            c.RedCardDismissed, card, at=now, dismissal_reason=reason, dismissed_by_person_id=by
        )
    await stage(session, event)
    return card


async def confirm(
    session: AsyncSession, runtime: IssuesRuntime, caller: Caller, card: Any, *, expected_revision: int
) -> Any:
    """督查室 confirms a proposed card: exactly one ``red_card.issued``."""
    return await _decide(session, runtime, caller, card, expected_revision, "issued")


async def dismiss(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """督查室 dismisses a proposed card with a reason: exactly one ``red_card.dismissed``."""
    return await _decide(session, runtime, caller, card, expected_revision, "dismissed", reason)


async def withdraw(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """Withdraw (撤销) an issued card with a reason: exactly one ``red_card.withdrawn``, after which scoring
    stops counting it (a numbered correction once its month is published).

    * A **ranking** card (§六(三)) is 重大项目办's to withdraw, when a scoring correction took its unit out of
      the month's bottom 3.
    * A **supervision** card (§五(三)) is 督查室's, after a review (复核) found the finding wrong, e.g. the
      statistics bureau confirms the project was enrolled in time; only before a referral is asked for (a
      card on its way to 区纪委监委 is decided there, not here).
    """
    if card.source == "ranking":
        if not caller.principal.has_role(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN):
            raise Forbidden("只有区重大项目办可以撤销排名红牌", code="forbidden")
    elif not caller.supervises:
        raise Forbidden("只有区政府督查室可以撤销督查红牌", code="forbidden")
    if card.state != "issued":
        raise Conflict("只能撤销已发出的红牌", code="invalid_state")
    if card.referral_state != "none":
        raise Conflict("已提请移交区纪委监委的红牌不能撤销", code="referral_in_progress")
    now = runtime.clock.now()
    person = caller.principal.person_id
    values = {
        "state": "withdrawn",
        "withdrawal_reason": reason,
        "decided_by_person_id": person,
        "decided_at": now,
    }
    card = await _decided(
        session, caller, card, expected_revision, values, now, "withdrawn", {"reason": reason}
    )
    by = person_uuid(person) or uuid.UUID(int=0)
    await stage(
        session,
        card_event(c.RedCardWithdrawn, card, at=now, withdrawal_reason=reason, withdrawn_by_person_id=by),
    )
    return card


async def request_referral(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    note: str,
) -> Any:
    """提请移交: 督查室 asks the line leader of an issued card's project to consent to referring the case
    to 区纪委监委 (§五(三)); one ``red_card.referral_requested`` names the leader's post whose consent is
    awaited. A card with no line (an unrouted project, a ranking card) has no such leader: 409
    ``no_line_leader``."""
    _supervisor(caller)
    if card.state != "issued" or card.referral_state != "none":
        raise Conflict("只有已发出且未提请移交的红牌可以提请移交", code="invalid_state")
    now = runtime.clock.now()
    lines = org_copy.lines
    leader_post = None
    if card.line_id is not None:
        leader_post = await session.scalar(
            sa.select(lines.c.leader_post_id).where(lines.c.id == card.line_id, in_force(lines, now.date()))
        )
    if leader_post is None:
        raise Conflict("该红牌没有包保区级领导可以同意移交", code="no_line_leader")
    card = await _decided(
        session,
        caller,
        card,
        expected_revision,
        {"referral_state": "requested"},
        now,
        "referral_requested",
        {"note": note, "leader_post_id": str(leader_post)},
    )
    person = person_uuid(caller.principal.person_id)
    event = card_event(
        c.RedCardReferralRequested,
        card,
        at=now,
        line_id=card.line_id,
        leader_post_id=leader_post,
        requested_by_person_id=person,
    )
    await stage(session, event)
    return card


async def consent_to_referral(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    note: str,
) -> Any:
    """The L2 leader of the card's line consents to referring the case to 区纪委监委 (§五(三)): when 督查室
    asked (``requested``) or on the leader's own initiative (``none``)."""
    if not caller.leads_line_of(card):
        raise Forbidden("须由该项目的包保区级领导同意", code="forbidden")
    if card.state != "issued" or card.referral_state not in ("none", "requested"):
        raise Conflict("只有已发出且未移交的红牌可以同意移交", code="invalid_state")
    now = runtime.clock.now()
    return await _decided(
        session,
        caller,
        card,
        expected_revision,
        {"referral_state": "consented"},
        now,
        "referral_consented",
        {"note": note},
        layer=2,
    )


async def refer(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    note: str,
) -> Any:
    """提交区纪委监委问责: only after the L2 leader's consent."""
    _supervisor(caller)
    if card.referral_state != "consented":
        raise Conflict("须先经包保区级领导同意后方可提交区纪委监委", code="consent_required")
    now = runtime.clock.now()
    return await _decided(
        session,
        caller,
        card,
        expected_revision,
        {"referral_state": "referred", "referred_at": now},
        now,
        "referred",
        {"note": note},
    )


async def record_referral_outcome(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    card: Any,
    *,
    expected_revision: int,
    outcome: Literal["accountability_taken", "no_accountability"],
    note: str,
    decided_on: date,
) -> Any:
    """问责结果: 督查室 records what 区纪委监委 decided on a referred card (accountability taken or none,
    with a note and the day it decided), once; exactly one ``red_card.referral_concluded`` (§五(三))."""
    _supervisor(caller)
    if card.referral_state != "referred":
        raise Conflict("只有已移交区纪委监委的红牌可以登记问责结果", code="invalid_state")
    now = runtime.clock.now()
    referred_on = card.referred_at.astimezone(now.tzinfo).date() if card.referred_at else None
    if decided_on > now.date() or (referred_on is not None and decided_on < referred_on):
        raise ValidationFailed(
            "问责结果的作出日期须在移交之日与今天之间",
            code="invalid_decision_date",
            errors=[{"loc": ["body", "decided_on"], "msg": "须在移交之日与今天之间", "type": "value_error"}],
        )
    person = caller.principal.person_id
    values = {
        "referral_state": "concluded",
        "referral_outcome": outcome,
        "referral_outcome_note": note,
        "referral_outcome_on": decided_on,
        "referral_outcome_by_person_id": person,
        "referral_outcome_by_name": caller.name,
        "referral_outcome_recorded_at": now,
    }
    detail = {"outcome": outcome, "note": note, "decided_on": decided_on.isoformat()}
    card = await _decided(session, caller, card, expected_revision, values, now, "referral_concluded", detail)
    await stage(
        session,
        card_event(
            c.RedCardReferralConcluded,
            card,
            at=now,
            outcome=c.ReferralOutcome(outcome),
            note=note,
            decided_on=decided_on,
            line_id=card.line_id,
            recorded_by_person_id=person_uuid(person),
        ),
    )
    return card


async def add_card(
    session: AsyncSession, *, at: datetime, action: str, detail: dict[str, Any], **values: Any
) -> Any | None:
    """A new card (revision 1, created at ``at``) with the service's ``action`` in its audit trail, unless its
    candidate key or request id is already in the register (then nothing changes and None is returned)."""
    card = (
        await session.execute(
            pg_insert(red_card)
            .values(id=uuid.uuid4(), revision=1, created_at=at, updated_at=at, **values)
            .on_conflict_do_nothing()
            .returning(red_card)
        )
    ).first()
    if card is not None:
        await record(
            session,
            card,
            action,
            actor=SYSTEM,
            actor_name=SYSTEM_NAME,
            at=at,
            subject_kind="red_card",
            detail=detail,
        )
    return card


async def issue_ranking_card(session: AsyncSession, event: c.RedCardRequested) -> bool:
    """A ranking card (bottom 3 of the monthly ranking, §六(三)), issued once per request: a repeated
    request (the same ``request_id``, whatever its event id) changes nothing. Returns whether it issued."""
    at = event.effective_at
    card = await add_card(
        session,
        at=at,
        action="issued",
        detail={"request_id": str(event.request_id), "rank": event.rank},
        state="issued",
        source="ranking",
        reason="bottom_of_ranking",
        target_unit_id=event.target.unit_id,
        target_unit_name=event.target.unit_name,
        target_kind=str(event.target.kind),
        request_id=event.request_id,
        period_kind=str(event.period.kind),
        period_start=event.period.start,
        period_end=event.period.end,
        evidence=[e.model_dump(mode="json") for e in event.evidence],
        decided_at=at,
    )
    if card is None:
        return False
    await stage(session, card_event(c.RedCardIssued, card, at=at))
    return True
