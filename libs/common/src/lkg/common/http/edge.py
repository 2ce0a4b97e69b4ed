"""The bearer-token check at the ASGI edge (:class:`EdgeGuard`): once per request, before routing; the rest
of access (tokens, principals, reach, the route dependencies) is :mod:`lkg.common.auth`."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from fastapi.routing import iter_route_contexts
from starlette.datastructures import URL
from starlette.routing import Match

from lkg.common.auth import (
    MISSING_TOKEN_DETAIL,
    PRINCIPAL_SCOPE_KEY,
    TokenVerifier,
    is_public_route,
    parse_bearer,
)
from lkg.common.http.problems import Unauthenticated, problem_response

#: What a route asks of a caller: a valid token (``guarded``, every service route), a valid token if one
#: is sent (``public``: :data:`PUBLIC_ROUTE`), or nothing (``open``: probes, metrics and the docs).
RouteAccess = Literal["guarded", "public", "open"]


class EdgeGuard:
    """The bearer-token check of every request, made once at the ASGI edge before routing.

    A request whose token verifies (a cache hit after the first time) goes on with its
    :class:`Principal` in the scope, where :data:`CurrentPrincipal` reads it: no per-route dependency
    resolves the token again. Only a request without a usable token needs to know its route, so only
    then is the route found, the way the router will find it: a guarded route answers 401, so does a
    public route called with a bad token, and everything else goes on (an open route; no route at all,
    which the app answers 404 or 405 exactly as if the token had been good). A route is guarded unless it
    is in :attr:`open_routes` or marked :data:`PUBLIC_ROUTE`, so a route added to the app later needs a
    token too.

    The verifier is read from ``app.state.token_verifier`` on each request (a test may replace it).
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        #: ``id`` of the routes anyone may call: set by ``create_http_app`` whenever it mounts routes.
        self.open_routes: frozenset[int] = frozenset()

    def admit_known(self, scope: MutableMapping[str, Any], authorization: bytes | None) -> bool:
        """True, with the principal put in the scope, when the token is one verified before and not yet
        expired: the common case, answered without a coroutine. Otherwise ask :meth:`admit`."""
        if authorization is None:
            return False
        token = parse_bearer(authorization.decode("latin-1"))
        if token is None:
            return False
        principal = self._app.state.token_verifier.cached(token)
        if principal is None:
            return False
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return True

    async def admit(self, scope: MutableMapping[str, Any], authorization: bytes | None) -> Any:
        """``None`` to let the request go on (with the principal in the scope when the token verified),
        or the 401 problem response to send instead."""
        refusal: Unauthenticated | None = None
        if authorization is not None:
            token = parse_bearer(authorization.decode("latin-1"))
            if token is not None:
                verifier: TokenVerifier = self._app.state.token_verifier
                principal = verifier.cached(token)
                if principal is None:
                    try:
                        principal = await verifier.verify(token)
                    except Unauthenticated as exc:
                        refusal = exc
                if principal is not None:
                    scope[PRINCIPAL_SCOPE_KEY] = principal
                    return None
        access, route = self.access_of(scope)
        if access == "guarded" or (access == "public" and refusal is not None):
            refusal = refusal or Unauthenticated(MISSING_TOKEN_DETAIL)
            scope["route"] = route  # for the access line and the metric's route label
            return problem_response(
                status=refusal.status,
                code=refusal.code,
                title=refusal.title,
                detail=refusal.detail,
                instance=URL(scope=scope).path,
                extra=refusal.extra,
                headers=refusal.headers,
            )
        return None

    def access_of(self, scope: Mapping[str, Any]) -> tuple[RouteAccess | None, Any]:
        """The route the router will pick for this request and what it asks of the caller; ``(None, None)``
        when no route matches path and method (the app answers 404, 405 or a slash redirect, before any
        dependency runs)."""
        probe = dict(scope)
        if isinstance(probe.get("fastapi"), dict):
            probe["fastapi"] = dict(probe["fastapi"])  # matching notes its progress there
        for context in iter_route_contexts(self._app.router.routes):
            match, _ = context.matches(probe)
            if match is Match.FULL:
                route = context.original_route
                if id(route) in self.open_routes:
                    return "open", route
                return ("public" if is_public_route(route) else "guarded"), route
        return None, None
