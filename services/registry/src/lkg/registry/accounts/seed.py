"""The demo accounts of the embedded default (docs/accounts.md): one account per person of the 2020
directory who holds a post, all with :data:`DEMO_PASSWORD`, and an office administrator."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Role
from lkg.common.clock import Clock
from lkg.common.events.contracts import PersonSnapshot, PostHoldingSnapshot, PostKind, PostSnapshot
from lkg.registry.accounts import service
from lkg.registry.accounts.models import Account
from lkg.registry.accounts.service import create_account
from lkg.registry.org import service as org
from lkg.registry.org.document import org_id
from lkg.registry.settings import RegistrySettings

#: Who administers accounts: 重大项目办 and the system administrator (系统管理员).
ACCOUNT_ADMINS = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})

REFRESH_PREFIX = "lkgrt_"
SECRET_PREFIX = "lkgcs_"


#: The demo's one password (embedded default only; printed in docs/accounts.md).
DEMO_PASSWORD = "lkg-demo-2020"
DEMO_ADMIN_PERSON = "person.demo_office_admin"
DEMO_ADMIN_POST = "post.major_projects_office.staff"
DEMO_ASSESSOR_PERSON = "person.demo_assessor"
DEMO_ASSESSOR_POST = "post.assessment.staff"  # in org_2020.yaml


async def seed_demo_accounts(
    session: AsyncSession, settings: RegistrySettings, clock: Clock, *, password: str = DEMO_PASSWORD
) -> int:
    """Usable accounts for the embedded demo, after the 2020 directory is loaded: ``admin`` (a staff member
    of 区重大项目办 with system administration), ``assessor`` (a staff member of 区委组织部考评办, who edits
    the evaluation rules) and ``line1`` … ``line8`` for the eight line leaders in post on the clock's date.
    Idempotent: returns how many accounts it created (0 the second time)."""
    day = clock.now().date()
    office_unit = org_id("dept.development_reform")
    admin_person = org_id(DEMO_ADMIN_PERSON)
    post = org_id(DEMO_ADMIN_POST)
    assessor = org_id(DEMO_ASSESSOR_PERSON)
    await org.apply_changes(
        session,
        clock,
        [
            (DEMO_ADMIN_PERSON, PersonSnapshot(id=admin_person, revision=1, name="【演示】重大项目办管理员")),
            (
                DEMO_ADMIN_POST,
                PostSnapshot(
                    id=post,
                    revision=1,
                    valid_from=date(2020, 5, 1),
                    title="重大项目办工作人员",
                    unit_id=office_unit,
                    kind=PostKind.STAFF,
                ),
            ),
            (
                f"holding.{DEMO_ADMIN_POST}.{DEMO_ADMIN_PERSON}",
                PostHoldingSnapshot(
                    id=org_id(f"holding.{DEMO_ADMIN_POST}.{DEMO_ADMIN_PERSON}"),
                    revision=1,
                    valid_from=date(2020, 5, 1),
                    post_id=post,
                    person_id=admin_person,
                ),
            ),
            (DEMO_ASSESSOR_PERSON, PersonSnapshot(id=assessor, revision=1, name="【演示】考评办工作人员")),
            (
                f"holding.{DEMO_ASSESSOR_POST}.{DEMO_ASSESSOR_PERSON}",
                PostHoldingSnapshot(
                    id=org_id(f"holding.{DEMO_ASSESSOR_POST}.{DEMO_ASSESSOR_PERSON}"),
                    revision=1,
                    valid_from=date(2020, 5, 1),
                    post_id=org_id(DEMO_ASSESSOR_POST),
                    person_id=assessor,
                ),
            ),
        ],
        actor="seed",
        reason="演示账号",
    )
    directory = await service.directory_of(session)
    wanted: list[tuple[str, uuid.UUID, bool]] = [("admin", admin_person, True), ("assessor", assessor, False)]
    for line in sorted(directory.lines.values(), key=lambda x: x.number):
        if not line.in_force(day):
            continue
        holders = [
            h.person_id
            for h in directory.holdings.values()
            if h.post_id == line.leader_post_id and h.in_force(day)
        ]
        if holders:
            wanted.append((f"line{line.number}", holders[0], False))
    existing = (await session.execute(sa.select(Account.username, Account.person_id))).all()
    names = {u for u, _ in existing}
    people = {p for _, p in existing}
    created = 0
    for username, person_id, admin in wanted:
        if username in names or person_id in people:
            continue
        await create_account(
            session,
            settings,
            clock,
            person_id=person_id,
            username=username,
            password=password,
            system_admin=admin,
            by=None,
        )
        created += 1
    return created
