"""Events the approvals service reacts to (each handler runs inside the inbox transaction).

``project.registered`` / ``project.changed``: the project read copy, and the approval plan made or brought in
step (an older or repeated snapshot changes nothing). ``org.changed``: the org read copy, then handling
departments the catalogue names by role or name get their unit ids.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import service
from lkg.approvals.models import org, project_copy
from lkg.approvals.units import resolve_catalogue_units
from lkg.common.clock import TZ
from lkg.common.events.base import Envelope
from lkg.common.events.contracts import OrgChanged, ProjectChanged, ProjectRegistered
from lkg.common.events.inbox import Subscription, upsert_if_newer
from lkg.common.orgcopy import apply_org_changed
from lkg.common.readcopy import _row as project_copy_row


def subscriptions() -> list[Subscription]:
    async def project(
        session: AsyncSession, _envelope: Envelope, event: ProjectRegistered | ProjectChanged
    ) -> None:
        await upsert_if_newer(session, project_copy, project_copy_row(event.project, event.revision))
        await service.plan_for_project(session, project=event.project, revision=event.revision)

    async def org_changed(session: AsyncSession, _envelope: Envelope, event: OrgChanged) -> None:
        await apply_org_changed(session, org, event)
        await resolve_catalogue_units(session, event.effective_at.astimezone(TZ).date())

    return [
        Subscription(ProjectRegistered, project),
        Subscription(ProjectChanged, project),
        Subscription(OrgChanged, org_changed),
    ]


SUBSCRIPTIONS = subscriptions()
