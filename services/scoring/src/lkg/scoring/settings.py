"""Settings of the scoring service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`).

The evaluation rules themselves are data in the service's database (versioned, editable through the API:
:mod:`lkg.scoring.rules`), not settings.
"""

from __future__ import annotations

from datetime import date

from lkg.common.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    #: No period before this one is evaluated, even if older facts arrive (None: from the month of the
    #: first fact scoring was told).
    evaluation_start: date | None = None
