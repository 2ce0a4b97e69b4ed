"""Test support: the pytest plugin (:mod:`.infra`), a running system (:mod:`.system`), and
:func:`eventually`, the one way a test waits for what it needs."""

from lkg.common.testing.waiting import eventually

__all__ = ["eventually"]
