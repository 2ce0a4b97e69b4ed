"""Events: the envelope and contract base (:mod:`.base`), the contracts by producer (:mod:`.contracts`),
the outbox, the inbox and the bus.

Importing the package registers every contract (the import below), so :func:`.base.contract_registry` is
full whichever module of the package is imported first.
"""

from lkg.common.events import contracts  # noqa: F401  (registers the contract classes)
