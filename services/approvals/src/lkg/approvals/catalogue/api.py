"""Routes of the approval catalogue: ``/api/v1/approval-catalogue``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from lkg.approvals.catalogue import service
from lkg.approvals.deps import Runtime, Session, UnitOfWork
from lkg.approvals.models import CatalogueItem
from lkg.approvals.schemas import CatalogueItemCreate, CatalogueItemOut, CatalogueItemUpdate, CatalogueList
from lkg.common.auth import CurrentPrincipal, Principal, Role, require_roles
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header

CatalogueEditor = Annotated[
    Principal, Depends(require_roles(Role.APPROVAL_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))
]

router = APIRouter(prefix="/api/v1/approval-catalogue", tags=["approval-catalogue"])


def _out(entry: CatalogueItem) -> CatalogueItemOut:
    return CatalogueItemOut.model_validate(entry, from_attributes=True)


@router.get("", response_model=CatalogueList, summary="审批事项目录 The approval catalogue")
async def list_catalogue(session: Session, _: CurrentPrincipal) -> CatalogueList:
    return CatalogueList(items=[_out(e) for e in await service.list_catalogue(session)])


@router.post(
    "", status_code=201, response_model=CatalogueItemOut, summary="新增审批事项 Add an approval kind"
)
async def create_catalogue_item(
    body: CatalogueItemCreate, response: Response, session: UnitOfWork, runtime: Runtime, _: CatalogueEditor
) -> CatalogueItemOut:
    values = body.model_dump(mode="json")
    values["handling_unit_id"] = body.handling_unit_id
    entry = await service.create_catalogue_item(session, clock=runtime.clock, values=values)
    response.headers.update(etag_header(entry.id, entry.revision))
    return _out(entry)


@router.get("/{item_id}", response_model=CatalogueItemOut, summary="审批事项 One approval kind")
async def get_catalogue_item(
    item_id: UUID, response: Response, session: Session, _: CurrentPrincipal
) -> CatalogueItemOut:
    entry = await service.get_catalogue_item(session, item_id)
    response.headers.update(etag_header(entry.id, entry.revision))
    return _out(entry)


@router.patch(
    "/{item_id}",
    response_model=CatalogueItemOut,
    summary="修改审批事项 Change an approval kind",
    description="需要 `If-Match`。已生成的审批计划保留原值 / plans already made keep their copy.",
)
async def update_catalogue_item(
    item_id: UUID,
    body: CatalogueItemUpdate,
    response: Response,
    session: UnitOfWork,
    runtime: Runtime,
    _: CatalogueEditor,
    if_match: IfMatch = None,
) -> CatalogueItemOut:
    current = await service.get_catalogue_item(session, item_id)
    check_if_match(if_match, etag_for(current.id, current.revision))
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "handling_unit_id" in changes:
        changes["handling_unit_id"] = body.handling_unit_id
    entry = await service.update_catalogue_item(
        session, clock=runtime.clock, item_id=item_id, expected_revision=current.revision, changes=changes
    )
    response.headers.update(etag_header(entry.id, entry.revision))
    return _out(entry)
