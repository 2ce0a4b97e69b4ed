"""Settings shared by every service (12-factor: environment variables, no files required).

Each service subclasses :class:`ServiceSettings`; nothing reads ``os.environ`` elsewhere.
Placeholder secrets and the simulated clock are refused in production.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from lkg.common.events.bus import Credentials

#: Development-only secret. Refused whenever ``LKG_ENV=production``.
PLACEHOLDER_SECRET = "lkg-development-only-secret-change-me"

Environment = Literal["development", "test", "production"]

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


def _origins(value: object) -> object:
    """``LKG_CORS_ALLOW_ORIGINS=https://a.example.gov.cn,https://b.example.gov.cn``: exact origins (scheme,
    host, optional port; no path, no wildcard), comma-separated."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        for origin in value:
            if not isinstance(origin, str) or not _ORIGIN.match(origin):
                raise ValueError(f"not an origin (scheme://host[:port], no path, no *): {origin!r}")
        return tuple(value)
    return value


Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origins)]


def _networks(value: object) -> object:
    from lkg.common.http.client_address import parse_networks

    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return tuple(str(n) for n in parse_networks(str(v) for v in value))
    return value


#: Proxy networks as CIDR strings (a list, or comma-separated in the environment).
Networks = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_networks)]


class ServiceSettings(BaseSettings):
    """The common base of every service's settings (environment prefix ``LKG_``)."""

    model_config = SettingsConfigDict(env_prefix="LKG_", extra="ignore", frozen=True)

    env: Environment = "development"
    service_name: str = "lkg"

    # One database per service; the embedded runner fills these in.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LKG_DATABASE_URL", "DATABASE_URL", "database_url")
    )
    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LKG_NATS_URL", "NATS_URL", "nats_url")
    )
    #: Prefix of every stream, subject and key-value bucket: one per test run (docs/time.md).
    nats_prefix: str = ""
    #: Copies of each stream and key-value bucket: 1 on the embedded server, 3 on a production cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5)
    #: The service's bus user and password (lkg.common.events.permissions); none on an open server (tests).
    nats_user: str | None = None
    nats_password: SecretStr | None = None

    # Access (docs/http-conventions.md): HS256 with a shared secret by default, RS256 via JWKS in production.
    jwt_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "lkg"
    jwt_audience: str = "lkg"
    jwt_ttl_seconds: int = 8 * 3600

    # Time (docs/time.md).
    clock: Literal["system", "simulated"] = "system"
    simulated_start: datetime = datetime.fromisoformat("2020-05-01T09:00:00+08:00")
    scan_interval_seconds: float = 30.0

    # HTTP.
    max_body_bytes: int = 1 * 1024 * 1024
    #: Origins of front ends on other origins allowed to call the API from a browser (CORS); none by default.
    cors_allow_origins: Origins = ()
    #: TLS is terminated in front of the service (an ingress, a load balancer): responses then carry HSTS.
    tls_in_front: bool = False
    #: Networks of the proxies in front (ingress, load balancer, NAT gateway) whose ``X-Forwarded-For`` is
    #: believed for the client's address (login throttling, the audit); none by default: the peer is the
    #: client (lkg.common.http.client_address). Comma-separated CIDRs, e.g. ``10.0.0.0/8,192.168.0.0/16``.
    trusted_proxies: Networks = ()

    # Runtime.
    #: Move the objects built at start-up (routes, schemas, mappers: they live as long as the process) out
    #: of the garbage collector's reach once the services have started (``gc.freeze()``): a full collection
    #: otherwise walks all of them and stalls every request in flight (bench/registry.py: pauses of 81 ms
    #: median before, 3 ms after; list p99 130 → 78 ms). Off where one process builds many apps (tests).
    gc_freeze_after_start: bool = True
    #: Serve at once and start the services in the background (``/readyz`` says what is awaited, API routes
    #: answer 503 meanwhile), so a process waiting for NATS still answers its probes and stops on a signal.
    #: Off: the app's start waits until the services run (tests that drive an app in-process want that).
    start_in_background: bool = False
    #: The web console's files (``web/`` of the repository, docs/console.md), served at ``/``. Unset: the
    #: checkout's ``web/`` when there is one (development); the image sets it to where it copies them.
    console_dir: Path | None = None

    # Event bus.
    outbox_batch_size: int = 500
    outbox_poll_seconds: float = 5.0
    consumer_batch_size: int = 100
    consumer_max_deliver: int = 6
    consumer_backoff_seconds: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0, 120.0)
    consumer_ack_wait_seconds: float = 60.0

    # Observability.
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def nats_credentials(self) -> Credentials | None:
        from lkg.common.events.bus import Credentials

        if self.nats_user is None:
            return None
        password = self.nats_password.get_secret_value() if self.nats_password is not None else ""
        return Credentials(self.nats_user, password)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def dev_endpoints_enabled(self) -> bool:
        """The dev-only clock endpoint exists only on simulated time outside production."""
        return self.clock == "simulated" and not self.is_production

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServiceSettings:
        if self.env == "production":
            if self.jwt_jwks_url is None and self.jwt_secret.get_secret_value() in (PLACEHOLDER_SECRET, ""):
                raise ValueError("LKG_JWT_SECRET is a placeholder; set a real secret or LKG_JWT_JWKS_URL")
            if len(self.jwt_secret.get_secret_value()) < 32 and self.jwt_jwks_url is None:
                raise ValueError("LKG_JWT_SECRET must be at least 32 characters in production")
            if self.clock == "simulated":
                raise ValueError("the simulated clock cannot be enabled in production (LKG_CLOCK=simulated)")
        return self
