"""Who serves a project and where it stands: its site (项目选址), its service contact (对口服务, §三(一)), its
agent (代办员, §四(三)) and its statistics contact (统计联系人, §三(四)).

Each person is a directory person holding a post in force on the day they are named; the agent's post is an
``approval_agent`` post (the approval bureau's agents' team, 代办队伍) and the statistics contact's a
``statistics_contact`` post (appointed by the street, industry office or department). The site's street is a
directory unit of kind ``street``. Names are taken from the directory, never from the request
(issue #11 item 2), and kept beside the ids as recorded when named.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from lkg.common.events.contracts import PostKind, UnitKind
from lkg.common.http.problems import NotFound, ValidationFailed
from lkg.registry.org.service import Directory
from lkg.registry.projects.schemas import SiteIn

#: The people a project names, with the post kind each must hold (None: any post).
PERSON_ROLES: dict[str, PostKind | None] = {
    "service_contact": None,
    "agent": PostKind.APPROVAL_AGENT,
    "statistics_contact": PostKind.STATISTICS_CONTACT,
}
_WHO = {"service_contact": "对口服务人员", "agent": "代办员", "statistics_contact": "统计联系人"}
_POST = {
    None: "在岗的组织目录人员",
    PostKind.APPROVAL_AGENT: "代办队伍中在岗的代办员（approval_agent 岗位）",
    PostKind.STATISTICS_CONTACT: "在岗的统计联系人（statistics_contact 岗位）",
}


def _refuse(field: str, message: str, code: str) -> ValidationFailed:
    error = {"loc": ["body", *field.split(".")], "msg": message, "type": code}
    return ValidationFailed(message, code=code, errors=[error])


def site_columns(directory: Directory, site: SiteIn | None, day: date, field: str = "site") -> dict[str, Any]:
    """The project's site columns for ``site`` (all None when it is cleared). 404 ``site_street_not_found``
    when the directory has no such unit (as an unknown responsible unit is); 422 ``site_not_a_street``
    when the unit is not a street in force on ``day``."""
    if site is None:
        return {"site_street_id": None, "site_street_name": None, "site_park": None, "site_plot": None}
    street = directory.units.get(site.street_id)
    if street is None:
        raise NotFound("项目选址的街道不在组织目录中", code="site_street_not_found")
    if street.kind is not UnitKind.STREET or not street.in_force(day):
        raise _refuse(f"{field}.street_id", "项目选址须为在册的街道/镇街", "site_not_a_street")
    return {
        "site_street_id": street.id,
        "site_street_name": street.name,
        "site_park": site.park,
        "site_plot": site.plot,
    }


def holds_post(directory: Directory, person_id: uuid.UUID, day: date, kind: PostKind | None) -> bool:
    """Whether the person is active and holds a post (of ``kind``, when given) in force on ``day``."""
    person = directory.people.get(person_id)
    if person is None or not person.active:
        return False
    for holding in directory.holdings.values():
        if holding.person_id != person_id or not holding.in_force(day):
            continue
        post = directory.posts.get(holding.post_id)
        if post is not None and post.in_force(day) and (kind is None or post.kind is kind):
            return True
    return False


def person_columns(
    directory: Directory, role: str, person_id: uuid.UUID | None, day: date, field: str | None = None
) -> dict[str, Any]:
    """``<role>_id`` and ``<role>_name`` for the person named (both None when cleared). 404
    ``<role>_not_found`` when the directory has no such person; 422 ``<role>_not_eligible`` unless they
    are active and hold the post the role needs on ``day``."""
    if person_id is None:
        return {f"{role}_id": None, f"{role}_name": None}
    if person_id not in directory.people:
        raise NotFound(f"{_WHO[role]}不在组织目录中", code=f"{role}_not_found")
    kind = PERSON_ROLES[role]
    if not holds_post(directory, person_id, day, kind):
        raise _refuse(field or f"{role}_id", f"{_WHO[role]}须为{_POST[kind]}", f"{role}_not_eligible")
    return {f"{role}_id": person_id, f"{role}_name": directory.people[person_id].name}
