"""Access (docs/http-conventions.md): who is calling (a token), in which roles, for which units, lines, posts.

A token names the person, or for another government system the client and its scopes. Roles are the one
list below. Which units, lines and posts a person acts for (their :class:`Reach`) is not in the token: each
service looks it up in its org read copy at request time through a :class:`ReachResolver`, so a handover
takes effect at once, without waiting for tokens to expire.

Tokens are JWTs: HS256 with ``settings.jwt_secret`` (development, tests, the embedded demo), or RS256 from
a production identity provider such as Keycloak through ``settings.jwt_jwks_url``. Either way ``exp``,
``iss`` and ``aud`` are checked.

Claims this module reads (and :func:`mint_token` writes)::

    sub        person id (or client id for a client acting on its own)
    person_id  person id when a client acts for a person (defaults to sub)
    client_id  the client system (RFC 9068); absent for people
    name       display name
    roles      list of :class:`Role` values (Keycloak: realm_access.roles is read too)
    scope      space-separated scopes (RFC 9068); ``scp`` as a list is accepted too
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, get_args, get_origin
from uuid import UUID

import jwt
from fastapi import Depends, Request, params
from fastapi.dependencies.utils import get_typed_signature

from lkg.common.http.problems import Forbidden, Unauthenticated
from lkg.common.settings import ServiceSettings


class Role(StrEnum):
    """The single list of roles (docs/glossary.md: who uses the platform). Values are what tokens carry."""

    UNIT_USER = "unit_user"  # 项目责任单位
    LINE_LEADER = "line_leader"  # 包保区级领导
    SERVICE_DEPARTMENT = "service_department"  # 综合服务部门
    TOP_LEADER = "top_leader"  # 区委区政府主要领导
    MAJOR_PROJECTS_OFFICE = "major_projects_office"  # 重大项目办
    APPROVAL_BUREAU = "approval_bureau"  # 行政审批局
    STATISTICS_BUREAU = "statistics_bureau"  # 统计局
    SUPERVISION_OFFICE = "supervision_office"  # 督查室
    ASSESSMENT_OFFICE = "assessment_office"  # 区委组织部考评办
    ADMIN = "admin"  # 系统管理员
    CLIENT_SYSTEM = "client_system"  # 对接的其他政府系统
    COMMERCE_BUREAU = "commerce_bureau"  # 区商务局 (诚信履约回头看, 解约、销号: §四(四))


_ROLE_VALUES = frozenset(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one request.

    ``kind`` is ``client`` only for a client system acting on its own; a client acting for a person is a
    ``person`` principal with ``client_id`` set, and its scopes still bound what it may do.
    """

    subject: str
    kind: Literal["person", "client"]
    person_id: str | None
    client_id: str | None
    name: str
    roles: frozenset[Role]
    scopes: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """A stable id for scoping per-caller state (idempotency keys, audit): ``person:…`` / ``client:…``."""
        if self.person_id is not None:
            return f"person:{self.person_id}"
        return f"client:{self.client_id}"

    def has_role(self, *roles: Role) -> bool:
        """True if the principal holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class Reach:
    """The units, lines (包保线) and posts a person acts for now, from the org read copy."""

    units: frozenset[UUID] = frozenset()
    lines: frozenset[UUID] = frozenset()
    posts: frozenset[UUID] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.units or self.lines or self.posts)


EMPTY_REACH = Reach()


class ReachResolver(Protocol):
    """Supplied by each service from its org read copy; looked up by service name per request."""

    async def resolve(self, principal: Principal) -> Reach: ...


class EmptyReachResolver:
    """The default: nobody acts for anything until a service plugs in its read copy."""

    async def resolve(self, principal: Principal) -> Reach:
        return EMPTY_REACH


# ---- tokens -------------------------------------------------------------------------------------


def mint_token(
    settings: ServiceSettings,
    *,
    person: str | None = None,
    client: str | None = None,
    roles: Iterable[Role | str] = (),
    scopes: Iterable[str] = (),
    name: str | None = None,
    ttl_seconds: int | None = None,
    now: datetime,
) -> str:
    """An HS256 token for development, tests, the demo and the registry's own login.

    ``now`` is the wall-clock instant the token is issued at (passed in, never read here). With a JWKS
    configured the verifier accepts only the identity provider's tokens, so minting is refused.
    """
    if settings.jwt_jwks_url is not None:
        raise ValueError("tokens come from the identity provider when LKG_JWT_JWKS_URL is set")
    if person is None and client is None:
        raise ValueError("a token names a person, a client, or both")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    unknown = {str(r) for r in roles} - _ROLE_VALUES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    ttl = settings.jwt_ttl_seconds if ttl_seconds is None else ttl_seconds
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": person if person is not None else client,
        "iat": issued,
        "nbf": issued,
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
        "name": name or "",
        "roles": sorted({str(r) for r in roles}),
    }
    if person is not None and client is not None:
        claims["person_id"] = person
    if client is not None:
        claims["client_id"] = client
    scope_list = sorted(set(scopes))
    if scope_list:
        claims["scope"] = " ".join(scope_list)
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Map verified claims (ours or Keycloak's) to a :class:`Principal`. Unknown roles are ignored."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("令牌缺少主体（sub）")
    client_id = claims.get("client_id")
    username = claims.get("preferred_username")
    if client_id is None and isinstance(username, str) and username.startswith("service-account-"):
        client_id = claims.get("azp")  # Keycloak service account (client credentials)
    if client_id is not None and not isinstance(client_id, str):
        raise Unauthenticated("令牌的 client_id 无效")
    person_id = claims.get("person_id")
    if person_id is None and client_id is None:
        person_id = subject
    if person_id is not None and not isinstance(person_id, str):
        raise Unauthenticated("令牌的 person_id 无效")

    raw_roles: list[Any] = []
    for source in (claims.get("roles"), (claims.get("realm_access") or {}).get("roles")):
        if isinstance(source, list):
            raw_roles.extend(source)
    roles = frozenset(Role(r) for r in raw_roles if isinstance(r, str) and r in _ROLE_VALUES)

    scope = claims.get("scope")
    scopes: frozenset[str] = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    scp = claims.get("scp")
    if isinstance(scp, list):
        scopes = scopes | {s for s in scp if isinstance(s, str)}

    name = claims.get("name") or username or subject
    return Principal(
        subject=subject,
        kind="person" if person_id is not None else "client",
        person_id=person_id,
        client_id=client_id,
        name=str(name),
        roles=roles,
        scopes=scopes,
    )


class TokenVerifier:
    """Verifies bearer tokens and caches the outcome per token until it expires.

    ``now`` returns the wall-clock instant for ``exp``/``nbf`` checks; it defaults to the system's wall
    clock (tokens expire in real time even while the deployment runs on simulated time) and a test passes
    a fixed instant. Signing keys from a JWKS are fetched in a worker thread and kept, so the event loop
    never waits on the identity provider except for an unknown key id.
    """

    #: Tolerated clock skew between the identity provider and us.
    LEEWAY_SECONDS = 30
    _CACHE_LIMIT = 4096

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        now: Callable[[], datetime] | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._epoch: Callable[[], float] = (lambda: now().timestamp()) if now is not None else time.time
        self._jwks: jwt.PyJWKClient | None = jwks_client
        if self._jwks is None and settings.jwt_jwks_url is not None:
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=3600, timeout=10)
        self._secret = settings.jwt_secret.get_secret_value()
        self._keys: dict[str, Any] = {}
        self._verified: dict[str, tuple[Principal, float]] = {}

    @property
    def uses_jwks(self) -> bool:
        return self._jwks is not None

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired; ``None`` when it must be verified
        (again) with :meth:`verify`. No await: the edge asks this on every request."""
        hit = self._verified.get(token)
        if hit is not None and self._epoch() < hit[1] + self.LEEWAY_SECONDS:
            return hit[0]
        return None

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`Unauthenticated` otherwise."""
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if self._epoch() < expires + self.LEEWAY_SECONDS:
                return principal
            del self._verified[token]
            raise Unauthenticated("登录已过期，请重新登录")
        if self._jwks is not None:
            key = await self._signing_key(token)
            claims = self._decode(token, key, ["RS256", "RS384", "RS512", "ES256", "PS256"])
        else:
            claims = self._decode(token, self._secret, ["HS256"])
        principal = principal_from_claims(claims)
        if len(self._verified) >= self._CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (principal, float(claims["exp"]))
        return principal

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    # Times are checked below against the injected wall clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("令牌的受众（aud）不符") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("令牌的签发方（iss）不符") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("令牌无效") from exc
        now = self._epoch()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or now >= exp + self.LEEWAY_SECONDS:
            raise Unauthenticated("登录已过期，请重新登录")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and now + self.LEEWAY_SECONDS < nbf:
            raise Unauthenticated("令牌尚未生效")
        return claims

    async def _signing_key(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated("令牌无效") from exc
        if not isinstance(kid, str):
            raise Unauthenticated("令牌缺少密钥标识（kid）")
        key = self._keys.get(kid)
        if key is not None:
            return key
        assert self._jwks is not None
        try:
            signing = await asyncio.to_thread(self._jwks.get_signing_key, kid)
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated("无法取得令牌的签名密钥") from exc
        if len(self._keys) >= 64:
            self._keys.clear()  # rotated keys pile up otherwise
        self._keys[kid] = signing.key
        return signing.key


# ---- FastAPI dependencies ------------------------------------------------------------------------

#: The OpenAPI security scheme of every guarded route; ``create_http_app`` declares it in the document.
BEARER_SCHEME_NAME = "bearerAuth"
BEARER_SECURITY_SCHEME: dict[str, Any] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}

#: Scope key holding the name of the service whose router matched (set by :func:`service_guard`).
SERVICE_SCOPE_KEY = "lkg.service"
#: Scope key caching the verified principal of the request.
PRINCIPAL_SCOPE_KEY = "lkg.principal"

#: ``openapi_extra`` marking a route that needs no token (a login endpoint, say). Use sparingly.
PUBLIC_ROUTE: dict[str, Any] = {"x-lkg-public": True}


def parse_bearer(header: str) -> str | None:
    """The token of an ``Authorization`` header value ``Bearer …``; ``None`` for another scheme or none."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    return parse_bearer(header)


