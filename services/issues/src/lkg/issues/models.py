"""Tables of the issues service (its own database).

So far its read copy of the registry's projects, built from ``project.registered``/``project.changed``
(DESIGN §3: read copies from events, never the registry's tables).
"""

from __future__ import annotations

from lkg.common.db import make_metadata
from lkg.common.readcopy import define_project_copy

metadata = make_metadata()
project_copy = define_project_copy(metadata)
