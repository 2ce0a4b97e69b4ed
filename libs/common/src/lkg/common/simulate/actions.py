"""What the district's people do on one working day of a simulation, each as its own persona.

Each function takes the :class:`~lkg.common.simulate.run.Simulation`, the day's index ``n`` and its date,
and acts through :class:`~lkg.common.simulate.api.Api` only. Projects are visited in registration order,
items in code order, so a seed always gives the same calls.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lkg.common.simulate.api import Persona

if TYPE_CHECKING:
    from lkg.common.simulate.run import ProjectState, Simulation

#: Working days between the steps of an approval item (submitted → accepted → decided).
ACCEPT_AFTER, GRANT_AFTER, SUPPLEMENT_AFTER, RESUBMIT_AFTER = 1, 3, 2, 3
#: How many working days a problem's answer takes: within the 3 working days of §五(一), or after them.
ANSWER_IN_TIME, ANSWER_LATE, RESOLVE_AFTER = 2, 5, 8


async def _unit(sim: Simulation, unit_id: str) -> Persona | None:
    return await sim.api.unit_persona(sim.p["office"], unit_id)


async def _post(sim: Simulation, who: Persona, path: str, action: str, body: Any = None) -> Any:
    """POST with the row's current ``If-Match`` (read by the same persona), the answer's JSON or None."""
    row = await sim.api.client.get(path.rsplit("/", 1)[0], headers=who.headers)
    sim.api.calls += 1
    etag = row.headers.get("ETag") if row.status_code == 200 else None
    response = await sim.api.call(
        who, "POST", path, action=action, json=body, headers={"If-Match": etag} if etag else None
    )
    return None if response is None else response.json()


# ---- approvals (§三(一), §四(二)) ----------------------------------------------------------------------


async def approvals(sim: Simulation, n: int, day: date) -> None:
    """Each item is submitted once its prerequisites are granted (核准类: 规划选址 and 用地预审 first,
    §三(一)); 备案类 items have none, so they all go at once."""

    async def one(project: ProjectState) -> None:
        if n == 1:  # the plan arrives by event after registration: read it on the next working day
            await _plan(sim, project)
            _release(project, n, first=True)
        for item in project.items:
            for when, step in project.item_steps.get(item["id"], []):
                if when == n and await _approval_step(sim, project, item, step) and step == "grant":
                    project.granted.add(item["code"])
        _release(project, n)

    await sim.each(sim.projects, one)


async def _plan(sim: Simulation, project: ProjectState) -> None:
    items = await sim.api.get_all(sim.p["approval"], "/api/v1/approval-items", project_id=project.id)
    project.items = sorted(items, key=lambda i: i["code"])


def _release(project: ProjectState, n: int, *, first: bool = False) -> None:
    """Schedule each item whose prerequisites (those in the plan) are all granted: on the plan's first day
    spread over three days, else from the next working day."""
    codes = {i["code"] for i in project.items}
    for k, item in enumerate(project.items):
        if item["id"] in project.item_steps:
            continue
        if any(code in codes and code not in project.granted for code in item["prerequisites"]):
            continue
        fate = project.script.approval_fate[k % len(project.script.approval_fate)]
        submit = n + k % 3 if first else n + 1 + k % 2
        steps = [(submit, "submit"), (submit + ACCEPT_AFTER, "accept")]
        if fate == "on_time":
            steps.append((submit + ACCEPT_AFTER + GRANT_AFTER, "grant"))
        elif fate == "supplement":
            ask = submit + ACCEPT_AFTER + SUPPLEMENT_AFTER
            steps += [
                (ask, "supplement"),
                (ask + RESUBMIT_AFTER, "resubmit"),
                (ask + RESUBMIT_AFTER + 2, "grant"),
            ]
        # "stall": accepted, then never decided; the department's clock runs out (and what needs the item
        # waits: a stalled 规划选址 holds up a 核准类 project's 核准批复, 用地规划许可证 and 环评).
        project.item_steps[item["id"]] = steps


async def _approval_step(sim: Simulation, project: ProjectState, item: dict[str, Any], step: str) -> bool:
    """True when the deployment took the step."""
    path = f"/api/v1/approval-items/{item['id']}"
    applicant = await _unit(sim, project.unit_id)
    department = await _unit(sim, item["handling_unit_id"])
    who = applicant if step in ("submit", "resubmit") else department
    if who is None:
        sim.api.refused[f"approval {step}: nobody holds a post in the unit"] += 1
        return False
    verb = {
        "submit": "submissions",
        "accept": "acceptances",
        "supplement": "supplement-requests",
        "resubmit": "resubmissions",
        "grant": "grants",
    }[step]
    note = {"supplement": "请补正环评报告的公众参与说明。"}.get(step)
    done = await _post(sim, who, f"{path}/{verb}", f"approval {step}", {"note": note} if note else None)
    return done is not None


# ---- problems (§五(一)): answered in time, late, never -----------------------------------------------


async def problems(sim: Simulation, n: int, day: date) -> None:
    reporting = [(p, p.script.problem_days[n]) for p in sim.projects if n in p.script.problem_days]
    await sim.each(reporting, lambda pair: _report(sim, pair[0], pair[1], n))
    steps = sim.pending.pop(n, [])  # in the order they were scheduled
    await sim.each(steps, lambda s: _problem_step(sim, *s))


async def _report(sim: Simulation, project: ProjectState, behaviour: str, n: int) -> None:
    unit = await _unit(sim, project.unit_id)
    line = sim.lines.get(project.line_id or "")
    service = await _unit(sim, line["service_unit_id"]) if line else None
    if unit is None or service is None:
        sim.api.refused["report problem: no unit or no line"] += 1
        return
    created = await sim.api.call(
        unit,
        "POST",
        "/api/v1/problems",
        action="report problem",
        json={
            "project_id": project.id,
            "title": "用地指标未落实",
            "topic": "土地",
            "description": "项目用地指标尚未落实，影响开工。",
        },
        headers={"Idempotency-Key": sim.api.idempotency_key("problem")},
    )
    if created is None:
        return
    problem_id = created.json()["id"]
    # The line's service department accepts it at once and takes it on as the resolving unit.
    accepted = await _post(
        sim,
        service,
        f"/api/v1/problems/{problem_id}/acceptance",
        "accept problem",
        {"resolving_unit_id": line["service_unit_id"] if line else None},
    )
    if accepted is None or behaviour == "never":
        return
    answer_on = n + (ANSWER_IN_TIME if behaviour == "in_time" else ANSWER_LATE)
    sim.pending.setdefault(answer_on, []).append((project, problem_id, "answer"))
    sim.pending.setdefault(answer_on + RESOLVE_AFTER, []).append((project, problem_id, "resolve"))


async def _problem_step(sim: Simulation, project: ProjectState, problem_id: str, step: str) -> None:
    line = sim.lines.get(project.line_id or "")
    service = await _unit(sim, line["service_unit_id"]) if line else None
    if service is None:
        return
    path = f"/api/v1/problems/{problem_id}"
    if step == "answer":
        await _post(
            sim, service, f"{path}/answers", "answer problem", {"opinion": "已协调自然资源部门落实用地指标。"}
        )
    else:
        resolved = await _post(
            sim, service, f"{path}/resolution", "resolve problem", {"summary": "用地指标已落实。"}
        )
        if resolved is not None:  # 重大项目办 closes it (销号)
            await _post(sim, sim.p["office"], f"{path}/closure", "close problem", {"note": "经核实已办结。"})


# ---- milestones and monthly investment ------------------------------------------------------------------


async def milestones(sim: Simulation, n: int, day: date) -> None:
    """A project's planned construction start is recorded on its day, or some working days late."""

    async def one(project: ProjectState) -> None:
        unit = await _unit(sim, project.unit_id)
        if unit is None:
            return
        await sim.api.call(
            unit,
            "POST",
            f"/api/v1/projects/{project.id}/milestones/{project.milestone_id}/achievements",
            action="record milestone",
            json={"actual_date": day.isoformat()},
        )

    due = [
        p
        for p in sim.projects
        if p.milestone_id is not None and n == p.script.start_offset + p.script.start_late_by
    ]
    await sim.each(due, one)


