"""Settings of the scoring service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`).

The evaluation rules themselves are data in the service's database (versioned, editable through the API:
:mod:`lkg.scoring.rules`), not settings.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from lkg.common.calendar import CadenceShift
from lkg.common.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    #: No period before this one is evaluated, even if older facts arrive (None: from the month of the
    #: first fact scoring was told).
    evaluation_start: date | None = None
    #: The weekday the 《要情专报》 is issued on (0 Monday … 4 Friday); a cadence day that is not a working
    #: day falls on the last working day before it (docs/reports.md).
    weekly_bulletin_weekday: int = Field(default=4, ge=0, le=6)
    weekly_bulletin_shift: CadenceShift = "previous"
