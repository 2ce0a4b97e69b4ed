"""Use cases of the registry: they change rows and stage events in the caller's transaction, never commit
and never speak HTTP (STYLE.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    ProjectChanged,
    ProjectRegistered,
    ProjectSnapshot,
    RoutingBasis,
)
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import Conflict, NotFound
from lkg.registry.models import Project
from lkg.registry.schemas import ProjectCreate, ProjectUpdate

#: Until the org directory and its routing rules exist, no rule covers a project: it waits in the
#: unrouted queue for 重大项目办, never silently on a line (DESIGN §2, policy §一(一)).
UNROUTED_REASON = "尚无分线规则覆盖此项目（组织目录与分线规则未配置），待重大项目办确定包保线"

BY_CREATED = Keyset(sort=Project.created_at, id=Project.id, name="created")
BY_UPDATED = Keyset(sort=Project.updated_at, id=Project.id, name="updated")


def snapshot(project: Project) -> ProjectSnapshot:
    return ProjectSnapshot(
        id=project.id,
        project_code=project.project_code,
        name=project.name,
        enterprise=project.enterprise,
        category=project.category,
        project_class=project.project_class,
        responsible_unit_id=project.responsible_unit_id,
        responsible_unit_name=project.responsible_unit_name,
        line_id=project.line_id,
        routing_basis=project.routing_basis,
        routing_reason=project.routing_reason,
        provincial_municipal=project.provincial_municipal,
        fast_track=project.fast_track,
        approval_type=project.approval_type,
        total_investment=project.total_investment,
        plan_year=project.plan_year,
        planned_annual_investment=project.planned_annual_investment,
        status=project.status,
        effective_at=project.effective_at,
    )


async def register_project(session: AsyncSession, clock: Clock, data: ProjectCreate) -> Project:
    """项目入库: a new project, unrouted until routing rules cover it; emits ``project.registered``."""
    now = clock.now()
    project = Project(
        id=uuid.uuid4(),
        revision=1,
        routing_basis=RoutingBasis.UNROUTED.value,
        routing_reason=UNROUTED_REASON,
        line_id=None,
        status="active",
        effective_at=now,
        created_at=now,
        updated_at=now,
        **{k: (v.value if hasattr(v, "value") else v) for k, v in data.model_dump().items()},
    )
    session.add(project)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("项目代码已被其他项目使用", code="project_code_taken") from exc
    await stage(session, ProjectRegistered(aggregate_id=project.id, revision=1, project=snapshot(project)))
    return project


async def get_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("项目不存在", code="project_not_found")
    return project


async def list_projects(
    session: AsyncSession, page: PageParams, *, updated_since: datetime | None = None
) -> tuple[list[Project], str | None]:
    """Projects in registration order, or in update order when syncing with ``updated_since``."""
    keyset = BY_UPDATED if updated_since is not None else BY_CREATED
    stmt = apply_updated_since(sa.select(Project), Project.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page)


async def update_project(
    session: AsyncSession, clock: Clock, project_id: uuid.UUID, expected_revision: int, data: ProjectUpdate
) -> Project:
    """Change a project's facts; one of two officials acting at once wins (revision check)."""
    changes: dict[str, Any] = {
        k: (v.value if hasattr(v, "value") else v) for k, v in data.model_dump(exclude_unset=True).items()
    }
    project = await get_project(session, project_id)
    changed = sorted(k for k, v in changes.items() if getattr(project, k) != v)
    now = clock.now()
    try:
        revision = await update_if_revision(
            session,
            Project,
            project_id,
            expected_revision,
            {**changes, "updated_at": now, "effective_at": now},
        )
    except IntegrityError as exc:
        raise Conflict("项目代码已被其他项目使用", code="project_code_taken") from exc
    project = await get_project(session, project_id)
    await session.refresh(project)
    await stage(
        session,
        ProjectChanged(
            aggregate_id=project.id, revision=revision, project=snapshot(project), changes=tuple(changed)
        ),
    )
    return project
