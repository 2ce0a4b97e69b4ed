"""Tokens, roles, scopes and reach (docs/http-conventions.md)."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Annotated
from uuid import UUID

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI, Request

from lkg.common.auth import (
    PRINCIPAL_SCOPE_KEY,
    CurrentPrincipal,
    CurrentReach,
    Principal,
    Reach,
    Role,
    TokenVerifier,
    mint_token,
    principal_from_claims,
    principal_from_scope,
    require_roles,
    require_scopes,
    service_guard,
)
from lkg.common.http.problems import Unauthenticated, install_problem_handlers
from lkg.common.settings import ServiceSettings

SECRET = "a-test-secret-that-is-long-enough-0123456789"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTINGS = ServiceSettings(jwt_secret=SECRET, jwt_issuer="lkg-test", jwt_audience="lkg-api")


def verifier_at(instant: datetime, settings: ServiceSettings = SETTINGS) -> TokenVerifier:
    return TokenVerifier(settings, now=lambda: instant)


def test_role_list_is_the_one_of_the_design() -> None:
    assert [r.value for r in Role] == [
        "unit_user",
        "line_leader",
        "service_department",
        "top_leader",
        "major_projects_office",
        "approval_bureau",
        "statistics_bureau",
        "supervision_office",
        "assessment_office",
        "admin",
        "client_system",
        "commerce_bureau",
    ]


async def test_a_minted_person_token_verifies_to_its_principal() -> None:
    token = mint_token(
        SETTINGS, person="p-001", roles=[Role.LINE_LEADER], name="张三", ttl_seconds=3600, now=NOW
    )
    principal = await verifier_at(NOW + timedelta(minutes=59)).verify(token)
    assert principal == Principal(
        subject="p-001",
        kind="person",
        person_id="p-001",
        client_id=None,
        name="张三",
        roles=frozenset({Role.LINE_LEADER}),
        scopes=frozenset(),
    )
    assert principal.key == "person:p-001"
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="lkg-api", options={"verify_exp": False}
    )
    assert (claims["iss"], claims["iat"], claims["exp"]) == (
        "lkg-test",
        int(NOW.timestamp()),
        int(NOW.timestamp()) + 3600,
    )


async def test_a_client_token_carries_its_scopes() -> None:
    token = mint_token(
        SETTINGS,
        client="city-stats",
        roles=[Role.CLIENT_SYSTEM],
        scopes=["projects:read", "investment:read"],
        ttl_seconds=600,
        now=NOW,
    )
    principal = await verifier_at(NOW).verify(token)
    assert (principal.kind, principal.person_id, principal.client_id, principal.key) == (
        "client",
        None,
        "city-stats",
        "client:city-stats",
    )
    assert principal.scopes == {"projects:read", "investment:read"}


async def test_a_client_acting_for_a_person_is_a_person_principal_with_a_client() -> None:
    token = mint_token(SETTINGS, person="p-9", client="mobile", roles=[Role.UNIT_USER], now=NOW)
    principal = await verifier_at(NOW).verify(token)
    assert (principal.kind, principal.person_id, principal.client_id) == ("person", "p-9", "mobile")


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(timedelta(seconds=3600 + 29), True), (timedelta(seconds=3600 + 30), False), (timedelta(days=2), False)],
)
async def test_expiry_is_checked_against_the_injected_wall_clock_with_30s_leeway(
    offset: timedelta, accepted: bool
) -> None:
    token = mint_token(SETTINGS, person="p", ttl_seconds=3600, now=NOW)
    verifier = verifier_at(NOW + offset)
    if accepted:
        assert (await verifier.verify(token)).person_id == "p"
    else:
        with pytest.raises(Unauthenticated, match="过期"):
            await verifier.verify(token)


async def test_a_cached_token_still_expires() -> None:
    token = mint_token(SETTINGS, person="p", ttl_seconds=60, now=NOW)
    clock = {"now": NOW}
    verifier = TokenVerifier(SETTINGS, now=lambda: clock["now"])
    await verifier.verify(token)
    clock["now"] = NOW + timedelta(hours=1)
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ServiceSettings(jwt_secret=SECRET, jwt_issuer="someone-else", jwt_audience="lkg-api"), "iss"),
        (ServiceSettings(jwt_secret=SECRET, jwt_issuer="lkg-test", jwt_audience="other-api"), "aud"),
        (
            ServiceSettings(
                jwt_secret="another-secret-long-enough-0123456789",
                jwt_issuer="lkg-test",
                jwt_audience="lkg-api",
            ),
            "令牌无效",
        ),
    ],
)
async def test_wrong_issuer_audience_or_signature_is_refused(settings: ServiceSettings, message: str) -> None:
    token = mint_token(SETTINGS, person="p", now=NOW)
    with pytest.raises(Unauthenticated, match=message):
        await verifier_at(NOW, settings).verify(token)


async def test_an_unsigned_or_garbage_token_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "p", "iss": "lkg-test", "aud": "lkg-api", "exp": 2e9}, key=None, algorithm="none"
    )
    for token in (unsigned, "not-a-jwt"):
        with pytest.raises(Unauthenticated):
            await verifier_at(NOW).verify(token)


def test_minting_refuses_unknown_roles_naive_times_and_jwks_settings() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(SETTINGS, person="p", roles=["mayor"], now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        mint_token(SETTINGS, person="p", now=datetime(2026, 3, 2, 9))  # noqa: DTZ001
    with pytest.raises(ValueError, match="a person, a client"):
        mint_token(SETTINGS, now=NOW)
    with pytest.raises(ValueError, match="identity provider"):
        mint_token(ServiceSettings(jwt_jwks_url="http://idp.invalid/jwks"), person="p", now=NOW)


def test_keycloak_claims_map_to_a_principal() -> None:
    person = principal_from_claims(
        {
            "sub": "0b5e-kc-user",
            "preferred_username": "lisi",
            "name": "李四",
            "realm_access": {"roles": ["supervision_office", "offline_access", "default-roles-lkg"]},
        }
    )
    assert (person.kind, person.person_id, person.name, person.roles) == (
        "person",
        "0b5e-kc-user",
        "李四",
        frozenset({Role.SUPERVISION_OFFICE}),
    )
    service_account = principal_from_claims(
        {
            "sub": "8d1f-sa",
            "azp": "city-stats",
            "preferred_username": "service-account-city-stats",
            "scope": "profile projects:read",
            "realm_access": {"roles": ["client_system"]},
        }
    )
    assert (service_account.kind, service_account.client_id, service_account.scopes) == (
        "client",
        "city-stats",
        frozenset({"profile", "projects:read"}),
    )


# ---- RS256 through a JWKS endpoint (a real HTTP server on localhost) --------------------------------


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey, list[int]]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="kc-key-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/realms/lkg/protocol/openid-connect/certs", key, hits
    finally:
        server.shutdown()
        thread.join()


async def test_rs256_tokens_verify_through_jwks_and_keys_are_fetched_once(jwks_server) -> None:
    url, key, hits = jwks_server
    settings = ServiceSettings(jwt_jwks_url=url, jwt_issuer="https://idp/realms/lkg", jwt_audience="lkg-api")
    verifier = verifier_at(NOW, settings)
    assert verifier.uses_jwks

    def kc_token(sub: str) -> str:
        claims = {
            "sub": sub,
            "iss": "https://idp/realms/lkg",
            "aud": ["lkg-api", "account"],
            "exp": int((NOW + timedelta(minutes=5)).timestamp()),
            "name": "王五",
            "realm_access": {"roles": ["top_leader"]},
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "kc-key-1"})

    first = await verifier.verify(kc_token("kc-1"))
    second = await verifier.verify(kc_token("kc-2"))
    assert (first.person_id, first.roles, second.person_id) == ("kc-1", frozenset({Role.TOP_LEADER}), "kc-2")
    assert len(hits) == 1

    hs_token = mint_token(SETTINGS, person="p", now=NOW)  # an HS256 token is not accepted here
    with pytest.raises(Unauthenticated):
        await verifier.verify(hs_token)


# ---- FastAPI dependencies ------------------------------------------------------------------------


class FixedReach:
    def __init__(self, reach: Reach) -> None:
        self.reach = reach
        self.asked: list[str] = []

    async def resolve(self, principal: Principal) -> Reach:
        self.asked.append(principal.key)
        return self.reach


UNIT_A = UUID("00000000-0000-7000-8000-00000000000a")
LINE_3 = UUID("00000000-0000-7000-8000-000000000003")


def build_app() -> tuple[FastAPI, FixedReach]:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier_at(NOW)
    issues_reach = FixedReach(Reach(units=frozenset({UNIT_A}), lines=frozenset({LINE_3})))
    app.state.reach_resolvers = {"issues": issues_reach}

    issues = APIRouter()

    @issues.get("/api/v1/problems/mine")
    async def mine(principal: CurrentPrincipal, reach: CurrentReach) -> dict:
        return {"who": principal.key, "units": sorted(map(str, reach.units)), "lines": len(reach.lines)}

    @issues.post(
        "/api/v1/red-cards", dependencies=[Depends(require_roles(Role.SUPERVISION_OFFICE, Role.ADMIN))]
    )
    async def issue_red_card() -> dict:
        return {"issued": True}

    scoring = APIRouter()

    @scoring.get("/api/v1/rankings")
    async def rankings(
        principal: Annotated[Principal, Depends(require_scopes("rankings:read"))], reach: CurrentReach
    ) -> dict:
        return {"who": principal.key, "reach_empty": reach.is_empty}

    app.include_router(issues, dependencies=[Depends(service_guard("issues"))])
    app.include_router(scoring, dependencies=[Depends(service_guard("scoring"))])
    return app, issues_reach


def bearer(**kwargs) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SETTINGS, now=NOW, **kwargs)}"}


async def test_no_token_or_a_bad_one_is_401_with_www_authenticate() -> None:
    app, _ = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        missing = await c.get("/api/v1/problems/mine")
        basic = await c.get("/api/v1/problems/mine", headers={"Authorization": "Basic dXNlcjpwdw=="})
        garbage = await c.get("/api/v1/problems/mine", headers={"Authorization": "Bearer nope"})
    for response in (missing, basic, garbage):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "unauthenticated"


async def test_reach_comes_from_the_resolver_of_the_service_whose_route_matched() -> None:
    app, issues_reach = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        mine = await c.get("/api/v1/problems/mine", headers=bearer(person="p-1", roles=[Role.UNIT_USER]))
        ranking = await c.get("/api/v1/rankings", headers=bearer(client="bureau", scopes=["rankings:read"]))
    assert mine.json() == {"who": "person:p-1", "units": [str(UNIT_A)], "lines": 1}
    assert issues_reach.asked == ["person:p-1"]
    # scoring has no resolver registered: the default reach is empty
    assert ranking.json() == {"who": "client:bureau", "reach_empty": True}


async def test_require_roles_is_403_forbidden_for_other_roles() -> None:
    app, _ = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        denied = await c.post("/api/v1/red-cards", headers=bearer(person="p", roles=[Role.LINE_LEADER]))
        allowed = await c.post(
            "/api/v1/red-cards", headers=bearer(person="p", roles=[Role.SUPERVISION_OFFICE])
        )
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert denied.json()["required_roles"] == ["admin", "supervision_office"]
    assert allowed.json() == {"issued": True}


async def test_require_scopes_binds_clients_and_not_people() -> None:
    app, _ = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        client_without = await c.get("/api/v1/rankings", headers=bearer(client="bureau", scopes=["other"]))
        person = await c.get("/api/v1/rankings", headers=bearer(person="p", roles=[Role.TOP_LEADER]))
    assert client_without.status_code == 403
    assert client_without.json()["required_scopes"] == ["rankings:read"]
    assert person.status_code == 200


# ---- CurrentPrincipal read from the scope --------------------------------------------------------


def _request(scope_extra: dict, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    app = FastAPI()
    app.state.token_verifier = verifier_at(NOW)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers or [], "app": app}
    return Request({**scope, **scope_extra})


async def test_an_endpoint_declaring_current_principal_gets_it_from_the_scope_without_a_dependency() -> None:
    async def endpoint(item_id: int, principal: CurrentPrincipal, again: CurrentPrincipal) -> dict:
        """The docstring stays."""
        return {"item": item_id, "who": principal.key, "same": principal is again}

    wrapped = principal_from_scope(endpoint)
    assert wrapped is not None
    signature = inspect.signature(wrapped)
    assert list(signature.parameters) == ["item_id", "lkg_request_for_principal"]
    assert signature.parameters["lkg_request_for_principal"].annotation is Request
    assert (wrapped.__name__, wrapped.__doc__) == ("endpoint", "The docstring stays.")
    principal = Principal("p-1", "person", "p-1", None, "甲", frozenset())
    request = _request({PRINCIPAL_SCOPE_KEY: principal})
    answer = await wrapped(item_id=3, lkg_request_for_principal=request)
    assert answer == {"item": 3, "who": "person:p-1", "same": True}


async def test_an_endpoint_taking_the_request_itself_shares_it() -> None:
    async def endpoint(request: Request, principal: CurrentPrincipal) -> tuple[str, str]:
        return request.scope["path"], principal.key

    wrapped = principal_from_scope(endpoint)
    assert wrapped is not None
    assert list(inspect.signature(wrapped).parameters) == ["request"]
    principal = Principal("p-3", "person", "p-3", None, "丙", frozenset())
    assert await wrapped(request=_request({PRINCIPAL_SCOPE_KEY: principal})) == ("/x", "person:p-3")


async def test_without_a_principal_in_the_scope_the_endpoint_asks_for_the_token_itself() -> None:
    async def endpoint(principal: CurrentPrincipal) -> str:
        return principal.key

    wrapped = principal_from_scope(endpoint)
    assert wrapped is not None
    token = mint_token(SETTINGS, person="p-2", now=NOW)
    signed = _request({}, [(b"authorization", f"Bearer {token}".encode())])
    assert await wrapped(lkg_request_for_principal=signed) == "person:p-2"
    with pytest.raises(Unauthenticated):
        await wrapped(lkg_request_for_principal=_request({}))


def test_endpoints_without_current_principal_or_not_plainly_async_are_left_alone() -> None:
    async def no_principal(item_id: int) -> int:
        return item_id

    def sync_endpoint(principal: CurrentPrincipal) -> str:
        return principal.key

    async def with_kwargs(principal: CurrentPrincipal, **rest: int) -> str:
        return principal.key

    async def role_checked(principal: Annotated[Principal, Depends(require_roles(Role.ADMIN))]) -> str:
        return principal.key

    for endpoint in (no_principal, sync_endpoint, with_kwargs, role_checked):
        assert principal_from_scope(endpoint) is None, endpoint.__name__
