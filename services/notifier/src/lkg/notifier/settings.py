"""Settings of the notifier service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from __future__ import annotations

from datetime import time

from pydantic import Field, SecretStr

from lkg.common.runtime.service import ServiceRuntime
from lkg.common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    service_name: str = "notifier"
    #: The notice and delivery scans run this often on the system clock (a message waits at most this long).
    scan_interval_seconds: float = 2.0

    #: Where links in messages point (the web console).
    console_base_url: str = "http://localhost:8000"
    #: Push channels of a person with no preference of their own (the in-app inbox always receives).
    default_channels: tuple[str, ...] = ("email",)

    # Email over SMTP.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "LKG 临空港重大项目在线 <noreply@lkg.invalid>"
    #: The right-hand side of every ``Message-ID`` (``<delivery-id@domain>``).
    message_id_domain: str = "lkg.invalid"

    # Webhooks (SMS gateways, 企业微信 / 钉钉 group robots).
    #: Host names webhook endpoints may point at (exact names, or ``*.example.gov.cn``).
    webhook_allowed_hosts: tuple[str, ...] = ()
    #: Networks allowed although private, loopback, link-local or metadata (e.g. an in-cluster SMS
    #: gateway): refused unless listed here (no request forgery into the cluster).
    webhook_allowed_networks: tuple[str, ...] = ()
    webhook_timeout_seconds: float = 5.0

    #: Wait before each retry of a failed delivery, on the shared clock; after the last one it is dead.
    delivery_backoff_seconds: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0)
    delivery_batch_size: int = Field(default=100, ge=1)

    #: Quiet hours of a person with none of their own (None: no quiet hours).
    default_quiet_from: time | None = None
    default_quiet_until: time | None = None

    # Digests and reminders (on the official calendar's working days).
    #: When the morning digests go out (a person's digest of non-urgent kinds; each line leader's digest
    #: of the line's breaches and warnings since the previous one).
    digest_time: time = time(8, 30)
    #: The approval bureau's weekly report is due on Fridays (§四(二)); on a Friday off, the last working
    #: day before it. The reminder goes out at this time that day.
    approval_report_reminder_time: time = time(9, 0)

    # Live stream (SSE).
    stream_ticket_seconds: float = 30.0
    stream_heartbeat_seconds: float = 15.0


#: The runtime of the notifier service (its settings are :class:`NotifierSettings`).
NotifierRuntime = ServiceRuntime[NotifierSettings]
