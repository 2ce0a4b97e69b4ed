"""A candidate registry app for ``bench/registry.py --app-factory``: the deployed app, then ``gc.freeze()``.

Why: the registry process holds a large heap once built (FastAPI, SQLAlchemy mappers, pydantic schemas),
and every full (generation 2) collection walks all of it: measured with ``gc.callbacks`` during
``bench/registry.py --scenarios list`` at load ~3-4, those pauses took a median 81 ms (max 162 ms), and
each stalls every request in flight, which is what the 50-connection p99s are made of. Frozen after
start-up, the start-up objects are no longer walked: median 3.1 ms (max 3.7 ms) in the same run.

Not the deployed app: this measures the change before someone puts ``gc.freeze()`` into the app factory::

    .venv/bin/python -P bench/registry.py --app-factory _gc_frozen_registry:create_app  # run in bench/
"""

from __future__ import annotations

import gc

from lkg.registry.app import create_app as _create_app


def create_app():
    app = _create_app()
    gc.collect()
    gc.freeze()
    return app