async def investment(sim: Simulation, n: int, day: date) -> None:
    """On the month's 3rd working day each unit reports last month's investment of its projects."""
    in_month = [d for d in sim.days if (d.year, d.month) == (day.year, day.month)]
    if day != in_month[min(2, len(in_month) - 1)] or n == 0:
        return
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)

    async def one(project: ProjectState) -> None:
        unit = await _unit(sim, project.unit_id)
        if unit is None:
            return
        share = Decimal("0.3") if project.script.shortfall else Decimal("1.1")
        amount = (project.script.annual / 12 * share).quantize(Decimal("0.01"))
        await sim.api.call(
            unit,
            "POST",
            f"/api/v1/projects/{project.id}/investment-reports",
            action="report investment",
            json={
                "year": year,
                "month": month,
                "amount": str(amount),
                "reported_by_unit_id": project.unit_id,
            },
            headers={"Idempotency-Key": sim.api.idempotency_key("investment")},
        )

    await sim.each(sim.projects, one)


# ---- meetings, a handover, the month's end -------------------------------------------------


async def meetings(sim: Simulation, n: int, day: date) -> None:
    """On the month's 5th working day each line's meeting decides matters with a 10-working-day deadline;
    the resolving unit (the project's unit) signs for it and answers, or lets it run past its deadline."""
    in_month = [d for d in sim.days if (d.year, d.month) == (day.year, day.month)]
    if len(in_month) < 5 or day != in_month[4]:
        return
    deadline = sim.calendar.add_working_days(day, 10)
    for k in range(sim.options.mix.meeting_matters_per_month):
        for line_id in sorted(sim.lines):
            on_line = [p for p in sim.projects if p.line_id == line_id]
            if not on_line:
                continue
            project = on_line[(day.month + k) % len(on_line)]
            created = await sim.api.call(
                sim.p["office"],
                "POST",
                "/api/v1/meeting-matters",
                action="decide matter",
                json={
                    "title": "协调解决项目施工用电接入",
                    "topic": "水电",
                    "description": "会议议定：供电部门十个工作日内完成接入方案。",
                    "meeting_title": f"{sim.lines[line_id]['name']}{day.month}月项目推进会",
                    "meeting_date": day.isoformat(),
                    "deciding_layer": 2,
                    "resolving_unit_id": project.unit_id,
                    "resolving_unit_name": project.unit_name,
                    "deadline_on": deadline.isoformat(),
                    "project_id": project.id,
                    "line_id": line_id,
                },
                headers={"Idempotency-Key": sim.api.idempotency_key("matter")},
            )
            if created is None or project.script.index % 2:  # every other matter is left to run late
                continue
            unit = await _unit(sim, project.unit_id)
            if unit is not None:
                path = f"/api/v1/meeting-matters/{created.json()['id']}"
                await _post(sim, unit, f"{path}/acceptance", "accept matter", {"note": "已签收。"})
                await _post(sim, unit, f"{path}/answers", "answer matter", {"opinion": "已与供电公司对接。"})


