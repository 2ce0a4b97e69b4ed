"""Cross-service scenarios: the whole system over HTTP, time moved through the shared clock."""

from lkg.common.testing.system import lkg_system  # noqa: F401  (fixture)


def pytest_collection_modifyitems(items):
    """schemathesis 4.32 with pytest 9.2 gives every operation of a fuzz test one node id; put the
    operation back into it so failures and ``-k`` name the operation."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is not None and "[" not in item.nodeid:
            item._id = item.parent.id.child(item.originalname).with_params(label)
