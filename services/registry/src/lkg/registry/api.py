"""HTTP routes of the registry: thin — validate, call one use case, commit once, return a schema."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, Principal, Role, require_roles
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery, UpdatedSince
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry import service
from lkg.registry.schemas import ProjectCreate, ProjectOut, ProjectPage, ProjectUpdate

Session = Annotated[AsyncSession, Depends(session_for("registry"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("registry"))]
#: Until the org directory gives units their reach, only the mechanism's office edits the register.
Editor = Annotated[Principal, Depends(require_roles(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))]


def _out(project) -> ProjectOut:
    return ProjectOut.model_validate(project, from_attributes=True)


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/projects")

    @r.post(
        "",
        status_code=201,
        response_model=ProjectOut,
        summary="登记项目 Register a project",
        description="新项目进入项目库并发布 `project.registered`；支持 `Idempotency-Key`。",
    )
    async def register_project(
        request: Request,
        body: ProjectCreate,
        session: Session,
        runtime: Runtime,
        principal: Editor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def create() -> Response:
            project = await service.register_project(session, runtime.clock, body)
            return JSONResponse(
                _out(project).model_dump(mode="json"),
                status_code=201,
                headers={
                    **etag_header(project.id, project.revision),
                    "Location": f"/api/v1/projects/{project.id}",
                },
            )

        response = await idempotent_create(
            session,
            principal=principal.key,
            key=idempotency_key,
            method="POST",
            path=request.url.path,
            request_hash=request_hash(body),
            create=create,
        )
        await session.commit()
        return response

    @r.get("", response_model=ProjectPage, summary="项目列表 List projects")
    async def list_projects(
        session: Session, _: CurrentPrincipal, page: PageQuery, updated_since: UpdatedSince = None
    ) -> ProjectPage:
        items, next_cursor = await service.list_projects(session, page, updated_since=updated_since)
        return ProjectPage(items=[_out(p) for p in items], next_cursor=next_cursor)

    @r.get("/{project_id}", response_model=ProjectOut, summary="项目详情 Get a project")
    async def get_project(
        project_id: UUID, response: Response, session: Session, _: CurrentPrincipal
    ) -> ProjectOut:
        project = await service.get_project(session, project_id)
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    @r.patch(
        "/{project_id}",
        response_model=ProjectOut,
        summary="修改项目信息 Change a project",
        description="需要 `If-Match`（取自 ETag）；两人同时修改时后到者得到 412。发布 `project.changed`。",
    )
    async def update_project(
        project_id: UUID,
        body: ProjectUpdate,
        response: Response,
        session: Session,
        runtime: Runtime,
        _: Editor,
        if_match: IfMatch = None,
    ) -> ProjectOut:
        current = await service.get_project(session, project_id)
        check_if_match(if_match, etag_for(current.id, current.revision))
        project = await service.update_project(session, runtime.clock, project_id, current.revision, body)
        await session.commit()
        response.headers.update(etag_header(project.id, project.revision))
        return _out(project)

    return r
