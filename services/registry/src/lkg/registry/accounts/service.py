"""Use cases of accounts and client systems. Like every use case they change rows and never commit.

A refused login, refresh or client token request still writes its audit line and its failure count, so
those use cases *return* the error instead of raising it: the route commits, then raises (a raise here
would roll the audit back with everything else).

Powers (DESIGN §3 Access): a person's roles are derived from the posts they hold on the shared clock's
date, at each login and each refresh, never stored with the account; their reach (units, lines, posts) is
resolved at every request by :class:`lkg.registry.access.DirectoryReachResolver`. So leaving a post
removes its reach at once and its role claims when the access token expires (15 min by default).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
import uuid6
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Principal, Role, mint_token
from lkg.common.clock import TZ, Clock, wall_clock_utc
from lkg.common.events.contracts import PersonSnapshot, PostHoldingSnapshot, PostKind, PostSnapshot, UnitKind
from lkg.common.events.contracts import UnitRole as UR
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from lkg.registry.accounts.models import Account, ClientSystem, LoginEvent, LoginGuard, RefreshToken
from lkg.registry.org import service as org
from lkg.registry.org.document import org_id
from lkg.registry.settings import RegistrySettings

#: Who administers accounts: 重大项目办 and the system administrator (系统管理员).
ACCOUNT_ADMINS = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})

REFRESH_PREFIX = "lkgrt_"
SECRET_PREFIX = "lkgcs_"

# ---- errors ---------------------------------------------------------------------------------------


class InvalidCredentials(Unauthenticated):
    """The one answer to a wrong password and to an unknown username, so neither is told apart."""

    code = "invalid_credentials"
    title = "用户名或密码错误"


class AccountLocked(DomainError):
    """Too many failed logins in the window: the username is locked for a while (429 with Retry-After)."""

    code = "account_locked"
    status = 429
    title = "登录失败次数过多，账号已暂时锁定，请稍后再试"

    def __init__(self, locked_until: datetime, now: datetime) -> None:
        super().__init__(extra={"locked_until": locked_until.astimezone(TZ).isoformat()})
        seconds = max(1, int((locked_until - now).total_seconds()))
        self.headers = {"Retry-After": str(seconds)}  # type: ignore[misc]  # per occurrence


class AccountDisabled(Forbidden):
    code = "account_disabled"
    title = "账号已停用，请联系管理员"


class InvalidRefreshToken(Unauthenticated):
    code = "invalid_refresh_token"
    title = "刷新令牌无效或已过期，请重新登录"


class RefreshTokenReused(Unauthenticated):
    code = "refresh_token_reused"
    title = "刷新令牌已被使用过；为安全起见，此次登录已全部失效，请重新登录"


class LocalLoginUnavailable(Conflict):
    code = "local_login_unavailable"
    title = "本部署由统一身份认证签发令牌，不在此登录"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "账号不存在"


class ClientNotFound(NotFound):
    code = "client_not_found"
    title = "对接系统不存在"


class OAuthError(DomainError):
    """An error of the token endpoint (RFC 6749 §5.2): the problem's ``code`` is the OAuth ``error``, and
    ``error`` / ``error_description`` are added so OAuth client libraries read it too."""

    status = 400
    title = "令牌请求无效"
    TITLES: ClassVar[dict[str, str]] = {
        "invalid_request": "令牌请求缺少参数或参数无效",
        "invalid_client": "客户端认证失败",
        "unsupported_grant_type": "不支持的授权类型，仅支持 client_credentials",
        "invalid_scope": "请求的权限范围超出该客户端的授权",
    }

    def __init__(self, error: str, detail: str | None = None) -> None:
        text = detail or self.TITLES.get(error, self.title)
        super().__init__(text, code=error, extra={"error": error, "error_description": text})
        if error == "invalid_client":
            self.status = 401  # type: ignore[misc]  # RFC 6749 §5.2
            self.headers = {"WWW-Authenticate": 'Basic realm="lkg"'}  # type: ignore[misc]


# ---- passwords and secrets ---------------------------------------------------------------------------


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


# ---- powers from the directory -----------------------------------------------------------------------

#: Units that act by function (UnitRole) give their staff the platform role of that function.
_UNIT_ROLE_TO_ROLE = {
    UR.MAJOR_PROJECTS_OFFICE: Role.MAJOR_PROJECTS_OFFICE,
    UR.APPROVAL_BUREAU: Role.APPROVAL_BUREAU,
    UR.STATISTICS_BUREAU: Role.STATISTICS_BUREAU,
    UR.SUPERVISION_OFFICE: Role.SUPERVISION_OFFICE,
}


def roles_of(directory: org.Directory, person_id: uuid.UUID, day: date, *, system_admin: bool) -> set[Role]:
    """The roles a person holds on ``day``, from the posts they hold then (三层八线, policy §二):

    a line leader's post that leads a line in force → ``line_leader`` (包保区级领导, layer 2);
    a district leader's post → ``top_leader`` (区委、区政府主要领导, layer 3);
    a post in a line's service department → ``service_department`` (综合服务部门, layer 2);
    a post in a street or industry office → ``unit_user`` (项目责任单位, layer 1);
    a post in a unit acting by function (重大项目办, 审批局, 统计局, 督查室) → that function's role.
    ``admin`` belongs to the account, not to a post.
    """
    roles: set[Role] = {Role.ADMIN} if system_admin else set()
    person = directory.people.get(person_id)
    if person is None or not person.active:
        return roles
    held = {h.post_id for h in directory.holdings.values() if h.person_id == person_id and h.in_force(day)}
    lines = [line for line in directory.lines.values() if line.in_force(day)]
    for post_id in held:
        post = directory.posts.get(post_id)
        if post is None or not post.in_force(day):
            continue
        unit = directory.units.get(post.unit_id)
        if post.kind == PostKind.LINE_LEADER and any(line.leader_post_id == post.id for line in lines):
            roles.add(Role.LINE_LEADER)
        if post.kind == PostKind.DISTRICT_LEADER:
            roles.add(Role.TOP_LEADER)
        if unit is None or not unit.in_force(day):
            continue
        if any(line.service_unit_id == unit.id for line in lines):
            roles.add(Role.SERVICE_DEPARTMENT)
        if unit.kind in (UnitKind.STREET, UnitKind.INDUSTRY_OFFICE):
            roles.add(Role.UNIT_USER)
        roles.update(_UNIT_ROLE_TO_ROLE[r] for r in unit.roles if r in _UNIT_ROLE_TO_ROLE)
    return roles


async def _directory(session: AsyncSession) -> org.Directory:
    return await org.load_directory(session, kinds=["unit", "post", "person", "holding", "line"])


# ---- audit -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for the audit (the address as the ASGI server reports it)."""

    address: str | None = None
    user_agent: str | None = None


