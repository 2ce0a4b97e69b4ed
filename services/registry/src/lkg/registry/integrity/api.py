"""HTTP routes of the integrity reviews (诚信履约回头看, §四(四)), under the register's prefix."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from lkg.common.http.query import StrictQuery
from lkg.registry.deps import AnyCaller, OfficeCaller, ReviewerCaller, Runtime, Session, UnitOfWork
from lkg.registry.integrity import rounds, service
from lkg.registry.integrity.schemas import ReviewIn, ReviewOut, RoundOut
from lkg.registry.projects.changes import visible_project

router = APIRouter(
    prefix="/api/v1/projects",
    dependencies=[StrictQuery],
    responses={404: {"description": "项目不存在或不在可见范围 / no such project within reach"}},
)


@router.get(
    "/integrity-rounds",
    response_model=list[RoundOut],
    summary="回头看轮次 Integrity review rounds",
    description="定期回头看（§四(四)）：每轮到期日前核查全部在库项目；逾期记在督查室名下。/ Every round, "
    "newest first; a missed one is recorded against 督查室.",
)
async def integrity_rounds(session: Session, _: OfficeCaller) -> list[RoundOut]:
    return [RoundOut.model_validate(r) for r in await rounds.rounds(session)]


@router.get("/{project_id}/integrity-reviews", response_model=list[ReviewOut], summary="回头看记录 Reviews")
async def reviews(project_id: UUID, session: Session, caller: AnyCaller) -> list[ReviewOut]:
    await visible_project(session, caller, project_id)
    return [ReviewOut.model_validate(r) for r in await service.reviews_of(session, project_id)]


@router.post(
    "/{project_id}/integrity-reviews",
    status_code=201,
    response_model=ReviewOut,
    summary="登记诚信履约回头看 Record an integrity review",
    description="区政府督查室会同区商务局核查（§四(四)）；核查发现即项目的诚信标记，发布 "
    "`integrity_review.recorded` 供跟踪督办。/ By 督查室 or 商务局; the findings become the project's "
    "integrity flags.",
)
async def record(
    project_id: UUID, body: ReviewIn, session: UnitOfWork, runtime: Runtime, caller: ReviewerCaller
) -> ReviewOut:
    await visible_project(session, caller, project_id)
    review = await service.record_review(
        session,
        runtime.clock,
        project_id,
        reviewed_on=body.reviewed_on,
        reviewers=body.reviewers,
        findings=body.findings,
        evidence=body.evidence,
        reviewer_person_id=caller.principal.person_id,
        actor=caller.actor,
    )
    return ReviewOut.model_validate(review)
