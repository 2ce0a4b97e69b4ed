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
from lkg.common.events.contracts import OrgChanged, ProjectChanged, ProjectRegistered
from lkg.common.events.inbox import Subscription, upsert_if_newer
from lkg.common.orgcopy import apply_org_changed
from lkg.common.readcopy import _row as project_copy_row


async def on_project(
    session: AsyncSession, _envelope: Envelope, event: ProjectRegistered | ProjectChanged
) -> None:
    if await upsert_if_newer(session, project_copy, project_copy_row(event.project, event.revision)):
        await plan_for_project(session, project=event.project, revision=event.revision)


async def on_org_changed(session: AsyncSession, _envelope: Envelope, event: OrgChanged) -> None:
    if await apply_org_changed(session, org, event):
        await resolve_catalogue_units(session, event.effective_at.astimezone(TZ).date())


SUBSCRIPTIONS = [
    Subscription(ProjectRegistered, on_project),
    Subscription(ProjectChanged, on_project),
    Subscription(OrgChanged, on_org_changed),
]
