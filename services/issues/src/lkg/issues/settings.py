"""Settings of the issues service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`).

The time limits are data, not code: each kind of matter has its own, and another district
changes them through the environment (``LKG_CLOCK_LIMITS='{"problem": {"reply_days": 2}}'``) without a
release.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lkg.common.runtime.service import ServiceRuntime
from lkg.common.settings import ServiceSettings


class ClockLimits(BaseModel):
    """The clocks of one kind of matter, in working days (工作日, official calendar with 调休)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: 及时受理 (§三(二)): a reported problem is accepted or returned within this many working days.
    acceptance_days: int = Field(default=1, ge=1)
    #: 3 working days to send the handling opinion: policy §五(一).
    reply_days: int = Field(default=3, ge=1)
    #: A progress report every 5 working days while in progress: policy §五(一).
    progress_days: int = Field(default=5, ge=1)
    #: The warning (``problem.warned``) fires at this share of a clock's budget, rounded down to whole
    #: working days on a working-day clock (3 days × 0.6 → end of day 1; docs/issues.md).
    warning_share: float = Field(default=0.6, gt=0, lt=1)


def _default_limits() -> dict[str, ClockLimits]:
    # The 3/5-day rule of §五(一) is written for meeting matters; we apply it to every problem as well
    # (docs/issues.md#clocks).
    return {"problem": ClockLimits(), "meeting_matter": ClockLimits()}


#: The largest upload request the edge lets through to an attachment route (the service-wide limit,
#: ``max_body_bytes``, is 1 MiB): the file plus the multipart envelope. ``attachment_max_bytes`` is checked
#: on the file itself and may be set up to 1 MiB below this.
ATTACHMENT_UPLOAD_CEILING = 32 * 1024 * 1024


class IssuesSettings(ServiceSettings):
    service_name: str = "issues"
    #: Per kind of matter (``problem``, ``meeting_matter``); a missing kind uses the defaults.
    clock_limits: dict[str, ClockLimits] = Field(default_factory=_default_limits)
    #: The month-end supervision round (§五(三)) opens this many days before the month's last day, at 00:00
    #: ("每月最后一个星期": the last 7 days of the month).
    supervision_days_before_month_end: int = Field(default=6, ge=0, le=27)
    #: Attachments (photos and documents from mobile): largest accepted file and accepted media types.
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, le=ATTACHMENT_UPLOAD_CEILING - 1024 * 1024
    )
    attachment_types: tuple[str, ...] = (
        "image/jpeg",
        "image/png",
        "image/heic",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

    def limits_for(self, kind: str) -> ClockLimits:
        return self.clock_limits.get(kind) or ClockLimits()


#: The runtime of the issues service, its settings typed.
IssuesRuntime = ServiceRuntime[IssuesSettings]
