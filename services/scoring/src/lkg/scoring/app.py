"""The scoring service (考核评价): composition root."""

from __future__ import annotations

from fastapi import FastAPI

from lkg.common.orgcopy import OrgReachResolver
from lkg.common.runtime.service import Scan, ServiceRuntime, ServiceSpec
from lkg.scoring import api
from lkg.scoring.handlers import SUBSCRIPTIONS
from lkg.scoring.models import READ_COPY_TABLES, metadata, org_copy
from lkg.scoring.scans import scan_periods, scan_reports
from lkg.scoring.settings import ScoringSettings


def _reach(runtime: ServiceRuntime) -> OrgReachResolver:
    return OrgReachResolver(runtime, org_copy)


SPEC = ServiceSpec(
    name="scoring",
    title="考核评价 Scoring — 临空港重大产业项目落地建设在线",
    description=(
        "月度考核、季度考评：系统按规则提出建议（等级、排名、后3名，每项数字附依据），由区重大项目办或区委区政府主要领导"
        "确认后发布；发布后的更正单独编号；规则为数据，可分版本修改。\n\n"
        "Monthly assessments and quarterly evaluations: the system proposes grades, the ranking and its "
        "bottom 3 with the evidence of every figure; 重大项目办 or a top leader confirms, then it is "
        "published and frozen; later facts give numbered corrections; the rules are versioned data."
    ),
    version="0.2.0",
    settings_cls=ScoringSettings,
    metadata=metadata,
    migrations="lkg.scoring:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    scans=[
        Scan("periods", scan_periods),
        # A report is frozen once issued: on the simulated clock it waits for a clock move's quiet round.
        Scan("reports", scan_reports, summarises=True),
    ],
    read_copy_tables=READ_COPY_TABLES,
    reach_resolver=_reach,
)


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """The scoring service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or ScoringSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})
