"""Settings of the registry service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from pydantic import Field

from lkg.common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"

    # Accounts (docs/accounts.md). An access token carries the roles of the posts held when it was issued,
    # so its life is the longest a role can outlive the post: keep it short; refresh re-derives the roles.
    accounts_access_ttl_seconds: int = Field(default=15 * 60, ge=60, le=3600)
    #: Sliding: each refresh issues a new refresh token with this life (shared clock).
    accounts_refresh_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600, le=180 * 24 * 3600)
    #: Lockout: this many failed logins within the window lock the username for the lock time.
    accounts_lockout_threshold: int = Field(default=5, ge=1, le=100)
    accounts_lockout_window_seconds: int = Field(default=15 * 60, ge=60)
    accounts_lockout_seconds: int = Field(default=15 * 60, ge=60)
    #: Client systems' access tokens (no refresh token: they authenticate again with their secret).
    accounts_client_token_ttl_seconds: int = Field(default=15 * 60, ge=60, le=3600)
    #: argon2id cost (OWASP Password Storage Cheat Sheet minimum: 19 MiB, 2 passes, 1 lane). Raising it
    #: re-hashes each password at its next successful login.
    accounts_argon2_time_cost: int = Field(default=2, ge=1, le=10)
    accounts_argon2_memory_kib: int = Field(default=19 * 1024, ge=8 * 1024, le=1024 * 1024)
    accounts_argon2_parallelism: int = Field(default=1, ge=1, le=8)

    # The statistics work (§三(四)二, docs/registry.md). The bureau's list of last month's failed enrolments
    # is due by this day of the month (the last working day before it when it is not one); a reminder goes
    # out this many working days before. The contacts' monthly visits are due by the month's last working
    # day, with a reminder this many working days before.
    statistics_list_day: int = Field(default=28, ge=1, le=28)
    statistics_list_warn_working_days: int = Field(default=3, ge=0, le=20)
    statistics_visit_warn_working_days: int = Field(default=5, ge=0, le=20)