async def handover(sim: Simulation, n: int, day: date) -> None:
    """Halfway through the run, line 2's leader post passes to a successor (换届): open matters follow."""
    if sim.handed_over or n != len(sim.days) // 2:
        return
    sim.handed_over = True
    line = next((v for v in sim.lines.values() if v["number"] == 2), None)
    if line is None:
        return
    await sim.api.call(
        sim.p["office"],
        "POST",
        f"/api/v1/org/posts/{line['leader_post_id']}/handovers",
        action="hand over",
        json={
            "on": day.isoformat(),
            "reason": "换届调整（模拟）",
            "successor_name": "【模拟】第二线继任领导",
        },
    )


async def month_end(sim: Simulation, n: int, day: date) -> None:
    """Each working day: 督查室 confirms the red cards the month-end round proposed, and the assessor
    confirms the evaluations the rules proposed (§五(三), §六)."""
    cards = await sim.api.get_all(sim.p["supervision"], "/api/v1/red-cards", state="proposed")
    for card in sorted(cards, key=lambda c: (c["target_unit_name"], c["reason"], c["id"])):
        await _post(sim, sim.p["supervision"], f"/api/v1/red-cards/{card['id']}/confirmation", "confirm card")
    for found in await sim.api.get_all(sim.p["supervision"], "/api/v1/supervision-rounds"):
        if found["report_issued_at"] is None and not cards and found["period_end"] < day.isoformat():
            await sim.api.call(
                sim.p["supervision"],
                "POST",
                f"/api/v1/supervision-rounds/{found['id']}/report",
                action="issue supervision report",
            )
    periods = await sim.api.get_all(sim.p["assessor"], "/api/v1/evaluations/periods", state="proposed")
    first = sim.options.start.isoformat()
    for period in sorted(periods, key=lambda p: (p["start"], p["kind"])):
        if not first <= period["end"] < day.isoformat():  # the run's own periods, once they are over
            continue
        # Monthly by 重大项目办, quarterly by a top leader (§六(二)).
        who = sim.p["office"] if period["kind"] == "month" else sim.p["leader"]
        path = f"/api/v1/evaluations/periods/{period['id']}"
        detail = await sim.api.get(who, path)
        body: dict[str, Any] = {"grade_changes": [], "note": "确认（模拟）"}
        tie = detail.get("tie")
        if tie and not tie["decided"]:  # a tie across third place: the first candidates get the cards
            body |= {
                "tie_carded": sorted(tie["candidates"])[: tie["places"]],
                "tie_reason": "并列按单位编号选定（模拟）",
            }
        await _post(sim, who, f"{path}/confirmation", "confirm evaluation", body)
