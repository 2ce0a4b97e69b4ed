"""The one clock every service reads (docs/time.md). Nothing else calls ``datetime.now()``.

* :class:`SystemClock` — real time in Asia/Shanghai, for production.
* :class:`SimulatedClock` — a frozen time shared by all services of a deployment through a NATS key-value
  entry, moved only on purpose (``lkg clock set|advance`` or the dev-only endpoint). Refused in production
  by the settings.
* :meth:`Clock.at` sets the *effective* time while a scan handles one due row, so that whatever the handler
  starts (an escalation's new clock, say) starts from the breach, not from "now" (docs/time.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")

_effective: ContextVar[datetime | None] = ContextVar("lkg_effective_time", default=None)


class Clock:
    """Base: ``now()`` is aware, in Asia/Shanghai."""

    simulated = False

    def _current(self) -> datetime:
        raise NotImplementedError

    def now(self) -> datetime:
        effective = _effective.get()
        return effective if effective is not None else self._current()

    def today(self) -> date:
        return self.now().date()

    @contextlib.contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Within the block, ``now()`` is ``moment`` (a scan handling a row that fell due then)."""
        token = _effective.set(moment.astimezone(TZ))
        try:
            yield
        finally:
            _effective.reset(token)


class SystemClock(Clock):
    def _current(self) -> datetime:
        return datetime.now(TZ)


class SimulatedClock(Clock):
    """A frozen clock; the runtime keeps it in step with the shared key-value entry."""

    simulated = True

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(TZ)

    def _current(self) -> datetime:
        return self._now

    def move_to(self, moment: datetime) -> None:
        """Only ever forward: a scan may already have acted on the later time."""
        moment = moment.astimezone(TZ)
        if moment > self._now:
            self._now = moment


def wall_clock_utc() -> datetime:
    """Real UTC time for metadata that must not follow the simulated clock (event ids, lag metrics)."""
    return datetime.now(UTC)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``8h``, ``3d``, ``2w`` or an ISO 8601 duration such as ``P3DT4H``."""
    text = text.strip()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return timedelta(**{units[text[-1]]: float(text[:-1])})
    if text.upper().startswith("P"):
        import re

        match = re.fullmatch(
            r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?",
            text.upper(),
        )
        if match and any(match.groupdict().values()):
            g = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
            return timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["m"], seconds=g["s"])
    raise ValueError(f"not a duration: {text!r} (examples: 3d, 8h, P3DT4H)")
