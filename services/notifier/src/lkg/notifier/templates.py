"""Chinese message templates, one per kind (模板), and rendering.

A template is data (table ``template``, editable by operators): a title and a body written with
``$name`` placeholders (:class:`string.Template`: no attribute access, no code, so an operator's template
cannot reach into the process). Every kind can use ``$matter`` (事项), ``$project`` (项目), ``$layer``
(所处层级), ``$deadline`` (时限, with the working days left on the official calendar), ``$link``; some
add ``$unit``, ``$clock``, ``$outcome``, ``$reason``, ``$opinion``, ``$summary``, ``$cause``, ``$grade``,
``$period``; the digests ``$date``, ``$count``, ``$items``, ``$breaches``, ``$warnings``. An unknown
placeholder is left as written rather than failing the message.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.notifier.kinds import LAYER_LABELS, Facts


@dataclass(frozen=True)
class DefaultTemplate:
    title: str
    body: str
    #: Urgent kinds never wait for quiet hours or a digest: breaches, escalations, red cards (issue 14).
    urgent: bool = False


_TAIL = "\n所处层级：$layer\n时限：$deadline\n查看：$link"


def _matter_templates(matter: str, noun: str) -> dict[str, DefaultTemplate]:
    t = DefaultTemplate
    return {
        f"{matter}.reported": t(
            f"【待受理】{noun}：$matter", f"项目「$project」反映{noun}「$matter」，请及时受理。" + _TAIL
        ),
        f"{matter}.accepted": t(
            f"【已受理】{noun}：$matter", f"{noun}「$matter」已受理，承办单位：$unit。" + _TAIL
        ),
        f"{matter}.answered": t(
            f"【已反馈】{noun}：$matter", f"{noun}「$matter」承办单位已反馈处理意见：$opinion" + _TAIL
        ),
        f"{matter}.progress_reported": t(
            f"【进展】{noun}：$matter", f"{noun}「$matter」报送进展：$summary" + _TAIL
        ),
        f"{matter}.resolved": t(f"【已解决】{noun}：$matter", f"{noun}「$matter」已解决：$summary" + _TAIL),
        f"{matter}.closed": t(
            f"【已办结】{noun}：$matter", f"{noun}「$matter」已办结（$outcome）。$reason" + _TAIL
        ),
        f"{matter}.warned": t(
            f"【时限预警】{noun}：$matter", f"{noun}「$matter」的「$clock」时限即将届满，请抓紧办理。" + _TAIL
        ),
        f"{matter}.breached": t(
            f"【超时】{noun}：$matter",
            f"{noun}「$matter」的「$clock」时限已届满，已记入超时并逐级上报。" + _TAIL,
            urgent=True,
        ),
        f"{matter}.rerouted": t(
            f"【改派】{noun}：$matter", f"{noun}「$matter」已改派至新的包保线：$reason" + _TAIL
        ),
        f"{matter}.escalated": t(
            f"【上报$layer】{noun}：$matter",
            f"{noun}「$matter」（项目「$project」）因$cause，已上报至$layer，请协调督办。" + _TAIL,
            urgent=True,
        ),
    }


#: The defaults a new database starts with (migration 0003 seeds them).
DEFAULT_TEMPLATES: dict[str, DefaultTemplate] = {
    **_matter_templates("problem", "问题"),
    **_matter_templates("meeting_matter", "会议议定事项"),
    "red_card.issued": DefaultTemplate(
        "【红牌】$unit", "$unit 被亮红牌，事由：$matter。请按要求整改并作表态发言。\n查看：$link", urgent=True
    ),
    "red_card.proposed": DefaultTemplate(
        "【拟亮红牌】$unit", "月末督查拟对 $unit 亮红牌，事由：$matter。请督查室认定或不予认定。\n查看：$link"
    ),
    "red_card.withdrawn": DefaultTemplate(
        "【红牌撤销】$unit",
        "$unit 的红牌已撤销，事由：$matter；撤销理由：$reason。\n查看：$link",
        urgent=True,
    ),
    "red_card.referral_requested": DefaultTemplate(
        "【待同意】$unit 红牌移交纪委监委",
        "$unit 的红牌（事由：$matter）拟移交区纪委监委，需您同意。\n查看：$link",
        urgent=True,
    ),
    "red_card.referral_concluded": DefaultTemplate(
        "【问责结果】$unit 红牌移交纪委监委",
        "$unit 的红牌（事由：$matter）经区纪委监委处理：$outcome。说明：$reason\n查看：$link",
    ),
    "enrolment_list.due_soon": DefaultTemplate(
        "【提醒】$matter即将到期",
        "请于$deadline前报送$matter（每月28日前，非工作日提前至此前最后一个工作日）。\n查看：$link",
    ),
    "enrolment_list.missed": DefaultTemplate(
        "【逾期】$unit未按时报送$matter",
        "$unit未在$deadline前报送$matter，已记录在案。\n查看：$link",
        urgent=True,
    ),
    "statistics_visit.due_soon": DefaultTemplate(
        "【提醒】$matter尚未完成",
        "您联系的$project本月尚无上门服务记录，请于$deadline前完成并登记。\n查看：$link",
    ),
    "statistics_visit.missed": DefaultTemplate(
        "【未完成】$matter",
        "$unit的统计联系人本月有$project未上门服务，已记录在案。\n查看：$link",
    ),
    "integrity_round.due_soon": DefaultTemplate(
        "【提醒】$matter即将到期", "$matter尚有$project未核查，请于$deadline前完成。\n查看：$link"
    ),
    "integrity_round.missed": DefaultTemplate(
        "【未完成】$matter", "$matter到期仍有$project未核查，已记录在$unit名下。\n查看：$link", urgent=True
    ),
    "supervision_report.published": DefaultTemplate(
        "【督查专报】$matter", "《$matter》已印发，请查阅。\n查看：$link"
    ),
    "red_card.dismissed": DefaultTemplate(
        "【不予认定】$unit", "$unit 的红牌提议不予认定，事由：$matter；理由：$reason。\n查看：$link"
    ),
    "approval.due_soon": DefaultTemplate(
        "【审批临期】$matter",
        "项目「$project」的审批事项「$matter」（$unit）即将到期。\n时限：$deadline\n查看：$link",
    ),
    "approval.stalled": DefaultTemplate(
        "【审批超时】$matter",
        "项目「$project」的审批事项「$matter」（$unit）已超过办理时限。\n时限：$deadline\n查看：$link",
        urgent=True,
    ),
    "evaluation.published": DefaultTemplate(
        "【考核结果】$matter：$grade", "$matter 在 $period 的考核评价结果为「$grade」。\n查看：$link"
    ),
    "evaluation.interview_listed": DefaultTemplate(
        "【约谈】$matter：$period 月度考核$rank，亮红牌",
        "$matter 在 $period 的月度考核中排名$rank（后3名），列入区委、区政府领导约谈名单，"
        "由单位主要负责同志参加约谈（§六(三)）。\n查看：$link",
        urgent=True,
    ),
    "evaluation.statement_listed": DefaultTemplate(
        "【表态发言】$matter：$period 考核不合格",
        "$matter 在 $period 的考核评价结果为「$grade」，须在管委会主任办公会（政府常务会）上作表态发言，"
        "由区政府督查室、区重大项目办实行重点督查、督办（§六(三)）。\n查看：$link",
    ),
    "digest.daily": DefaultTemplate("【每日汇总】$date 共 $count 条", "$items\n查看：$link"),
    "digest.line": DefaultTemplate(
        "【包保线日报】$date 超时 $breaches 件、临期 $warnings 件", "$items\n查看：$link"
    ),
    "reminder.approval_report": DefaultTemplate(
        "【周报提醒】$date 请报送审批进展",
        "请于今日报送新开工项目和批前提速项目的审批进展：备案证、用地规划许可证、工程规划许可证、"
        "项目报建、勘察审查、施工图审查、施工许可证。\n查看：$link",
    ),
    "report.published": DefaultTemplate("【通报】$matter", "《$matter》已印发，请查阅。\n查看：$link"),
}


def deadline_words(calendar: WorkingCalendar, due: datetime | None, now: datetime) -> str:
    """``2020-05-13（剩余 3 个工作日）``: the last day of the clock and the working days after today.

    A due time is the end of its last day (00:00 of the next day, docs/time.md), so the day shown is the day
    before it when it falls at midnight.
    """
    if due is None:
        return "无"
    local = due.astimezone(TZ)
    last_day = (local - timedelta(days=1)).date() if local.time() == time(0) else local.date()
    today = now.astimezone(TZ).date()
    if now >= due:
        return f"{last_day.isoformat()}（已超时）"
    if last_day == today:
        return f"{last_day.isoformat()}（今日到期）"
    # The working days after today up to the last day, as a clock counts them (its start day is not one).
    left = calendar.working_days_between(today, last_day)
    return f"{last_day.isoformat()}（剩余 {left} 个工作日）"


def render(title: str, body: str, facts: Facts, *, deadline: str, link: str) -> tuple[str, str]:
    values = {
        "matter": "",
        "project": "",
        "unit": "",
        **facts.words,
        "layer": LAYER_LABELS.get(facts.layer or 0, "—"),
        "deadline": deadline,
        "link": link,
    }
    return _substitute(title, values), _substitute(body, values)


#: A template's text cut into literal parts and placeholders ``(name, as written)``, once per text.
_Parts = tuple[str | tuple[str, str], ...]


@functools.lru_cache(maxsize=1024)
def _parts(text: str) -> _Parts:
    """``text`` parsed once the way :meth:`string.Template.safe_substitute` reads it: ``$$`` is a ``$``,
    ``$name`` and ``${name}`` are placeholders, any other ``$`` stays as written."""
    parts: list[str | tuple[str, str]] = []
    at = 0
    for mo in string.Template.pattern.finditer(text):
        parts.append(text[at : mo.start()])
        at = mo.end()
        name = mo.group("named") or mo.group("braced")
        if name is not None:
            parts.append((name, mo.group()))
        elif mo.group("escaped") is not None:
            parts.append(string.Template.delimiter)
        else:
            parts.append(mo.group())
    parts.append(text[at:])
    return tuple(parts)


def _substitute(text: str, values: dict[str, str]) -> str:
    """:meth:`string.Template.safe_substitute` of ``text`` (an unknown placeholder is left as written),
    with the text parsed once (:func:`_parts`) rather than on every message."""
    return "".join(
        part if isinstance(part, str) else str(values[part[0]]) if part[0] in values else part[1]
        for part in _parts(text)
    )
