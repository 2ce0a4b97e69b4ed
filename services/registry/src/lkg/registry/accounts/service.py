"""Use cases of accounts: login, refresh, logout, the lockout, powers and account management (client
systems: :mod:`lkg.registry.accounts.clients`). Like every use case they change rows and never commit.

A refused login, refresh or password change still writes its audit line and its failure count, so those
use cases *return* the error instead of raising it: the route answers it and the unit of work commits the
audit (a raise would roll it back with everything else).

Powers (docs/accounts.md): roles are derived from the posts a person holds on the shared clock's date, at
each login and refresh, never stored; reach (units, lines, posts) is resolved at every request by
:class:`lkg.registry.access.DirectoryReachResolver`. Leaving a post removes its reach at once and its role
claims when the access token expires (15 min by default).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Principal, Role, mint_token
from lkg.common.clock import TZ, Clock, wall_clock_utc
from lkg.common.events.contracts import PersonSnapshot, PostKind, UnitKind
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
from lkg.registry.accounts import audit, lockout
from lkg.registry.accounts.audit import Origin
from lkg.registry.accounts.models import Account, LoginGuard, RefreshToken
from lkg.registry.accounts.passwords import (
    ACCOUNT_ADMINS,
    REFRESH_PREFIX,
    digest,
    hash_password,
    hasher,
    normalise_username,
    verify_password,
)
from lkg.registry.org import service as org
from lkg.registry.settings import RegistrySettings

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


class LoginThrottled(AccountLocked):
    """Too many failed logins from this address at this username: it waits (429 with Retry-After); other
    addresses are not held up (accounts/lockout.py)."""

    code = "login_throttled"
    title = "该地址登录失败次数过多，请稍后再试"


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


# ---- powers from the directory -----------------------------------------------------------------------

#: Units that act by function (UnitRole) give their staff the platform role of that function.
_UNIT_ROLE_TO_ROLE = {
    UR.MAJOR_PROJECTS_OFFICE: Role.MAJOR_PROJECTS_OFFICE,
    UR.APPROVAL_BUREAU: Role.APPROVAL_BUREAU,
    UR.STATISTICS_BUREAU: Role.STATISTICS_BUREAU,
    UR.SUPERVISION_OFFICE: Role.SUPERVISION_OFFICE,
    UR.ASSESSMENT_OFFICE: Role.ASSESSMENT_OFFICE,
    UR.COMMERCE_BUREAU: Role.COMMERCE_BUREAU,
}


def roles_of(directory: org.Directory, person_id: uuid.UUID, day: date, *, system_admin: bool) -> set[Role]:
    """The roles a person holds on ``day``, from the posts they hold then (三层八线, policy §二):

    a line leader's post that leads a line in force → ``line_leader`` (包保区级领导, layer 2);
    a district leader's post → ``top_leader`` (区委、区政府主要领导, layer 3);
    a post in a line's service department → ``service_department`` (综合服务部门, layer 2);
    a post in a street or industry office → ``unit_user`` (项目责任单位, layer 1);
    a post in a unit acting by function (重大项目办, 审批局, 统计局, 督查室, 考评办, 商务局) → that
    function's role.
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


async def directory_of(session: AsyncSession) -> org.Directory:
    return await org.load_directory(session, kinds=["unit", "post", "person", "holding", "line"])


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


