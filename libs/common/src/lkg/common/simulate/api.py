"""The simulator's only way into a deployment: its public HTTP API, each call as one persona.

A persona signs in with its own account (``/api/v1/auth/login``); the units a story needs that have no
demo account get one, opened by 重大项目办 for a person who holds a post in that unit (``/api/v1/org/
holdings``), as an administrator of the district would. A refused action (4xx) is kept with its stable
``code``, never retried blindly: it is part of what the run did.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

#: The demo accounts' password (docs/accounts.md) and the one the simulator gives the accounts it opens.
DEMO_PASSWORD = "lkg-demo-2020"
SIMULATED_PASSWORD = "lkg-simulate-2020"


class ApiError(RuntimeError):
    """An answer the simulator cannot go on without (a failed sign-in, a 5xx)."""


@dataclass
class Persona:
    """One person acting: a username and the bearer token it signed in with."""

    username: str
    token: str
    password: str = DEMO_PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """The deployment seen over HTTP, with the personas signed in so far and the refusals met."""

    client: httpx.AsyncClient
    personas: dict[str, Persona] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def sign_in(self, username: str, password: str = DEMO_PASSWORD) -> Persona:
        response = await self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        if response.status_code != 200:
            raise ApiError(f"{username} cannot sign in: {response.status_code} {response.text[:200]}")
        persona = Persona(username, response.json()["access_token"], password)
        self.personas[username] = persona
        return persona

    def idempotency_key(self, what: str) -> str:
        """A fresh key for each create (a retry of the same call would reuse it)."""
        return str(uuid4())

    async def call(
        self,
        persona: Persona,
        method: str,
        path: str,
        *,
        action: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """The answer, or ``None`` when the deployment refused the action (counted under ``action``)."""
        self.calls += 1
        response = await self.client.request(
            method, path, json=json, params=params, headers={**persona.headers, **(headers or {})}
        )
        if response.status_code == 401:  # the access token lives 15 wall-clock minutes: sign in again
            persona.token = (await self.sign_in(persona.username, persona.password)).token
            response = await self.client.request(
                method, path, json=json, params=params, headers={**persona.headers, **(headers or {})}
            )
        if response.status_code >= 500:
            raise ApiError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        if response.status_code >= 400:
            try:
                code = response.json().get("code", str(response.status_code))
            except ValueError:
                code = str(response.status_code)
            self.refused[f"{action}: {code}"] += 1
            return None
        return response

    async def get(self, persona: Persona, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params or None, headers=persona.headers)
        self.calls += 1
        if response.status_code == 401:
            persona.token = (await self.sign_in(persona.username, persona.password)).token
            response = await self.client.get(path, params=params or None, headers=persona.headers)
        if response.status_code != 200:
            raise ApiError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def get_all(self, persona: Persona, path: str, **params: Any) -> list[Any]:
        """Every item of a list route, page by page (plain arrays too)."""
        found: list[Any] = []
        cursor = None
        while True:
            page = await self.get(persona, path, **params, **({"cursor": cursor} if cursor else {}))
            if isinstance(page, list):
                return page
            found += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    async def unit_persona(self, office: Persona, unit_id: str) -> Persona | None:
        """The persona acting for ``unit_id``: an account for the first holder (by post and person id) of
        a post in the unit, opened by 重大项目办 the first time. ``None``: nobody holds a post there."""
        username = f"sim-{unit_id[:8]}"
        async with self.locks.setdefault(username, asyncio.Lock()):  # projects acted on at once
            if username in self.personas:
                return self.personas[username]
            return await self._open(office, unit_id, username)

    async def _open(self, office: Persona, unit_id: str, username: str) -> Persona | None:
        posts = {p["id"]: p for p in await self.get(office, "/api/v1/org/posts") if p["unit_id"] == unit_id}
        holdings = sorted(
            (h for h in await self.get(office, "/api/v1/org/holdings") if h["post_id"] in posts),
            key=lambda h: (posts[h["post_id"]]["kind"] != "staff", h["post_id"], h["person_id"]),
        )
        for holding in holdings:
            opened = await self.call(
                office,
                "POST",
                "/api/v1/auth/accounts",
                action="open account",
                json={
                    "person_id": holding["person_id"],
                    "username": username,
                    "password": SIMULATED_PASSWORD,
                },
            )
            if opened is not None:
                return await self.sign_in(username, SIMULATED_PASSWORD)
        try:  # opened by an earlier run on the same deployment
            return await self.sign_in(username, SIMULATED_PASSWORD)
        except ApiError:
            return None
