"""Routes of regional assessments (区域评估): ``/api/v1/regional-assessments``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.assessments import service
from lkg.approvals.assessments.schemas import (
    RegionalAssessmentCreate,
    RegionalAssessmentOut,
    RegionalAssessmentPage,
    RegionalAssessmentUpdate,
)
from lkg.approvals.deps import CurrentCaller, Runtime, Session, UnitOfWork
from lkg.approvals.models import RegionalAssessment
from lkg.approvals.settings import ApprovalsRuntime
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery

router = APIRouter(prefix="/api/v1/regional-assessments", tags=["regional-assessments"])

_DAYS = ("issued_on", "valid_from", "valid_to")


def _values(body: RegionalAssessmentCreate | RegionalAssessmentUpdate, *, unset: bool) -> dict[str, Any]:
    """The body as the table stores it: lists as JSON (ids as strings), days and the unit id as they are."""
    values = body.model_dump(mode="json", exclude_unset=unset)
    for name in (*_DAYS, "issuing_unit_id"):
        if name in values:
            values[name] = getattr(body, name)
    return values


async def _out(
    session: AsyncSession, runtime: ApprovalsRuntime, found: list[RegionalAssessment]
) -> list[RegionalAssessmentOut]:
    counts = await service.plans_applied(session, [a.id for a in found])
    now = runtime.clock.now()
    return [
        RegionalAssessmentOut.model_validate(
            {
                **{name: getattr(a, name) for name in RegionalAssessmentOut.model_fields if hasattr(a, name)},
                "in_force": service.is_in_force(a, now),
                "plans_applied": counts.get(a.id, 0),
            }
        )
        for a in found
    ]


@router.get("", response_model=RegionalAssessmentPage, summary="区域评估列表 Regional assessments")
async def list_regional_assessments(
    session: Session, runtime: Runtime, _caller: CurrentCaller, page: PageQuery
) -> RegionalAssessmentPage:
    found, next_cursor = await service.list_assessments(session, page=page)
    return RegionalAssessmentPage(items=await _out(session, runtime, found), next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=RegionalAssessmentOut,
    summary="登记区域评估 Record a regional assessment",
    description=(
        "行政审批局或重大项目办登记；即时作用于范围内项目的审批计划（有效期起在今后的，到期日作用）；"
        "支持 `Idempotency-Key`。/ Applied at once to the plans of projects in its area (or on its "
        "valid_from day)."
    ),
)
async def create_regional_assessment(
    body: RegionalAssessmentCreate,
    request: Request,
    session: UnitOfWork,
    runtime: Runtime,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def create() -> Response:
        assessment = await service.create_assessment(
            session,
            caller=caller,
            calendar=runtime.calendar,
            clock=runtime.clock,
            values=_values(body, unset=False),
        )
        [out] = await _out(session, runtime, [assessment])
        return JSONResponse(
            out.model_dump(mode="json"),
            status_code=201,
            headers={
                "Location": f"{router.prefix}/{assessment.id}",
                **etag_header(assessment.id, assessment.revision),
            },
        )

    return await idempotent_create(
        session,
        principal=caller.principal.key,
        key=idempotency_key,
        method="POST",
        path=request.url.path,
        request_hash=request_hash(body),
        create=create,
    )


@router.get("/{assessment_id}", response_model=RegionalAssessmentOut, summary="区域评估 One assessment")
async def get_regional_assessment(
    assessment_id: UUID, response: Response, session: Session, runtime: Runtime, _caller: CurrentCaller
) -> RegionalAssessmentOut:
    found = await service.get_assessment(session, assessment_id)
    response.headers.update(etag_header(found.id, found.revision))
    [out] = await _out(session, runtime, [found])
    return out


@router.patch(
    "/{assessment_id}",
    response_model=RegionalAssessmentOut,
    summary="修改区域评估 Change an assessment (If-Match)",
)
async def update_regional_assessment(
    assessment_id: UUID,
    body: RegionalAssessmentUpdate,
    response: Response,
    session: UnitOfWork,
    runtime: Runtime,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> RegionalAssessmentOut:
    current = await service.get_assessment(session, assessment_id)
    check_if_match(if_match, etag_for(current.id, current.revision))
    assessment = await service.update_assessment(
        session,
        caller=caller,
        calendar=runtime.calendar,
        clock=runtime.clock,
        assessment=current,
        expected_revision=current.revision,
        changes=_values(body, unset=True),
    )
    response.headers.update(etag_header(assessment.id, assessment.revision))
    [out] = await _out(session, runtime, [assessment])
    return out