def _audit(
    session: AsyncSession,
    now: datetime,
    origin: Origin,
    *,
    action: str,
    outcome: str,
    username: str | None = None,
    account_id: uuid.UUID | None = None,
    client_id: str | None = None,
) -> None:
    session.add(
        LoginEvent(
            id=uuid.UUID(str(uuid6.uuid7())),
            at=now,
            action=action,
            outcome=outcome,
            username=username,
            account_id=account_id,
            client_id=client_id,
            client_address=origin.address,
            user_agent=(origin.user_agent or None) and origin.user_agent[:300],
        )
    )


BY_NEWEST = Keyset(sort=LoginEvent.at, id=LoginEvent.id, name="login_event_at", descending=True)


async def list_login_events(
    session: AsyncSession,
    page: PageParams,
    *,
    username: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    client_id: str | None = None,
) -> tuple[list[LoginEvent], str | None]:
    stmt = sa.select(LoginEvent)
    if username is not None:
        stmt = stmt.where(LoginEvent.username == normalise_username(username))
    if action is not None:
        stmt = stmt.where(LoginEvent.action == action)
    if outcome is not None:
        stmt = stmt.where(LoginEvent.outcome == outcome)
    if client_id is not None:
        stmt = stmt.where(LoginEvent.client_id == client_id)
    return await fetch_page(session, stmt, BY_NEWEST, page)


# ---- the lockout ---------------------------------------------------------------------------------------


async def _guard(session: AsyncSession, username: str, now: datetime) -> LoginGuard:
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


