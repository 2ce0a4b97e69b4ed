"""HTTP routes of the issues service, gathered: problems and meeting matters (with their attachments),
the red-card register and the supervision rounds, and the ops view of the project read copy."""

from __future__ import annotations

from fastapi import APIRouter

from lkg.common.readcopy import read_copy_router
from lkg.issues.matters.api import meeting_matters_router, problems_router
from lkg.issues.models import project_copy
from lkg.issues.supervision.api import router as supervision_router


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(problems_router())
    r.include_router(meeting_matters_router())
    r.include_router(supervision_router())
    r.include_router(read_copy_router("issues", project_copy))
    return r
