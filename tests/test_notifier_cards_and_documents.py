"""Red cards and published documents over HTTP (issue 14; policy §五(二), §五(三)): a referral waits for
the line leader's consent and tells that leader; a proposal with nobody in 督查室 is recorded as
undeliverable for operators, never dropped; a bulletin reaches exactly its audience, and one with no
audience reaches nobody.

The events arrive as the issues and scoring services would publish them (staged into the bus by the test).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest_asyncio
from issues_world import project_event, publish
from notifier_world import inbox, notifier_world

from lkg.common.clock import TZ
from lkg.common.events import contracts as c

AT = datetime(2020, 5, 1, 9, tzinfo=TZ)
MAY = c.Period(kind="month", start=date(2020, 5, 1), end=date(2020, 5, 31))


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with notifier_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def _card(world, cls, **extra):
    return cls(
        red_card_id=uuid.uuid4(),
        target=c.RedCardTarget(unit_id=world.org.street, unit_name="金银湖街道", kind="responsible_unit"),
        source="supervision",
        reason="no_real_progress",
        period=MAY,
        project_id=world.project.id,
        supervision_round_id=uuid.uuid4(),
        evidence=(c.EvidenceRef(kind="project", id=world.project.id, note="计划5月开工，至月底未开工"),),
        effective_at=AT,
        **extra,
    )


async def test_a_referral_tells_the_line_leader_whose_consent_it_awaits(world):
    card = _card(
        world, c.RedCardReferralRequested, line_id=world.org.line, leader_post_id=world.org.leader_post
    )
    await publish(world, card)
    told = await inbox(world, world.org.leader_a)
    assert [(m["kind"], m["title"], m["urgent"]) for m in told] == [
        ("red_card.referral_requested", "【待同意】金银湖街道 红牌移交纪委监委", True)
    ]
    assert told[0]["link"] == f"https://lkg.example.gov.cn/#/cards/{card.red_card_id}"


async def test_the_discipline_commissions_outcome_reaches_the_line_leader_and_the_office(world):
    card = _card(
        world,
        c.RedCardReferralConcluded,
        outcome=c.ReferralOutcome.ACCOUNTABILITY_TAKEN,
        note="对街道分管负责同志诫勉谈话",
        decided_on=date(2020, 6, 15),
        line_id=world.org.line,
    )
    await publish(world, card)
    await publish(world, card)  # redelivered: still one message each
    for person in (world.org.leader_a, world.org.office_staff):
        told = await inbox(world, person)
        assert [(m["kind"], m["title"]) for m in told] == [
            ("red_card.referral_concluded", "【问责结果】金银湖街道 红牌移交纪委监委")
        ], person
        assert "予以问责" in told[0]["body"] and "诫勉谈话" in told[0]["body"]


async def test_a_stalled_approval_tells_the_projects_agent_and_a_project_without_one_tells_no_agent(world):
    """代办员 (§四(三)): the registry's snapshot names the project's agent; approvals' stall tells them."""
    agent = world.org.dept_staff  # a directory person standing in for the approval agents' team
    with_agent = project_event(world.org, name="临空港代办项目", agent_id=agent)
    without = project_event(world.org, name="临空港自办项目")
    await publish(world, with_agent, without)
    for project in (with_agent.project, without.project):
        await publish(
            world,
            c.ApprovalStalled(
                approval_item_id=uuid.uuid4(),
                catalogue_item_id=uuid.uuid4(),
                item_name="施工许可证",
                project_id=project.id,
                project_name=project.name,
                handling_unit_id=world.org.office,
                handling_unit_name="区行政审批局",
                due_at=AT,
                days_over=1,
                effective_at=AT,
            ),
        )
    told = [m for m in await inbox(world, agent) if m["kind"] == "approval.stalled"]
    assert [m["title"].count("施工许可证") for m in told] == [1]
    assert "临空港代办项目" in told[0]["body"]
    undeliverable = await world.client.get("/api/v1/notifications/undeliverable", headers=world.operator)
    assert not [u for u in undeliverable.json()["items"] if u["audience"] == "project_agent"]


