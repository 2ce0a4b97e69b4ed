"""The project read copy every consuming service keeps: a service never queries another's tables, it
holds a read copy built from that service's events (docs/architecture.md, "Read copies").

One table per service database, ``project_copy``: the latest snapshot of each project with its revision,
plus the columns services filter on. Applied only when newer (relays and redelivery reorder messages).
The same table definition, handlers and ops route serve approvals, issues, scoring and notifier, so the
four copies cannot drift apart. The public pieces:

* :func:`define_project_copy` declares the table on a service's metadata;
  :func:`create_project_copy_table` / :func:`drop_project_copy_table` are its Alembic DDL.
* :func:`project_copy_subscriptions` keeps it in step with ``project.registered`` / ``project.changed``;
  ``on_applied`` is the hook for a service's own consequences: it runs in the same transaction, only when
  the snapshot was applied (newer than the one held), with the previous and the new snapshot. A stale or a
  repeated snapshot changes nothing and calls nothing.
* :func:`apply_project_snapshot` is the same step for a service that writes its own handler
  (it returns the :class:`ProjectCopyChange`, or ``None`` when nothing was applied);
  :func:`project_copy_row` is the row it writes.
* :func:`read_copy_router` is the ops view ``/api/v1/read-copies/<service>/projects/{id}``.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
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

TABLE_NAME = "project_copy"


def define_project_copy(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
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


def _ddl_table() -> sa.Table:
    from lkg.common.db import NAMING_CONVENTION

    return define_project_copy(sa.MetaData(naming_convention=NAMING_CONVENTION))


def create_project_copy_table(op: Any) -> None:
    """Create ``project_copy`` (with its ``pk_project_copy`` and ``ix_project_copy_line_id``) in a service's
    Alembic migration: ``create_project_copy_table(op)``. The same DDL the services' initial migrations
    wrote out by hand."""
    _ddl_table().create(op.get_bind())


def drop_project_copy_table(op: Any) -> None:
    _ddl_table().drop(op.get_bind())


def project_copy_row(snapshot: ProjectSnapshot, revision: int) -> dict[str, Any]:
    """The ``project_copy`` row of a snapshot at ``revision``."""
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


#: The old private name; approvals imported it. Use :func:`project_copy_row`.
_row = project_copy_row


@dataclass(frozen=True)
class ProjectCopyChange:
    """A snapshot the read copy took: the project as it is now, and as the copy held it before (``None``
    for a project the copy did not hold)."""

    project: ProjectSnapshot
    revision: int
    previous: ProjectSnapshot | None
    previous_revision: int | None
    event: ProjectRegistered | ProjectChanged

    @property
    def line_changed(self) -> bool:
        return self.previous is not None and self.previous.line_id != self.project.line_id


async def apply_project_snapshot(
    session: AsyncSession, table: sa.Table, event: ProjectRegistered | ProjectChanged
) -> ProjectCopyChange | None:
    """Take ``event``'s snapshot into ``table`` if it is newer than the one held; the change, or ``None``
    for a stale or repeated snapshot. The held row is locked first (``FOR UPDATE``), so the previous
    snapshot reported is the one the new one replaced."""
    held = (
        await session.execute(
            sa.select(table.c.revision, table.c.snapshot)
            .where(table.c.id == event.project.id)
            .with_for_update()
        )
    ).first()
    if held is not None and held.revision >= event.revision:
        return None
    if not await upsert_if_newer(session, table, project_copy_row(event.project, event.revision)):
        return None  # another transaction inserted a newer one meanwhile
    return ProjectCopyChange(
        project=event.project,
        revision=event.revision,
        previous=None if held is None else ProjectSnapshot.model_validate(held.snapshot),
        previous_revision=None if held is None else held.revision,
        event=event,
    )


#: ``on_applied(session, envelope, change)``: a service's consequences of a snapshot the copy took.
OnProjectApplied = Callable[[AsyncSession, Envelope, ProjectCopyChange], Awaitable[None]]


def project_copy_subscriptions(
    table: sa.Table, on_applied: OnProjectApplied | None = None
) -> list[Subscription]:
    """Handlers keeping ``table`` in step with the registry's project events; ``on_applied`` runs in the
    same transaction after a snapshot was applied, never for a stale or repeated one."""

    async def apply(
        session: AsyncSession, envelope: Envelope, event: ProjectRegistered | ProjectChanged
    ) -> None:
        change = await apply_project_snapshot(session, table, event)
        if change is not None and on_applied is not None:
            await on_applied(session, envelope, change)

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
    updated_at: Instant = Field(
        description="本服务最近一次写入该副本的时间（真实时间，非模拟时钟）/ when this service last wrote "
        "the copy, on the wall clock even in a simulated deployment (docs/time.md)"
    )


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
