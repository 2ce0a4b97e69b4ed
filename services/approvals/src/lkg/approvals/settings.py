"""Settings of the approvals service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from datetime import time

from pydantic import Field

from lkg.common.runtime.service import ServiceRuntime
from lkg.common.settings import ServiceSettings


class ApprovalsSettings(ServiceSettings):
    service_name: str = "approvals"
    #: ``approval.due_soon`` fires once this share of an item's budget is used (a warning before
    #: a breach, at a configurable share of the budget).
    due_soon_share: float = Field(default=0.8, gt=0, lt=1)
    #: The weekly report shows the state at this time of its report day (Friday, or the last working day
    #: before a holiday Friday: policy §三(四); docs/approvals.md "Reports").
    weekly_report_time: time = time(17, 0)
    #: An agent is due for training (代办业务培训, policy §四(三): 定期组织开展) when their last session is
    #: older than this many days, or they have had none. 90 (quarterly) is an assumption (the policy: 定期).
    agent_training_every_days: int = Field(default=90, ge=1, le=3650)


#: The runtime of the approvals service: ``runtime.settings`` is :class:`ApprovalsSettings`.
ApprovalsRuntime = ServiceRuntime[ApprovalsSettings]
