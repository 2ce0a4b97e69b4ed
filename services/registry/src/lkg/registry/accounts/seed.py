"""The demo accounts of the embedded default (docs/accounts.md): one per role the platform serves, each a
synthetic (【演示】) holder of a post of the 2020 directory, and the eight line leaders; all with
:data:`DEMO_PASSWORD`."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.registry.accounts import service
from lkg.registry.accounts.models import Account
from lkg.registry.accounts.service import create_account
from lkg.registry.demo_directory import demo_entries, person_of
from lkg.registry.org import service as org
from lkg.registry.org.document import default_document, org_id
from lkg.registry.settings import RegistrySettings

#: The demo's one password (embedded default only; printed in docs/accounts.md).
DEMO_PASSWORD = "lkg-demo-2020"

#: The demo accounts beside ``line1`` … ``line8``: (username, the post whose synthetic holder signs in, which
#: holder, system administrator). One per role the platform serves (issue #11), listed in docs/accounts.md.
DEMO_ACCOUNTS: tuple[tuple[str, str, int, bool], ...] = (
    ("admin", "post.major_projects_office.staff", 1, True),  # 重大项目办 + system administration
    ("assessor", "post.assessment.staff", 1, False),  # 区委组织部考评办
    ("office", "post.major_projects_office.staff", 2, False),  # 重大项目办 staff, no administration
    ("street", "post.street.jinyinhu.staff", 1, False),  # 金银湖街: a responsible unit (line 2)
    ("street-head", "post.street.jinyinhu.head", 1, False),  # 金银湖街's head (约谈)
    ("service", "post.dept.science_economy.staff", 1, False),  # 区科经局: line 2's service department
    ("department", "post.dept.natural_resources.staff", 1, False),  # 区自然资源和规划局 (approval items)
    ("approval", "post.dept.approval.staff", 1, False),  # 区行政审批局
    ("agent", "post.dept.approval.agent", 1, False),  # 代办员 of the agents' team (§四(三))
    ("statistics", "post.dept.statistics.staff", 1, False),  # 区统计局
    ("stats-contact", "post.street.jinyinhu.statistics_contact", 1, False),  # 金银湖街's 统计联系人
    ("supervision", "post.dept.supervision.staff", 1, False),  # 区政府督查室
    ("leader", "post.party_secretary", 1, False),  # 区委书记 (layer 3)
    ("commerce", "post.dept.commerce.staff", 1, False),  # 区商务局 (integrity, 销号; line 8's service dept)
)


async def seed_demo_accounts(
    session: AsyncSession, settings: RegistrySettings, clock: Clock, *, password: str = DEMO_PASSWORD
) -> int:
    """Usable accounts for the embedded demo, after the 2020 directory is loaded: the synthetic holders of
    its unnamed posts (:mod:`lkg.registry.demo_directory`) join the directory, then :data:`DEMO_ACCOUNTS`
    and ``line1`` … ``line8`` for the eight line leaders in post on the clock's date get accounts.
    Idempotent: returns how many accounts it created (0 the second time)."""
    day = clock.now().date()
    await org.apply_changes(
        session, clock, demo_entries(default_document()), actor="seed", reason="演示人员（合成数据）"
    )
    directory = await service.directory_of(session)
    wanted: list[tuple[str, uuid.UUID, bool]] = [
        (username, org_id(person_of(post, n)), admin) for username, post, n, admin in DEMO_ACCOUNTS
    ]
    for line in sorted(directory.lines.values(), key=lambda x: x.number):
        if not line.in_force(day):
            continue
        holders = org.holders(directory, line.leader_post_id, day)
        if holders:
            wanted.append((f"line{line.number}", holders[0].person_id, False))
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
