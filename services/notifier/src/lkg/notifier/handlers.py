"""Events the notifier service reacts to (each handler runs inside the inbox transaction)."""

from __future__ import annotations

from lkg.common.events.inbox import Subscription
from lkg.common.readcopy import project_copy_subscriptions
from lkg.notifier.models import project_copy

SUBSCRIPTIONS: list[Subscription] = [*project_copy_subscriptions(project_copy)]
