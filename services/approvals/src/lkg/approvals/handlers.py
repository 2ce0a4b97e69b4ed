"""Events the approvals service reacts to; each handler runs inside the inbox transaction and does its work
through the use cases.

``project.registered`` / ``project.changed``: the project read copy, and the approval plan made or brought in
step, only when the snapshot was newer than the copy held (a stale or repeated snapshot changes nothing).
``org.changed``: the org read copy, then, when any entry was newer than the copy, the handling departments
the catalogue names by role or name get their unit ids.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.models import org, project_copy
from lkg.approvals.plans.service import plan_for_project
from lkg.approvals.units import resolve_catalogue_units
from lkg.common.clock import TZ
from lkg.common.events.base import Envelope
from lkg.common.events.contracts import OrgChanged
from lkg.common.orgcopy import OrgCopyChange, org_copy_subscriptions
from lkg.common.readcopy import ProjectCopyChange, project_copy_subscriptions


async def on_project(session: AsyncSession, _envelope: Envelope, change: ProjectCopyChange) -> None:
    """A snapshot the read copy took: the project's plan made or brought in step."""
    await plan_for_project(session, project=change.project, revision=change.revision)


async def on_org_changed(
    session: AsyncSession, _envelope: Envelope, event: OrgChanged, _change: OrgCopyChange
) -> None:
    """Org entries the read copy took: departments the catalogue names by role or name resolved again."""
    await resolve_catalogue_units(session, event.effective_at.astimezone(TZ).date())


SUBSCRIPTIONS = [
    *project_copy_subscriptions(project_copy, on_applied=on_project),
    *org_copy_subscriptions(org, on_applied=on_org_changed),
]
