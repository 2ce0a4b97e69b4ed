"""Where a deployment's servers are, for the ``lkg`` commands: ``DATABASE_URL`` / ``NATS_URL`` (and
``LKG_NATS_PREFIX``) from the environment, else the embedded servers that ``lkg run`` started under a data
directory (it writes ``runtime.json`` there, and a note under the user's state directory so that
``lkg clock …`` finds a deployment started with ``--data-dir`` elsewhere)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from lkg.common.db import with_database
from lkg.common.events.bus import Credentials
from lkg.common.events.permissions import OPERATOR
from lkg.common.runtime.data_secrets import read_deployment_secrets
from lkg.common.settings import ServiceSettings

if TYPE_CHECKING:
    from lkg.common.runtime.service import ServiceSpec

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="LKG_DATA_DIR", help="Embedded servers' data.")]
DEFAULT_DATA_DIR = Path(".lkg")
err_console = Console(stderr=True)


@dataclass
class Endpoints:
    """Where PostgreSQL and NATS are, and whether they are the embedded ones; the operator's bus user."""

    database_url: str
    nats_url: str
    prefix: str
    embedded: bool
    credentials: Credentials | None = None


def specs_for(targets: Sequence[str] | None) -> list[ServiceSpec[Any]]:
    from lkg.common.runtime.service import discover_specs

    specs = discover_specs()
    if not targets:
        return list(specs.values())
    unknown = [t for t in targets if t not in specs]
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; installed: {sorted(specs)}")
    return [specs[t] for t in targets]


def database_url_of(settings: ServiceSettings) -> str:
    if not settings.database_url:
        raise typer.BadParameter(f"{settings.service_name}: no database URL")
    return settings.database_url


def runtime_file(data_dir: Path) -> Path:
    return data_dir / "runtime.json"


# ---- running deployments: `lkg clock ...` finds one started with --data-dir elsewhere ---------------------


def running_dir() -> Path:
    """Where each running ``lkg run`` of this user leaves a note naming its data directory."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "lkg" / "running"


def note_path(data_dir: Path) -> Path:
    return running_dir() / f"{hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]}.json"


def announce(data_dir: Path, http: str) -> Path | None:
    """Note that an embedded deployment runs on ``data_dir`` (removed when it stops). ``None`` when the note
    cannot be written (a read-only home): the CLI then needs ``--data-dir`` as before."""
    note = note_path(data_dir)
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(json.dumps({"data_dir": str(data_dir.resolve()), "pid": os.getpid(), "http": http}))
    except OSError:
        return None
    return note


def running_deployments() -> list[dict[str, Any]]:
    """The embedded deployments of this user that run now (notes of stopped ones are removed)."""
    try:
        import psutil  # with the embedded extra, as are the deployments it looks for
    except ImportError:
        return []
    found = []
    for note in sorted(running_dir().glob("*.json")):
        try:
            info = json.loads(note.read_text())
            alive = psutil.pid_exists(int(info["pid"])) and runtime_file(Path(info["data_dir"])).exists()
        except (OSError, ValueError, KeyError, TypeError):
            alive = False
        if alive:
            found.append(info)
        else:
            with contextlib.suppress(OSError):
                note.unlink()
    return found


def endpoints_of(data_dir: Path) -> Endpoints:
    settings = ServiceSettings()
    if settings.database_url and settings.nats_url:
        return Endpoints(
            settings.database_url,
            settings.nats_url,
            settings.nats_prefix,
            embedded=False,
            credentials=settings.nats_credentials,
        )
    path = runtime_file(located(data_dir))
    if not path.exists():
        raise typer.BadParameter(
            "no DATABASE_URL/NATS_URL in the environment and no embedded servers running "
            f"on --data-dir {data_dir} (no {path}); give the --data-dir that `lkg run` was started with "
            "(or LKG_DATA_DIR), or start one with `lkg run`"
        )
    info = json.loads(path.read_text())
    secrets = read_deployment_secrets(path.parent)
    credentials = None
    if secrets is not None:  # the deployment's own operator user (lkg.common.events.permissions)
        credentials = Credentials(OPERATOR, secrets["nats"][OPERATOR])
    return Endpoints(
        info["database_url"], info["nats_url"], info.get("prefix", ""), embedded=True, credentials=credentials
    )


def located(data_dir: Path) -> Path:
    """``data_dir``, or, when it is the default and holds no deployment, the one embedded deployment of
    this user running elsewhere (several: the user must name one)."""
    path = runtime_file(data_dir)
    if not path.exists() and data_dir == DEFAULT_DATA_DIR and "LKG_DATA_DIR" not in os.environ:
        # Started elsewhere with --data-dir: one running deployment is unambiguous, several are listed.
        running = running_deployments()
        if len(running) == 1:
            err_console.print(f"using the deployment on --data-dir {running[0]['data_dir']}")
            return Path(running[0]["data_dir"])
        if running:
            listed = ", ".join(f"--data-dir {r['data_dir']} ({r['http']})" for r in running)
            raise typer.BadParameter(f"several embedded deployments run; name one: {listed}")
    return data_dir


def service_url(endpoints: Endpoints, service: str, targets_all: bool) -> str:
    """Embedded / one-process: database ``lkg_<service>`` on the server; one service: the URL as given."""
    from lkg.common.runtime.app import database_name

    if endpoints.embedded or targets_all:
        return with_database(endpoints.database_url, database_name(service))
    return endpoints.database_url
