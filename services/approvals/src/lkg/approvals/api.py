"""HTTP routes of the approvals service."""

from __future__ import annotations

from fastapi import APIRouter

from lkg.approvals.models import project_copy
from lkg.common.readcopy import read_copy_router


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(read_copy_router("approvals", project_copy))
    return r
