"""lkg.approvals.planning: the earliest possible start and the critical chain, from the shipped catalogue
(policy §三(一): 核准类 in two waves, 备案类 all in parallel; §四(二): 批前提速), on China's official 2020
calendar (端午 25–27 June off, Sunday 28 June worked; National Day 1–8 October off, Sunday 27 September and
Saturday 10 October worked)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from lkg.approvals.catalogue.document import default_catalogue
from lkg.approvals.planning import PlanNode, assessment_saving, outlook, time_saved, verdict
from lkg.common.calendar import Pause, WorkingCalendar
from lkg.common.clock import TZ

CAL = WorkingCalendar()
JUNE_1 = date(2020, 6, 1)


#: The critical chain of a 核准类 plan: 规划选址 → 用地规划 → 工程规划 → 施工图审查 → 施工许可证.
RATIFICATION_CHAIN = (
    "site_selection",
    "land_use_planning_permit",
    "construction_planning_permit",
    "drawing_review",
    "construction_permit",
)


def plan(approval_type: str, **states: dict) -> list[PlanNode]:
    """The catalogue's items for one approval type, all planned unless ``states`` says otherwise."""
    catalogue = default_catalogue()
    nodes = []
    for entry in catalogue.items:
        if approval_type not in entry.applies_to:
            continue
        node = PlanNode(
            code=entry.code,
            name=entry.name,
            state="planned",
            mode="standard",
            limit_days=entry.limit.days,
            limit_unit=entry.limit.unit.value,
            prerequisites=tuple(entry.prerequisites.get(approval_type, [])),
            start_gate=entry.start_gate,
            prereviewed_days=catalogue.defaults.prereviewed_days,
        )
        nodes.append(replace(node, **states.get(entry.code, {})))
    return nodes


def dates(result, *codes: str) -> dict[str, tuple[date, date]]:
    return {code: (result.expected[code].start, result.expected[code].finish) for code in codes}


def test_ratification_runs_site_selection_and_land_pre_review_first_then_the_rest_in_parallel():
    result = outlook(CAL, plan("ratification"), JUNE_1)
    # Wave one: 20 working days from 06-01 (端午 off, Sunday 06-28 worked) → 06-30.
    assert dates(result, "site_selection", "land_pre_review") == {
        "site_selection": (JUNE_1, date(2020, 6, 30)),
        "land_pre_review": (JUNE_1, date(2020, 6, 30)),
    }
    # Wave two, in parallel from 06-30: 规划, 用地 (用地规划许可证), 环评 (30 calendar days), 节能, and 核准.
    wave_two = [
        "land_use_planning_permit",
        "environmental_assessment",
        "energy_review",
        "ratification_approval",
    ]
    assert {code: result.expected[code].start for code in wave_two} == dict.fromkeys(
        wave_two, date(2020, 6, 30)
    )
    assert result.expected["environmental_assessment"].finish == date(2020, 7, 30)
    assert result.expected["energy_review"].finish == date(2020, 7, 28)
    # Then 工程规划 → 施工图审查 → 施工许可证 (7 working days, Sunday 09-27 worked).
    assert result.chain == RATIFICATION_CHAIN
    assert result.earliest_start == date(2020, 9, 30)


def test_filing_runs_every_item_in_parallel_and_the_gate_waits_for_the_slowest():
    result = outlook(CAL, plan("filing"), JUNE_1)
    gate = "construction_permit"
    assert {code for code, e in result.expected.items() if e.start != JUNE_1} == {gate}
    # The slowest is 环评: 30 calendar days → Wednesday 07-01; the gate 7 working days later.
    assert result.expected[gate].start == date(2020, 7, 1)
    assert result.chain == ("environmental_assessment", gate)
    assert result.earliest_start == date(2020, 7, 10)


def test_granted_items_are_done_and_running_items_finish_on_their_due_date():
    accepted = datetime(2020, 6, 1, 10, tzinfo=TZ)
    nodes = plan(
        "filing",
        environmental_assessment={"state": "granted", "decided_on": date(2020, 6, 5)},
        safety_assessment={"state": "accepted", "clock_started_at": accepted, "due_on": date(2020, 6, 29)},
    )
    result = outlook(CAL, nodes, date(2020, 6, 10))
    assert result.expected["environmental_assessment"].done
    # Everything not started takes its limit from today (06-10): 20 working days → 07-09.
    assert dates(result, "safety_assessment", "energy_review") == {
        "safety_assessment": (JUNE_1, date(2020, 6, 29)),
        "energy_review": (date(2020, 6, 10), date(2020, 7, 9)),
    }
    assert result.chain == (
        "land_use_planning_permit",
        "construction_permit",
    )  # of those done 07-09, the later code
    # A stalled item (its due date passed) can at best be decided today.
    late = outlook(CAL, nodes, date(2020, 7, 20))
    assert late.expected["safety_assessment"].finish == date(2020, 7, 20)


