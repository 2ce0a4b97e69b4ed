"""API models of ``/api/v1/auth/...``: accounts, login and refresh, client systems, the login audit."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from lkg.common.auth import Role
from lkg.common.http.types import JSON_INTEGER, Instant, Text

#: A username as an administrator gives it: lower-case letters, digits, ``.``, ``_``, ``-``.
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
#: What a person types at login (compared in lower case); no control characters.
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: A password as typed at login.
LoginPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")
]
#: A new password: at least 10 characters (NIST SP 800-63B asks for 8 at least; length beats rules).
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: An opaque refresh token as this service issues it.
RefreshTokenText = Annotated[str, StringConstraints(pattern=r"^lkgrt_[A-Za-z0-9_-]{43}$")]
#: A client system's id, chosen by the administrator (``provincial-investment-platform``).
ClientId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{2,63}$")]
#: A scope (``projects:read``): resource and action, lower case.
Scope = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}(:[a-z][a-z0-9_-]{0,39}){0,2}$")]

AccountStatus = Literal["active", "disabled", "locked"]
AuditAction = Literal["login", "refresh", "logout", "password_change", "client_token"]
AuditOutcome = Literal[
    "success", "failure", "lockout", "locked", "disabled", "reuse", "expired", "invalid_scope", "throttled"
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_In):
    """开设账号: an account for a person of the org directory (one per person)."""

    person_id: uuid.UUID = Field(description="组织目录中的人员 / a person of the org directory")
    username: Username
    password: NewPassword = Field(description="初始密码，至少10个字符 / initial password, 10+ characters")
    system_admin: StrictBool = Field(
        default=False, description="系统管理员（仅系统管理员可授予）/ system administrator (admins only)"
    )


class AccountOut(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID
    person_name: str | None = Field(description="人员姓名 / the person's name")
    username: str
    system_admin: bool
    status: AccountStatus = Field(description="active 正常 / disabled 停用 / locked 暂时锁定")
    locked_until: Instant | None = Field(description="锁定至 / locked until (shared clock)")
    roles: list[Role] = Field(description="按今日任职推导的角色 / roles derived from the posts held today")
    revision: int
    created_at: Instant
    updated_at: Instant
    password_changed_at: Instant


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = None


class PasswordChange(_In):
    """本人修改密码须给出当前密码；管理员重置则不需要 / the owner gives the current password; an admin
    resetting it does not."""

    current_password: LoginPassword | None = None
    new_password: NewPassword


class LoginIn(_In):
    username: LoginName
    password: LoginPassword


class RefreshIn(_In):
    refresh_token: RefreshTokenText


class TokenPair(BaseModel):
    """An access token (short-lived JWT, the one every service verifies) and a refresh token (opaque,
    single use: each refresh returns the next one)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="访问令牌有效秒数 / access token lifetime, seconds")
    refresh_token: str
    refresh_expires_in: int = Field(description="刷新令牌有效秒数 / refresh token lifetime, seconds")
    account_id: uuid.UUID
    roles: list[Role]


class ClientIn(_In):
    """登记对接系统 / register a client system."""

    client_id: ClientId
    name: Text
    scopes: list[Scope] = Field(min_length=1, max_length=50)


class ClientOut(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    status: Literal["active", "revoked"]
    revision: int
    created_at: Instant
    updated_at: Instant
    rotated_at: Instant | None
    revoked_at: Instant | None
    previous_secret_valid_until: Instant | None = Field(
        description="轮换前的旧密钥有效至 / the previous secret is accepted until"
    )


class ClientWithSecret(ClientOut):
    client_secret: str = Field(description="只显示这一次 / shown this once only")


class ClientPage(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None = None


class Rotation(_In):
    grace_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600), JSON_INTEGER] = Field(
        default=0, description="旧密钥继续有效的秒数（0为立即失效）/ seconds the old secret stays valid"
    )


class ClientTokenOut(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class ClientTokenRequest(BaseModel):
    """RFC 6749 §4.4.2 (client authentication by HTTP Basic, §2.3.1, or by these body parameters)."""

    grant_type: Literal["client_credentials"]
    scope: (
        Annotated[str, StringConstraints(max_length=2000, pattern=r"^[\x21\x23-\x5b\x5d-\x7e ]*$")] | None
    ) = None
    client_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")] | None
    ) = None
    client_secret: (
        Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")] | None
    ) = None


class LoginEventOut(BaseModel):
    id: uuid.UUID
    at: Instant
    action: AuditAction
    outcome: AuditOutcome
    username: str | None
    account_id: uuid.UUID | None
    client_id: str | None
    client_address: str | None
    user_agent: str | None


class LoginEventPage(BaseModel):
    items: list[LoginEventOut]
    next_cursor: str | None = None


class LoginEventFilters(BaseModel):
    """登录审计筛选 / filters of the login audit (unknown query parameters are refused)."""

    username: LoginName | None = None
    action: AuditAction | None = None
    outcome: AuditOutcome | None = None
    client_id: Annotated[str, StringConstraints(max_length=64, pattern=r"^[\x21-\x7e]+$")] | None = None
