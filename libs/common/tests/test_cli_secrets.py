"""Secrets of the embedded default (issue 11, item 6): each data directory makes its own token secret and
bus passwords, kept under it for its owner only; `lkg run` refuses the repository's placeholder beyond
loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lkg.common.events.permissions import USERS
from lkg.common.runtime import cli
from lkg.common.runtime.data_secrets import SECRETS_FILE, deployment_secrets, read_deployment_secrets
from lkg.common.settings import PLACEHOLDER_SECRET

LKG = str(Path(sys.executable).with_name("lkg"))


def test_each_data_directory_makes_its_own_secrets_once_and_keeps_them_private(tmp_path: Path) -> None:
    first = deployment_secrets(tmp_path / "a")
    again = deployment_secrets(tmp_path / "a")
    other = deployment_secrets(tmp_path / "b")
    assert again == first
    assert first["jwt_secret"] != other["jwt_secret"] and len(first["jwt_secret"]) >= 48
    assert first["jwt_secret"] != PLACEHOLDER_SECRET
    assert set(first["nats"]) == set(USERS)
    assert len({*first["nats"].values(), *other["nats"].values()}) == 2 * len(USERS)
    assert (tmp_path / "a" / SECRETS_FILE).stat().st_mode & 0o777 == 0o600
    assert read_deployment_secrets(tmp_path / "a") == first
    assert read_deployment_secrets(tmp_path / "none") is None


def test_a_bus_user_added_later_gets_a_password_and_the_others_keep_theirs(tmp_path: Path) -> None:
    first = deployment_secrets(tmp_path)
    stored = json.loads((tmp_path / SECRETS_FILE).read_text())
    del stored["nats"]["notifier"]
    (tmp_path / SECRETS_FILE).write_text(json.dumps(stored))
    again = deployment_secrets(tmp_path)
    assert again["jwt_secret"] == first["jwt_secret"]
    assert {u: p for u, p in again["nats"].items() if u != "notifier"} == {
        u: p for u, p in first["nats"].items() if u != "notifier"
    }
    assert again["nats"]["notifier"] not in (None, first["nats"]["notifier"])


def test_lkg_token_signs_with_the_data_directorys_own_secret(tmp_path: Path, monkeypatch) -> None:
    import jwt

    monkeypatch.delenv("LKG_JWT_SECRET", raising=False)
    monkeypatch.delenv("LKG_DATA_DIR", raising=False)
    secrets = deployment_secrets(tmp_path / "d")
    result = CliRunner().invoke(cli.app, ["token", "--person", "p1", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    token = "".join(result.output.split())
    claims = jwt.decode(token, secrets["jwt_secret"], algorithms=["HS256"], audience="lkg")
    assert claims["sub"] == "p1"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, PLACEHOLDER_SECRET, algorithms=["HS256"], audience="lkg")


def test_lkg_run_beyond_loopback_refuses_the_placeholder_secret() -> None:
    # In a subprocess: `lkg run` configures the process's logging, which the other tests read.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LKG_")}
    env.update(DATABASE_URL="postgresql://x@127.0.0.1:1/lkg_registry", NATS_URL="nats://127.0.0.1:1")
    result = subprocess.run(
        [LKG, "run", "--target", "registry", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "development placeholder" in " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "lkg.example.gov.cn"])
def test_the_placeholder_is_refused_on_any_address_but_loopback(host: str) -> None:
    from lkg.common.settings import ServiceSettings

    with pytest.raises(typer.BadParameter, match="development placeholder"):
        cli._refuse_placeholder_beyond_loopback(ServiceSettings(), host)


def test_lkg_run_on_loopback_or_with_a_real_secret_passes_the_check(monkeypatch) -> None:
    from lkg.common.settings import ServiceSettings

    for host in ("127.0.0.1", "::1", "localhost"):
        cli._refuse_placeholder_beyond_loopback(ServiceSettings(), host)
    cli._refuse_placeholder_beyond_loopback(ServiceSettings(jwt_secret="r" * 40), "0.0.0.0")
    cli._refuse_placeholder_beyond_loopback(
        ServiceSettings(jwt_jwks_url="https://sso.example.gov.cn/k"), "0.0.0.0"
    )
