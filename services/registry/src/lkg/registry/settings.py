"""Settings of the registry service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from lkg.common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
