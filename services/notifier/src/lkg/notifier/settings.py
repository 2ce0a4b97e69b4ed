"""Settings of the notifier service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from lkg.common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    service_name: str = "notifier"
