"""Cross-service scenarios: the whole system over HTTP, time moved through the shared clock."""

from lkg.common.testing.system import lkg_system  # noqa: F401  (fixture)
