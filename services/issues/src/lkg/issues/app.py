"""The issues service (问题督办): composition root."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lkg.common.log import get_logger
from lkg.common.orgcopy import OrgReachResolver
from lkg.common.runtime.service import ServiceRuntime, ServiceSpec
from lkg.issues import api
from lkg.issues.attachments import models as _attachments  # noqa: F401  (their tables join the metadata)
from lkg.issues.handlers import SUBSCRIPTIONS
from lkg.issues.matters.clocks import recompute_provisional
from lkg.issues.models import metadata, org_copy
from lkg.issues.scans import SCANS
from lkg.issues.settings import IssuesRuntime, IssuesSettings
from lkg.issues.supervision import models as _supervision  # noqa: F401

log = get_logger(__name__)


async def _calendar_loaded(runtime: IssuesRuntime, year: int) -> int:
    """Recompute the provisional clocks touching ``year``. A failure is logged, not raised: the platform's
    calendar watcher calls every service in turn and must keep watching; the clocks stay as they were
    (still flagged provisional), and loading the year again retries."""
    try:
        changed = await recompute_provisional(runtime, year)
    except Exception as exc:
        log.error("issues.calendar_recompute_failed", year=year, error=repr(exc))
        return 0
    log.info("issues.calendar_recomputed", year=year, clocks=changed)
    return changed


def _reach(runtime: ServiceRuntime[Any]) -> OrgReachResolver:
    return OrgReachResolver(runtime, org_copy)


SPEC = ServiceSpec[IssuesSettings](
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
    scans=SCANS,
    read_copy_tables=("project_copy", *org_copy.names),
    reach_resolver=_reach,
    on_calendar_loaded=_calendar_loaded,
)


def create_app(settings: IssuesSettings | None = None) -> FastAPI:
    """The issues service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or IssuesSettings()
    # build_app takes specs of any settings class; ServiceSpec is invariant in its settings.
    spec: ServiceSpec[Any] = SPEC
    return build_app([spec], settings, {spec.name: settings_for(spec, settings)})
