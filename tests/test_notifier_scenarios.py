"""Notifier scenarios over HTTP with the shared clock (issue 14; policy §三(二) 及时受理、事事有回音,
§五(一) time limits): the issues service raises the events, the notifier tells the right people, once.

The directory and the project arrive as the registry would send them (``org.changed``,
``project.registered``); a local SMTP server (aiosmtpd) receives the mail.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest_asyncio
from issues_world import dept, etag_of, publish, report_and_assign, street
from notifier_world import as_person, inbox, notifier_world, set_contact
from notifier_world import handover as moved

from lkg.common.auth import Role
from lkg.common.clock import TZ


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix) as system:
        yield system


@pytest_asyncio.fixture(loop_scope="session")
async def vacant(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix, leader_holder=False) as system:
        yield system


def kinds(messages: list[dict]) -> list[str]:
    """The kinds of the messages about matters (the morning digests are left out)."""
    return [m["kind"] for m in messages if not m["kind"].startswith("digest.")]


def matter_mails(world, address: str) -> list:
    return [m for m in world.mailbox.to(address) if not m["Subject"].startswith("【包保线日报】")]


async def test_an_l2_escalation_reaches_the_line_leader_once_by_inbox_and_mail(world):
    org = world.org
    await set_contact(world, org.leader_a, email="lili@lkg.example.gov.cn")
    problem = await report_and_assign(world)
    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))  # the reply clock ran out at 05-09 00:00

    messages = [m for m in await inbox(world, org.leader_a) if m["kind"] == "problem.escalated"]
    assert kinds(await inbox(world, org.leader_a)) == ["problem.escalated"]
    escalated = messages[0]
    assert escalated["title"] == "【上报第二层（包保区级领导）】问题：用地指标未落实"
    assert escalated["layer"] == 2 and escalated["urgent"] is True
    assert escalated["link"] == f"https://lkg.example.gov.cn/#/matter/problems/{problem['id']}"
    # The new reply clock runs 05-11 .. 05-13: three working days left on Saturday 05-09 (a make-up day).
    assert "时限：2020-05-13（剩余 3 个工作日）" in escalated["body"]
    mails = matter_mails(world, "lili@lkg.example.gov.cn")
    assert [m["Subject"] for m in mails] == [escalated["title"]]
    delivery_id = mails[0]["X-LKG-Delivery-Id"]
    assert mails[0]["Message-ID"] == f"<{delivery_id}@lkg.invalid>"

    # The same event delivered again (same event id, under another JetStream message id so the stream
    # keeps it), and the same cause in a new event: nothing more reaches the inbox or the mailbox.
    envelope = next(
        e
        for e in await _envelopes(world, "issues", "problem.escalated")
        if e.event().matter_id == uuid.UUID(problem["id"])
    )
    names = world.platform.names
    await world.platform.js.publish(
        names.subject(envelope.subject()),
        envelope.to_bytes(),
        headers={"Nats-Msg-Id": f"again-{uuid.uuid4()}"},
    )
    await publish(world, envelope.event())
    await world.settle()
    assert kinds(await inbox(world, org.leader_a)) == ["problem.escalated"]
    assert len(matter_mails(world, "lili@lkg.example.gov.cn")) == 1

    log = await world.client.get(
        f"/api/v1/inbox/messages/{escalated['id']}/log", headers=as_person(world, org.leader_a)
    )
    assert [(e["channel"], e["step"]) for e in log.json()["items"]] == [
        ("inbox", "stored"),
        ("email", "queued"),
        ("email", "sent"),
    ]
    delivered = [
        e
        for e in await world.published("notifier", "notification.delivered")
        if e.channel == "email" and e.template == "problem.escalated"
    ]
    assert [(str(e.notification_id), e.attempt) for e in delivered] == [(escalated["id"], 1)]
    # The line's service department hears of it too; nobody else reads the leader's message.
    assert "problem.escalated" in kinds(await inbox(world, org.dept_staff))
    other = await world.client.post(
        f"/api/v1/inbox/messages/{escalated['id']}/read", headers=as_person(world, org.dept_staff)
    )
    assert other.status_code == 404 and other.json()["code"] == "message_not_found"


async def _envelopes(world, producer: str, event_type: str):
    from lkg.common.events.base import Envelope

    names = world.platform.names
    sub = await world.platform.js.pull_subscribe(
        names.subject(f"lkg.{producer}.{event_type}"), stream=names.stream(producer)
    )
    found = []
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                return found
            for m in msgs:
                found.append(Envelope.from_bytes(m.data))
                await m.ack()
    finally:
        await sub.unsubscribe()


async def test_the_reporter_hears_of_the_answer(world):
    problem = await report_and_assign(world)
    answered = await world.client.post(
        f"/api/v1/problems/{problem['id']}/answers",
        json={"opinion": "已协调自然资源部门，二期用地指标本月内落实。"},
        headers={**dept(world), "If-Match": await etag_of(world, problem["id"])},
    )
    assert answered.status_code == 200, answered.text
    await world.settle()
    mine = [m for m in await inbox(world, world.org.street_staff) if m["matter_id"] == problem["id"]]
    assert kinds(mine) == ["problem.answered", "problem.accepted"]
    assert mine[0]["body"].startswith(
        "问题「用地指标未落实」承办单位已反馈处理意见：已协调自然资源部门，二期用地指标本月内落实。"
    )
    unread = await world.client.get("/api/v1/inbox/unread-count", headers=street(world))
    before = unread.json()["unread"]
    read = await world.client.post(f"/api/v1/inbox/messages/{mine[0]['id']}/read", headers=street(world))
    assert read.status_code == 200 and read.json()["read_at"] is not None
    after = await world.client.get("/api/v1/inbox/unread-count", headers=street(world))
    assert after.json()["unread"] == before - 1


async def test_after_a_handover_the_successor_is_told(world):
    org = world.org
    problem = await report_and_assign(world)
    await world.move_clock(set=datetime(2020, 5, 8, 9, tzinfo=TZ))
    handover = moved(org, last_day=date(2020, 5, 8), effective_at=datetime(2020, 5, 8, 9, tzinfo=TZ))
    await publish(world, handover)
    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
    escalations = [m for m in await inbox(world, org.leader_b) if m["matter_id"] == problem["id"]]
    assert kinds(escalations) == ["problem.escalated"]
    assert [m for m in await inbox(world, org.leader_a) if m["matter_id"] == problem["id"]] == []


async def test_a_vacant_line_leader_post_falls_back_to_the_unit_head(vacant):
    org = vacant.org
    problem = await report_and_assign(vacant)
    await vacant.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
    told = [m for m in await inbox(vacant, org.district_head) if m["matter_id"] == problem["id"]]
    assert kinds(told) == ["problem.escalated"]
    nobody = await vacant.client.get("/api/v1/notifications/undeliverable", headers=vacant.operator)
    assert nobody.json()["items"] == []


async def test_quiet_hours_hold_a_routine_message_to_the_next_working_morning_but_not_a_breach(world):
    org = world.org
    quiet = {"quiet_hours": {"start": "22:00", "end": "08:30"}}
    await set_contact(world, org.dept_staff, email="zhaosi@lkg.example.gov.cn", **quiet)
    await set_contact(world, org.leader_a, email="lili2@lkg.example.gov.cn", **quiet)
    # Reported on Labour Day (2020-05-01, a day off): the service department hears at once in its inbox,
    # but the mail waits for 08:30 on 05-06, the first working day after the holiday (05-01 .. 05-05).
    problem = await report_and_assign(world)
    await world.settle()
    reported = next(
        m
        for m in await inbox(world, org.dept_staff)
        if m["matter_id"] == problem["id"] and m["kind"] == "problem.reported"
    )
    assert world.mailbox.to("zhaosi@lkg.example.gov.cn") == []
    log = await world.client.get(
        f"/api/v1/notifications/messages/{reported['id']}/log", headers=world.operator
    )
    held = [e for e in log.json()["items"] if e["channel"] == "email"]
    assert [(e["step"], e["detail"]) for e in held] == [
        ("held", "静默时段，推迟至 2020-05-06T08:30:00+08:00")
    ]
    await world.move_clock(set=datetime(2020, 5, 6, 8, 29, tzinfo=TZ))
    assert [m["Subject"] for m in world.mailbox.to("zhaosi@lkg.example.gov.cn")] == []
    await world.move_clock(set=datetime(2020, 5, 6, 8, 31, tzinfo=TZ))
    subjects = sorted(m["Subject"] for m in world.mailbox.to("zhaosi@lkg.example.gov.cn"))
    assert subjects == ["【已受理】问题：用地指标未落实", "【待受理】问题：用地指标未落实"]

    # The escalation at 00:00 on 05-09 falls in the leader's quiet hours and goes out at once.
    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
    escalated = next(m for m in await inbox(world, org.leader_a) if m["matter_id"] == problem["id"])
    log = await world.client.get(
        f"/api/v1/notifications/messages/{escalated['id']}/log", headers=world.operator
    )
    assert [(e["step"], e["at"]) for e in log.json()["items"] if e["channel"] == "email"] == [
        ("queued", "2020-05-09T00:00:00+08:00"),
        ("sent", "2020-05-09T00:00:00+08:00"),
    ]


async def test_a_person_reads_only_their_own_inbox_and_operators_alone_manage_routing(world):
    org = world.org
    await report_and_assign(world)
    await world.settle()
    forbidden = await world.client.get("/api/v1/notifications/routing-rules", headers=street(world))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "operators_only"
    rules = await world.client.get(
        "/api/v1/notifications/routing-rules", params={"kind": "problem.escalated"}, headers=world.operator
    )
    assert [(r["audience"], r["layer"]) for r in rules.json()["items"]] == [
        ("line_leader", 2),
        ("line_service_department", 2),
        ("district_leaders", 3),
        ("major_projects_office", 3),
    ]
    client_only = world.auth(Role.CLIENT_SYSTEM, person="not-a-uuid")
    assert (await world.client.get("/api/v1/inbox/messages", headers=client_only)).status_code == 403
    # A rule's note or a webhook's secret with a NUL (PostgreSQL refuses it in text) is refused as bad input
    # and changes nothing (found by the fuzzing: it answered 500).
    for path, body in (
        (
            "/api/v1/notifications/routing-rules",
            {"kind": "approval.due_soon", "audience": "acceptor", "note": "\x00"},
        ),
        (
            "/api/v1/notifications/webhook-endpoints",
            {
                "name": "机器人",
                "format": "wecom",
                "url": "http://127.0.0.1:9/hook",
                "secret": "s" * 16 + "\x00",
            },
        ),
    ):
        refused = await world.client.post(path, json=body, headers=world.operator)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    after = await world.client.get(
        "/api/v1/notifications/routing-rules", params={"kind": "approval.due_soon"}, headers=world.operator
    )
    assert "acceptor" not in {r["audience"] for r in after.json()["items"]}
    assert kinds(await inbox(world, org.leader_b)) == []