def _locked(guard: LoginGuard, now: datetime) -> bool:
    return guard.locked_until is not None and guard.locked_until > now


def _count_failure(settings: RegistrySettings, guard: LoginGuard, now: datetime) -> bool:
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


def _clear(guard: LoginGuard, now: datetime) -> None:
    guard.failures, guard.window_started_at, guard.locked_until, guard.stale_at = 0, None, None, now


async def purge(session: AsyncSession, until: datetime) -> int:
    """Delete refresh tokens past their expiry and login guards that hold nothing any more (both indexed by
    that time): what a stream of logins, or of guessed usernames, leaves behind does not pile up."""
    tokens = await session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at <= until))
    guards = await session.execute(sa.delete(LoginGuard).where(LoginGuard.stale_at <= until))
    return int(tokens.rowcount or 0) + int(guards.rowcount or 0)


async def locked_until(session: AsyncSession, username: str, now: datetime) -> datetime | None:
    guard = await session.get(LoginGuard, username)
    return guard.locked_until if guard is not None and _locked(guard, now) else None


# ---- login, refresh, logout ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    """What a login or a refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    account_id: uuid.UUID
    roles: tuple[Role, ...]


def _refuse_with_identity_provider(settings: RegistrySettings) -> None:
    if settings.jwt_jwks_url is not None:
        raise LocalLoginUnavailable()


async def _issue(
    session: AsyncSession,
    settings: RegistrySettings,
    now: datetime,
    account: Account,
    person: PersonSnapshot,
    roles: Iterable[Role],
    *,
    family_id: uuid.UUID,
) -> tuple[Issued, RefreshToken]:
    roles = tuple(sorted(roles))
    access = mint_token(
        settings,
        person=str(account.person_id),
        roles=roles,
        name=person.name,
        ttl_seconds=settings.accounts_access_ttl_seconds,
        # The JWT's exp is checked against the wall clock (lkg.common.auth.TokenVerifier).
        now=wall_clock_utc(),
    )
    raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
    row = RefreshToken(
        id=uuid.uuid4(),
        token_hash=digest(raw),
        family_id=family_id,
        account_id=account.id,
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.accounts_refresh_ttl_seconds),
    )
    session.add(row)
    issued = Issued(
        access_token=access,
        expires_in=settings.accounts_access_ttl_seconds,
        refresh_token=raw,
        refresh_expires_in=settings.accounts_refresh_ttl_seconds,
        account_id=account.id,
        roles=roles,
    )
    return issued, row


def _usable_person(directory: org.Directory, account: Account) -> PersonSnapshot | None:
    person = directory.people.get(account.person_id)
    if account.status != "active" or person is None or not person.active:
        return None
    return person


async def login(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    *,
    username: str,
    password: str,
    origin: Origin,
) -> Issued | DomainError:
    """Check the password; tokens, or the error to answer (audited either way)."""
    _refuse_with_identity_provider(settings)
    now = clock.now()
    name = normalise_username(username)
    guard = await _guard(session, name, now)
    account = (await session.execute(sa.select(Account).where(Account.username == name))).scalar_one_or_none()
    account_id = account.id if account else None
    if _locked(guard, now):
        assert guard.locked_until is not None
        _audit(session, now, origin, action="login", outcome="locked", username=name, account_id=account_id)
        return AccountLocked(guard.locked_until, now)
    if not await verify_password(settings, account.password_hash if account else None, password):
        locks = _count_failure(settings, guard, now)
        outcome = "lockout" if locks else "failure"
        _audit(session, now, origin, action="login", outcome=outcome, username=name, account_id=account_id)
        if locks:
            assert guard.locked_until is not None
            return AccountLocked(guard.locked_until, now)
        return InvalidCredentials()
    assert account is not None
    _clear(guard, now)
    directory = await _directory(session)
    person = _usable_person(directory, account)
    if person is None:
        _audit(session, now, origin, action="login", outcome="disabled", username=name, account_id=account_id)
        return AccountDisabled()
    if hasher(settings).check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(settings, password)
    roles = roles_of(directory, account.person_id, now.date(), system_admin=account.system_admin)
    issued, _ = await _issue(session, settings, now, account, person, roles, family_id=uuid.uuid4())
    _audit(session, now, origin, action="login", outcome="success", username=name, account_id=account_id)
    return issued


