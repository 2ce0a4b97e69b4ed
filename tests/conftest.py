"""Cross-service scenarios: the whole system over HTTP, time moved through the shared clock."""

import pytest_asyncio
from reports_world import reports_system

from lkg.common.testing.system import lkg_system  # noqa: F401  (fixture)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def reports_world(request, db_factory, nats_url, nats_prefix):
    """The scoring service alone with the test module's ``UNITS`` ((name, kind) pairs) in one line, for the
    issued-report scenarios (``services/scoring/tests/reports_world.py``: the reports' path, listing them,
    the East Asian font check); the module's own fixture adds its projects and facts."""
    async with reports_system(db_factory, nats_url, nats_prefix, request.module.UNITS) as system:
        yield system


def pytest_collection_modifyitems(items):
    """schemathesis 4.32 with pytest 9.2 gives every operation of a fuzz test one node id; put the
    operation back into it so failures and ``-k`` name the operation."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is not None and "[" not in item.nodeid:
            item._id = item.parent.id.child(item.originalname).with_params(label)
