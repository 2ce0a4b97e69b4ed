"""Value types of the API, the same in every service (DESIGN §3): instants with the +08:00 offset,
calendar dates as dates, money as exact decimals in yuan serialised as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, Field, PlainSerializer

from lkg.common.clock import TZ


def _local_iso(value: datetime) -> str:
    return value.astimezone(TZ).isoformat()


#: An instant, written ISO 8601 with the Asia/Shanghai offset whatever zone it was stored in
#: (PostgreSQL hands timestamps back in UTC).
Instant = Annotated[AwareDatetime, PlainSerializer(_local_iso, return_type=str, when_used="json")]

#: Money in yuan: an exact decimal with two places, written as a string so no client reads a float.
Yuan = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1e13"), max_digits=15, decimal_places=2),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
]
