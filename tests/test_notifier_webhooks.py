"""Webhooks over HTTP (issue 14): an SMS gateway that fails three times and then accepts receives one
delivery id on every attempt and the notifier records one delivery; a target inside the cluster is refused;
a delivery that never gets through ends in the dead letters, which an operator resends under the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest_asyncio
from issues_world import report_and_assign
from notifier_world import Hook, inbox, notifier_world, set_contact, webhook_receiver

from lkg.common.clock import TZ

SECRET = "sms-gateway-secret-2020"


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix) as system:
        yield system


async def _sms_endpoint(world, url: str) -> dict:
    created = await world.client.post(
        "/api/v1/notifications/webhook-endpoints",
        json={
            "name": "短信网关",
            "format": "sms",
            "url": url,
            "secret": SECRET,
            "kinds": ["problem.reported"],
        },
        headers=world.operator,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_a_webhook_that_fails_three_times_then_succeeds_delivers_once(world):
    hook = Hook(script=[500, 503, 502])
    async with webhook_receiver(hook) as base:
        endpoint = await _sms_endpoint(world, f"{base}/sms")
        assert "secret" not in endpoint
        await set_contact(
            world,
            world.org.dept_staff,
            mobile="13800000000",
            preferences=[{"kind": "*", "channels": ["sms"], "digest": False}],
        )
        await report_and_assign(world)
        await world.settle()
        assert len(hook.requests) == 1  # the first attempt, at once
        # Backoff on the shared clock: 60 s, 300 s, 1800 s.
        await world.move_clock(advance="61s")
        await world.move_clock(advance="301s")
        assert len(hook.requests) == 3
        await world.move_clock(advance="1801s")
    assert len(hook.requests) == 4
    ids = {headers["x-lkg-delivery-id"] for headers, _ in hook.requests}
    assert len(ids) == 1
    for headers, body in hook.requests:
        expected = hmac.new(
            SECRET.encode(), headers["x-lkg-timestamp"].encode() + b"." + body, hashlib.sha256
        )
        assert headers["x-lkg-signature"] == "sha256=" + expected.hexdigest()
    payload = json.loads(hook.requests[-1][1])
    assert payload == {
        "mobile": "13800000000",
        "content": "【临空港】【待受理】问题：用地指标未落实",
        "delivery_id": ids.pop(),
    }

    reported = next(m for m in await inbox(world, world.org.dept_staff) if m["kind"] == "problem.reported")
    log = await world.client.get(
        f"/api/v1/notifications/messages/{reported['id']}/log", headers=world.operator
    )
    assert [(e["step"], e["attempt"]) for e in log.json()["items"] if e["channel"] == "webhook"] == [
        ("queued", None),
        ("failed", 1),
        ("failed", 2),
        ("failed", 3),
        ("sent", 4),
    ]
    delivered = [
        e for e in await world.published("notifier", "notification.delivered") if e.channel == "webhook"
    ]
    failed = [e for e in await world.published("notifier", "notification.failed") if e.channel == "webhook"]
    assert [e.attempt for e in delivered] == [4]
    assert [(e.attempt, e.will_retry) for e in failed] == [(1, True), (2, True), (3, True)]
    # The operator's view masks the mobile number (personal data).
    seen = await world.client.get(
        f"/api/v1/notifications/people/{world.org.dept_staff}/settings", headers=world.operator
    )
    assert seen.json()["mobile"] == "138****0000"


async def test_a_webhook_to_a_private_or_unlisted_address_is_refused(world):
    for url, code in [
        ("http://10.1.2.3/hook", "webhook_address_refused"),  # listed host, private address, not allowed
        ("http://169.254.169.254/latest/meta-data", "webhook_host_not_allowed"),
        ("http://user:secret@10.1.2.3/hook", "webhook_url_invalid"),  # credentials in the URL
        ("http://[::1/hook", "webhook_url_invalid"),  # an unbalanced IPv6 bracket
        ("https://hooks.example:99999/x", "webhook_url_invalid"),  # a port out of range
        ("ftp://127.0.0.1/hook", "validation_failed"),  # the schema admits http(s) URLs only
    ]:
        refused = await world.client.post(
            "/api/v1/notifications/webhook-endpoints",
            json={"name": f"机器人 {code}", "format": "wecom", "url": url, "secret": SECRET},
            headers=world.operator,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
    listed = await world.client.get("/api/v1/notifications/webhook-endpoints", headers=world.operator)
    assert listed.json()["items"] == []


async def test_a_delivery_that_never_gets_through_is_dead_lettered_and_resent_under_the_same_id(world):
    hook = Hook(script=[500] * 5)
    async with webhook_receiver(hook) as base:
        await _sms_endpoint(world, f"{base}/sms")
        await set_contact(
            world,
            world.org.dept_staff,
            mobile="13900000001",
            preferences=[{"kind": "problem.reported", "channels": ["sms"], "digest": False}],
        )
        await report_and_assign(world)
        # One jump over every backoff: the attempts land where they would have in real time.
        await world.move_clock(set=datetime(2020, 5, 1, 9, tzinfo=TZ) + timedelta(hours=3))
        assert len(hook.requests) == 5
        dead = (await world.client.get("/api/v1/notifications/dead-letters", headers=world.operator)).json()
        assert [(d["channel"], d["state"], d["attempts"]) for d in dead["items"]] == [("webhook", "dead", 5)]
        delivery_id = dead["items"][0]["id"]
        again = await world.client.post(
            f"/api/v1/notifications/dead-letters/{delivery_id}/resend", headers=world.operator
        )
        assert again.status_code == 200 and again.json()["state"] == "queued"
        await world.settle()
        assert len(hook.requests) == 6
    assert {h["x-lkg-delivery-id"] for h, _ in hook.requests} == {delivery_id}
    dead = (await world.client.get("/api/v1/notifications/dead-letters", headers=world.operator)).json()
    assert dead["items"] == []
    twice = await world.client.post(
        f"/api/v1/notifications/dead-letters/{delivery_id}/resend", headers=world.operator
    )
    assert twice.status_code == 409 and twice.json()["code"] == "delivery_not_dead"
