"""`lkg clock ...` (and every command that talks to a deployment) finds an embedded deployment started with
``--data-dir`` elsewhere, or says which ``--data-dir`` to give (issue 11, item 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lkg.common.runtime import cli, deployments


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in ("LKG_DATA_DIR", "DATABASE_URL", "NATS_URL", "LKG_DATABASE_URL", "LKG_NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .lkg here
    return tmp_path


def deployment(root: Path, name: str, nats_port: int) -> Path:
    data_dir = root / name
    data_dir.mkdir()
    (data_dir / "runtime.json").write_text(
        json.dumps(
            {
                "database_url": f"postgresql://x/{name}",
                "nats_url": f"nats://127.0.0.1:{nats_port}",
                "prefix": "",
            }
        )
    )
    return data_dir


def test_one_deployment_running_elsewhere_is_found(state: Path) -> None:
    data_dir = deployment(state, "elsewhere", 4333)
    note = deployments.announce(data_dir, "http://127.0.0.1:8777")
    assert note is not None and note.exists()
    endpoints = deployments.endpoints_of(deployments.DEFAULT_DATA_DIR)
    assert (endpoints.nats_url, endpoints.database_url, endpoints.embedded) == (
        "nats://127.0.0.1:4333",
        "postgresql://x/elsewhere",
        True,
    )


def test_several_running_are_listed_with_the_flag_to_choose_one(state: Path) -> None:
    first, second = deployment(state, "a", 4333), deployment(state, "b", 4334)
    deployments.announce(first, "http://127.0.0.1:8001")
    deployments.announce(second, "http://127.0.0.1:8002")
    with pytest.raises(typer.BadParameter) as refused:
        deployments.endpoints_of(deployments.DEFAULT_DATA_DIR)
    assert f"--data-dir {first.resolve()} (http://127.0.0.1:8001)" in str(refused.value)
    assert f"--data-dir {second.resolve()} (http://127.0.0.1:8002)" in str(refused.value)
    # Naming one settles it.
    assert deployments.endpoints_of(second).nats_url == "nats://127.0.0.1:4334"


def test_a_stopped_deployment_is_forgotten(state: Path) -> None:
    data_dir = deployment(state, "gone", 4333)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    note = deployments.note_path(data_dir)
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"data_dir": str(data_dir), "pid": int(finished.stdout), "http": "x"}))
    assert deployments.running_deployments() == []
    assert not note.exists()


def test_with_nothing_running_the_error_names_the_flag(state: Path) -> None:
    result = CliRunner().invoke(cli.app, ["clock", "show"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "give the --data-dir that `lkg run` was started with" in text
