"""The registry service (项目登记与组织目录): composition root.

Owns the project register, the organisation directory of the 三层八线 mechanism and the accounts that sign
people in; every other service reads it through its events (docs/architecture.md). Three sub-domains, each
a package with the same rooms: ``projects`` (with the plan workbook, ``plan``), ``org``, ``accounts`` and
``statistics`` (the statistics bureau's and the contacts' monthly duties).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from lkg.common.runtime.service import ServiceSpec
from lkg.registry.access import DirectoryReachResolver
from lkg.registry.accounts import api as accounts_api
from lkg.registry.accounts import models as account_tables
from lkg.registry.accounts.scans import SCANS as ACCOUNT_SCANS
from lkg.registry.integrity import api as integrity_api
from lkg.registry.integrity import models as integrity_tables
from lkg.registry.integrity.scans import SCANS as INTEGRITY_SCANS
from lkg.registry.models import metadata
from lkg.registry.org import api as org_api
from lkg.registry.org import models as org_tables
from lkg.registry.projects import api as projects_api
from lkg.registry.projects import models as project_tables
from lkg.registry.projects.scans import SCANS as PROJECT_SCANS
from lkg.registry.seed import directory_units, seed_demo
from lkg.registry.settings import RegistrySettings
from lkg.registry.statistics import api as statistics_api
from lkg.registry.statistics import models as statistics_tables
from lkg.registry.statistics.scans import SCANS as STATISTICS_SCANS

#: Each sub-domain's tables join the registry's metadata when its models module is imported.
TABLES = (project_tables, org_tables, account_tables, statistics_tables, integrity_tables)


def router() -> APIRouter:
    """Every route of the registry: the org directory, projects, and ``/api/v1/auth/...``."""
    r = APIRouter()
    r.include_router(org_api.router)
    r.include_router(statistics_api.router)
    r.include_router(integrity_api.router)
    r.include_router(projects_api.router)
    r.include_router(accounts_api.router)
    return r


SPEC = ServiceSpec(
    name="registry",
    title="项目登记 Registry — 临空港重大产业项目落地建设在线",
    description=(
        "重大产业项目库与三层八线组织目录：项目、节点、投资、统计入库、承诺与诚信；账号与对接系统。\n\n"
        "The project register and the organisation directory of the three-layer, eight-line mechanism; "
        "accounts and client systems."
    ),
    version="0.1.0",
    settings_cls=RegistrySettings,
    metadata=metadata,
    migrations="lkg.registry:migrations",
    router=router,
    scans=(*PROJECT_SCANS, *STATISTICS_SCANS, *INTEGRITY_SCANS, *ACCOUNT_SCANS),
    reach_resolver=DirectoryReachResolver,
    seed=seed_demo,
    seed_units=directory_units,
)


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """The registry alone (one service per process): ``uvicorn --factory lkg.registry.app:create_app``."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or RegistrySettings()
    # build_app takes specs of any settings class; ServiceSpec is invariant in its settings.
    spec: ServiceSpec[Any] = SPEC
    return build_app([spec], settings, {spec.name: settings_for(spec, settings)})