#: The 401 detail when a guarded route is called without a bearer token.
MISSING_TOKEN_DETAIL = "请提供登录令牌（Authorization: Bearer …）"


async def get_current_principal(request: Request) -> Principal:
    """The caller, from the ``Authorization: Bearer`` token; 401 ``unauthenticated`` otherwise.

    In an app of ``create_http_app`` the edge (:class:`~lkg.common.http.edge.EdgeGuard`) has verified the
    token before routing and left the principal in the ASGI scope, so this only reads it; elsewhere (an app
    guarded by :func:`service_guard`) it verifies the token itself, and a route that also declares
    :data:`CurrentPrincipal` resolves it once. On a route marked :data:`PUBLIC_ROUTE` a request without a
    token gets ``None`` here: public routes don't declare ``CurrentPrincipal``. Plain ``Request`` on
    purpose (no ``HTTPBearer`` sub-dependency): dependency solving is a large part of a small route's cost.
    """
    cached = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        if is_public_route(request.scope.get("route")):
            return None  # type: ignore[return-value]
        raise Unauthenticated(MISSING_TOKEN_DETAIL)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(token)
    request.scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_current_principal)]

#: The parameter through which :func:`principal_from_scope` gets the request; no endpoint has it.
_REQUEST_PARAMETER = "lkg_request_for_principal"


