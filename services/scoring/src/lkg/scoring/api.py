"""HTTP routes of the scoring service: thin — validate, call one use case, return a schema (a write runs in
the unit of work, committed when the route succeeds; no route commits).

::

    GET  /api/v1/evaluations/periods                       periods (updated_since for systems that sync)
    GET  /api/v1/evaluations/periods/{id}                  proposal or published figures, with evidence
    POST /api/v1/evaluations/periods/{id}/confirmation     confirm (If-Match): grade changes, tie decision
    GET  /api/v1/evaluations/periods/{id}/corrections      numbered corrections
    POST /api/v1/evaluations/periods/{id}/corrections/{n}/card-review   重大项目办's card decision
    GET  /api/v1/evaluations/periods/{id}/consequences     约谈, 表态发言, 重点督办, cards
    GET  /api/v1/evaluations/live?kind=month|quarter       live standings
    GET  /api/v1/evaluations/year-end?year=                year-end record
    GET, POST /api/v1/evaluations/rules; GET /api/v1/evaluations/rules/{version}
    GET  /api/v1/rankings/units-monthly/{2020-05}          the published monthly ranking
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from lkg.common.events.contracts import PeriodKind
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import UpdatedSince
from lkg.common.http.problems import PROBLEM_MEDIA_TYPE, NotFound
from lkg.common.http.query import StrictQuery
from lkg.common.readcopy import read_copy_router
from lkg.scoring import outputs, publication, rankings, rules, service
from lkg.scoring import schemas as s
from lkg.scoring.deps import CallerDep, Runtime, Session, UnitOfWork
from lkg.scoring.models import project_copy
from lkg.scoring.periods import parse_label
from lkg.scoring.reports.api import router as reports_router

_ACTION: dict[int | str, dict[str, Any]] = {
    403: {"description": "无权执行 / not allowed"},
    404: {"description": "不存在或不可见 / not found or not visible"},
    409: {"description": "状态不允许 / not allowed in this state"},
    412: {"description": "已被他人修改 / changed by someone else"},
    422: {"description": "请求无效 / invalid request"},
    428: {"description": "缺少 If-Match / If-Match required"},
}


#: Every refusal of ``POST /api/v1/evaluations/periods/{id}/confirmation``: (status, code, when), in the
#: order they are checked. 409 where the refusal is about the period (its state, or what its proposal
#: holds: a schema-valid body can still not fit it; re-read the period and decide again), 422 where it is
#: about the body alone.
CONFIRMATION_REFUSALS: tuple[tuple[int, str, str], ...] = (
    (401, "unauthenticated", "没有或无效的令牌 / no or bad token"),
    (
        422,
        "validation_failed",
        "请求体不符合结构（见 errors）/ the body does not fit its schema (see errors)",
    ),
    (
        404,
        "period_not_found",
        "没有该考核周期，或调用者看不到它 / no such period, or not visible to the caller",
    ),
    (
        403,
        "forbidden",
        "月度须区重大项目办、季度须区委区政府主要领导确认（§六(二)）/ a month needs 重大项目办, a quarter a "
        "top leader",
    ),
    (428, "precondition_required", "缺少 If-Match / no If-Match header"),
    (
        412,
        "precondition_failed",
        "If-Match 不是周期当前的 ETag（建议已刷新或他人已确认）/ If-Match is not the "
        "period's current ETag (the proposal was refreshed, or someone confirmed first)",
    ),
    (
        422,
        "tie_reason_required",
        "给出 tie_carded 而没有 tie_reason：并列决定须说明理由 / tie_carded given without tie_reason",
    ),
    (
        412,
        "stale_revision",
        "读取与确认之间周期被刷新（并发）/ the period changed between reading and confirming (a race)",
    ),
    (409, "period_already_published", "该周期已确认发布并冻结 / the period is already published and frozen"),
    (
        409,
        "subject_not_graded",
        "grade_changes 中的对象本期没有评分表（未参评，或类别不符）/ a grade change names a subject the "
        "period has no sheet for",
    ),
    (
        409,
        "tie_decision_required",
        "建议在第3名处并列（tie 非空）而未给出 tie_carded / the proposal has a tie across third place and "
        "tie_carded is missing",
    ),
    (
        409,
        "invalid_tie_decision",
        "tie_carded 不是并列候选中的恰好 tie.places 个单位 / tie_carded is not exactly tie.places of the "
        "tie's candidates",
    ),
    (409, "no_tie", "建议中没有并列，却给出了 tie_carded / tie_carded given but the proposal has no tie"),
)


def _refusals(table: tuple[tuple[int, str, str], ...]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses naming each refusal code of an operation (problem+json, one example per code)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status, code, when in table:
        entry = out.setdefault(
            status,
            {
                "description": "",
                "content": {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}, "examples": {}}
                },
            },
        )
        entry["description"] += f"{chr(10) if entry['description'] else ''}- `{code}`: {when}"
        entry["content"][PROBLEM_MEDIA_TYPE]["examples"][code] = {
            "summary": when,
            "value": {"type": f"urn:lkg:problem:{code}", "status": status, "code": code, "title": when},
        }
    return out


def _json(model: Any, *, etag: tuple[UUID, int] | None = None, status: int = 200) -> JSONResponse:
    headers = etag_header(*etag) if etag else {}
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


def evaluations_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"], dependencies=[StrictQuery])

    @r.get("/periods", response_model=s.PeriodPage, summary="考核周期列表 Evaluation periods")
    async def list_periods(
        session: Session,
        caller: CallerDep,
        updated_since: UpdatedSince = None,
        kind: PeriodKind | None = Query(default=None, description="month / quarter"),
        state: s.PeriodState | None = None,
    ) -> s.PeriodPage:
        rows = await service.list_periods(session, kind=kind, state=state, updated_since=updated_since)
        if not caller.sees_all:
            rows = [row for row in rows if row.state == "published"]
        return s.PeriodPage(
            items=[
                s.PeriodSummary.model_validate(
                    {**row._asdict(), "label": service.span_of(row).label}, from_attributes=False
                )
                for row in rows
            ]
        )

    @r.get(
        "/periods/{period_id}",
        response_model=s.PeriodOut,
        summary="考核结果，每项数字附依据 A period's proposal or published figures, with evidence",
        responses={404: _ACTION[404]},
    )
    async def get_period(period_id: UUID, session: Session, caller: CallerDep) -> JSONResponse:
        row = await service.get_period(session, period_id)
        out = await outputs.period_out(session, caller, row)
        return _json(out, etag=(row.id, row.revision))

    @r.post(
        "/periods/{period_id}/confirmation",
        response_model=s.PeriodOut,
        summary="确认并发布（可调整等级、决定并列）Confirm and publish",
        description=(
            "月度由区重大项目办、季度由区委区政府主要领导确认（§六(二)）；调整等级须说明理由；"
            "第3名处并列时须选定红牌单位。确认即发布并冻结，随后提请红牌（§六(三)）。"
            "\n\nMonthly by 重大项目办, quarterly by a top leader; a "
            "changed grade needs its reason; a tie across third place needs the carded units. Confirming "
            "publishes and freezes the period, then requests the red cards."
            "\n\n拒绝（按检查顺序；409 关乎周期的状态或建议内容，422 关乎请求体本身）/ "
            "Refusals, in the order they are checked (409: about the period's state or what its proposal "
            "holds, which a schema cannot say: re-read the period; 422: about the body alone):\n\n"
            + "\n".join(f"- {status} `{code}`: {when}" for status, code, when in CONFIRMATION_REFUSALS)
        ),
        responses=_refusals(CONFIRMATION_REFUSALS),
    )
    async def confirm(
        period_id: UUID,
        body: s.ConfirmationIn,
        session: UnitOfWork,
        runtime: Runtime,
        caller: CallerDep,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        row = await service.get_period(session, period_id)
        await outputs.period_out(session, caller, row)  # 404 if not visible
        caller.require_confirmer(PeriodKind(row.kind))
        check_if_match(if_match, etag_for(row.id, row.revision))
        published = await publication.confirm(
            session,
            pid=period_id,
            expected_revision=row.revision,
            grade_changes=[
                publication.GradeDecision(g.subject_kind, g.subject_id, g.grade, g.reason)
                for g in body.grade_changes
            ],
            tie_carded=body.tie_carded,
            tie_reason=body.tie_reason,
            note=body.note,
            actor=caller.actor,
            actor_name=caller.name,
            at=runtime.clock.now(),
        )
        out = await outputs.period_out(session, caller, published)
        return _json(out, etag=(published.id, published.revision))

    @r.get(
        "/periods/{period_id}/corrections",
        response_model=s.CorrectionPage,
        summary="发布后的更正 Numbered corrections after publication",
        responses={404: _ACTION[404]},
    )
    async def list_corrections(period_id: UUID, session: Session, caller: CallerDep) -> s.CorrectionPage:
        row = await service.get_period(session, period_id)
        await outputs.period_out(session, caller, row)
        return s.CorrectionPage(items=await outputs.corrections_out(session, caller, row))

    @r.post(
        "/periods/{period_id}/corrections/{number}/card-review",
        response_model=s.CorrectionOut,
        summary="更正改变后3名时复核红牌 重大项目办's card review after a correction",
        description=(
            "为更正后进入后3名的单位提请红牌；"
            "退出后3名单位的红牌在问题督办的红牌登记簿中撤销"
            "（POST /api/v1/red-cards/{id}/withdrawal）。"
            "\n\nRequest cards for units that entered the bottom; a card of a unit that left it "
            "is withdrawn in the issues register."
        ),
        responses=_ACTION,
    )
    async def review_cards(
        period_id: UUID,
        number: Annotated[int, Path(ge=1)],
        body: s.CardReviewIn,
        session: UnitOfWork,
        runtime: Runtime,
        caller: CallerDep,
    ) -> s.CorrectionOut:
        row = await service.get_period(session, period_id)
        caller.require_office()
        await publication.review_card_change(
            session,
            pid=period_id,
            number=number,
            request_cards_for=body.request_cards_for,
            reason=body.reason,
            actor=caller.actor,
            at=runtime.clock.now(),
        )
        return next(c for c in await outputs.corrections_out(session, caller, row) if c.number == number)

    @r.get(
        "/periods/{period_id}/consequences",
        response_model=s.ConsequencesOut,
        summary="结果运用：约谈、表态发言、重点督办、红牌 Interviews, statements, key supervision, cards",
        responses={404: _ACTION[404]},
    )
    async def consequences(period_id: UUID, session: Session, caller: CallerDep) -> s.ConsequencesOut:
        row = await service.get_period(session, period_id)
        await outputs.period_out(session, caller, row)
        return await outputs.consequences_out(session, caller, row)

    @r.get("/live", response_model=s.LiveOut, summary="实时排名 Live standings of the running period")
    async def live(
        session: Session,
        runtime: Runtime,
        caller: CallerDep,
        kind: PeriodKind = Query(default=PeriodKind.MONTH, description="month / quarter"),
    ) -> s.LiveOut:
        if kind not in (PeriodKind.MONTH, PeriodKind.QUARTER):
            raise NotFound("只有月度和季度考核", code="period_kind_not_evaluated")
        view = await service.live_view(session, kind, runtime.clock.now())
        return await outputs.live_out(session, caller, view)

    @r.get("/year-end", response_model=s.YearRecordOut, summary="年终考核记录 Year-end record")
    async def year_end(
        session: Session, caller: CallerDep, year: int = Query(ge=2000, le=2100)
    ) -> s.YearRecordOut:
        return await outputs.year_record_out(session, caller, year)

    @r.get("/rules", response_model=s.RuleVersionPage, summary="考核规则各版本 Rule versions")
    async def list_rules(session: Session, _caller: CallerDep) -> s.RuleVersionPage:
        return s.RuleVersionPage(
            items=[s.RuleVersionOut.model_validate(v.model_dump()) for v in await rules.versions(session)]
        )

    @r.get("/rules/{version}", response_model=s.RuleVersionOut, summary="考核规则某版本 One rule version")
    async def get_rules(
        version: Annotated[int, Path(ge=1, le=2_147_483_647)], session: Session, _caller: CallerDep
    ) -> s.RuleVersionOut:
        return s.RuleVersionOut.model_validate((await rules.get_version(session, version)).model_dump())

    @r.post(
        "/rules",
        response_model=s.RuleVersionOut,
        status_code=201,
        summary="新增考核规则版本（考评办、重大项目办）Add a rule version",
        responses=_ACTION,
    )
    async def add_rules(
        body: s.RuleVersionIn, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> JSONResponse:
        caller.require_rule_editor()
        version = await rules.add_version(
            session,
            label=body.label,
            effective_from=body.effective_from,
            body=body.body,
            reason=body.reason,
            actor=caller.actor,
            at=runtime.clock.now(),
        )
        return _json(s.RuleVersionOut.model_validate(version.model_dump()), status=201)

    return r


def rankings_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/rankings", tags=["rankings"], dependencies=[StrictQuery])

    @r.get(
        "/units-monthly/{month}",
        response_model=list[s.RankingEntryOut],
        summary="月度考核排名（已发布）Published monthly ranking of units",
        responses={404: _ACTION[404]},
    )
    async def units_monthly(
        month: Annotated[str, Path(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", examples=["2020-05"])],
        session: Session,
        caller: CallerDep,
    ) -> list[s.RankingEntryOut]:
        span = parse_label(PeriodKind.MONTH, month)
        row = await service.get_period(session, span.id)
        if row.state != "published":
            raise NotFound("该月考核排名尚未发布", code="ranking_not_published")
        return outputs.ranking_out(caller, await service.view_period(session, row))

    def _cut_off(runtime: Any, year: int, month: int) -> Any:
        """The end of the month asked for, or now while it runs."""
        return min(rankings.month_end(year, month), runtime.clock.now())

    @r.get(
        "/provincial-projects",
        response_model=s.ProvincialOut,
        summary="省市重大项目排名（按责任单位）Provincial/municipal projects ranking, by unit",
        description=(
            "§三(三)一：个数占比、投资总量占比、每月投资量环比，三项均列出，按 order_by 排名；不产生红牌。"
            "\n\nThe units carrying the provincial/municipal projects, with all three measures, ranked by "
            "``order_by``; never a red card."
        ),
    )
    async def provincial(
        session: Session,
        runtime: Runtime,
        _caller: CallerDep,
        year: int = Query(ge=2000, le=2100),
        month: int = Query(ge=1, le=12),
        order_by: rankings.Measure = "month_on_month",
    ) -> s.ProvincialOut:
        as_of = _cut_off(runtime, year, month)
        units = await rankings.provincial(session, year, month, as_of, order_by)
        return s.ProvincialOut(
            year=year,
            month=month,
            as_of=as_of,
            order_by=order_by,
            total_projects=sum(len(u.projects) for u in units),
            units=[s.ProvincialUnitOut.model_validate(u, from_attributes=True) for u in units],
        )

    @r.get(
        "/investment",
        response_model=s.InvestmentOut,
        summary="投资完成情况（对比年度计划）Investment by line, class or unit against plan",
    )
    async def investment(
        session: Session,
        runtime: Runtime,
        _caller: CallerDep,
        year: int = Query(ge=2000, le=2100),
        by: rankings.Group = "unit",
    ) -> s.InvestmentOut:
        as_of = min(rankings.month_end(year, 12), runtime.clock.now())
        rows = await rankings.investment(session, year, by, as_of)
        return s.InvestmentOut(
            year=year,
            by=by,
            as_of=as_of,
            rows=[
                s.InvestmentRowOut(
                    group_id=row.group_id,
                    label=row.label,
                    plan=row.plan,
                    months={str(m): v for m, v in row.months.items()},
                    year_to_date=row.year_to_date,
                    completion=row.completion,
                )
                for row in rows
            ],
        )

    @r.get(
        "/new-starts",
        response_model=s.NewStartsOut,
        summary="比晒亮：计划新开工项目进度晾晒 Planned new starts by progress",
    )
    async def new_starts(
        session: Session,
        runtime: Runtime,
        _caller: CallerDep,
        year: int | None = Query(default=None, ge=2000, le=2100, description="与 month 一起：该月末的排名"),
        month: int | None = Query(default=None, ge=1, le=12, description="省略则为实时 / live when omitted"),
    ) -> s.NewStartsOut:
        if (year is None) != (month is None):
            raise NotFound("year 与 month 须同时给出", code="month_incomplete")
        as_of = _cut_off(runtime, year, month) if year and month else runtime.clock.now()
        items = await rankings.new_starts(session, as_of)
        return s.NewStartsOut(
            as_of=as_of, items=[s.NewStartOut.model_validate(n, from_attributes=True) for n in items]
        )

    return r


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(evaluations_router())
    r.include_router(rankings_router())
    r.include_router(read_copy_router("scoring", project_copy))
    r.include_router(reports_router())
    return r
