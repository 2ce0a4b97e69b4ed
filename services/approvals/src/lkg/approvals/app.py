"""The approvals service (并联审批): composition root."""

from __future__ import annotations

from fastapi import FastAPI

from lkg.approvals import api
from lkg.approvals.assessments.service import scan_assessments
from lkg.approvals.handlers import SUBSCRIPTIONS
from lkg.approvals.models import metadata, org
from lkg.approvals.scans import recompute_provisional, scan_clocks, scan_risk
from lkg.approvals.seed import catalogue_units, seed_catalogue
from lkg.approvals.settings import ApprovalsSettings
from lkg.common.orgcopy import OrgReachResolver
from lkg.common.runtime.service import Scan, ServiceSpec

SPEC = ServiceSpec[ApprovalsSettings](
    name="approvals",
    title="并联审批 Approvals — 临空港重大产业项目落地建设在线",
    description=(
        "审批事项目录、项目并联审批计划、时限与卡点、最早开工日期。\n\n"
        "The approval catalogue, per-project parallel approval plans, time limits, stall detection "
        "and the earliest possible start."
    ),
    version="0.1.0",
    settings_cls=ApprovalsSettings,
    metadata=metadata,
    migrations="lkg.approvals:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    # Regional assessments coming into force first (they shorten limits and waive items), then stalls, then
    # the verdicts on the planned start: in due order, exactly once (docs/approvals.md).
    scans=[
        Scan("regional_assessments", scan_assessments),
        Scan("approval_clocks", scan_clocks),
        Scan("start_at_risk", scan_risk),
    ],
    read_copy_tables=("project_copy", *org.names),
    # OrgReachResolver, build_app and settings_for take the settings-generic runtime and spec at their
    # default (ServiceSettings), and the dataclasses are invariant in it: the three type: ignores go when
    # lkg.common types those parameters ServiceRuntime[Any] / ServiceSpec[Any].
    reach_resolver=lambda runtime: OrgReachResolver(runtime, org),  # type: ignore[arg-type]
    seed=seed_catalogue,
    seed_unit_references=catalogue_units,
    # An official year loaded (`lkg calendar load`): provisional deadlines recomputed (docs/calendar.md).
    on_calendar_loaded=recompute_provisional,
)


def create_app(settings: ApprovalsSettings | None = None) -> FastAPI:
    """The approvals service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or ApprovalsSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})  # type: ignore[list-item, arg-type]
