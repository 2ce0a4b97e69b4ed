"""The web console in a real browser, for tests and ``bench/console.py`` (docs/console.md).

A running system (:func:`lkg.common.testing.system.running_system`) is seeded with the demo data as
``lkg run`` seeds it, served over real HTTP by uvicorn on a free loopback port (the browser needs a socket;
the system's in-process client does not), and driven by Playwright in Debian's Chromium (``chromium`` on
the PATH, or ``LKG_CHROMIUM``). Without Chromium or Playwright, :func:`chromium_path` says why, and the tests
skip with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from lkg.common.testing.system import System

#: Every demo account's password (docs/accounts.md).
DEMO_PASSWORD = "lkg-demo-2020"
#: Passwords of the accounts made here for the stories (not demo accounts of the seed).
STORY_PASSWORD = "console-story-2020"

#: One street staff member of 金银湖街 (layer 1, 项目责任单位; line 2) and one staff member of 区科经局, the
#: service department of line 2 (综合服务部门), added to the 2020 directory for the stories.
STORY_PEOPLE: dict[str, Any] = {
    "valid_from": "2020-05-01",
    "posts": [
        {
            "key": "post.console.jinyinhu_staff",
            "title": "金银湖街项目专员",
            "unit": "street.jinyinhu",
            "kind": "staff",
        },
        {
            "key": "post.console.kjj_staff",
            "title": "区科经局项目服务专员",
            "unit": "dept.science_economy",
            "kind": "staff",
        },
        {
            "key": "post.console.changqing_staff",
            "title": "长青街项目专员",
            "unit": "street.changqing",
            "kind": "staff",
        },
    ],
    "people": [
        {"key": "person.console.wang_jie", "name": "王洁"},
        {"key": "person.console.zhao_min", "name": "赵敏"},
        {"key": "person.console.chen_lei", "name": "陈磊"},
    ],
    "holdings": [
        {"post": "post.console.jinyinhu_staff", "person": "person.console.wang_jie"},
        {"post": "post.console.kjj_staff", "person": "person.console.zhao_min"},
        {"post": "post.console.changqing_staff", "person": "person.console.chen_lei"},
    ],
}
#: username → person key of :data:`STORY_PEOPLE`.
STORY_ACCOUNTS = {
    "jinyinhu": "person.console.wang_jie",
    "kejingju": "person.console.zhao_min",
    "changqing": "person.console.chen_lei",
}


def chromium_path() -> tuple[str | None, str]:
    """(the Chromium to drive, "") or (None, why the browser tests cannot run here)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return None, "Playwright for Python is not installed (pip install -e 'libs/common[test]')"
    found = os.environ.get("LKG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        return None, "no Chromium: apt-get install chromium fonts-noto-cjk (.ci/run installs them)"
    return found, ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    system: System
    base_url: str


@contextlib.asynccontextmanager
async def served(system: System) -> AsyncIterator[Served]:
    """The system's app on a loopback port, in this event loop (its lifespan already runs)."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        system.app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Served(system=system, base_url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


async def seed_demo(system: System) -> None:
    """Seed every service's demo data as ``lkg run`` does on a first start, and let the events settle."""
    for runtime in system.platform.runtimes.values():
        if runtime.spec.seed is not None:
            await runtime.spec.seed(runtime.db)
    await settle_long(system)


async def settle_long(system: System, *, rounds: int = 5) -> None:
    """Settle after a burst (the seed: thousands of events through five services): one settle waits two
    minutes for every service, which a loaded shared machine can overrun while the work is still going
    on; ask again, a few times, before giving up."""
    for _ in range(rounds - 1):
        response = await system.client.post(
            "/api/v1/dev/clock", json={"advance": "0s"}, headers=system.operator
        )
        if response.status_code == 200:
            return
        assert response.json()["code"] == "clock_not_settled", response.text
    await system.settle()


async def add_story_accounts(system: System) -> None:
    """The stories' people in the directory, and an account for each, made by an operator over HTTP."""
    loaded = await system.client.post("/api/v1/org/imports", json=STORY_PEOPLE, headers=system.operator)
    assert loaded.status_code == 200, loaded.text
    people = (await system.client.get("/api/v1/org/people", headers=system.operator)).json()
    names = {p["key"]: p["name"] for p in STORY_PEOPLE["people"]}
    admin = await login_headers(system, "admin", DEMO_PASSWORD)
    for username, person in STORY_ACCOUNTS.items():
        person_id = next(p["id"] for p in people if p["name"] == names[person])
        created = await system.client.post(
            "/api/v1/auth/accounts",
            json={"person_id": person_id, "username": username, "password": STORY_PASSWORD},
            headers={**admin, "Idempotency-Key": f"console-{username}"},
        )
        assert created.status_code == 201, created.text
    await system.settle()


async def login_headers(system: System, username: str, password: str) -> dict[str, str]:
    response = await system.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
