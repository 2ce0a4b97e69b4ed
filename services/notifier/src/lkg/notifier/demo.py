"""Demo addresses for the demo accounts (``lkg run`` / ``lkg seed``): the notifier's own data about the
people the registry's demo directory and accounts name (docs/accounts.md): every demo account (one per
role, and ``line1`` … ``line8``) gets an address under ``demo.lkg.invalid`` (a reserved domain: nothing is
ever delivered outside the machine), so the demo shows email deliveries once an SMTP server is configured."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert

from lkg.common.clock import TZ
from lkg.common.db import Database
from lkg.notifier.models import person_setting

#: The registry's namespace for directory keys (its org/document.py): the same key is the same id on every
#: machine, so the notifier can name the demo people without asking the registry.
ORG_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000a0")

#: Demo account → the directory key of its person.
DEMO_PEOPLE = {
    "admin": "person.demo_office_admin",
    "assessor": "person.demo_assessor",
    # The synthetic holders (the registry's demo_directory.person_of: person.demo.<post>.<n>); that these
    # are the accounts' people is checked in tests/test_demo_people.py.
    "office": "person.demo.major_projects_office.staff.2",
    "street": "person.demo.street.jinyinhu.staff.1",
    "street-head": "person.demo.street.jinyinhu.head.1",
    "service": "person.demo.dept.science_economy.staff.1",
    "department": "person.demo.dept.natural_resources.staff.1",
    "approval": "person.demo.dept.approval.staff.1",
    "agent": "person.demo.dept.approval.agent.1",
    "statistics": "person.demo.dept.statistics.staff.1",
    "stats-contact": "person.demo.street.jinyinhu.statistics_contact.1",
    "supervision": "person.demo.dept.supervision.staff.1",
    "leader": "person.demo.party_secretary.1",
    "commerce": "person.demo.dept.commerce.staff.1",
    "line1": "person.xu_yigong",
    "line2": "person.li_li",
    "line3": "person.zhou_benqi",
    "line4": "person.liu_zhifu",
    "line5": "person.han_zhongxiang",
    "line6": "person.guo_xiaoping",
    "line7": "person.liu_zhuoran",
    "line8": "person.xiao_guohua",
}

#: When the demo starts (the policy's date): the rows' timestamp.
DEMO_START = datetime(2020, 5, 1, 9, tzinfo=TZ)


async def seed_demo_addresses(db: Database) -> int:
    """Idempotent: returns how many people got an address (0 the second time; an address a person changed
    is left as it is)."""
    rows = [
        {
            "person_id": uuid.uuid5(ORG_NAMESPACE, key),
            "email": f"{account}@demo.lkg.invalid",
            "updated_at": DEMO_START,
        }
        for account, key in DEMO_PEOPLE.items()
    ]
    async with db.transaction() as session:
        result = await session.execute(
            pg_insert(person_setting)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(person_setting.c.person_id)
        )
        return len(result.all())