async def _revoke(
    session: AsyncSession, now: datetime, reason: str, *, family_id=None, account_id=None
) -> int:
    stmt = sa.update(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    if family_id is not None:
        stmt = stmt.where(RefreshToken.family_id == family_id)
    if account_id is not None:
        stmt = stmt.where(RefreshToken.account_id == account_id)
    result = await session.execute(stmt.values(revoked_at=now, revoked_reason=reason))
    return int(result.rowcount or 0)


async def _presented(session: AsyncSession, raw: str) -> RefreshToken | None:
    return (
        await session.execute(
            sa.select(RefreshToken).where(RefreshToken.token_hash == digest(raw)).with_for_update()
        )
    ).scalar_one_or_none()


async def refresh(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    *,
    refresh_token: str,
    origin: Origin,
) -> Issued | DomainError:
    """Rotate: the presented token is spent and a new one of its family is issued, with roles derived anew
    from the posts held today. A spent token presented again revokes the family (stolen and replayed)."""
    _refuse_with_identity_provider(settings)
    now = clock.now()
    row = await _presented(session, refresh_token)
    if row is None:
        _audit(session, now, origin, action="refresh", outcome="failure")
        return InvalidRefreshToken()
    account = await session.get(Account, row.account_id)
    assert account is not None  # a foreign key
    who: dict[str, Any] = {"username": account.username, "account_id": account.id}
    if row.revoked_at is not None:
        _audit(session, now, origin, action="refresh", outcome="failure", **who)
        return InvalidRefreshToken()
    if row.used_at is not None:
        await _revoke(session, now, "reuse", family_id=row.family_id)
        _audit(session, now, origin, action="refresh", outcome="reuse", **who)
        return RefreshTokenReused()
    if row.expires_at <= now:
        _audit(session, now, origin, action="refresh", outcome="expired", **who)
        return InvalidRefreshToken()
    directory = await _directory(session)
    person = _usable_person(directory, account)
    if person is None:
        await _revoke(session, now, "disabled", family_id=row.family_id)
        _audit(session, now, origin, action="refresh", outcome="disabled", **who)
        return AccountDisabled()
    row.used_at = now
    roles = roles_of(directory, account.person_id, now.date(), system_admin=account.system_admin)
    issued, _ = await _issue(session, settings, now, account, person, roles, family_id=row.family_id)
    _audit(session, now, origin, action="refresh", outcome="success", **who)
    return issued


async def logout(session: AsyncSession, clock: Clock, *, refresh_token: str, origin: Origin) -> bool:
    """Revoke the login the refresh token belongs to (its whole family). Unknown tokens change nothing
    (RFC 7009 §2.2: the answer is the same)."""
    now = clock.now()
    row = await _presented(session, refresh_token)
    if row is None:
        return False
    account = await session.get(Account, row.account_id)
    await _revoke(session, now, "logout", family_id=row.family_id)
    _audit(
        session,
        now,
        origin,
        action="logout",
        outcome="success",
        username=account.username if account else None,
        account_id=row.account_id,
    )
    return True


# ---- accounts ----------------------------------------------------------------------------------------


def is_account_admin(principal: Principal) -> bool:
    return not principal.roles.isdisjoint(ACCOUNT_ADMINS)


def _ensure_may_manage(principal: Principal, account: Account) -> None:
    """重大项目办 manages accounts; only a system administrator manages a system administrator's."""
    if not is_account_admin(principal):
        raise Forbidden("只有重大项目办或系统管理员可以管理账号")
    if account.system_admin and Role.ADMIN not in principal.roles:
        raise Forbidden("只有系统管理员可以管理系统管理员账号")


async def create_account(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    *,
    person_id: uuid.UUID,
    username: str,
    password: str,
    system_admin: bool,
    by: Principal | None,
) -> Account:
    """An account for a person of the directory (one per person). ``by`` None: the demo seed."""
    if by is not None:
        if not is_account_admin(by):
            raise Forbidden("只有重大项目办或系统管理员可以开设账号")
        if system_admin and Role.ADMIN not in by.roles:
            raise Forbidden("只有系统管理员可以开设系统管理员账号")
    directory = await org.load_directory(session, kinds=["person"])
    if person_id not in directory.people:
        raise NotFound("组织目录中没有此人员", code="person_not_found")
    name = normalise_username(username)
    taken = await session.execute(
        sa.select(Account.username, Account.person_id).where(
            sa.or_(Account.username == name, Account.person_id == person_id)
        )
    )
    for other_name, other_person in taken.all():
        if other_name == name:
            raise Conflict("用户名已被使用", code="username_taken")
        if other_person == person_id:
            raise Conflict("此人员已有账号", code="person_has_account")
    now = clock.now()
    account = Account(
        id=uuid.uuid4(),
        revision=1,
        person_id=person_id,
        username=name,
        password_hash=await hash_password(settings, password),
        system_admin=system_admin,
        status="active",
        created_by=by.key if by is not None else "seed",
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: uuid.UUID, *, by: Principal) -> Account:
    """An account its owner or an account administrator may see; anyone else is told it does not exist."""
    account = await session.get(Account, account_id)
    if account is None or not (is_account_admin(by) or by.person_id == str(account.person_id)):
        raise AccountNotFound()
    return account


BY_USERNAME = Keyset(sort=Account.username, id=Account.id, name="account_username")


async def list_accounts(session: AsyncSession, page: PageParams) -> tuple[list[Account], str | None]:
    return await fetch_page(session, sa.select(Account), BY_USERNAME, page)


async def change_password(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    account: Account,
    *,
    expected_revision: int,
    current_password: str | None,
    new_password: str,
    by: Principal,
    origin: Origin,
) -> Account | DomainError:
    """The owner changes their password with the current one; an administrator resets anyone's it may
    manage. Every refresh token of the account is revoked (signed out everywhere)."""
    now = clock.now()
    if by.person_id != str(account.person_id):
        _ensure_may_manage(by, account)
    elif current_password is None and not is_account_admin(by):
        raise Forbidden("修改本人密码须提供当前密码", code="current_password_required")
    if current_password is not None:
        guard = await _guard(session, account.username, now)
        if _locked(guard, now):
            assert guard.locked_until is not None
            _audit(session, now, origin, action="password_change", outcome="locked", **_who(account))
            return AccountLocked(guard.locked_until, now)
        if not await verify_password(settings, account.password_hash, current_password):
            locks = _count_failure(settings, guard, now)
            outcome = "lockout" if locks else "failure"
            _audit(session, now, origin, action="password_change", outcome=outcome, **_who(account))
            if locks:
                assert guard.locked_until is not None
                return AccountLocked(guard.locked_until, now)
            return Forbidden("当前密码不正确", code="current_password_incorrect")
    await update_if_revision(
        session,
        Account,
        account.id,
        expected_revision,
        {
            "password_hash": await hash_password(settings, new_password),
            "password_changed_at": now,
            "updated_at": now,
        },
    )
    await _revoke(session, now, "password_changed", account_id=account.id)
    _audit(session, now, origin, action="password_change", outcome="success", **_who(account))
    return account


def _who(account: Account) -> dict[str, Any]:
    return {"username": account.username, "account_id": account.id}


async def set_status(
    session: AsyncSession,
    clock: Clock,
    account: Account,
    *,
    status: str,
    expected_revision: int,
    by: Principal,
) -> Account:
    """Disable (停用: every refresh token revoked, no new login) or enable an account."""
    _ensure_may_manage(by, account)
    now = clock.now()
    await update_if_revision(
        session, Account, account.id, expected_revision, {"status": status, "updated_at": now}
    )
    if status == "disabled":
        await _revoke(session, now, "disabled", account_id=account.id)
    return account


async def unlock(
    session: AsyncSession, clock: Clock, account: Account, *, expected_revision: int, by: Principal
) -> Account:
    """Lift a lockout before it runs out (the person called the office, say)."""
    _ensure_may_manage(by, account)
    now = clock.now()
    await update_if_revision(session, Account, account.id, expected_revision, {"updated_at": now})
    _clear(await _guard(session, account.username, now), now)
    return account


async def powers(session: AsyncSession, clock: Clock, accounts: list[Account]) -> dict[uuid.UUID, Any]:
    """Per account: (person's name, roles today, locked until) for the API's account view."""
    now = clock.now()
    directory = await _directory(session)
    guards = {
        g.username: g
        for g in (
            await session.execute(
                sa.select(LoginGuard).where(LoginGuard.username.in_([a.username for a in accounts]))
            )
        ).scalars()
    }
    out: dict[uuid.UUID, Any] = {}
    for a in accounts:
        person = directory.people.get(a.person_id)
        guard = guards.get(a.username)
        out[a.id] = (
            person.name if person else None,
            sorted(roles_of(directory, a.person_id, now.date(), system_admin=a.system_admin)),
            guard.locked_until if guard is not None and _locked(guard, now) else None,
        )
    return out


# ---- client systems ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def register_client(
    session: AsyncSession,
    clock: Clock,
    *,
    client_id: str,
    name: str,
    scopes: Iterable[str],
    by: Principal,
) -> tuple[ClientSystem, str]:
    """A client system and its secret (shown once, kept as a digest). A retry answers 409 client_exists:
    the secret is never kept anywhere a replay could show it again; rotate to get a new one."""
    if await session.get(ClientSystem, client_id) is not None:
        raise Conflict("对接系统编号已被使用", code="client_exists")
    now = clock.now()
    secret = _new_secret()
    client = ClientSystem(
        client_id=client_id,
        revision=1,
        name=name,
        scopes=sorted(set(scopes)),
        secret_hash=digest(secret),
        status="active",
        created_by=by.key,
        created_at=now,
        updated_at=now,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def get_client(session: AsyncSession, client_id: str) -> ClientSystem:
    client = await session.get(ClientSystem, client_id)
    if client is None:
        raise ClientNotFound()
    return client


BY_CREATED = Keyset(sort=ClientSystem.created_at, id=ClientSystem.client_id, name="client_created_at")


async def list_clients(session: AsyncSession, page: PageParams) -> tuple[list[ClientSystem], str | None]:
    return await fetch_page(session, sa.select(ClientSystem), BY_CREATED, page)


async def rotate_client_secret(
    session: AsyncSession,
    clock: Clock,
    client: ClientSystem,
    *,
    expected_revision: int,
    grace_seconds: int,
) -> tuple[ClientSystem, str]:
    """A new secret; the old one stays valid for ``grace_seconds`` (0: invalid at once)."""
    if client.status != "active":
        raise Conflict("对接系统已被吊销，不能轮换密钥", code="client_revoked")
    now = clock.now()
    secret = _new_secret()
    await update_if_revision(
        session,
        ClientSystem,
        client.client_id,
        expected_revision,
        {
            "secret_hash": digest(secret),
            "previous_secret_hash": client.secret_hash if grace_seconds > 0 else None,
            "previous_valid_until": now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None,
            "rotated_at": now,
            "updated_at": now,
        },
        id_column="client_id",
    )
    return client, secret


async def revoke_client(
    session: AsyncSession, clock: Clock, client: ClientSystem, *, expected_revision: int
) -> ClientSystem:
    """吊销: no secret of the client is accepted any more. Tokens already issued live out their short
    life (``accounts_client_token_ttl_seconds``)."""
    if client.status != "active":
        raise Conflict("对接系统已被吊销", code="client_revoked")
    now = clock.now()
    await update_if_revision(
        session,
        ClientSystem,
        client.client_id,
        expected_revision,
        {
            "status": "revoked",
            "previous_secret_hash": None,
            "previous_valid_until": None,
            "revoked_at": now,
            "updated_at": now,
        },
        id_column="client_id",
    )
    return client


def _secret_matches(client: ClientSystem, secret: str, now: datetime) -> bool:
    given = digest(secret)
    if hmac.compare_digest(given, client.secret_hash):
        return True
    return (
        client.previous_secret_hash is not None
        and client.previous_valid_until is not None
        and now < client.previous_valid_until
        and hmac.compare_digest(given, client.previous_secret_hash)
    )


async def issue_client_token(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
    origin: Origin,
) -> ClientToken | DomainError:
    """The client credentials grant (RFC 6749 §4.4): a token naming the client and the scopes granted
    (all of the client's when none are asked for; asking for more than it has is ``invalid_scope``)."""
    _refuse_with_identity_provider(settings)
    now = clock.now()
    client = await session.get(ClientSystem, client_id)
    if client is None or client.status != "active" or not _secret_matches(client, client_secret, now):
        _audit(session, now, origin, action="client_token", outcome="failure", client_id=client_id)
        return OAuthError("invalid_client")
    granted = set(client.scopes)
    asked = set(scope.split()) if scope else granted
    if not asked <= granted:
        _audit(session, now, origin, action="client_token", outcome="invalid_scope", client_id=client_id)
        return OAuthError("invalid_scope")
    token = mint_token(
        settings,
        client=client.client_id,
        roles=[Role.CLIENT_SYSTEM],
        scopes=asked,
        name=client.name,
        ttl_seconds=settings.accounts_client_token_ttl_seconds,
        now=wall_clock_utc(),
    )
    _audit(session, now, origin, action="client_token", outcome="success", client_id=client_id)
    return ClientToken(
        access_token=token, expires_in=settings.accounts_client_token_ttl_seconds, scopes=tuple(sorted(asked))
    )


# ---- demo accounts -------------------------------------------------------------------------------------

#: The demo's one password (embedded default only; printed in docs/accounts.md).
DEMO_PASSWORD = "lkg-demo-2020"
DEMO_ADMIN_PERSON = "person.demo_office_admin"
DEMO_ADMIN_POST = "post.major_projects_office.staff"


async def seed_demo_accounts(
    session: AsyncSession, settings: RegistrySettings, clock: Clock, *, password: str = DEMO_PASSWORD
) -> int:
    """Usable accounts for the embedded demo, after the 2020 directory is loaded: ``admin`` (a staff member
    of 区重大项目办 with system administration) and ``line1`` … ``line8`` for the eight line leaders in
    post on the clock's date. Idempotent: returns how many accounts it created (0 the second time)."""
    day = clock.now().date()
    office_unit = org_id("dept.development_reform")
    admin_person = org_id(DEMO_ADMIN_PERSON)
    post = org_id(DEMO_ADMIN_POST)
    await org.apply_changes(
        session,
        clock,
        [
            (DEMO_ADMIN_PERSON, PersonSnapshot(id=admin_person, revision=1, name="【演示】重大项目办管理员")),
            (
                DEMO_ADMIN_POST,
                PostSnapshot(
                    id=post,
                    revision=1,
                    valid_from=date(2020, 5, 1),
                    title="重大项目办工作人员",
                    unit_id=office_unit,
                    kind=PostKind.STAFF,
                ),
            ),
            (
                f"holding.{DEMO_ADMIN_POST}.{DEMO_ADMIN_PERSON}",
                PostHoldingSnapshot(
                    id=org_id(f"holding.{DEMO_ADMIN_POST}.{DEMO_ADMIN_PERSON}"),
                    revision=1,
                    valid_from=date(2020, 5, 1),
                    post_id=post,
                    person_id=admin_person,
                ),
            ),
        ],
        actor="seed",
        reason="演示账号",
    )
    directory = await _directory(session)
    wanted: list[tuple[str, uuid.UUID, bool]] = [("admin", admin_person, True)]
    for line in sorted(directory.lines.values(), key=lambda x: x.number):
        if not line.in_force(day):
            continue
        holders = [
            h.person_id
            for h in directory.holdings.values()
            if h.post_id == line.leader_post_id and h.in_force(day)
        ]
        if holders:
            wanted.append((f"line{line.number}", holders[0], False))
    existing = (await session.execute(sa.select(Account.username, Account.person_id))).all()
    names = {u for u, _ in existing}
    people = {p for _, p in existing}
    created = 0
    for username, person_id, admin in wanted:
        if username in names or person_id in people:
            continue
        await create_account(
            session,
            settings,
            clock,
            person_id=person_id,
            username=username,
            password=password,
            system_admin=admin,
            by=None,
        )
        created += 1
    return created
