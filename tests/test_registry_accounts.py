"""Accounts over HTTP, as people and other government systems use them: the demo's accounts sign in and use
their token on the register; a refresh token is good once (a replayed one ends the whole login); one
address guessing waits longer after each wrong password and cannot lock the owner out, while twenty wrong
passwords from as many addresses lock a username for 15 minutes on the shared clock, known or not; every
attempt is in the login audit, with the address a trusted proxy forwarded; a person who leaves a post
loses its reach at once and its role at the next refresh; client systems get tokens with their scopes,
and lose them when the secret is rotated or the client revoked."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest_asyncio

from lkg.common.auth import Role
from lkg.common.testing.system import System, running_system
from lkg.registry.accounts.seed import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo_accounts
from lkg.registry.app import SPEC
from lkg.registry.org.document import default_document, org_id

_n = itertools.count(1)
STAFF_POST = "post.test.jinyinhu_staff"
STAFF = "person.test.zhang_san"

#: One street staff member of 金银湖街 (layer 1, 项目责任单位), beside the 2020 directory.
STAFF_DOCUMENT = {
    "valid_from": "2020-05-01",
    "posts": [{"key": STAFF_POST, "title": "金银湖街项目专员", "unit": "street.jinyinhu", "kind": "staff"}],
    "people": [{"key": STAFF, "name": "张三"}],
    "holdings": [{"post": STAFF_POST, "person": STAFF}],
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """The registry alone with the 2020 directory, one street staff member, and the demo's accounts."""
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}ra{next(_n)}",
        specs=[SPEC],
        # The test client's address, as an ingress's would be: its X-Forwarded-For names the source.
        trusted_proxies=["127.0.0.1/32"],
    ) as system:
        for document in (default_document().model_dump(mode="json"), STAFF_DOCUMENT):
            loaded = await system.client.post("/api/v1/org/imports", json=document, headers=system.operator)
            assert loaded.status_code == 200, loaded.text
        runtime = system.platform.runtimes["registry"]
        async with runtime.db.transaction() as session:
            assert await seed_demo_accounts(session, runtime.settings, runtime.clock) == 22
        yield system


async def login(system: System, username: str, password: str = DEMO_PASSWORD, **headers: str):
    return await system.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


_sources = itertools.count(1)


def elsewhere() -> dict[str, str]:
    """Headers of a request forwarded for an address no other request came from."""
    n = next(_sources)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


