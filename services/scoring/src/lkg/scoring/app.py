"""The scoring service (考核评价): composition root."""

from __future__ import annotations

from lkg.common.runtime.service import ServiceSpec
from lkg.scoring import api
from lkg.scoring.handlers import SUBSCRIPTIONS
from lkg.scoring.models import metadata
from lkg.scoring.settings import ScoringSettings

SPEC = ServiceSpec(
    name="scoring",
    title="考核评价 Scoring — 临空港重大产业项目落地建设在线",
    description=(
        "月度、季度考评，排名，周通报与报表。\n\n"
        "Monthly and quarterly evaluations, rankings, weekly bulletins and reports."
    ),
    version="0.1.0",
    settings_cls=ScoringSettings,
    metadata=metadata,
    migrations="lkg.scoring:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    read_copy_tables=("project_copy",),
)


def create_app(settings: ScoringSettings | None = None):
    """The scoring service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or ScoringSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})
