"""The end of a run: what the deployment says happened, read back over its API.

``figures`` holds only what the same seed reproduces (counts, names, grades, periods), so two runs can be
compared; ``downloads`` names where each bulletin can be fetched (its ids differ between deployments).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lkg.common.simulate.api import Api, Persona


@dataclass
class Summary:
    figures: dict[str, Any] = field(default_factory=dict)
    downloads: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {"figures": self.figures, "downloads": self.downloads},
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        )

    def render(self, console: Console) -> None:
        f = self.figures
        console.print(
            f"[bold]模拟结束 Simulation summary[/]: {f['days']} working days, {f['projects']} projects, "
            f"{self.calls} API calls"
        )
        table = Table(
            "layer 层级", "problems 问题", "meeting matters 会议议定事项", title="matters by layer reached"
        )
        for layer in ("1", "2", "3"):
            table.add_row(
                layer, str(f["problems_by_layer"].get(layer, 0)), str(f["matters_by_layer"].get(layer, 0))
            )
        console.print(table)
        cards = Table("unit 单位", "source 来源", "state 状态", "cards 红牌", title="red cards 红牌")
        for key, count in f["red_cards"].items():
            cards.add_row(*key.split(" | "), str(count))
        console.print(cards)
        grades = Table("period 周期", "grades 等级", title="grades by month and quarter 月考核、季考评")
        for label, counts in f["grades"].items():
            grades.add_row(label, ", ".join(f"{g}: {c}" for g, c in counts.items()))
        console.print(grades)
        sent = Table("channel 渠道", "messages 消息", title="messages to the run's personas, per channel")
        for channel, count in f["messages_by_channel"].items():
            sent.add_row(channel, str(count))
        console.print(sent)
        links = Table("bulletin 通报", "download 下载", title="bulletins produced")
        for d in self.downloads:
            links.add_row(d["title"], d["href"])
        console.print(links)
        if f["refused"]:
            console.print("refused actions (code: count):", f["refused"])


async def collect(
    api: Api,
    p: dict[str, Persona],
    project_ids: list[str],
    days: list[date],
    *,
    channels: bool = True,
) -> Summary:
    """The figures; ``channels=False`` leaves out the messages per channel (one request per message:
    bench/system.py, whose 2,450 projects send tens of thousands)."""
    office = p["office"]
    ours = set(project_ids)
    problems = [
        x for x in await api.get_all(office, "/api/v1/problems", limit=200) if x["project_id"] in ours
    ]
    matters = [
        x
        for x in await api.get_all(office, "/api/v1/meeting-matters", limit=200)
        if x.get("project_id") in ours
    ]
    first = days[0].isoformat()
    cards = [  # the cards of the run's own periods
        c
        for c in await api.get_all(p["supervision"], "/api/v1/red-cards", limit=200)
        if c["period_end"] is None or c["period_end"] >= first
    ]
    card_counts = Counter(f"{c['target_unit_name']} | {c['source']} | {c['state']}" for c in cards)
    grades: dict[str, dict[str, int]] = {}
    last = days[-1].isoformat()
    periods = await api.get_all(p["assessor"], "/api/v1/evaluations/periods")
    for period in sorted(periods, key=lambda x: (x["start"], x["kind"])):
        if period["end"] < first or period["start"] > last:  # the run's own months and quarters
            continue
        detail = await api.get(p["assessor"], f"/api/v1/evaluations/periods/{period['id']}")
        counts = Counter(s["grade"] for s in detail.get("sheets", []))
        grades[f"{period['kind']} {period['label']} ({period['state']})"] = dict(sorted(counts.items()))
    downloads = []
    reports = await api.get_all(office, "/api/v1/reports")
    reports = [r for r in reports if r["as_of"][:10] >= first]
    for report in sorted(reports, key=lambda r: (r["kind"], json.dumps(r["period"], sort_keys=True))):
        downloads.append({"title": f"{report['title']} ({report['kind']})", "href": report["docx_path"]})
        downloads.append({"title": f"{report['title']} (xlsx)", "href": report["xlsx_path"]})
    for found in sorted(
        await api.get_all(p["supervision"], "/api/v1/supervision-rounds"),
        key=lambda r: (r["year"], r["month"]),
    ):
        if found["period_end"] < first:
            continue
        base = f"/api/v1/supervision-rounds/{found['id']}/report"
        title = f"督查问题专报 {found['year']}-{found['month']:02d}"
        if found["report_issued_at"] is not None:
            downloads += [
                {"title": title, "href": f"{base}.docx"},
                {"title": f"{title} (xlsx)", "href": f"{base}.xlsx"},
            ]
    per_channel = await _channels(api, p) if channels else Counter[str]()
    return Summary(
        figures={
            "days": len(days),
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
            "projects": len(project_ids),
            "problems_by_layer": _by_layer(problems),
            "matters_by_layer": _by_layer(matters),
            "breaches": sum(len(x.get("breaches", [])) for x in problems),
            "red_cards": dict(sorted(card_counts.items())),
            "grades": grades,
            "bulletins": [d["title"] for d in downloads],
            "refused": dict(sorted(api.refused.items())),
            "messages_by_channel": dict(sorted(per_channel.items())),
        },
        downloads=downloads,
        calls=api.calls,
    )


def _by_layer(rows: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(str(r["layer"]) for r in rows).items()))


async def _channels(api: Api, p: dict[str, Persona]) -> Counter[str]:
    """Messages per channel in the personas' inboxes, each counted once per channel its delivery log
    names. The run ends settled (every service caught up), so one reading is the answer."""
    channels: Counter[str] = Counter()
    for persona in sorted(p.values(), key=lambda x: x.username):
        for m in await api.get_all(persona, "/api/v1/inbox/messages", limit=200):
            log = await api.get(p["office"], f"/api/v1/notifications/messages/{m['id']}/log")
            channels.update({entry["channel"] for entry in log["items"]})
    return channels