async def bearer(system: System, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = await login(system, username, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def audit(system: System, admin: dict[str, str], **query: str) -> list[dict]:
    response = await system.client.get("/api/v1/auth/login-events", params=query, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def staff_account(system: System, admin: dict[str, str]) -> dict:
    listed = await system.client.get("/api/v1/auth/accounts?limit=200", headers=admin)
    found = [a for a in listed.json()["items"] if a["username"] == "zhangsan"]
    if found:
        return found[0]
    created = await system.client.post(
        "/api/v1/auth/accounts",
        json={"person_id": str(org_id(STAFF)), "username": "zhangsan", "password": "jinyinhu-2020!"},
        headers={**admin, "Idempotency-Key": "create-zhangsan"},
    )
    assert created.status_code == 201, created.text
    return created.json()


#: Each demo account by role (docs/accounts.md): who signs in, with which roles their posts give them.
DEMO_ROLES = {
    "admin": ["admin", "major_projects_office"],
    "assessor": ["assessment_office"],
    "office": ["major_projects_office"],
    "street": ["unit_user"],
    "street-head": ["unit_user"],
    "service": ["service_department"],
    "department": [],
    "approval": ["approval_bureau"],
    "agent": ["approval_bureau"],
    "statistics": ["statistics_bureau"],
    "stats-contact": ["unit_user"],
    "supervision": ["supervision_office"],
    "leader": ["top_leader"],
    "commerce": ["commerce_bureau", "service_department"],
}


async def test_every_demo_account_signs_in_as_a_synthetic_holder_of_its_post(registry: System) -> None:
    # issue #11 "The demo directory": a person stands behind each role, labelled as synthetic (演示).
    admin = await bearer(registry, "admin")
    for username, roles in DEMO_ROLES.items():
        response = await login(registry, username)
        assert response.status_code == 200, (username, response.text)
        assert response.json()["roles"] == roles, username
        account = (
            await registry.client.get(f"/api/v1/auth/accounts/{response.json()['account_id']}", headers=admin)
        ).json()
        name = account["person_name"]
        assert name.startswith("【演示】"), (username, name)
    # Every street, office and department has a head post with a holder; the top leaders' posts are held.
    day = {"on": "2020-05-01"}
    units = (await registry.client.get("/api/v1/org/units", params=day, headers=admin)).json()
    posts = (await registry.client.get("/api/v1/org/posts", params=day, headers=admin)).json()
    holdings = (await registry.client.get("/api/v1/org/holdings", params=day, headers=admin)).json()
    held = {h["post_id"] for h in holdings}
    heads = {p["unit_id"] for p in posts if p["kind"] == "unit_head" and p["id"] in held}
    assert {u["id"] for u in units if u["kind"] != "leadership"} <= heads
    leaders = [p for p in posts if p["kind"] == "district_leader"]
    assert len(leaders) == 2 and all(p["id"] in held for p in leaders)
    # The departments that handle catalogue items are in the directory (issue #11).
    assert {"区自然资源和规划局", "区生态环境局", "区应急管理局"} <= {u["name"] for u in units}


async def test_the_demo_admin_logs_in_and_the_token_works_on_the_register(registry: System) -> None:
    c = registry.client
    response = await login(registry, "admin", **{"User-Agent": "lkg-mobile/1.0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["roles"] == ["admin", "major_projects_office"]
    assert body["refresh_token"].startswith("lkgrt_")
    admin = {"Authorization": f"Bearer {body['access_token']}"}

    created = await c.post(
        "/api/v1/projects",
        json={
            "name": "【演示】登录后登记的项目",
            "enterprise": "【演示】某企业",
            "category": "industrial",
            "project_class": "new_start",
            "responsible_unit_id": str(org_id("street.jinyinhu")),
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text

    accounts = (await c.get("/api/v1/auth/accounts?limit=200", headers=admin)).json()["items"]
    assert [a["username"] for a in accounts] == sorted(
        [username for username, *_ in DEMO_ACCOUNTS] + [f"line{n}" for n in range(1, 9)]
    )
    line4 = next(a for a in accounts if a["username"] == "line4")
    assert (line4["person_name"], line4["roles"], line4["status"]) == ("刘之福", ["line_leader"], "active")

    # A line leader's token carries the leader's role; it may not administer accounts (403).
    leader = await bearer(registry, "line4")
    assert (await c.get("/api/v1/auth/accounts", headers=leader)).status_code == 403
    # ... but sees its own account, and another's is as if it did not exist (404).
    assert (await c.get(f"/api/v1/auth/accounts/{line4['id']}", headers=leader)).status_code == 200
    other = next(a for a in accounts if a["username"] == "line5")
    hidden = await c.get(f"/api/v1/auth/accounts/{other['id']}", headers=leader)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "account_not_found")

    success = (await audit(registry, admin, username="admin", action="login"))[0]
    assert (success["outcome"], success["user_agent"], success["client_address"]) == (
        "success",
        "lkg-mobile/1.0",
        "127.0.0.1",
    )


async def test_a_refresh_token_is_good_once_and_a_replayed_one_ends_the_whole_login(registry: System) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    await staff_account(registry, admin)
    first = (await login(registry, "zhangsan", "jinyinhu-2020!")).json()
    assert first["roles"] == ["unit_user"]

    second = await c.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    third = await c.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert third.status_code == 200, third.text
    mine = {"Authorization": f"Bearer {third.json()['access_token']}"}
    assert (await c.get("/api/v1/projects", headers=mine)).status_code == 200

    # The first token, replayed (stolen?): the whole family is revoked, the newest token too.
    replayed = await c.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (replayed.status_code, replayed.json()["code"]) == (401, "refresh_token_reused")
    newest = await c.post("/api/v1/auth/refresh", json={"refresh_token": third.json()["refresh_token"]})
    assert (newest.status_code, newest.json()["code"]) == (401, "invalid_refresh_token")

    # Another login is unaffected by that family, and logging out ends it.
    again = (await login(registry, "zhangsan", "jinyinhu-2020!")).json()
    assert (
        await c.post("/api/v1/auth/logout", json={"refresh_token": again["refresh_token"]})
    ).status_code == 204
    after = await c.post("/api/v1/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert (after.status_code, after.json()["code"]) == (401, "invalid_refresh_token")

    events = await audit(registry, admin, username="zhangsan")
    assert [(e["action"], e["outcome"]) for e in events[:7]] == [
        ("refresh", "failure"),
        ("logout", "success"),
        ("login", "success"),
        ("refresh", "failure"),
        ("refresh", "reuse"),
        ("refresh", "success"),
        ("refresh", "success"),
    ]


async def test_twenty_wrong_passwords_from_as_many_addresses_lock_the_username_known_or_not(
    registry: System,
) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    for username in ("line6", "nobody-such"):
        answers = [await login(registry, username, "wrong-password", **elsewhere()) for _ in range(20)]
        assert [(r.status_code, r.json()["code"]) for r in answers] == [(401, "invalid_credentials")] * 19 + [
            (429, "account_locked")
        ]
        assert answers[0].json()["detail"] == "用户名或密码错误"
        assert answers[19].headers["retry-after"] == "900"
        assert answers[19].json()["locked_until"] == "2020-05-01T09:15:00+08:00"
        # While locked even the right password is refused, with the same answer for both names.
        locked = await login(registry, username, **elsewhere())
        assert (locked.status_code, locked.json()["code"], locked.headers["retry-after"]) == (
            429,
            "account_locked",
            "900",
        )

    line6 = next(
        a
        for a in (await c.get("/api/v1/auth/accounts?limit=200", headers=admin)).json()["items"]
        if a["username"] == "line6"
    )
    assert line6["status"] == "locked"

    await registry.move_clock(advance="15m")
    assert (await login(registry, "line6")).status_code == 200
    events = await audit(registry, admin, username="line6")
    assert [e["outcome"] for e in events] == ["success", "locked", "lockout"] + ["failure"] * 19


async def test_an_admin_lifts_a_lockout_and_a_disabled_account_cannot_log_in(registry: System) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    for _ in range(20):
        await login(registry, "line7", "wrong-password", **elsewhere())
    accounts = (await c.get("/api/v1/auth/accounts?limit=200", headers=admin)).json()["items"]
    line7 = next(a for a in accounts if a["username"] == "line7")
    url = f"/api/v1/auth/accounts/{line7['id']}"
    etag = (await c.get(url, headers=admin)).headers["etag"]
    assert (await c.post(f"{url}/unlocks", headers=admin)).status_code == 428
    unlocked = await c.post(f"{url}/unlocks", headers={**admin, "If-Match": etag})
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["status"] == "active"
    session = (await login(registry, "line7")).json()

    disabled = await c.post(f"{url}/disablements", headers={**admin, "If-Match": unlocked.headers["etag"]})
    assert disabled.json()["status"] == "disabled"
    refused = await login(registry, "line7")
    assert (refused.status_code, refused.json()["code"]) == (403, "account_disabled")
    # A wrong password gets the answer everyone gets: only the owner learns the account is disabled.
    assert (await login(registry, "line7", "wrong-password")).json()["code"] == "invalid_credentials"
    gone = await c.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert (gone.status_code, gone.json()["code"]) == (401, "invalid_refresh_token")
    stale = await c.post(f"{url}/enablements", headers={**admin, "If-Match": etag})
    assert stale.status_code == 412
    enabled = await c.post(f"{url}/enablements", headers={**admin, "If-Match": disabled.headers["etag"]})
    assert enabled.json()["status"] == "active"
    assert (await login(registry, "line7")).status_code == 200


async def test_the_owner_changes_the_password_with_the_current_one(registry: System) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    account = await staff_account(registry, admin)
    tokens = (await login(registry, "zhangsan", "jinyinhu-2020!")).json()
    mine = {"Authorization": f"Bearer {tokens['access_token']}"}
    url = f"/api/v1/auth/accounts/{account['id']}"
    etag = (await c.get(url, headers=mine)).headers["etag"]
    without = await c.post(
        f"{url}/password-changes",
        json={"new_password": "new-secret-2020"},
        headers={**mine, "If-Match": etag},
    )
    assert (without.status_code, without.json()["code"]) == (403, "current_password_required")
    wrong = await c.post(
        f"{url}/password-changes",
        json={"current_password": "not-it", "new_password": "new-secret-2020"},
        headers={**mine, "If-Match": etag},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "current_password_incorrect")
    changed = await c.post(
        f"{url}/password-changes",
        json={"current_password": "jinyinhu-2020!", "new_password": "new-secret-2020"},
        headers={**mine, "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert (await login(registry, "zhangsan", "jinyinhu-2020!")).status_code == 401
    assert (await login(registry, "zhangsan", "new-secret-2020")).status_code == 200
    # Every login from before the change is signed out.
    old = await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert old.status_code == 401
    # Reset back by the office (no current password needed), for the tests after this one.
    reset = await c.post(
        f"{url}/password-changes",
        json={"new_password": "jinyinhu-2020!"},
        headers={**admin, "If-Match": changed.headers["etag"]},
    )
    assert reset.status_code == 200, reset.text


async def test_a_person_who_leaves_the_post_loses_its_reach_at_once_and_its_role_at_the_next_refresh(
    registry: System,
) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    account = await staff_account(registry, admin)
    project = await c.post(
        "/api/v1/projects",
        json={
            "name": "【演示】金银湖街项目",
            "enterprise": "【演示】某企业",
            "category": "industrial",
            "project_class": "new_start",
            "responsible_unit_id": str(org_id("street.jinyinhu")),
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
        },
        headers=admin,
    )
    assert project.status_code == 201, project.text
    tokens = (await login(registry, "zhangsan", "jinyinhu-2020!")).json()
    assert tokens["roles"] == ["unit_user"]
    mine = {"Authorization": f"Bearer {tokens['access_token']}"}
    url = f"/api/v1/projects/{project.json()['id']}"
    assert (await c.get(url, headers=mine)).status_code == 200

    today = date.fromisoformat((await registry.move_clock(advance="0s"))["now"][:10])
    handover_day = (today + timedelta(days=1)).isoformat()
    handed = await c.post(
        f"/api/v1/org/posts/{org_id(STAFF_POST)}/handovers",
        json={"successor_name": "李四", "on": handover_day, "reason": "岗位调整"},
        headers=admin,
    )
    assert handed.status_code == 200, handed.text
    await registry.move_clock(set=f"{handover_day}T09:00:00+08:00")

    # The same access token, still unexpired: the street's project is out of reach at once.
    assert (await c.get(url, headers=mine)).status_code == 404
    refreshed = await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["roles"] == []
    assert (await c.get(f"/api/v1/auth/accounts/{account['id']}", headers=admin)).json()["roles"] == []


async def test_client_systems_get_tokens_with_their_scopes_until_rotated_or_revoked(registry: System) -> None:
    c = registry.client
    admin = await bearer(registry, "admin")
    office_only = {"Authorization": f"Bearer {registry.token(Role.MAJOR_PROJECTS_OFFICE, person='office')}"}
    spec = {
        "client_id": "provincial-platform",
        "name": "省投资项目在线审批监管平台",
        "scopes": ["projects:read"],
    }
    assert (await c.post("/api/v1/auth/clients", json=spec, headers=office_only)).status_code == 403
    created = await c.post("/api/v1/auth/clients", json=spec, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = created.json()["client_secret"]
    assert secret.startswith("lkgcs_")
    again = await c.post("/api/v1/auth/clients", json=spec, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "client_exists")
    shown = await c.get("/api/v1/auth/clients/provincial-platform", headers=admin)
    assert "client_secret" not in shown.json()

    def basic(secret: str) -> dict[str, str]:
        raw = base64.b64encode(f"provincial-platform:{secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    form = {"grant_type": "client_credentials"}
    issued = await c.post("/api/v1/auth/token", data=form, headers=basic(secret))
    assert issued.status_code == 200, issued.text
    assert (issued.json()["scope"], issued.json()["token_type"], issued.json()["expires_in"]) == (
        "projects:read",
        "Bearer",
        900,
    )
    system_token = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert (await c.get("/api/v1/projects", headers=system_token)).status_code == 200

    as_json = await c.post(
        "/api/v1/auth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": "provincial-platform",
            "client_secret": secret,
        },
    )
    assert as_json.status_code == 200, as_json.text
    too_much = await c.post(
        "/api/v1/auth/token", data={**form, "scope": "projects:write"}, headers=basic(secret)
    )
    assert (too_much.status_code, too_much.json()["error"]) == (400, "invalid_scope")
    wrong_grant = await c.post("/api/v1/auth/token", data={"grant_type": "password"}, headers=basic(secret))
    assert (wrong_grant.status_code, wrong_grant.json()["code"]) == (400, "unsupported_grant_type")

    # Rotation with an hour's grace: both secrets work until the grace runs out on the shared clock.
    etag = shown.headers["etag"]
    rotated = await c.post(
        "/api/v1/auth/clients/provincial-platform/rotations",
        json={"grace_seconds": 3600},
        headers={**admin, "If-Match": etag},
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert (await c.post("/api/v1/auth/token", data=form, headers=basic(secret))).status_code == 200
    await registry.move_clock(advance="61m")
    old = await c.post("/api/v1/auth/token", data=form, headers=basic(secret))
    assert (old.status_code, old.json()["error"]) == (401, "invalid_client")
    assert (await c.post("/api/v1/auth/token", data=form, headers=basic(new_secret))).status_code == 200

    revoked = await c.post(
        "/api/v1/auth/clients/provincial-platform/revocations",
        headers={**admin, "If-Match": rotated.headers["etag"]},
    )
    assert revoked.json()["status"] == "revoked"
    after = await c.post("/api/v1/auth/token", data=form, headers=basic(new_secret))
    assert (after.status_code, after.json()["code"]) == (401, "invalid_client")

    events = await audit(registry, admin, action="client_token")
    assert [e["outcome"] for e in events] == [
        "failure",
        "success",
        "failure",
        "success",
        "invalid_scope",
        "success",
        "success",
    ]
    assert {e["client_id"] for e in events} == {"provincial-platform"}


async def test_the_login_audit_pages_newest_first(registry: System) -> None:
    admin = await bearer(registry, "admin")
    everything = await audit(registry, admin, limit="200")
    first = await registry.client.get("/api/v1/auth/login-events?limit=3", headers=admin)
    page = first.json()
    second = await registry.client.get(
        f"/api/v1/auth/login-events?limit=3&cursor={page['next_cursor']}", headers=admin
    )
    assert [e["id"] for e in page["items"] + second.json()["items"]] == [e["id"] for e in everything[:6]]
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    unknown = await registry.client.get("/api/v1/auth/login-events?user=admin", headers=admin)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_query_parameter")


async def test_one_address_guessing_waits_longer_each_time_and_cannot_lock_the_owner_out(
    registry: System,
) -> None:
    """Issue #11 item 5, over HTTP behind a trusted proxy: the address that counts is the forwarded one."""
    guesser = {"X-Forwarded-For": "203.0.113.66"}
    codes: list[str] = []
    waits: list[int] = []
    while len(waits) < 9:  # 2 s, 4 s, … 300 s: 13.5 minutes of the 15-minute window
        answer = await login(registry, "line8", "wrong-password", **guesser)
        codes.append(answer.json()["code"])
        if answer.status_code == 429:
            assert answer.json()["code"] == "login_throttled", answer.text
            waits.append(int(answer.headers["retry-after"]))
            await registry.move_clock(advance=f"{waits[-1]}s")
        else:
            assert (answer.status_code, answer.json()["code"]) == (401, "invalid_credentials")
    assert codes[:5] == ["invalid_credentials"] * 4 + ["login_throttled"]
    assert waits[:9] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert "account_locked" not in codes
    # The owner, from the office's own address, is not held up.
    assert (await login(registry, "line8", **{"X-Forwarded-For": "198.51.100.200"})).status_code == 200
    admin = await bearer(registry, "admin")
    events = await audit(registry, admin, username="line8")
    assert events[0]["outcome"] == "success" and events[0]["client_address"] == "198.51.100.200"
    throttled = [e for e in events if e["outcome"] == "throttled"]
    assert len(throttled) == len(waits)
    assert {e["client_address"] for e in events[1:]} == {"203.0.113.66"}
