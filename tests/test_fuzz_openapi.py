"""Every service's OpenAPI, fuzzed with schemathesis against a real running deployment of that service.

Each service runs alone, as in its pod (its own app, database and stream prefix; real PostgreSQL and
NATS), and is called with a valid token holding the privileged roles, so generated requests get past
authentication and reach the handlers. Whatever schemathesis sends, valid or not, the service must answer
without a 5xx, with a documented status, content type and headers, with a body that fits its own schema,
accepting what its schema admits and rejecting what it does not: every built-in check of schemathesis
runs, over its examples, coverage (boundary values, missing and malformed parts, other methods) and
fuzzing phases, derandomized and bounded by :data:`MAX_EXAMPLES` per operation. There is one test item
per operation, named by its service and operation: ``test_registry_openapi[GET /api/v1/projects]``; the
dev clock, a platform route every service serves outside production, is fuzzed once, on its own.

Why a real server on a thread of its own rather than schemathesis's in-process ASGI transport: that
transport runs the app on a private event loop in a worker thread and starts the app's lifespan there a
second time, while a deployment's engines and NATS connection belong to the loop that built them (asyncpg
pools fail when used from another loop). So :class:`Deployments` starts each deployment on a dedicated
event loop in a background thread — ``running_system`` runs the lifespan once, and uvicorn serves that
same app instance on 127.0.0.1 with ``lifespan="off"`` — and schemathesis, whose calls are synchronous,
sends real HTTP to it from pytest's thread. The fuzzed document is built in-process from the service's
app at collection time and checked against the one the running server serves before any case is sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lkg.common.auth import Role
from lkg.common.http.idempotency import _VALID_KEY as VALID_IDEMPOTENCY_KEY
from lkg.common.runtime.app import build_app, settings_for
from lkg.common.runtime.service import ServiceSpec, discover_specs
from lkg.common.settings import ServiceSettings
from lkg.common.testing import eventually
from lkg.common.testing.system import running_system

pytestmark = pytest.mark.fuzz

SPECS: dict[str, ServiceSpec] = discover_specs()

#: File bodies the services take as they are (the registry's plan workbook): schemathesis cannot make an
#: .xlsx by itself, so it gets real workbooks to send (an empty one, and one with a title row only), next
#: to the arbitrary bytes it sends as application/octet-stream.
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_MEDIA_TYPES = (XLSX, "application/octet-stream")


def _workbooks() -> list[bytes]:
    import io

    from openpyxl import Workbook

    out = []
    for rows in ([], [["重大产业项目推进计划"]]):
        book = Workbook()
        for row in rows:
            book.active.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        out.append(buffer.getvalue())
    return out


schemathesis.openapi.media_type(XLSX, st.sampled_from(_workbooks()))

#: The services docs/architecture.md names; each must be installed, or its OpenAPI would silently go unfuzzed.
SERVICES = ("registry", "approvals", "issues", "scoring", "notifier")

#: Per operation: enough for schemathesis to reach boundary values and malformed input, little enough
#: that the whole file runs in well under two minutes.
MAX_EXAMPLES = 50

#: A token that passes every role check the services make today, so the fuzzing reaches the handlers.
PRIVILEGED_ROLES = (Role.ADMIN, Role.MAJOR_PROJECTS_OFFICE)

#: Seconds a single request may take before the case fails (a hang is a finding too).
REQUEST_TIMEOUT = 30.0


def service_openapi(spec: ServiceSpec) -> dict[str, Any]:
    """The OpenAPI document of ``spec``'s app alone (the pod shape), built without starting anything.

    Settings as ``running_system`` gives them (``env="test"``, simulated clock), so the document is the
    one the running deployment serves; :meth:`Deployments.url` checks that it is.
    """
    base = ServiceSettings(env="test", clock="simulated")
    app = build_app([spec], base, {spec.name: settings_for(spec, base)})
    return app.openapi()


DOCUMENTS: dict[str, dict[str, Any]] = {name: service_openapi(spec) for name, spec in SPECS.items()}


class Deployments:
    """One deployment at a time, each served over HTTP by uvicorn on an event loop of its own.

    The loop runs in a daemon thread for the whole module. :meth:`url` starts a named deployment of a
    service on first use and stops the previous one, so at most one set of engines and consumers is alive
    and each test function fuzzes a deployment no other test has touched.
    """

    def __init__(self, *, db_factory: Any, nats_url: str, nats_prefix: str) -> None:
        # The session's DatabaseFactory, used from this module's loop: each of its calls opens and closes
        # its own connection, and the session loop is idle while a synchronous test runs.
        self._db_factory = db_factory
        self._nats_url = nats_url
        self._nats_prefix = nats_prefix
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzz-deployments", daemon=True)
        self._thread.start()
        self._current: str | None = None
        self._url: str | None = None
        self._headers: dict[str, str] = {}
        self._stop: asyncio.Event | None = None
        self._served: Future[None] | None = None

    def url(self, name: str, service: str) -> str:
        """Base URL of the deployment ``name`` of ``service`` (started now unless it is the current one)."""
        if self._current != name:
            self.stop()
            self._start(name, service)
        assert self._url is not None
        return self._url

    @property
    def headers(self) -> dict[str, str]:
        """A bearer token of the current deployment holding :data:`PRIVILEGED_ROLES`."""
        return self._headers

    def _start(self, name: str, service: str) -> None:
        ready: Future[tuple[str, dict[str, str]]] = Future()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(name, SPECS[service], ready), self._loop)
        try:
            self._url, self._headers = ready.result(timeout=120)
        except BaseException:
            if self._served.done():
                self._served.result()  # the deployment's own failure says more than the timeout
            raise
        self._current = name
        served = requests.get(f"{self._url}/openapi.json", timeout=REQUEST_TIMEOUT).json()
        assert served == DOCUMENTS[service], f"{service} serves another OpenAPI document than was collected"

    def stop(self) -> None:
        if self._served is None:
            return
        stop, served = self._stop, self._served
        self._current = self._url = self._stop = self._served = None
        assert stop is not None
        self._loop.call_soon_threadsafe(stop.set)
        served.result(timeout=120)
        asyncio.run_coroutine_threadsafe(_cancel_leftover_tasks(), self._loop).result(timeout=30)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()

    async def _serve(self, name: str, spec: ServiceSpec, ready: Future[tuple[str, dict[str, str]]]) -> None:
        """Run ``spec`` alone and serve it until :meth:`stop`; everything happens in this one task."""
        self._stop = asyncio.Event()
        async with running_system(
            db_factory=self._db_factory,
            nats_url=self._nats_url,
            prefix=f"{self._nats_prefix}fz{name.replace('-', '')}",
            specs=[spec],
        ) as system:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            # The lifespan already runs (running_system entered it on this loop): uvicorn must not run it
            # again. Outside the main thread uvicorn installs no signal handlers.
            server = uvicorn.Server(
                uvicorn.Config(system.app, lifespan="off", log_level="warning", access_log=False)
            )
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            try:

                def started() -> bool:
                    if serving.done():  # not an AssertionError: eventually() stops at once
                        serving.result()
                        raise RuntimeError("uvicorn stopped before it started")
                    return server.started

                await eventually(started, interval=0.01)
                ready.set_result((f"http://127.0.0.1:{port}", system.auth(*PRIVILEGED_ROLES)))
                await self._stop.wait()
            finally:
                server.should_exit = True
                await serving
                sock.close()


async def _cancel_leftover_tasks() -> None:
    """End what a stopped deployment left behind (nats-py leaves JetStream helper tasks pending), so
    nothing of it outlives it and closing the loop destroys no pending task."""
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


@pytest.fixture(scope="module")
def deployments(db_factory, nats_url: str, nats_prefix: str) -> Iterator[Deployments]:
    running = Deployments(db_factory=db_factory, nats_url=nats_url, nats_prefix=nats_prefix)
    try:
        yield running
    finally:
        running.close()


def _names_a_webhook_target(case: schemathesis.Case) -> bool:
    """A notifier webhook endpoint created or changed with a URL (refused unless allow-listed)."""
    return (
        case.operation.path.startswith("/api/v1/notifications/webhook-endpoints")
        and case.method.upper() in {"POST", "PATCH", "PUT"}
        and isinstance(case.body, dict)
        and "url" in case.body
    )


def _send_unsendable_query_values(case: schemathesis.Case) -> None:
    """Put a query value the HTTP client would drop on the wire as an empty string.

    A negative case may give a query parameter (declared, or one the operation does not declare, an
    ``additionalProperties`` violation) the value ``None`` or ``[]``, which the client leaves out of the
    query string: the request that arrives is then schema-valid and rightly accepted, and the "schema-
    violating request accepted" check fails on a violation that was never sent (``GET /api/v1/red-cards``
    with an extra parameter, ``GET /api/v1/projects/plan.xlsx?project_class=None``). An empty string is sent,
    and the case is revalidated by schemathesis (the container is replaced, not mutated): an undeclared or an
    enumerated parameter must then be refused, and a value that is valid as an empty string is judged as
    the valid request it now is."""
    if not case.query:
        return
    sendable = {name: "" if value is None or value == [] else value for name, value in case.query.items()}
    if sendable != case.query:
        case.query = sendable


def fuzz_test(schema: BaseSchema, *, deployment: str, service: str) -> Callable[..., None]:
    """A test with one item per operation of ``schema``, sent to the deployment ``deployment``."""

    @schema.parametrize()
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        # A real round trip per example is "slow" to Hypothesis; rejected draws are schemathesis's business.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def test(case: schemathesis.Case, deployments: Deployments) -> None:
        _send_unsendable_query_values(case)
        headers = dict(deployments.headers)
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str) and VALID_IDEMPOTENCY_KEY.fullmatch(key):
            # Generated valid keys repeat across different bodies, which the server rightly refuses (422
            # idempotency_key_reused, tested in test_http_idempotency); here every valid create is a new
            # one. An invalid key (a negative case) is sent as generated, to be refused.
            headers["Idempotency-Key"] = str(uuid.uuid4())
        kwargs = {
            "base_url": deployments.url(deployment, service),
            "headers": headers,
            "timeout": REQUEST_TIMEOUT,
        }
        if case.media_type in FILE_MEDIA_TYPES:
            # A file body (a plan workbook) is "schema-valid" as any bytes at all; only a real workbook is
            # valid data, which the generic check cannot know. The refusal must still be a clear 4xx.
            response = case.call(**kwargs)
            case.validate_response(
                response, excluded_checks=[positive_data_acceptance], headers=deployments.headers
            )
            assert response.status_code < 500, response.text
            return
        if _names_a_webhook_target(case):
            # A webhook URL is schema-valid as any http(s) URL; only one on the deployment's allow-list (empty
            # here) and outside private ranges is valid data, which the generic check cannot know. The
            # refusal must be a stable 422 webhook_* code (host not allowed, unresolvable, private); every
            # other check runs.
            response = case.call(**kwargs)
            case.validate_response(
                response, excluded_checks=[positive_data_acceptance], headers=deployments.headers
            )
            if response.status_code == 422 and response.json().get("code", "").startswith("webhook_"):
                return
            assert response.status_code < 500, response.text
            return
        if not (case.query and "cursor" in case.query):
            case.call_and_validate(**kwargs)
            return
        # A cursor is opaque: a schema-valid string the server never issued must be refused with 400
        # invalid_cursor, which the generic "valid data accepted" check cannot know. Every other check runs.
        response = case.call(**kwargs)
        case.validate_response(
            response, excluded_checks=[positive_data_acceptance], headers=deployments.headers
        )
        if response.status_code == 400:
            assert response.json()["code"] == "invalid_cursor", response.text

    return test


# One test per installed service, so a service added later is fuzzed without anyone remembering to. The
# dev clock (a platform route in every service's document while not in production) is fuzzed once, below.
for _service in SPECS:
    globals()[f"test_{_service}_openapi"] = fuzz_test(
        schemathesis.openapi.from_dict(DOCUMENTS[_service]).exclude(tag="dev"),
        deployment=_service,
        service=_service,
    )

_HOST = next(iter(SPECS))
test_dev_clock_openapi = fuzz_test(
    schemathesis.openapi.from_dict(DOCUMENTS[_HOST]).include(tag="dev"), deployment="dev-clock", service=_HOST
)


def test_every_service_is_installed_and_fuzzed():
    assert set(SERVICES) <= set(SPECS)
    assert {f"test_{service}_openapi" for service in SERVICES} <= set(globals())
