"""The demo's people: clearly labelled synthetic (【演示】) holders for the posts of the 2020 directory that
the policy leaves without a name, so that "the unit's head", "a unit user", "the supervision office" or
"the approval bureau" is somebody the notifier, the console and the simulation can address (issue #11).

The posts are real structure and live in ``data/org_2020.yaml`` (a head and a staff post per street, office
and department, the statistics contacts, the agents' team); only their holders are invented here, one per
post (the agents' team and the approval bureau's service contacts get two each, the statistics contacts of
金银湖街 too, so that a handover or a choice can be shown). Keys are derived from the post keys, so the
people have the same ids on every machine and seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkg.common.events.contracts import PersonSnapshot, PostHoldingSnapshot, PostKind
from lkg.registry.org.document import OrgDocument, Snapshot, org_id

LABEL = "【演示】"

#: How many synthetic holders a post gets where one is not enough to show a choice.
_SEVERAL = {
    "post.major_projects_office.staff": 2,
    "post.dept.approval.agent": 2,
    "post.dept.approval.service_contact": 2,
    "post.street.jinyinhu.statistics_contact": 2,
}
#: The holders' names by post kind (the unit's name is put in front).
_TITLE = {
    PostKind.UNIT_HEAD: "主要负责同志",
    PostKind.STAFF: "工作人员",
    PostKind.STATISTICS_CONTACT: "统计联系人",
    PostKind.APPROVAL_AGENT: "代办员",
    PostKind.DISTRICT_LEADER: "",
}
#: The first holders of two posts predate this module (the ``admin`` and ``assessor`` accounts): their keys
#: and names stay as they were, so their ids and accounts do not change.
_EXISTING = {
    "post.major_projects_office.staff": ("person.demo_office_admin", "【演示】重大项目办管理员"),
    "post.assessment.staff": ("person.demo_assessor", "【演示】考评办工作人员"),
}


@dataclass(frozen=True)
class DemoPerson:
    key: str
    post_key: str
    name: str


def demo_people(document: OrgDocument) -> list[DemoPerson]:
    """One synthetic holder (or a few) for every post of ``document`` that has none, in document order."""
    held = {h.post for h in document.holdings}
    units = {u.key: u.name for u in document.units}
    out: list[DemoPerson] = []
    for post in document.posts:
        if post.key in held or post.kind is PostKind.LINE_LEADER:
            continue
        count = _SEVERAL.get(post.key, 1)
        for n in range(1, count + 1):
            suffix = "" if count == 1 else str(n)
            if post.kind is PostKind.DISTRICT_LEADER:
                name = f"{LABEL}{post.title}"
            elif post.key == "post.dept.approval.service_contact":
                name = f"{LABEL}审批服务专员{suffix}"
            else:
                name = f"{LABEL}{_short(units[post.unit])}{_TITLE.get(post.kind, post.title)}{suffix}"
            if n == 1 and post.key in _EXISTING:
                name = _EXISTING[post.key][1]
            out.append(DemoPerson(key=person_of(post.key, n), post_key=post.key, name=name))
    return out


def _short(unit_name: str) -> str:
    """``区发改局（区重大项目办）`` → ``区发改局``: the name a person's label reads best with."""
    return unit_name.split("（", 1)[0]


def demo_entries(document: OrgDocument) -> list[tuple[str, Snapshot]]:
    """The synthetic people and their holdings as directory entries (valid from the document's start)."""
    entries: list[tuple[str, Snapshot]] = []
    for person in demo_people(document):
        entries.append((person.key, PersonSnapshot(id=org_id(person.key), revision=1, name=person.name)))
        holding = f"holding.{person.post_key}.{person.key}"
        entries.append(
            (
                holding,
                PostHoldingSnapshot(
                    id=org_id(holding),
                    revision=1,
                    valid_from=document.valid_from,
                    post_id=org_id(person.post_key),
                    person_id=org_id(person.key),
                ),
            )
        )
    return entries


def person_of(post_key: str, n: int = 1) -> str:
    """The key of the ``n``-th synthetic holder of a post (for the demo accounts and the portfolio)."""
    if n == 1 and post_key in _EXISTING:
        return _EXISTING[post_key][0]
    return f"person.demo.{post_key.removeprefix('post.')}.{n}"