def test_a_paused_item_is_assumed_to_resume_today():
    accepted = datetime(2020, 6, 1, 10, tzinfo=TZ)
    paused = Pause(datetime(2020, 6, 5, 15, tzinfo=TZ), None)
    nodes = plan(
        "filing",
        survey_review={
            "state": "supplement_requested",
            "limit_days": 20,
            "clock_started_at": accepted,
            "clock_pauses": (paused,),
        },
    )
    result = outlook(CAL, nodes, date(2020, 6, 15))
    # Counted 06-02..06-05 (the pause's first day counts), then from 06-16 on: 16 more working days with
    # 端午 off and Sunday 06-28 worked → 07-08.
    assert dates(result, "survey_review") == {"survey_review": (JUNE_1, date(2020, 7, 8))}


def test_build_first_blocks_nothing_and_commitment_finishes_on_acceptance():
    nodes = plan(
        "ratification",
        survey_review={"mode": "build_first"},
        land_use_planning_permit={"mode": "commitment"},
    )
    result = outlook(CAL, nodes, JUNE_1)
    # 承诺审批: granted on the applicant's commitment once its prerequisites are done.
    assert dates(result, "land_use_planning_permit") == {
        "land_use_planning_permit": (date(2020, 6, 30), date(2020, 6, 30))
    }
    # 工程规划 follows at once; 勘察审查 (先建后验) no longer holds up 施工图审查 or the gate.
    assert result.expected["construction_planning_permit"].start == date(2020, 6, 30)
    assert "survey_review" not in result.chain
    assert result.chain == RATIFICATION_CHAIN
    assert result.earliest_start == date(2020, 9, 3)


def test_fast_track_shows_pre_review_and_the_time_it_saves():
    prereview = {"prereview_to": date(2020, 6, 8)}  # 5 working days of pre-review from 06-01
    nodes = plan("filing", **{code: prereview for code in [e.code for e in default_catalogue().items]})
    fast = outlook(CAL, nodes, JUNE_1, fast_track=True)
    # Every item starts its 3 formal working days when its pre-review ends; the gate 3 more after them.
    assert {e.start for code, e in fast.expected.items() if code != "construction_permit"} == {
        date(2020, 6, 8)
    }
    assert fast.expected["filing_certificate"].finish == date(2020, 6, 11)
    assert fast.earliest_start == date(2020, 6, 16)
    # Normally 07-10 (30 calendar days of 环评, then 7 working days): 24 calendar days saved.
    assert outlook(CAL, nodes, JUNE_1).earliest_start == date(2020, 7, 10)
    assert time_saved(CAL, nodes, JUNE_1) == 24


def test_the_verdict_flips_on_the_first_day_the_planned_start_can_no_longer_be_met():
    nodes = plan("filing")
    assert verdict(CAL, nodes, JUNE_1, date(2020, 7, 9)).at_risk  # earliest is 07-10
    safe = verdict(CAL, nodes, JUNE_1, date(2020, 7, 10))
    assert (safe.at_risk, safe.flips_on) == (False, date(2020, 6, 2))
    # With slack, nothing applied for: every day lost moves the earliest start; it passes 07-20 from 06-10.
    roomy = verdict(CAL, nodes, JUNE_1, date(2020, 7, 20))
    assert (roomy.at_risk, roomy.flips_on) == (False, date(2020, 6, 10))
    assert outlook(CAL, nodes, date(2020, 6, 9)).earliest_start == date(2020, 7, 20)
    assert outlook(CAL, nodes, date(2020, 6, 10)).earliest_start == date(2020, 7, 21)
    # No planned start or no gate: never at risk.
    assert verdict(CAL, nodes, JUNE_1, None).at_risk is False
    no_gate = [replace(n, start_gate=False) for n in nodes]
    assert outlook(CAL, no_gate, JUNE_1).earliest_start is None


def test_a_cycle_of_prerequisites_is_refused():
    nodes = plan("filing", filing_certificate={"prerequisites": ("construction_permit",)})
    with pytest.raises(ValueError, match="cycle"):
        outlook(CAL, nodes, JUNE_1)


def test_a_waived_item_is_done_and_a_shortened_one_counts_its_shorter_limit():
    """区域评估 (§四(一)): on a 核准类 plan, 规划选址 waived on 06-01 is done, and 用地预审 shortened by 10
    working days finishes 10 working days sooner, so 用地规划 (which waited for both) starts then; the
    saving is the earliest start without them less the one with them."""
    full = outlook(CAL, plan("ratification"), JUNE_1)
    assessed = plan(
        "ratification",
        site_selection={"state": "waived", "decided_on": JUNE_1},
        land_pre_review={"limit_days": 10, "limit_saved_days": 10},
    )
    result = outlook(CAL, assessed, JUNE_1)
    assert result.expected["site_selection"].done
    assert result.expected["land_pre_review"].finish == CAL.add_working_days(JUNE_1, 10)
    assert result.expected["land_use_planning_permit"].start == CAL.add_working_days(JUNE_1, 10)
    assert result.chain[0] == "land_pre_review"
    saved = (full.earliest_start - result.earliest_start).days
    assert saved > 0 and assessment_saving(CAL, assessed, JUNE_1) == saved
    assert assessment_saving(CAL, plan("ratification"), JUNE_1) == 0
