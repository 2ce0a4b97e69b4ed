"""Settings of the scoring service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from lkg.common.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
