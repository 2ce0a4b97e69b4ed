"""Routes of the approval agents' team and its training: ``/api/v1/approval-agents``,
``/api/v1/agent-trainings`` (policy §四(三))."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.agents import service
from lkg.approvals.agents.schemas import (
    AgentTrainingAttendee,
    AgentTrainingCreate,
    AgentTrainingOut,
    AgentTrainingPage,
    ApprovalAgentList,
    ApprovalAgentOut,
)
from lkg.approvals.deps import CurrentCaller, Runtime, Session, UnitOfWork
from lkg.approvals.models import AgentTraining
from lkg.approvals.schemas import Day, from_row
from lkg.common.calendar import local_date
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery

agents = APIRouter(prefix="/api/v1/approval-agents", tags=["approval-agents"])
trainings = APIRouter(prefix="/api/v1/agent-trainings", tags=["approval-agents"])


async def _trainings_out(session: AsyncSession, found: list[AgentTraining]) -> list[AgentTrainingOut]:
    out = []
    for t in found:
        people = [UUID(a["person_id"]) for a in t.attendees]
        agents_then = await service.agents_on(session, people, t.held_on)
        attendees = [
            AgentTrainingAttendee(person_id=p, name=a["name"], on_team=p in agents_then)
            for p, a in zip(people, t.attendees, strict=True)
        ]
        out.append(from_row(AgentTrainingOut, t, attendees=attendees))
    return out


@agents.get(
    "",
    response_model=ApprovalAgentList,
    summary="代办员队伍 The approval agents' team",
    description=(
        "组织目录中“代办员”岗位的任职人员（默认今日），及其参加培训情况。/ Holders of the directory's "
        "approval_agent posts on the day (today by default), with the training they attended."
    ),
)
async def list_approval_agents(
    session: Session, runtime: Runtime, _caller: CurrentCaller, on: Day | None = None
) -> ApprovalAgentList:
    day = on or local_date(runtime.clock.now())
    every = runtime.settings.agent_training_every_days
    rows = await service.team(session, day)
    attended = await service.trainings_of(session, [r.person_id for r in rows], day)
    items = []
    for r in rows:
        sessions, last = attended.get(r.person_id, (0, None))
        items.append(
            from_row(
                ApprovalAgentOut,
                r,
                trainings_attended=sessions,
                last_trained_on=last,
                training_due=service.training_due(last, day, every),
            )
        )
    return ApprovalAgentList(on=day, training_every_days=every, items=items)


@trainings.get("", response_model=AgentTrainingPage, summary="代办业务培训 Agent training sessions")
async def list_agent_trainings(
    session: Session, _caller: CurrentCaller, page: PageQuery, person_id: UUID | None = None
) -> AgentTrainingPage:
    found, next_cursor = await service.list_trainings(session, page=page, person_id=person_id)
    return AgentTrainingPage(items=await _trainings_out(session, found), next_cursor=next_cursor)


@trainings.post(
    "",
    status_code=201,
    response_model=AgentTrainingOut,
    summary="登记代办业务培训 Record a training session",
    description="行政审批局或重大项目办；培训日不晚于今日；参训人员须在组织目录中；支持 `Idempotency-Key`。",
)
async def record_agent_training(
    body: AgentTrainingCreate,
    request: Request,
    session: UnitOfWork,
    runtime: Runtime,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def create() -> Response:
        training = await service.record_training(
            session,
            caller=caller,
            clock=runtime.clock,
            held_on=body.held_on,
            topic=body.topic,
            attendees=body.attendees,
        )
        [out] = await _trainings_out(session, [training])
        headers = {"Location": f"{trainings.prefix}/{training.id}"}
        return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)

    return await idempotent_create(
        session,
        principal=caller.principal.key,
        key=idempotency_key,
        method="POST",
        path=request.url.path,
        request_hash=request_hash(body),
        create=create,
    )


@trainings.get("/{training_id}", response_model=AgentTrainingOut, summary="代办业务培训 One session")
async def get_agent_training(training_id: UUID, session: Session, _caller: CurrentCaller) -> AgentTrainingOut:
    [out] = await _trainings_out(session, [await service.get_training(session, training_id)])
    return out


router = APIRouter()
router.include_router(agents)
router.include_router(trainings)
