"""The issues service (问题督办): composition root."""

from __future__ import annotations

from lkg.common.runtime.service import ServiceSpec
from lkg.issues import api
from lkg.issues.handlers import SUBSCRIPTIONS
from lkg.issues.models import metadata
from lkg.issues.settings import IssuesSettings

SPEC = ServiceSpec(
    name="issues",
    title="问题督办 Issues — 临空港重大产业项目落地建设在线",
    description=(
        "问题与会议议定事项的三层逐级上报、时限、红牌与督查。\n\n"
        "Problems and meeting matters escalating through the three layers, their clocks, "
        "red cards and supervision."
    ),
    version="0.1.0",
    settings_cls=IssuesSettings,
    metadata=metadata,
    migrations="lkg.issues:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    read_copy_tables=("project_copy",),
)


def create_app(settings: IssuesSettings | None = None):
    """The issues service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or IssuesSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})
