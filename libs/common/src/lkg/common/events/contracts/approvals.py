"""Contracts the approvals service (并联审批) publishes: facts about the approval items of a plan."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import (
    AwareDatetime,
    Field,
)

from lkg.common.events.contracts.shared import (
    ApprovalClockKind,
    ApprovalMode,
    BudgetUnit,
    ContractModel,
    _Fact,
)


class ApprovalItemRef(ContractModel):
    """An approval item of a project's plan, as a notifier would name it."""

    approval_item_id: UUID
    item_name: str
    handling_unit_id: UUID
    handling_unit_name: str
    expected_on: date | None = None
    """When the approvals service expects it done, if it can say."""


class _ApprovalsFact(_Fact):
    producer: ClassVar[str] = "approvals"


class _ApprovalItemFact(_ApprovalsFact):
    """Facts about one approval item (审批事项) of a project's approval plan."""

    approval_item_id: UUID
    catalogue_item_id: UUID
    item_name: str
    """The catalogue's name, e.g. 施工许可证."""
    project_id: UUID
    project_name: str
    handling_unit_id: UUID
    """The department that handles the item (registry unit id), the target of an approval red card."""
    handling_unit_name: str
    mode: ApprovalMode = ApprovalMode.STANDARD


# ---------------------------------------------------------------------------------------------------------
# approvals


class ApprovalSubmitted(_ApprovalItemFact):
    """审批申报: the applicant submitted an approval item to the handling department."""

    event_type: ClassVar[str] = "approval.submitted"


class ApprovalAccepted(_ApprovalItemFact):
    """审批受理: the handling department accepted the application; its time limit now runs."""

    event_type: ClassVar[str] = "approval.accepted"

    due_at: AwareDatetime | None
    """None while the clock is paused (waiting for the applicant's supplement, 补正)."""
    budget: int = Field(ge=0)
    budget_unit: BudgetUnit
    provisional: bool = False


class ApprovalGranted(_ApprovalItemFact):
    """审批办结（准予）: the item was granted."""

    event_type: ClassVar[str] = "approval.granted"

    certificate_no: str | None = None
    """证照编号, e.g. of the 施工许可证."""
    verification_due_on: date | None = None
    """For 承诺审批 / 先建后验: when the commitment or the inspection must be verified."""


class ApprovalRejected(_ApprovalItemFact):
    """审批不予许可: the item was refused."""

    event_type: ClassVar[str] = "approval.rejected"

    reason: str


class ApprovalDueSoon(_ApprovalItemFact):
    """审批即将到期: an item's time limit is near (a configured share of its budget has passed)."""

    event_type: ClassVar[str] = "approval.due_soon"

    due_at: AwareDatetime
    clock_kind: ApprovalClockKind = ApprovalClockKind.LIMIT
    """Which clock is near its end: the item's time limit, or the verification/inspection that follows."""


class ApprovalStalled(_ApprovalItemFact):
    """审批超时: an item passed its time limit without a decision; the handling department is charged."""

    event_type: ClassVar[str] = "approval.stalled"

    due_at: AwareDatetime
    clock_kind: ApprovalClockKind = ApprovalClockKind.LIMIT
    """Which clock was breached: the item's time limit, or the verification (承诺审批) or inspection
    (先建后验) obligation that followed its grant."""
    days_over: int = Field(default=0, ge=0)
    """Days (in the clock's unit) past the due date when the breach was detected, the day in progress
    counted: 1 when it is detected as it happens and the next day is a working day; more after a jump."""
    budget: int | None = Field(default=None, ge=0)
    budget_unit: BudgetUnit | None = None
    agent_id: UUID | None = None
    """The project's agent (代办员, §四(三)), a directory person, where the project has one (from the
    registry's project snapshot): the notifier tells the agent of the stall."""


class ApprovalStartAtRisk(_ApprovalsFact):
    """开工受阻预警: unfinished approvals put the project's planned construction start (开工) at risk."""

    event_type: ClassVar[str] = "approval.start_at_risk"

    project_id: UUID
    project_name: str
    responsible_unit_id: UUID
    planned_start_date: date
    blocking_items: tuple[ApprovalItemRef, ...] = Field(min_length=1)
    earliest_start_date: date | None = None
    """The earliest day the start gate (施工许可证) can be granted, as computed when the verdict flipped."""
