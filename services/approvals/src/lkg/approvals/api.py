"""HTTP routes of the approvals service, one router per sub-domain; each route is thin: validate, call one
use case, return a schema.

Nouns: ``/api/v1/approval-catalogue`` (:mod:`lkg.approvals.catalogue.api`), ``/api/v1/approval-plans``
(:mod:`lkg.approvals.plans.api`), ``/api/v1/approval-items`` (:mod:`lkg.approvals.items.api`),
``/api/v1/approval-reports`` (:mod:`lkg.approvals.reports.api`), ``/api/v1/regional-assessments``
(:mod:`lkg.approvals.assessments.api`), ``/api/v1/approval-agents`` and ``/api/v1/agent-trainings``
(:mod:`lkg.approvals.agents.api`), and the ops view of the project read copy.
"""

from __future__ import annotations

from fastapi import APIRouter

from lkg.approvals.agents.api import router as agents
from lkg.approvals.assessments.api import router as assessments
from lkg.approvals.catalogue.api import router as catalogue
from lkg.approvals.items.api import router as items
from lkg.approvals.models import project_copy
from lkg.approvals.plans.api import router as plans
from lkg.approvals.reports.api import router as reports
from lkg.common.http.query import StrictQuery
from lkg.common.readcopy import read_copy_router


def router() -> APIRouter:
    r = APIRouter(dependencies=[StrictQuery])
    r.include_router(read_copy_router("approvals", project_copy))
    for sub in (catalogue, plans, items, reports, assessments, agents):
        r.include_router(sub)
    return r
