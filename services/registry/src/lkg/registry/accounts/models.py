"""Tables of accounts (账号), refresh tokens, login guards, client systems and the login audit.

On the registry's metadata (its own database), because an account is bound to a person of the registry's
org directory and the powers it carries come from that directory's post holdings.

Every instant here is on the shared clock (simulated in dev and tests) except a JWT's own ``exp``, which
``lkg.common.auth.TokenVerifier`` checks against the wall clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from lkg.registry.models import Base


class Account(Base):
    """An account (账号) of one person of the org directory. Disabled, never deleted.

    Its roles are not stored: they are derived from the posts the person holds on the day of each login or
    refresh, so leaving a post takes its powers away (see :func:`lkg.registry.accounts.service.roles_of`).
    ``system_admin`` (系统管理员) is the one power that belongs to the account rather than to a post.
    """

    __tablename__ = "account"
    __table_args__ = (sa.Index("ix_account_username_id", "username", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    person_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False, unique=True)
    #: Lower case; what the person types at login.
    username: Mapped[str] = mapped_column(sa.Text, nullable=False, unique=True)
    #: argon2id, PHC string format (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``).
    password_hash: Mapped[str] = mapped_column(sa.Text, nullable=False)
    system_admin: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    #: ``active`` or ``disabled``; a lockout is kept apart, in :class:`LoginGuard`.
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class LoginGuard(Base):
    """Failed logins per username, whether or not an account has that name, so the lockout answers an
    unknown name exactly as it answers a known one (nobody learns which usernames exist)."""

    __tablename__ = "login_guard"
    __table_args__ = (sa.Index("ix_login_guard_stale_at", "stale_at"),)

    username: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: From then on the row holds nothing (no lock, no failure in the window): the purge scan deletes it.
    stale_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class RefreshToken(Base):
    """One refresh token (刷新令牌) of a family: a login starts a family, each refresh rotates to a new
    token of it. Only the SHA-256 of the token is kept (it is 256 random bits: a slow hash adds nothing).
    Presenting a token that was already rotated revokes its whole family (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_token"
    __table_args__ = (
        sa.Index("ix_refresh_token_family_id", "family_id"),
        sa.Index("ix_refresh_token_account_id", "account_id"),
        sa.Index("ix_refresh_token_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.Text, nullable=False, unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    account_id: Mapped[uuid.UUID] = mapped_column(
        PG_UUID(as_uuid=True), sa.ForeignKey("account.id"), nullable=False
    )
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    #: When it was exchanged for its successor (rotated); presenting it again is reuse.
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: ``logout``, ``reuse``, ``password_changed``, ``disabled``.
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text)


class ClientSystem(Base):
    """Another government system (对接的其他政府系统) with client credentials (RFC 6749 §4.4) and scopes.

    The secret is shown once and kept as SHA-256 (256 random bits). Rotating keeps the previous secret
    valid until ``previous_valid_until`` (a grace the administrator chooses, zero by default)."""

    __tablename__ = "client_system"
    __table_args__ = (sa.Index("ix_client_system_created_at_client_id", "created_at", "client_id"),)

    client_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False)
    secret_hash: Mapped[str] = mapped_column(sa.Text, nullable=False)
    previous_secret_hash: Mapped[str | None] = mapped_column(sa.Text)
    previous_valid_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: ``active`` or ``revoked`` (final).
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class LoginEvent(Base):
    """The login audit (登录审计): every login, failed login, lockout, refresh, refresh reuse, logout,
    password change and client token request, with the time on the shared clock and the client address."""

    __tablename__ = "login_event"
    __table_args__ = (
        sa.Index("ix_login_event_at_id", "at", "id"),
        sa.Index("ix_login_event_username_at", "username", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    outcome: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: As typed (normalised to lower case), also when no account has it.
    username: Mapped[str | None] = mapped_column(sa.Text)
    account_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    client_id: Mapped[str | None] = mapped_column(sa.Text)
    client_address: Mapped[str | None] = mapped_column(sa.Text)
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
