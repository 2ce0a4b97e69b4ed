"""HTTP routes of the scoring service."""

from __future__ import annotations

from fastapi import APIRouter

from lkg.common.readcopy import read_copy_router
from lkg.scoring.models import project_copy


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(read_copy_router("scoring", project_copy))
    return r