async def test_the_statistics_reminders_reach_the_contact_and_a_missed_list_reaches_the_office(world):
    """§三(四)二: a contact's visits not done this month remind the contact (named by the event); the list
    of last month's projects that failed enrolment, missed on the 28th, is shown to 重大项目办 (统计局 has
    nobody in this directory, so that audience is listed as undeliverable, not dropped)."""
    due = datetime(2020, 5, 28, 17, tzinfo=TZ)
    visits = c.StatisticsVisitDueSoon(
        duty_id=uuid.uuid4(),
        year=2020,
        month=5,
        due_at=due,
        unit_id=world.org.service_dept,
        unit_name="区科经局",
        person_id=world.org.dept_staff,
        project_ids=(world.project.id,),
        effective_at=AT,
    )
    missed_list = c.EnrolmentListMissed(
        duty_id=uuid.uuid4(),
        year=2020,
        month=5,
        due_at=due,
        unit_id=uuid.uuid4(),
        unit_name="区统计局",
        reported_year=2020,
        reported_month=4,
        effective_at=AT,
    )
    await publish(world, visits, missed_list)
    told = await inbox(world, world.org.dept_staff)
    assert [(m["kind"], m["title"]) for m in told] == [
        ("statistics_visit.due_soon", "【提醒】2020年5月统计上门服务尚未完成")
    ]
    assert "1个项目" in told[0]["body"]
    office = await inbox(world, world.org.office_staff)
    assert [(m["kind"], m["title"], m["urgent"]) for m in office] == [
        ("enrolment_list.missed", "【逾期】区统计局未按时报送2020年4月未入库项目清单", True)
    ]
    undeliverable = await world.client.get("/api/v1/notifications/undeliverable", headers=world.operator)
    assert [
        (u["kind"], u["audience"])
        for u in undeliverable.json()["items"]
        if u["kind"].startswith("enrolment_list")
    ] == [("enrolment_list.missed", "statistics_bureau")]


async def test_a_missed_round_of_integrity_reviews_is_shown_to_the_office(world):
    """回头看 (§四(四)): a round that ended with projects not reviewed is told to 重大项目办 (督查室 too),
    once however often the event is redelivered."""
    missed = c.IntegrityRoundMissed(
        round_id=uuid.uuid4(),
        starts_on=date(2020, 1, 1),
        due_on=date(2020, 6, 30),
        due_at=datetime(2020, 7, 1, tzinfo=TZ),
        unit_id=world.org.supervision,
        unit_name="区政府督查室",
        project_ids=(world.project.id,),
        effective_at=AT,
    )
    await publish(world, missed, missed)
    office = await inbox(world, world.org.office_staff)
    assert [(m["kind"], m["title"], m["urgent"]) for m in office] == [
        ("integrity_round.missed", "【未完成】2020-01-01至2020-06-30诚信履约回头看", True)
    ]
    assert "1个项目未核查" in office[0]["body"] and "区政府督查室" in office[0]["body"]


async def test_a_proposal_nobody_can_receive_is_listed_for_operators(world):
    card = _card(world, c.RedCardProposed)
    await publish(world, card)
    listed = await world.client.get("/api/v1/notifications/undeliverable", headers=world.operator)
    assert [(u["kind"], u["audience"], u["reason"]) for u in listed.json()["items"]] == [
        ("red_card.proposed", "supervision_office", "区政府督查室无在岗人员")
    ]


async def test_a_bulletin_reaches_exactly_its_audience(world):
    org = world.org
    audience = c.Audience(line_ids=(org.line,), unit_roles=(c.UnitRole.MAJOR_PROJECTS_OFFICE,))
    bulletin = c.ReportPublished(
        report_id=uuid.uuid4(),
        kind="weekly_bulletin",
        period=c.Period(kind="week", start=date(2020, 4, 27), end=date(2020, 5, 1)),
        title="要情专报（2020年第1期）",
        path="/api/v1/reports/1",
        audience=audience,
        effective_at=AT,
    )
    unaddressed = bulletin.model_copy(update={"report_id": uuid.uuid4(), "audience": c.Audience()})
    await publish(world, bulletin, unaddressed)
    for person in (org.leader_a, org.office_staff):
        assert [m["title"] for m in await inbox(world, person)] == ["【通报】要情专报（2020年第1期）"]
    for person in (org.leader_b, org.street_staff, org.dept_staff, org.district_head):
        assert await inbox(world, person) == []
    listed = await world.client.get("/api/v1/notifications/undeliverable", headers=world.operator)
    assert listed.json()["items"] == []
