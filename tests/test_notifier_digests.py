"""Digests and reminders on the official calendar (issue 14): a person who asked for a digest gets one
morning message instead of one mail each, on the first working day after Labour Day; the line leader gets
the line's warnings and breaches each working morning; the approval bureau's Friday reminder goes out on
the Friday (with nobody in 行政审批局 it is listed as undeliverable, never dropped).
"""

from __future__ import annotations

from datetime import datetime

import pytest_asyncio
from issues_world import report_and_assign
from notifier_world import inbox, notifier_world, set_contact

from lkg.common.clock import TZ


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix) as system:
        yield system


async def test_a_digest_instead_of_one_mail_each_and_the_line_leaders_morning_digest(world):
    org = world.org
    await set_contact(
        world,
        org.dept_staff,
        email="zhaosi@lkg.example.gov.cn",
        preferences=[{"kind": "*", "channels": ["email"], "digest": True}],
    )
    problem = await report_and_assign(world)
    await world.settle()
    assert world.mailbox.to("zhaosi@lkg.example.gov.cn") == []

    # 05-01 .. 05-05 are days off: the first morning digest is 08:30 on Wednesday 05-06.
    await world.move_clock(set=datetime(2020, 5, 6, 8, 29, tzinfo=TZ))
    assert world.mailbox.to("zhaosi@lkg.example.gov.cn") == []
    await world.move_clock(set=datetime(2020, 5, 6, 9, 0, tzinfo=TZ))
    digests = [m for m in await inbox(world, org.dept_staff) if m["kind"] == "digest.daily"]
    assert [m["title"] for m in digests] == ["【每日汇总】2020-05-06 共 2 条"]
    assert digests[0]["body"].splitlines()[:2] == [
        "· 【待受理】问题：用地指标未落实",
        "· 【已受理】问题：用地指标未落实",
    ]
    assert [m["Subject"] for m in world.mailbox.to("zhaosi@lkg.example.gov.cn")] == [
        "【每日汇总】2020-05-06 共 2 条"
    ]

    # The reply clock (due 05-09 00:00) warns at 05-07 00:00 and breaches at 05-09 00:00 (a make-up
    # Saturday). Moved a day at a time, each is in the digest of the morning after it happened, as on the real
    # clock: the issues service's scan publishes it in the same move, and the digest waits for the move's
    # quiet round (docs/time.md) instead of racing that scan.
    for day in (7, 8, 9, 11):
        await world.move_clock(set=datetime(2020, 5, day, 9, 0, tzinfo=TZ))
    line = {m["title"]: m["body"] for m in await inbox(world, org.leader_a) if m["kind"] == "digest.line"}
    link = "\n查看：https://lkg.example.gov.cn/#/inbox"
    assert line == {
        "【包保线日报】2020-05-07 超时 0 件、临期 1 件": "· 临期：用地指标未落实（区科经局）" + link,
        "【包保线日报】2020-05-09 超时 1 件、临期 0 件": "· 超时：用地指标未落实（区科经局）" + link,
    }
    assert problem["id"]

    # Friday 05-08 is a working day: the approval bureau's reminder was made at 09:00; the test directory
    # has nobody in 区行政审批局.
    listed = await world.client.get("/api/v1/notifications/undeliverable", headers=world.operator)
    reminders = [
        (u["cause_key"], u["audience"], u["reason"])
        for u in listed.json()["items"]
        if u["kind"] == "reminder.approval_report"
    ]
    assert reminders == [("2020-05-08", "approval_bureau", "区行政审批局无在岗人员")]