def _declares_current_principal(parameter: inspect.Parameter) -> bool:
    if parameter.default is not inspect.Parameter.empty or get_origin(parameter.annotation) is not Annotated:
        return False
    args = get_args(parameter.annotation)
    depends = args[1] if len(args) == 2 else None
    return (
        args[0] is Principal
        and isinstance(depends, params.Depends)
        and depends.dependency is get_current_principal
        and depends.use_cache
        and depends.scope is None
    )


def principal_from_scope(endpoint: Callable[..., Any]) -> Callable[..., Any] | None:
    """``endpoint`` taking its :data:`CurrentPrincipal` parameters straight from the request, or ``None``
    when it declares none (or is not a plain ``async def`` with named parameters).

    To FastAPI a :data:`CurrentPrincipal` parameter is a dependency to solve on every request, which costs
    about as much as the rest of a small route; yet the edge (:class:`~lkg.common.http.edge.EdgeGuard`) has
    already put the principal in the ASGI scope. The copy FastAPI is given declares the ``Request`` instead,
    which FastAPI hands over without solving anything, and passes the principal on; everything else
    (parameters, dependencies, the OpenAPI document) stays as declared. Without a principal in the scope
    (an app without the edge guard, a public route) it asks :func:`get_current_principal`, as the dependency
    would.
    """
    if not asyncio.iscoroutinefunction(endpoint):
        return None
    signature = get_typed_signature(endpoint)
    parameters = list(signature.parameters.values())
    names = [p.name for p in parameters if _declares_current_principal(p)]
    if (
        not names
        or any(p.name == _REQUEST_PARAMETER for p in parameters)
        or any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)
    ):
        return None
    kept = [p for p in parameters if p.name not in names]
    # FastAPI hands the request to one parameter only: an endpoint that takes it already shares it.
    own = next(
        (p.name for p in kept if isinstance(p.annotation, type) and issubclass(p.annotation, Request)), None
    )
    if own is None:
        kept.append(inspect.Parameter(_REQUEST_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Request))
    request_name = own or _REQUEST_PARAMETER

    async def with_principal(**values: Any) -> Any:
        req: Request = values[request_name] if own else values.pop(request_name)
        principal = req.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:
            principal = await get_current_principal(req)
        for name in names:
            values[name] = principal
        return await endpoint(**values)

    functools.update_wrapper(with_principal, endpoint)  # name, docstring, module; __wrapped__
    with_principal.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return with_principal


