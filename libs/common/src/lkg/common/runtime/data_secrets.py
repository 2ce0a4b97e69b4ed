"""The secrets of an embedded deployment's data directory (``secrets.json``): made at random on first start,
readable by the owner only, never the placeholder of the repository."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

SECRETS_FILE = "secrets.json"


def deployment_secrets(data_dir: Path) -> dict[str, Any]:
    """The embedded deployment's own secrets, made at random on its first start and kept in
    ``<data_dir>/secrets.json`` (readable by its owner only): the token-signing secret (``lkg token``
    reads it; no deployment accepts tokens signed with the placeholder of the repository) and a NATS
    password per bus user (:data:`lkg.common.events.permissions.USERS`). A user added by a later version
    gets its password on the next start; existing ones are kept."""
    import secrets

    from lkg.common.events.permissions import USERS

    path = Path(data_dir) / SECRETS_FILE
    stored: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError):
        stored = json.loads(path.read_text())
    wanted = dict(stored)
    wanted.setdefault("jwt_secret", secrets.token_urlsafe(48))
    nats_passwords = dict(wanted.get("nats", {}))
    for user in USERS:
        nats_passwords.setdefault(user, secrets.token_urlsafe(32))
    wanted["nats"] = nats_passwords
    if wanted != stored:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(wanted, indent=2))
    return wanted


def read_deployment_secrets(data_dir: Path) -> dict[str, Any] | None:
    """The secrets of an existing data directory, or ``None`` when it has none (never creates them)."""
    try:
        return json.loads((Path(data_dir) / SECRETS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by the owner only, replacing it atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
