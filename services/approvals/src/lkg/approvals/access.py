"""Who may see and do what in the approvals service: the one :class:`Caller` type.

A handling department (审批部门) updates the items it handles; the project's responsible unit (项目责任单位)
applies and sees its plans; 区行政审批局 and 区重大项目办 see and manage every plan (policy §三(一));
top leaders and the supervision office read every plan. What a caller may not see answers 404, what it may
see but not do answers 403, and visibility is decided before anything tells whether a row exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import sqlalchemy as sa

from lkg.approvals.models import ApprovalItem, ApprovalPlan
from lkg.common.access import BaseCaller
from lkg.common.auth import Role

MANAGERS = frozenset({Role.APPROVAL_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})
READERS = MANAGERS | {Role.TOP_LEADER, Role.SUPERVISION_OFFICE}


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """The person or system calling, with the units and lines (包保线) it acts for; ``sees_all`` for the
    approval bureau, 重大项目办, admin, top leaders and the supervision office."""

    SEE_ALL: ClassVar[frozenset[Role]] = READERS

    @property
    def manages_all(self) -> bool:
        """行政审批局, 重大项目办 and admin manage every plan and item."""
        return self.has_role(*MANAGERS)


def plan_visible(caller: Caller, *, via_items: bool = True) -> sa.ColumnElement[bool]:
    """Plans the caller may read: its project's unit or line, or (``via_items``) a plan in which it handles
    an item. A department reads the whole plan of such a project, because in 并联审批 what holds up the start
    is the other departments' items; it acts only on its own (:func:`may_decide`), and its work list
    (``/approval-items``) holds only its own items unless the project is also its unit's or line's."""
    if caller.sees_all:
        return sa.true()
    units, lines = list(caller.reach.units), list(caller.reach.lines)
    own = [ApprovalPlan.responsible_unit_id.in_(units), ApprovalPlan.line_id.in_(lines)]
    if not via_items:
        return sa.or_(*own)
    handles = sa.exists().where(
        ApprovalItem.plan_id == ApprovalPlan.id, ApprovalItem.handling_unit_id.in_(units)
    )
    return sa.or_(*own, handles)


def items_visible(caller: Caller) -> sa.ColumnElement[bool]:
    """Items on the caller's lists: those it handles, and every item of a plan of its unit or line (a
    department's list holds the items it handles, not its sibling departments': see :func:`plan_visible`)."""
    if caller.sees_all:
        return sa.true()
    visible_plans = sa.select(ApprovalPlan.id).where(plan_visible(caller, via_items=False))
    return sa.or_(
        ApprovalItem.handling_unit_id.in_(list(caller.reach.units)), ApprovalItem.plan_id.in_(visible_plans)
    )


def sees_plan(caller: Caller, plan: ApprovalPlan, items: Sequence[ApprovalItem]) -> bool:
    """:func:`plan_visible` for a plan already read, with its items."""
    if caller.sees_all:
        return True
    reach = caller.reach
    return (
        plan.responsible_unit_id in reach.units
        or (plan.line_id is not None and plan.line_id in reach.lines)
        or any(i.handling_unit_id in reach.units for i in items)
    )


def may_decide(caller: Caller, item: ApprovalItem) -> bool:
    """The handling department decides on an item (accepts, asks for a supplement, grants, rejects,
    verifies) and edits it."""
    if caller.manages_all:
        return True
    return item.handling_unit_id is not None and item.handling_unit_id in caller.reach.units


def may_apply(caller: Caller, plan: ApprovalPlan) -> bool:
    """The project's side applies (submits, resubmits, withdraws) and changes its plan."""
    return caller.manages_all or plan.responsible_unit_id in caller.reach.units
