"""Events the notifier reacts to (each handler runs inside the inbox transaction: a repeated event is
skipped by the inbox, and a notice is keyed by kind and cause, so a second event for the same cause
changes nothing).

* ``project.*`` and ``org.changed`` keep the read copies that recipients are resolved from.
* Every notified kind (:data:`lkg.notifier.kinds.NOTIFIED`) is kept as a notice by
  :func:`lkg.notifier.notices.record_notice` (a consumer batch's consecutive events of one kind in one
  statement, :func:`~lkg.notifier.notices.record_notices`); the notice scan routes it on the shared clock.
"""

from __future__ import annotations

from lkg.common.events.inbox import Subscription
from lkg.common.orgcopy import org_copy_subscriptions
from lkg.common.readcopy import project_copy_subscriptions
from lkg.notifier.kinds import NOTIFIED
from lkg.notifier.models import org_copy, project_copy
from lkg.notifier.notices import record_notice, record_notices

SUBSCRIPTIONS: list[Subscription] = [
    *project_copy_subscriptions(project_copy),
    *org_copy_subscriptions(org_copy),
    *(Subscription(contract, record_notice, record_notices) for contract in NOTIFIED),
]
