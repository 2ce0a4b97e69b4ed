"""Use cases of the integrity reviews (诚信履约"回头看", §四(四)): "区政府督查室会同区商务局定期对招商
引资项目开展诚信履约'回头看' ... 对于不履行合同、逾期不开工、占而未建、慢建久拖项目进行跟踪督办".

A review is recorded by 督查室 or 商务局 (who, when, what it found, on what evidence); the project's four
integrity flags follow the latest review and are set by nothing else (重大项目办's ``/flags`` cannot change
them). ``integrity_review.recorded`` carries the findings, for the follow-up (跟踪督办) on the responsible
unit. Use cases never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import IntegrityFlag, IntegrityReviewRecorded, ProjectStatus
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, ValidationFailed
from lkg.registry.integrity.models import IntegrityReview
from lkg.registry.org import service as org
from lkg.registry.projects.changes import bump, get_project, project_fact


async def record_review(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    reviewed_on: date,
    reviewers: str,
    findings: Sequence[IntegrityFlag],
    evidence: str,
    reviewer_person_id: str | None,
    actor: str,
) -> IntegrityReview:
    """One review; the project's flags become its findings (``project.changed`` when they differ). 422
    ``review_in_future`` for a date after today; 409 ``project_not_active`` for a terminated project."""
    now = clock.now()
    if reviewed_on > now.date():
        raise ValidationFailed("核查日期不能晚于今天", code="review_in_future")
    project = await get_project(session, project_id)
    if project.status != ProjectStatus.ACTIVE.value:
        raise Conflict("项目已解约或已销号", code="project_not_active")
    flags = sorted({f.value for f in findings})
    # The units the recording person acts for that day (督查室, 商务局), from the directory, never the body.
    units: set[uuid.UUID] = set()
    if reviewer_person_id is not None:
        directory = await org.load_directory(session, kinds=["post", "holding"])
        for holding in directory.holdings.values():
            post = directory.posts.get(holding.post_id)
            if str(holding.person_id) == reviewer_person_id and holding.in_force(now.date()) and post:
                units.add(post.unit_id)
    review = IntegrityReview(
        id=uuid.uuid4(),
        project_id=project_id,
        reviewed_on=reviewed_on,
        reviewers=reviewers,
        reviewer_unit_ids=sorted(units, key=str),
        findings=flags,
        evidence=evidence,
        actor=actor,
        recorded_at=now,
    )
    session.add(review)
    await session.flush()
    if project.integrity_flags != flags:
        before = project.integrity_flags
        project.integrity_flags = flags
        await bump(
            session,
            clock,
            project,
            action="integrity_reviewed",
            actor=actor,
            reason=f"诚信履约回头看（{reviewed_on.isoformat()}）",
            changes={"integrity_flags": (before, flags)},
        )
    await stage(
        session,
        IntegrityReviewRecorded(
            **project_fact(project, clock),
            review_id=review.id,
            reviewed_on=reviewed_on,
            findings=tuple(IntegrityFlag(f) for f in flags),
            evidence=evidence,
            reviewer_unit_ids=tuple(review.reviewer_unit_ids),
        ),
    )
    return review


async def reviews_of(session: AsyncSession, project_id: uuid.UUID) -> list[IntegrityReview]:
    rows = await session.execute(
        sa.select(IntegrityReview)
        .where(IntegrityReview.project_id == project_id)
        .order_by(IntegrityReview.reviewed_on, IntegrityReview.recorded_at)
    )
    return list(rows.scalars())
