"""Events the approvals service reacts to (each handler runs inside the inbox transaction)."""

from __future__ import annotations

from lkg.approvals.models import project_copy
from lkg.common.events.inbox import Subscription
from lkg.common.readcopy import project_copy_subscriptions

SUBSCRIPTIONS: list[Subscription] = [*project_copy_subscriptions(project_copy)]
