"""What the notifier says on its own clock (日调度): the morning digests and the Friday reminder.

On every working day of the official calendar, at ``LKG_DIGEST_TIME`` (08:30):

* **a person's digest** (``digest.daily``): the non-urgent messages they asked to get in a digest
  (preference ``digest``) since the last one, in one message and one push;
* **each line leader's digest** (``digest.line``, routed like any kind: by default to the line's leader):
  the line's breaches and warnings (matters due soon) heard since the previous digest.

On the day the approval bureau's weekly report is due (Friday, or the last working day before a Friday
off, §四(二)), at ``LKG_APPROVAL_REPORT_REMINDER_TIME``: ``reminder.approval_report`` to 区行政审批局.

Each (name, day) runs once (``cadence_run``), with the clock at its own time, so a jump of the clock over
several days sends each day's digest as it would have gone out; a deployment's first run starts from the
day the clock is on, never from the past. On the simulated clock the scan summarises (``summarises=True``):
a clock move runs it in the quiet round, once every breach and warning the move set off has arrived
(docs/time.md, the settle protocol), so each is in the digest of its own morning.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ
from lkg.common.orgcopy import in_force
from lkg.notifier import stream
from lkg.notifier.kinds import Facts, console_link
from lkg.notifier.models import cadence_run, inbox_message, notice, org_copy, undeliverable
from lkg.notifier.notices import RoutingBatch
from lkg.notifier.recipients import Recipient, Unresolved, resolve
from lkg.notifier.settings import NotifierRuntime
from lkg.notifier.store import Cause, Planned, Store, Stored
from lkg.notifier.templates import render

FRIDAY = 4


async def _last_run(session: AsyncSession, name: str) -> date | None:
    return (
        await session.execute(sa.select(sa.func.max(cadence_run.c.day)).where(cadence_run.c.name == name))
    ).scalar_one()


async def _claim(session: AsyncSession, name: str, day: date, at: datetime) -> bool:
    """True for the one replica (and the one time) that runs ``name`` on ``day``."""
    claimed = await session.execute(
        pg_insert(cadence_run)
        .values(name=name, day=day, ran_at=at)
        .on_conflict_do_nothing()
        .returning(cadence_run.c.day)
    )
    return claimed.scalar_one_or_none() is not None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def scan_cadence(runtime: NotifierRuntime, until: datetime) -> int:
    settings = runtime.settings
    calendar = runtime.calendar
    today = until.astimezone(TZ).date()
    acted = 0
    for name, due_time, is_due in (
        ("digest", settings.digest_time, calendar.is_working_day),
        ("approval_report", settings.approval_report_reminder_time, _approval_report_day(runtime)),
    ):
        async with runtime.db.sessions() as session:
            last = await _last_run(session, name)
        first = last + timedelta(days=1) if last is not None else today
        for day in _days(first, today):
            at = datetime.combine(day, due_time, TZ)
            if at > until or not is_due(day):
                continue
            stored: list[Stored] = []
            async with runtime.db.transaction() as session:
                if not await _claim(session, name, day, at):
                    continue
                with runtime.clock.at(at):
                    if name == "digest":
                        stored += await _people_digests(session, runtime, day, at)
                        stored += await _line_digests(session, runtime, day, at)
                    else:
                        stored += await _approval_report_reminder(session, runtime, day, at)
            await stream.announce(runtime, stored)
            acted += 1
    return acted


def _approval_report_day(runtime: NotifierRuntime) -> Any:
    calendar = runtime.calendar

    def is_due(day: date) -> bool:
        friday = day + timedelta(days=(FRIDAY - day.weekday()) % 7)
        return calendar.cadence_day(friday) == day

    return is_due


async def _send(
    session: AsyncSession,
    runtime: NotifierRuntime,
    *,
    kind: str,
    key: str,
    facts: Facts,
    recipients: list[Recipient],
    at: datetime,
) -> list[Stored]:
    batch = RoutingBatch(session)
    tmpl = await batch.template(kind)
    if tmpl is None:
        return []
    link = console_link(runtime.settings.console_base_url, facts.path or "/inbox")
    title, body = render(tmpl.title, tmpl.body, facts, deadline="", link=link)
    planned = Planned(Cause(kind, key), facts, recipients, title, body, link, tmpl.urgent, at)
    return await Store(session, runtime).store([planned])


async def _people_digests(
    session: AsyncSession, runtime: NotifierRuntime, day: date, at: datetime
) -> list[Stored]:
    m = inbox_message
    rows = (
        await session.execute(
            sa.select(m.c.id, m.c.person_id, m.c.title)
            .where(m.c.digest_pending, m.c.created_at <= at)
            .order_by(m.c.person_id, m.c.seq)
            .with_for_update(skip_locked=True)
        )
    ).all()
    by_person: dict[UUID, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    stored: list[Stored] = []
    for person, items in by_person.items():
        facts = Facts(
            kind="digest.daily",
            cause_key=day.isoformat(),
            words={
                "date": day.isoformat(),
                "count": str(len(items)),
                "items": "\n".join(f"· {i.title}" for i in items),
            },
        )
        stored += await _send(
            session,
            runtime,
            kind="digest.daily",
            key=day.isoformat(),
            facts=facts,
            recipients=[Recipient(person, "self")],
            at=at,
        )
    if rows:
        await session.execute(
            sa.update(m).where(m.c.id.in_([r.id for r in rows])).values(digest_pending=False)
        )
    return stored


async def _line_digests(
    session: AsyncSession, runtime: NotifierRuntime, day: date, at: datetime
) -> list[Stored]:
    """Each line's breaches and warnings not yet in a digest that happened up to ``at``. One that arrives
    after its morning's digest was made (on the real clock, a breach published seconds after 08:30) goes
    into the next one: late, never lost."""
    n = notice
    rows = (
        await session.execute(
            sa.select(n.c.id, n.c.kind, n.c.event)
            .where(n.c.line_digest_due, n.c.effective_at <= at)
            .order_by(n.c.effective_at, n.c.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        await session.execute(
            sa.update(n).where(n.c.id.in_([r.id for r in rows])).values(line_digest_due=False)
        )
    by_line: dict[str, list[Any]] = {}
    for row in rows:
        line_id = row.event.get("line_id")
        if line_id:
            by_line.setdefault(line_id, []).append(row)
    lines = org_copy.lines
    in_force_lines = {
        str(i) for i in (await session.execute(sa.select(lines.c.id).where(in_force(lines, day)))).scalars()
    }
    batch = RoutingBatch(session)
    stored: list[Stored] = []
    for line_id, items in by_line.items():
        if line_id not in in_force_lines:
            continue
        breaches = [i for i in items if i.kind.endswith(".breached")]
        warnings = [i for i in items if i.kind.endswith(".warned")]
        lines_text = [
            f"· 超时：{i.event.get('title', '')}（{i.event.get('resolving_unit_name') or ''}）"
            for i in breaches
        ]
        lines_text += [
            f"· 临期：{i.event.get('title', '')}（{i.event.get('resolving_unit_name') or ''}）"
            for i in warnings
        ]
        key = f"{line_id}:{day.isoformat()}"
        facts = Facts(
            kind="digest.line",
            cause_key=key,
            line_id=UUID(line_id),
            words={
                "date": day.isoformat(),
                "breaches": str(len(breaches)),
                "warnings": str(len(warnings)),
                "items": "\n".join(lines_text),
            },
        )
        recipients = await _routed(session, batch, "digest.line", key, facts, at)
        stored += await _send(
            session, runtime, kind="digest.line", key=key, facts=facts, recipients=recipients, at=at
        )
    return stored


async def _approval_report_reminder(
    session: AsyncSession, runtime: NotifierRuntime, day: date, at: datetime
) -> list[Stored]:
    key = day.isoformat()
    facts = Facts(kind="reminder.approval_report", cause_key=key, path="/desk", words={"date": key})
    recipients = await _routed(session, RoutingBatch(session), "reminder.approval_report", key, facts, at)
    return await _send(
        session, runtime, kind="reminder.approval_report", key=key, facts=facts, recipients=recipients, at=at
    )


async def _routed(
    session: AsyncSession, batch: RoutingBatch, kind: str, key: str, facts: Facts, at: datetime
) -> list[Recipient]:
    """The kind's routed audiences on the day of ``at``; nobody → undeliverable, as for events."""
    directory = batch.directory(at.astimezone(TZ).date())
    found: dict[UUID, Recipient] = {}
    for audience in await batch.audiences(kind, None):
        try:
            for r in await resolve(directory, audience, facts):
                found.setdefault(r.person_id, r)
        except Unresolved as exc:
            await session.execute(
                pg_insert(undeliverable)
                .values(kind=kind, cause_key=key, audience=audience, reason=str(exc), at=at)
                .on_conflict_do_nothing()
            )
    return list(found.values())
