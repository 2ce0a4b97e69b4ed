"""The project read copy every consuming service keeps (DESIGN §3: others hold read copies built from the
registry's events, never query its tables).

One table per service database, ``project_copy``: the latest snapshot of each project with its revision,
plus the columns services filter on. Applied only when newer (relays and redelivery reorder messages).
The same table definition, handlers and ops route serve approvals, issues, scoring and notifier, so the
four copies cannot drift apart.
"""

from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Principal, Role, require_roles
from lkg.common.events.base import Envelope
from lkg.common.events.contracts import ProjectChanged, ProjectRegistered, ProjectSnapshot, ProjectTerminated
from lkg.common.events.inbox import Subscription, upsert_if_newer
from lkg.common.http.problems import NotFound
from lkg.common.http.types import Instant
from lkg.common.runtime.deps import session_for


def define_project_copy(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "project_copy",
        metadata,
        sa.Column("id", PG_UUID(as_uuid=True), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("responsible_unit_id", PG_UUID(as_uuid=True), nullable=True),
        sa.Column("line_id", PG_UUID(as_uuid=True), nullable=True, index=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def _row(snapshot: ProjectSnapshot, revision: int) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "revision": revision,
        "name": snapshot.name,
        "responsible_unit_id": snapshot.responsible_unit_id,
        "line_id": snapshot.line_id,
        "status": str(snapshot.status),
        "snapshot": snapshot.model_dump(mode="json"),
        "updated_at": sa.func.now(),
    }


def project_copy_subscriptions(table: sa.Table) -> list[Subscription]:
    """Handlers keeping ``table`` in step with the registry's project events."""

    async def apply(
        session: AsyncSession, _envelope: Envelope, event: ProjectRegistered | ProjectChanged
    ) -> None:
        await upsert_if_newer(session, table, _row(event.project, event.revision))

    async def terminated(session: AsyncSession, _envelope: Envelope, event: ProjectTerminated) -> None:
        # The state change also arrives as project.changed with the new status; nothing more to copy here.
        return None

    return [
        Subscription(ProjectRegistered, apply),
        Subscription(ProjectChanged, apply),
        Subscription(ProjectTerminated, terminated),
    ]


class ProjectCopy(BaseModel):
    """A service's read copy of one project (ops view: is this service in step with the registry?)."""

    id: UUID
    revision: int
    name: str
    responsible_unit_id: UUID | None
    line_id: UUID | None
    status: str
    updated_at: Instant


def read_copy_router(service: str, table: sa.Table) -> APIRouter:
    """``GET /api/v1/read-copies/<service>/projects/{id}``: what ``service`` holds of a project."""
    router = APIRouter(prefix=f"/api/v1/read-copies/{service}", tags=["read-copies"])
    Session = Annotated[AsyncSession, Depends(session_for(service))]
    Operator = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MAJOR_PROJECTS_OFFICE))]

    @router.get(
        "/projects/{project_id}",
        response_model=ProjectCopy,
        summary=f"{service} 服务持有的项目只读副本 The {service} service's read copy of a project",
        responses={404: {"description": "该服务尚未收到此项目 / not (yet) known to this service"}},
    )
    async def get_project_copy(project_id: UUID, session: Session, _: Operator) -> ProjectCopy:
        row = (await session.execute(sa.select(table).where(table.c.id == project_id))).first()
        if row is None:
            raise NotFound("该服务尚未收到此项目", code="project_not_found")
        return ProjectCopy.model_validate(row, from_attributes=True)

    return router
