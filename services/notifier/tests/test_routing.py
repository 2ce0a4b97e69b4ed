"""The 2020 routing defaults and the templates (issue 14's table; policy §三(二), §五(一), §五(三))."""

from __future__ import annotations

import string
import uuid
from datetime import datetime

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.notifier.kinds import facts_of, known_kinds
from lkg.notifier.routing import DEFAULT_RULES, Audience
from lkg.notifier.templates import DEFAULT_TEMPLATES, deadline_words

START = datetime(2020, 5, 9, 0, tzinfo=TZ)


def audiences(kind: str, layer: int | None = None) -> set[tuple[str, int | None]]:
    return {
        (str(r.audience), r.layer)
        for r in DEFAULT_RULES
        if r.kind == kind and (layer is None or r.layer == layer)
    }


def test_the_2020_table() -> None:
    assert audiences("problem.reported") == {("acceptor", None)}
    assert audiences("problem.answered") == {("reporter", None), ("resolving_unit", None)}
    assert audiences("problem.closed") == {("reporter", None), ("resolving_unit", None)}
    assert audiences("meeting_matter.warned") == {("charged_unit", None), ("line_service_department", None)}
    assert audiences("problem.escalated", 2) == {("line_leader", 2), ("line_service_department", 2)}
    assert audiences("problem.escalated", 3) == {("district_leaders", 3), ("major_projects_office", 3)}
    assert audiences("red_card.issued") == {("carded_unit_head", None), ("carded_unit_line_leader", None)}
    assert audiences("approval.stalled") == {
        ("handling_department", None),
        ("responsible_unit", None),
        ("project_agent", None),
    }
    assert audiences("evaluation.published") == {("subject_head", None)}


def test_every_notified_kind_has_a_chinese_template_and_breaches_escalations_red_cards_are_urgent() -> None:
    assert known_kinds() == set(DEFAULT_TEMPLATES)
    urgent = {kind for kind, t in DEFAULT_TEMPLATES.items() if t.urgent}
    assert {
        "problem.breached",
        "problem.escalated",
        "meeting_matter.escalated",
        "red_card.issued",
        "evaluation.interview_listed",
    } <= urgent
    assert "problem.answered" not in urgent
    allowed = {
        "matter",
        "project",
        "layer",
        "deadline",
        "link",
        "unit",
        "clock",
        "outcome",
        "reason",
        "opinion",
        "summary",
        "cause",
        "grade",
        "period",
        "date",
        "count",
        "items",
        "breaches",
        "warnings",
        "rank",
    }
    for t in DEFAULT_TEMPLATES.values():
        for text in (t.title, t.body):
            names = {
                m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)
            } - {None}
            assert names <= allowed, (text, names)
    assert all(rule.audience in Audience for rule in DEFAULT_RULES)


def _escalated(layer: int, event_id: uuid.UUID, matter: uuid.UUID) -> c.ProblemEscalated:
    return c.ProblemEscalated(
        matter_id=matter,
        title="用地指标未落实",
        layer=layer,
        from_layer=layer - 1,
        cause="requested",
        project_id=uuid.uuid4(),
        project_name="项目",
        effective_at=START,
    )


def test_one_cause_per_matter_and_layer_whatever_the_event_id() -> None:
    matter = uuid.uuid4()
    first = facts_of(_escalated(2, uuid.uuid4(), matter), uuid.uuid4())
    again = facts_of(_escalated(2, uuid.uuid4(), matter), uuid.uuid4())
    higher = facts_of(_escalated(3, uuid.uuid4(), matter), uuid.uuid4())
    assert first.cause_key == again.cause_key == f"{matter}:L2"
    assert higher.cause_key == f"{matter}:L3"
    assert first.path == f"/matter/problems/{matter}"


def test_deadline_words_count_working_days_after_today() -> None:
    cal = WorkingCalendar()
    due = datetime(2020, 5, 14, tzinfo=TZ)  # the end of 05-13
    assert deadline_words(cal, due, START) == "2020-05-13（剩余 3 个工作日）"
    assert deadline_words(cal, due, datetime(2020, 5, 13, 10, tzinfo=TZ)) == "2020-05-13（今日到期）"
    assert deadline_words(cal, due, datetime(2020, 5, 14, 1, tzinfo=TZ)) == "2020-05-13（已超时）"
    assert deadline_words(cal, None, START) == "无"


def test_every_link_names_a_page_of_the_console() -> None:
    """A message's link opens a console page (``/#/<page>/…``): every page the notifier links to is one the
    console's router knows (web/js/main.js ``PAGES``), so a link in a mail never lands on a 404."""
    import re
    from pathlib import Path

    import lkg.notifier.cadence as cadence
    import lkg.notifier.kinds as kinds
    from lkg.notifier.kinds import console_link

    root = Path(__file__).resolve().parents[3]
    router = (root / "web" / "js" / "main.js").read_text(encoding="utf-8")
    pages = set(re.findall(r"^\s+([a-z]+): \(\) => import\(", router, flags=re.MULTILINE))
    assert {"matter", "cards", "project", "evaluations", "dispatch", "rounds", "desk", "inbox"} <= pages
    linked = set()
    for module in (kinds, cadence):
        text = Path(module.__file__ or "").read_text(encoding="utf-8")
        linked |= set(re.findall(r"""["']/([a-z]+)[/"'{]""", text))
    assert linked and linked <= pages, linked - pages
    assert console_link("https://lkg.example.gov.cn/", "/matter/problems/1") == (
        "https://lkg.example.gov.cn/#/matter/problems/1"
    )
