"""Passwords and secrets of accounts and client systems: argon2id for passwords (the cost from the
settings; a dummy hash answers an unknown username in the same time), SHA-256 for refresh tokens and
client secrets (256 random bits: a slow hash adds nothing)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lkg.common.auth import Role
from lkg.registry.settings import RegistrySettings

#: Who administers accounts: 重大项目办 and the system administrator (系统管理员).
ACCOUNT_ADMINS = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})

REFRESH_PREFIX = "lkgrt_"
SECRET_PREFIX = "lkgcs_"


@functools.cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(settings: RegistrySettings) -> PasswordHasher:
    return _hasher(
        settings.accounts_argon2_time_cost,
        settings.accounts_argon2_memory_kib,
        settings.accounts_argon2_parallelism,
    )


async def hash_password(settings: RegistrySettings, password: str) -> str:
    # argon2 costs tens of milliseconds of CPU by design: off the event loop.
    return await asyncio.to_thread(hasher(settings).hash, password)


@functools.cache
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_urlsafe(16))


async def verify_password(settings: RegistrySettings, password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches. Without a hash (no such username) a dummy one is checked, so an unknown
    username costs the same time as a wrong password."""
    h = hasher(settings)
    if password_hash is None:
        dummy = await asyncio.to_thread(
            _dummy_hash,
            settings.accounts_argon2_time_cost,
            settings.accounts_argon2_memory_kib,
            settings.accounts_argon2_parallelism,
        )
        await asyncio.to_thread(_verify, h, dummy, password)
        return False
    return await asyncio.to_thread(_verify, h, password_hash, password)


def _verify(h: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return h.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """SHA-256 of a random secret (refresh token, client secret): 256 random bits need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_username(username: str) -> str:
    return username.strip().lower()


def password_fingerprint(settings: RegistrySettings, password: str) -> str:
    """What an idempotency fingerprint may hold of a password: an HMAC under the platform's secret, never
    a plain hash that could be searched offline."""
    key = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()
