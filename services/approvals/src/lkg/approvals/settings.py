"""Settings of the approvals service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from lkg.common.settings import ServiceSettings


class ApprovalsSettings(ServiceSettings):
    service_name: str = "approvals"
