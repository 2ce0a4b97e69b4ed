"""Settings of the registry service (environment prefix ``LKG_``; see :mod:`lkg.common.settings`)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from lkg.common.settings import ServiceSettings


def most_failures_from_one_source(settings: RegistrySettings) -> int:
    """How many failed logins one address can make at one username within the lockout window, waiting
    out each delay it is given (the free ones at once)."""
    window = settings.accounts_lockout_window_seconds
    failures, elapsed = settings.accounts_source_free_failures, 0
    delay = settings.accounts_source_delay_seconds
    while elapsed + min(delay, settings.accounts_source_max_delay_seconds) < window:
        elapsed += min(delay, settings.accounts_source_max_delay_seconds)
        failures += 1
        delay *= 2
    return failures


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"

    # Accounts (docs/accounts.md). An access token carries the roles of the posts held when it was issued,
    # so its life is the longest a role can outlive the post: keep it short; refresh re-derives the roles.
    accounts_access_ttl_seconds: int = Field(default=15 * 60, ge=60, le=3600)
    #: Sliding: each refresh issues a new refresh token with this life (shared clock).
    accounts_refresh_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600, le=180 * 24 * 3600)
    #: The account-wide ceiling (accounts/lockout.py): this many failed logins within the window, from any
    #: addresses, lock the username for the lock time. Must be out of one address's reach (checked below).
    accounts_lockout_threshold: int = Field(default=20, ge=2, le=1000)
    accounts_lockout_window_seconds: int = Field(default=15 * 60, ge=60)
    accounts_lockout_seconds: int = Field(default=15 * 60, ge=60)
    #: Per address and username: free failures, then a wait doubling from the first delay up to the most.
    accounts_source_free_failures: int = Field(default=3, ge=1, le=100)
    accounts_source_delay_seconds: int = Field(default=2, ge=1, le=3600)
    accounts_source_max_delay_seconds: int = Field(default=300, ge=1, le=24 * 3600)
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
    # 回头看 on a schedule (§四(四) 定期): a round every this many months (ending in June and December by
    # default), every active project reviewed by the round's last working day; a reminder to 督查室 this many
    # working days before.
    integrity_round_months: int = Field(default=6, ge=1, le=12)
    integrity_round_warn_working_days: int = Field(default=10, ge=0, le=40)

    # Where the deployment's history starts (issue 11 item 19): a milestone whose planned date passed before
    # this day was missed before the platform kept the record, so its miss opens no problem (the demo's
    # 2017–2019 milestones would otherwise become problems dated years back, climbing to layers whose
    # holders the directory does not have then). None: the simulated clock's start on a simulated clock,
    # no limit on the system clock (a real district's late milestones are real).
    history_start: date | None = None

    #: ``lkg run``/``lkg seed`` seed the 245 【演示】 projects beside the directory and the demo accounts;
    #: false (``--no-demo-portfolio``) seeds only the directory and the accounts (``lkg simulate``'s own
    #: deployment, whose figures are about its own portfolio).
    seed_demo_portfolio: bool = True

    def history_starts(self) -> date | None:
        if self.history_start is not None:
            return self.history_start
        return self.simulated_start.date() if self.clock == "simulated" else None

    @model_validator(mode="after")
    def _ceiling_out_of_one_sources_reach(self) -> RegistrySettings:
        reach = most_failures_from_one_source(self)
        if reach >= self.accounts_lockout_threshold:
            raise ValueError(
                f"LKG_ACCOUNTS_LOCKOUT_THRESHOLD ({self.accounts_lockout_threshold}) must exceed the failed "
                f"logins one address can make within the window ({reach}): one guesser could lock an account"
            )
        return self
