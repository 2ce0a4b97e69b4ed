"""Settings of the issues service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from lkg.common.settings import ServiceSettings


class IssuesSettings(ServiceSettings):
    service_name: str = "issues"
