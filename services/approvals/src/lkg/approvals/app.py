"""The approvals service (并联审批): composition root."""

from __future__ import annotations

from lkg.approvals import api
from lkg.approvals.handlers import SUBSCRIPTIONS
from lkg.approvals.models import metadata
from lkg.approvals.settings import ApprovalsSettings
from lkg.common.runtime.service import ServiceSpec

SPEC = ServiceSpec(
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
    read_copy_tables=("project_copy",),
)


def create_app(settings: ApprovalsSettings | None = None):
    """The approvals service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or ApprovalsSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})
