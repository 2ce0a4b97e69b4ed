"""Login throttling and the lockout (锁定), and the housekeeping that deletes what no longer holds anything
(expired refresh tokens, guards without a lock or a failure in the window).

Two guards, both rows of ``login_guard`` (issue #11 item 5: a guesser must not lock a person out):

- **per source and username** (key ``<username>`` + U+001F + ``<address>``): after
  ``accounts_source_free_failures`` failed logins from one address at one username, each further failure
  makes that address wait before its next try there, twice as long each time (from
  ``accounts_source_delay_seconds`` up to ``accounts_source_max_delay_seconds``): 429 ``login_throttled``
  with ``Retry-After``, the password not even checked. Other addresses, the account's owner among them,
  are not held up. A success from the address clears it.
- **per username** (the account-wide ceiling): ``accounts_lockout_threshold`` failures within the window,
  from any number of addresses, lock the username for ``accounts_lockout_seconds`` (429
  ``account_locked``), known or not, so an unknown name is answered exactly as a known one. The settings
  refuse a ceiling one address could reach within the window through its own delays
  (:func:`most_failures_from_one_source`), so only a spread attack can lock an account.

The source is the client's address as :func:`lkg.common.http.client_address.client_address` finds it
(``LKG_TRUSTED_PROXIES`` says whose ``X-Forwarded-For`` to believe). Every attempt is audited either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.registry.accounts.models import LoginGuard, RefreshToken
from lkg.registry.settings import RegistrySettings


def matched(result: sa.Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched."""
    assert isinstance(result, sa.CursorResult)
    return int(result.rowcount or 0)


async def guard_for(session: AsyncSession, username: str, now: datetime) -> LoginGuard:
    """The username's guard row, locked for this transaction (two attempts at once count twice).

    One upsert both creates and row-locks it (ON CONFLICT DO UPDATE locks the existing row), so the purge
    scan deleting it in between cannot leave this transaction without one."""
    insert = pg_insert(LoginGuard).values(username=username, failures=0, stale_at=now)
    stmt = (
        insert.on_conflict_do_update(index_elements=["username"], set_={"username": insert.excluded.username})
        .returning(LoginGuard)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


SOURCE_SEPARATOR = "\x1f"


def source_key(username: str, source: str | None) -> str:
    """The guard key of ``source``'s guesses at ``username``."""
    return f"{username}{SOURCE_SEPARATOR}{source or 'unknown'}"


def source_delay(settings: RegistrySettings, failures: int) -> timedelta | None:
    """The wait after the ``failures``-th failure from one source at one username (None: no wait yet)."""
    over = failures - settings.accounts_source_free_failures
    if over <= 0:
        return None
    seconds = settings.accounts_source_delay_seconds * 2 ** min(over - 1, 30)
    return timedelta(seconds=min(seconds, settings.accounts_source_max_delay_seconds))


def count_source_failure(settings: RegistrySettings, guard: LoginGuard, now: datetime) -> None:
    """Count a failure from a source at a username; hold the source back when it is past its free tries.
    The count lasts until a success, or until a window passes after the last wait without a failure."""
    guard.failures += 1
    delay = source_delay(settings, guard.failures)
    if delay is not None:
        guard.locked_until = now + delay
    window = timedelta(seconds=settings.accounts_lockout_window_seconds)
    guard.stale_at = (guard.locked_until or now) + window


def is_locked(guard: LoginGuard, now: datetime) -> bool:
    return guard.locked_until is not None and guard.locked_until > now


def count_failure(settings: RegistrySettings, guard: LoginGuard, now: datetime) -> bool:
    """Count a failed login; True when it is the one that locks the username."""
    window = timedelta(seconds=settings.accounts_lockout_window_seconds)
    if guard.window_started_at is None or now - guard.window_started_at >= window:
        guard.failures, guard.window_started_at = 0, now
    guard.failures += 1
    guard.stale_at = guard.window_started_at + window
    if guard.failures >= settings.accounts_lockout_threshold:
        guard.locked_until = now + timedelta(seconds=settings.accounts_lockout_seconds)
        guard.failures, guard.window_started_at, guard.stale_at = 0, None, guard.locked_until
        return True
    return False


def clear(guard: LoginGuard, now: datetime) -> None:
    guard.failures, guard.window_started_at, guard.locked_until, guard.stale_at = 0, None, None, now


async def purge(session: AsyncSession, until: datetime) -> int:
    """Delete refresh tokens past their expiry and login guards that hold nothing any more (both indexed by
    that time): what a stream of logins, or of guessed usernames, leaves behind does not pile up."""
    tokens = await session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at <= until))
    guards = await session.execute(sa.delete(LoginGuard).where(LoginGuard.stale_at <= until))
    return matched(tokens) + matched(guards)


async def locked_until(session: AsyncSession, username: str, now: datetime) -> datetime | None:
    guard = await session.get(LoginGuard, username)
    return guard.locked_until if guard is not None and is_locked(guard, now) else None
