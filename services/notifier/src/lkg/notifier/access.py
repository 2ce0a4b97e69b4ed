"""Who may do what in the notifier (docs/architecture.md, access).

* A person reads and marks only their **own** inbox: another person's message is a 404, like a message
  that does not exist. Their own addresses, quiet hours and preferences are theirs to set.
* **Operators** (系统管理员, and 区重大项目办 which runs the mechanism) manage routing rules, templates,
  webhook endpoints, dead letters, the undeliverable list and people's settings; anyone else gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from lkg.common.access import BaseCaller
from lkg.common.auth import Role
from lkg.common.http.problems import Forbidden

OPERATORS = (Role.ADMIN, Role.MAJOR_PROJECTS_OFFICE)


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """The caller of one request (the shared base: principal and reach); operators see every setting."""

    SEE_ALL: ClassVar[frozenset[Role]] = frozenset(OPERATORS)

    @property
    def inbox_owner(self) -> UUID:
        """The caller's own person id, whose inbox they read; a client system acting on its own has no
        inbox (403)."""
        person = self.person_id
        if person is None:
            raise Forbidden("仅个人账号有站内信箱", code="no_inbox")
        return person

    @property
    def is_operator(self) -> bool:
        return self.sees_all

    def require_operator(self) -> None:
        if not self.is_operator:
            raise Forbidden("仅系统管理员和重大项目办可管理通知配置", code="operators_only")
