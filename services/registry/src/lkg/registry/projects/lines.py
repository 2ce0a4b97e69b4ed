"""Use cases that put projects on lines (包保线): re-routing after the directory's rules or lines changed,
and 重大项目办's explicit assignment. The rule itself is the pure :func:`lkg.registry.projects.routing.route`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    LineSnapshot,
    ProjectCategory,
    ProjectStatus,
    RoutingBasis,
    RoutingRuleSnapshot,
)
from lkg.common.http.problems import NotFound, PreconditionFailed
from lkg.registry.org import service as org
from lkg.registry.org.document import OrgDocument, Snapshot
from lkg.registry.projects.changes import bump, get_project
from lkg.registry.projects.models import (
    Project,
)
from lkg.registry.projects.routing import Route, route


async def route_for(
    session: AsyncSession, clock: Clock, project: Project, directory: org.Directory | None = None
) -> Route:
    directory = directory or await org.load_directory(session, kinds=["line", "routing_rule"])
    return route(
        project_id=project.id,
        category=ProjectCategory(project.category),
        responsible_unit_id=project.responsible_unit_id,
        responsible_unit_name=project.responsible_unit_name,
        rules=directory.routing_rules.values(),
        lines=directory.lines,
        day=clock.now().date(),
    )


def routing_changes(project: Project, decided: Route) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in (
        ("line_id", decided.line_id),
        ("routing_basis", decided.basis.value),
        ("routing_rule_id", decided.rule_id),
        ("routing_reason", decided.reason),
    ):
        if getattr(project, name) != value:
            changes[name] = (getattr(project, name), value)
            setattr(project, name, value)
    return changes


async def reroute_all(session: AsyncSession, clock: Clock, *, actor: str, reason: str) -> int:
    """After the rules or lines changed: every active project whose route changed gets ``project.changed``."""
    directory = await org.load_directory(session, kinds=["line", "routing_rule"])
    projects = (
        await session.execute(sa.select(Project).where(Project.status == ProjectStatus.ACTIVE.value))
    ).scalars()
    moved = 0
    for project in list(projects):
        changes = routing_changes(project, await route_for(session, clock, project, directory))
        if changes:
            await bump(
                session, clock, project, action="rerouted", actor=actor, changes=changes, reason=reason
            )
            moved += 1
    return moved


async def apply_org_changes(
    session: AsyncSession,
    clock: Clock,
    entries: Sequence[tuple[str | None, Snapshot]],
    *,
    actor: str,
    reason: str,
) -> int:
    """Change the directory, then re-route projects if lines or rules changed; returns projects moved."""
    event = await org.apply_changes(session, clock, entries, actor=actor, reason=reason)
    if event is None or not (event.lines or event.routing_rules):
        return 0
    return await reroute_all(session, clock, actor=actor, reason=reason)


async def load_org_document(
    session: AsyncSession, clock: Clock, document: OrgDocument, *, actor: str, reason: str
) -> int:
    event = await org.load_document(session, clock, document, actor=actor, reason=reason)
    if event is None:
        return 0
    if event.lines or event.routing_rules:
        await reroute_all(session, clock, actor=actor, reason=reason)
    return (
        len(event.units)
        + len(event.posts)
        + len(event.people)
        + len(event.holdings)
        + len(event.lines)
        + len(event.routing_rules)
    )


async def assign_line(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    line_id: uuid.UUID,
    reason: str,
    actor: str,
    expected_revision: int | None = None,
) -> Project:
    """明确指定包保线: 重大项目办 puts a project on a line (settling the unrouted queue, or overriding the
    category/unit rule). Recorded as an explicit routing rule (precedence over every other rule) whose
    note is the reason; a previous explicit rule for the project is end-dated, so history keeps both."""
    project = await get_project(session, project_id)
    if expected_revision is not None and project.revision != expected_revision:
        raise PreconditionFailed()
    directory = await org.load_directory(session, kinds=["line", "routing_rule"])
    today = clock.now().date()
    line = directory.lines.get(line_id)
    if line is None or not line.in_force(today):
        raise NotFound("包保线不存在或已停用", code="line_not_found")
    entries: list[tuple[str | None, Snapshot]] = []
    for rule in directory.routing_rules.values():
        if rule.basis is RoutingBasis.EXPLICIT and rule.project_id == project_id and rule.in_force(today):
            entries.append((None, rule.model_copy(update={"valid_to": today - timedelta(days=1)})))
    entries.append(
        (
            None,
            RoutingRuleSnapshot(
                id=uuid.uuid4(),
                revision=1,
                valid_from=today,
                basis=RoutingBasis.EXPLICIT,
                line_id=line_id,
                project_id=project_id,
                note=reason,
            ),
        )
    )
    await org.apply_changes(session, clock, entries, actor=actor, reason=reason)
    changes = routing_changes(project, await route_for(session, clock, project))
    await bump(session, clock, project, action="line_assigned", actor=actor, changes=changes, reason=reason)
    return project


async def line_of(session: AsyncSession, project: Project) -> LineSnapshot | None:
    """The line the project is on (None while unrouted)."""
    if project.line_id is None:
        return None
    return (await org.load_directory(session, kinds=["line"])).lines.get(project.line_id)


async def add_routing_rule(
    session: AsyncSession, clock: Clock, rule: RoutingRuleSnapshot, *, actor: str, reason: str
) -> RoutingRuleSnapshot:
    """A new routing rule (分线规则, §一(一)) on a line the directory holds; projects are re-routed."""
    if rule.line_id not in (await org.load_directory(session, kinds=["line"])).lines:
        raise NotFound("包保线不存在", code="line_not_found")
    await apply_org_changes(session, clock, [(None, rule)], actor=actor, reason=reason)
    return (await org.load_directory(session, kinds=["routing_rule"])).routing_rules[rule.id]


async def end_routing_rule(
    session: AsyncSession, clock: Clock, rule_id: uuid.UUID, *, valid_to: date, actor: str, reason: str
) -> RoutingRuleSnapshot:
    """A routing rule ends on ``valid_to``; projects are re-routed."""
    rule = (await org.load_directory(session, kinds=["routing_rule"])).routing_rules.get(rule_id)
    if rule is None:
        raise NotFound("分线规则不存在", code="routing_rule_not_found")
    ended = rule.model_copy(update={"valid_to": valid_to})
    await apply_org_changes(session, clock, [(None, ended)], actor=actor, reason=reason)
    return (await org.load_directory(session, kinds=["routing_rule"])).routing_rules[rule_id]
