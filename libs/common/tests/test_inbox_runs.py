"""The order in which the inbox applies a batch's new events (``lkg.common.events.inbox.runs``): order
groups brought together between barriers, consecutive events sharing a many-handler in one call, and
every group's events and every barrier in their stream order. The effect on real tables is checked by
the scoring service's equivalence test (services/scoring/tests/test_batch_handlers.py)."""

from __future__ import annotations

from typing import Any

from lkg.common.events import contracts as c
from lkg.common.events.inbox import Subscription, runs


async def _one(session: Any, envelope: Any, event: Any) -> None:
    raise AssertionError("not called here")


async def _plans(session: Any, events: Any) -> None:
    raise AssertionError("not called here")


async def _money(session: Any, events: Any) -> None:
    raise AssertionError("not called here")


ACHIEVED = Subscription(c.MilestoneAchieved, _one, _plans, "plans")
MISSED = Subscription(c.MilestoneMissed, _one, _plans, "plans")
TERMINATED = Subscription(c.ProjectTerminated, _one, order_group="plans")
INVESTED = Subscription(c.InvestmentReported, _one, _money, "money")
ORG = Subscription(c.OrgChanged, _one)  # no group: a barrier
UNGROUPED = Subscription(c.InvestmentReported, _one, _money)  # a many-handler, no group


def _calls(todo: list[tuple[Subscription, str]]) -> list[tuple[str, list[str]]]:
    names = {id(s): n for n, s in globals().items() if isinstance(s, Subscription)}
    return [(names[id(sub)], items) for sub, items in runs(todo)]


def test_interleaved_groups_make_one_call_each():
    todo = [(ACHIEVED, "a1"), (INVESTED, "i1"), (MISSED, "m1"), (INVESTED, "i2"), (ACHIEVED, "a2")]
    assert _calls(todo) == [("ACHIEVED", ["a1", "m1", "a2"]), ("INVESTED", ["i1", "i2"])]


def test_a_barrier_stays_where_it_is_and_nothing_crosses_it():
    todo = [(ACHIEVED, "a1"), (INVESTED, "i1"), (ORG, "o1"), (ACHIEVED, "a2"), (INVESTED, "i2")]
    assert _calls(todo) == [
        ("ACHIEVED", ["a1"]),
        ("INVESTED", ["i1"]),
        ("ORG", ["o1"]),
        ("ACHIEVED", ["a2"]),
        ("INVESTED", ["i2"]),
    ]


def test_an_event_without_a_many_handler_is_a_call_of_its_own_and_splits_its_group_run():
    todo = [(ACHIEVED, "a1"), (INVESTED, "i1"), (TERMINATED, "t1"), (ACHIEVED, "a2"), (INVESTED, "i2")]
    assert _calls(todo) == [
        ("ACHIEVED", ["a1"]),
        ("TERMINATED", ["t1"]),
        ("ACHIEVED", ["a2"]),
        ("INVESTED", ["i1", "i2"]),
    ]


def test_without_groups_only_consecutive_events_share_a_call():
    todo = [(UNGROUPED, "u1"), (UNGROUPED, "u2"), (ORG, "o1"), (UNGROUPED, "u3")]
    assert _calls(todo) == [("UNGROUPED", ["u1", "u2"]), ("ORG", ["o1"]), ("UNGROUPED", ["u3"])]


def test_every_group_and_every_barrier_keeps_its_stream_order():
    subs = [ACHIEVED, MISSED, TERMINATED, INVESTED, ORG, UNGROUPED]
    todo = [(subs[(i * 7) % len(subs)], f"e{i}") for i in range(60)]
    flat = [item for _, items in runs(todo) for item in items]
    assert sorted(flat) == sorted(item for _, item in todo)
    position = {item: n for n, item in enumerate(flat)}
    for group in ("plans", "money"):
        mine = [item for sub, item in todo if sub.order_group == group]
        assert [position[i] for i in mine] == sorted(position[i] for i in mine)
    # Barriers keep their places relative to everything before and after them.
    for n, (sub, item) in enumerate(todo):
        if sub.order_group is None:
            assert all(position[other] < position[item] for _, other in todo[:n])
            assert all(position[other] > position[item] for _, other in todo[n + 1 :])