def refuse_with_identity_provider(settings: RegistrySettings) -> None:
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
    refuse_with_identity_provider(settings)
    now = clock.now()
    name = normalise_username(username)
    source = await lockout.guard_for(session, lockout.source_key(name, origin.address), now)
    account = (await session.execute(sa.select(Account).where(Account.username == name))).scalar_one_or_none()
    account_id = account.id if account else None
    if lockout.is_locked(source, now):
        assert source.locked_until is not None
        audit.record(
            session, now, origin, action="login", outcome="throttled", username=name, account_id=account_id
        )
        return LoginThrottled(source.locked_until, now)
    guard = await lockout.guard_for(session, name, now)
    if lockout.is_locked(guard, now):
        assert guard.locked_until is not None
        audit.record(
            session, now, origin, action="login", outcome="locked", username=name, account_id=account_id
        )
        return AccountLocked(guard.locked_until, now)
    if not await verify_password(settings, account.password_hash if account else None, password):
        lockout.count_source_failure(settings, source, now)
        locks = lockout.count_failure(settings, guard, now)
        outcome = "lockout" if locks else "failure"
        audit.record(
            session, now, origin, action="login", outcome=outcome, username=name, account_id=account_id
        )
        if locks:
            assert guard.locked_until is not None
            return AccountLocked(guard.locked_until, now)
        return InvalidCredentials()
    assert account is not None
    lockout.clear(guard, now)
    lockout.clear(source, now)
    directory = await directory_of(session)
    person = _usable_person(directory, account)
    if person is None:
        audit.record(
            session, now, origin, action="login", outcome="disabled", username=name, account_id=account_id
        )
        return AccountDisabled()
    if hasher(settings).check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(settings, password)
    roles = roles_of(directory, account.person_id, now.date(), system_admin=account.system_admin)
    issued, _ = await _issue(session, settings, now, account, person, roles, family_id=uuid.uuid4())
    audit.record(
        session, now, origin, action="login", outcome="success", username=name, account_id=account_id
    )
    return issued


async def _revoke(
    session: AsyncSession,
    now: datetime,
    reason: str,
    *,
    family_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
) -> int:
    stmt = sa.update(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    if family_id is not None:
        stmt = stmt.where(RefreshToken.family_id == family_id)
    if account_id is not None:
        stmt = stmt.where(RefreshToken.account_id == account_id)
    result = await session.execute(stmt.values(revoked_at=now, revoked_reason=reason))
    return lockout.matched(result)


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
    refuse_with_identity_provider(settings)
    now = clock.now()
    row = await _presented(session, refresh_token)
    if row is None:
        audit.record(session, now, origin, action="refresh", outcome="failure")
        return InvalidRefreshToken()
    account = await session.get(Account, row.account_id)
    assert account is not None  # a foreign key
    who: dict[str, Any] = {"username": account.username, "account_id": account.id}
    if row.revoked_at is not None:
        audit.record(session, now, origin, action="refresh", outcome="failure", **who)
        return InvalidRefreshToken()
    if row.used_at is not None:
        await _revoke(session, now, "reuse", family_id=row.family_id)
        audit.record(session, now, origin, action="refresh", outcome="reuse", **who)
        return RefreshTokenReused()
    if row.expires_at <= now:
        audit.record(session, now, origin, action="refresh", outcome="expired", **who)
        return InvalidRefreshToken()
    directory = await directory_of(session)
    person = _usable_person(directory, account)
    if person is None:
        await _revoke(session, now, "disabled", family_id=row.family_id)
        audit.record(session, now, origin, action="refresh", outcome="disabled", **who)
        return AccountDisabled()
    row.used_at = now
    roles = roles_of(directory, account.person_id, now.date(), system_admin=account.system_admin)
    issued, _ = await _issue(session, settings, now, account, person, roles, family_id=row.family_id)
    audit.record(session, now, origin, action="refresh", outcome="success", **who)
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
    audit.record(
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
        guard = await lockout.guard_for(session, account.username, now)
        if lockout.is_locked(guard, now):
            assert guard.locked_until is not None
            audit.record(session, now, origin, action="password_change", outcome="locked", **_who(account))
            return AccountLocked(guard.locked_until, now)
        if not await verify_password(settings, account.password_hash, current_password):
            locks = lockout.count_failure(settings, guard, now)
            outcome = "lockout" if locks else "failure"
            audit.record(session, now, origin, action="password_change", outcome=outcome, **_who(account))
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
    audit.record(session, now, origin, action="password_change", outcome="success", **_who(account))
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
    lockout.clear(await lockout.guard_for(session, account.username, now), now)
    return account


async def powers(session: AsyncSession, clock: Clock, accounts: list[Account]) -> dict[uuid.UUID, Any]:
    """Per account: (person's name, roles today, locked until) for the API's account view."""
    now = clock.now()
    directory = await directory_of(session)
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
            guard.locked_until if guard is not None and lockout.is_locked(guard, now) else None,
        )
    return out
