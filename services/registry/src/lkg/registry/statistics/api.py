"""HTTP routes of the statistics work (§三(四)二), under the register's prefix: the duties (the bureau's list
by the 28th, the contacts' monthly visits) and each project's visits."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from lkg.common.access import permitted
from lkg.common.auth import Role
from lkg.common.http.query import StrictQuery
from lkg.registry.deps import AnyCaller, Runtime, Session, StatisticsCaller, UnitOfWork
from lkg.registry.projects.changes import visible_project
from lkg.registry.statistics import service
from lkg.registry.statistics.schemas import DutyOut, DutyQuery, VisitIn, VisitOut

router = APIRouter(prefix="/api/v1/projects", dependencies=[StrictQuery])


@router.get(
    "/statistics-duties",
    response_model=list[DutyOut],
    summary="统计工作月度时限 Statistics duties",
    description="统计局每月28日前（遇非工作日提前）报送上月未入库清单、统计联系人每月上门服务；"
    "逾期记在统计局（或联系人单位）名下，重大项目办在此查看。/ The bureau's list by the 28th and the "
    "contacts' monthly visits; a missed one is recorded against its unit and shown here to 重大项目办.",
)
async def statistics_duties(
    session: Session, _: StatisticsCaller, q: Annotated[DutyQuery, Query()]
) -> list[DutyOut]:
    rows = await service.duties(session, kind=q.kind, outcome=q.outcome, year=q.year, month=q.month)
    return [DutyOut.model_validate(r) for r in rows]


@router.get(
    "/{project_id}/statistics-visits",
    response_model=list[VisitOut],
    summary="统计上门服务记录 Statistics visits",
    responses={404: {"description": "项目不存在或不在可见范围 / no such project within reach"}},
)
async def visits(project_id: UUID, session: Session, caller: AnyCaller) -> list[VisitOut]:
    await visible_project(session, caller, project_id)
    return [VisitOut.model_validate(v) for v in await service.visits_of(session, project_id)]


@router.post(
    "/{project_id}/statistics-visits",
    status_code=201,
    response_model=VisitOut,
    summary="登记统计上门服务 Record a statistics visit",
    description="项目的统计联系人、责任单位、统计局或重大项目办登记。/ By the project's statistics contact, "
    "its responsible unit, the statistics bureau or 重大项目办.",
    responses={404: {"description": "项目不存在或不在可见范围 / no such project within reach"}},
)
async def record_visit(
    project_id: UUID, body: VisitIn, session: UnitOfWork, runtime: Runtime, caller: AnyCaller
) -> VisitOut:
    project = await visible_project(session, caller, project_id)
    contact = project.statistics_contact_id
    permitted(
        caller.may_edit(project.responsible_unit_id)
        or caller.has_role(Role.STATISTICS_BUREAU)
        or (contact is not None and caller.principal.person_id == str(contact)),
        "只有项目的统计联系人、责任单位、统计局或重大项目办可以登记上门服务",
    )
    visit = await service.record_visit(
        session, runtime.clock, project, visited_on=body.visited_on, note=body.note, actor=caller.actor
    )
    return VisitOut.model_validate(visit)
