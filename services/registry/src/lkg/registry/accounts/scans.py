"""The accounts' housekeeping scan: on the shared clock like every scan of the service (docs/time.md)."""

from __future__ import annotations

from datetime import datetime

from lkg.common.runtime.service import Scan, ServiceRuntime
from lkg.registry.accounts import lockout
from lkg.registry.settings import RegistrySettings


async def purge_expired(runtime: ServiceRuntime[RegistrySettings], until: datetime) -> int:
    """Expired refresh tokens and spent login guards up to ``until`` (a second run finds none)."""
    async with runtime.db.transaction() as session:
        return await lockout.purge(session, until)


SCANS = (Scan("accounts_purge", purge_expired),)