def is_public_route(route: Any) -> bool:
    extra = getattr(route, "openapi_extra", None)
    return bool(extra and extra.get("x-lkg-public"))


def service_guard(service: str) -> Callable[..., Awaitable[None]]:
    """A guard for apps not built by ``create_http_app`` (which finds a route's service by itself):
    a valid token unless the route is public, and the service name recorded for per-service lookups."""

    async def guard(request: Request) -> None:
        request.scope[SERVICE_SCOPE_KEY] = service
        await get_current_principal(request)

    guard.__name__ = f"{service}_guard"
    return guard


def current_service(request: Request) -> str:
    """The service whose router holds the matched route (several services may share one app)."""
    service = request.scope.get(SERVICE_SCOPE_KEY)
    if service is None:
        routes: Mapping[int, str] = getattr(request.app.state, "route_services", {})
        service = routes.get(id(request.scope.get("route")))
    if service is None:
        raise RuntimeError("this route is not under a service router; mount it through create_http_app")
    return service


_DEFAULT_RESOLVER = EmptyReachResolver()


async def get_current_reach(request: Request) -> Reach:
    """The caller's reach, resolved now by the resolver of the service whose route matched."""
    # The principal is read here rather than declared as CurrentPrincipal (see require_roles).
    principal = await get_current_principal(request)
    service = current_service(request)
    resolvers: Mapping[str, ReachResolver] = getattr(request.app.state, "reach_resolvers", {})
    resolver = resolvers.get(service, _DEFAULT_RESOLVER)
    return await resolver.resolve(principal)


CurrentReach = Annotated[Reach, Depends(get_current_reach)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller holds at least one of ``roles`` (403 ``forbidden`` otherwise).

    Use as ``Annotated[Principal, Depends(require_roles(Role.ADMIN))]`` or in a route's ``dependencies``.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    wanted = frozenset(roles)

    # The principal is read from the request rather than declared as CurrentPrincipal: the edge has put
    # it there, and a dependency FastAPI solves for it costs a level of dependency solving per request.
    async def check_roles(request: Request) -> Principal:
        principal = await get_current_principal(request)
        if principal.roles.isdisjoint(wanted):
            raise Forbidden("当前角色无权执行此操作", extra={"required_roles": sorted(wanted)})
        return principal

    return check_roles


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: a client system's token carries every one of ``scopes`` (403 ``forbidden``).

    People are governed by roles; scopes bound what a client system may do, also when it acts for a
    person, so the check applies whenever the token names a client.
    """
    if not scopes:
        raise ValueError("require_scopes needs at least one scope")
    wanted = frozenset(scopes)

    async def check_scopes(request: Request) -> Principal:  # the principal as in require_roles
        principal = await get_current_principal(request)
        if principal.client_id is not None and not wanted <= principal.scopes:
            raise Forbidden(
                "客户端系统未获授权执行此操作", extra={"required_scopes": sorted(wanted - principal.scopes)}
            )
        return principal

    return check_scopes
