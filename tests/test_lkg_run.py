"""`lkg run`, the embedded default, as a newcomer uses it: start, use, Ctrl-C, start again on the same data.

Running it again on the same data directory keeps the data and the clock and seeds nothing twice; Ctrl-C
stops everything it started, with no stray postgres or nats-server (issue #2, Runtime).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lkg.common.runtime.processes import no_strays
from lkg.common.settings import PLACEHOLDER_SECRET
from lkg.common.testing import eventually

LKG = str(Path(sys.executable).with_name("lkg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LKG_") and k not in ("DATABASE_URL", "NATS_URL")
    }
    env["LKG_LOG_LEVEL"] = "WARNING"
    env["XDG_STATE_HOME"] = str(state)  # where `lkg run` notes that it runs: this test's own
    return env


class Run:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [LKG, "run", "--data-dir", str(data_dir), "--port", str(self.port)],
            env=clean_env(data_dir.parent / "state"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> dict:
        async def ready() -> dict:
            if self.process.poll() is not None:  # not an AssertionError: eventually() stops at once
                raise RuntimeError(f"lkg run exited early:\n{self.process.stdout.read()}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    response = await client.get(f"{self.base}/readyz")
            except httpx.HTTPError as exc:
                raise AssertionError(f"lkg run not answering yet: {exc!r}") from exc
            assert response.status_code == 200, response.text
            return response.json()

        # A synchronous test: no event loop runs here, so one is made for the wait.
        return asyncio.run(eventually(ready, timeout=timeout, interval=0.5))

    def projects(self, headers: dict[str, str]) -> list[dict]:
        """Every project in the register, page by page (at most 200 a page)."""
        found: list[dict] = []
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{self.base}/api/v1/projects", headers=headers, params=params).json()
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def lkg(self, *args: str, data_dir: bool = True, **env: str) -> str:
        result = subprocess.run(
            [LKG, *args, "--data-dir", str(self.data_dir)] if data_dir else [LKG, *args],
            env={**clean_env(self.data_dir.parent / "state"), **env},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.data_dir.parent,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.mark.crash
def test_lkg_run_keeps_data_and_clock_across_restarts_and_leaves_no_strays(tmp_path):
    data_dir = tmp_path / "lkg"
    first = Run(data_dir)
    try:
        ready = first.wait_ready()
        assert ready["now"] == "2020-05-01T09:00:00+08:00"  # the day the policy was issued
        token = first.lkg("token", "--person", "demo", "--role", "major_projects_office").replace("\n", "")
        headers = {"Authorization": f"Bearer {token}"}
        # The synthetic 2020 portfolio (docs/operations.md), every project labelled as demo data.
        projects = first.projects(headers)
        assert len(projects) == 245 and all(p["name"].startswith("【演示】") for p in projects)
        # The deployment signs with its own secret, made for this data directory: the placeholder of the
        # repository is refused (issue 11, item 6).
        placeholder = first.lkg(
            "token", "--person", "demo", "--role", "admin", LKG_JWT_SECRET=PLACEHOLDER_SECRET
        ).replace("\n", "")
        refused = httpx.get(
            f"{first.base}/api/v1/projects", headers={"Authorization": f"Bearer {placeholder}"}
        )
        assert refused.status_code == 401
        assert (data_dir / "secrets.json").stat().st_mode & 0o077 == 0
        assert "2020-05-04T09:00:00+08:00" in first.lkg("clock", "advance", "3d")
        # Found without --data-dir: it is the one deployment running (issue 11, item 17).
        assert first.lkg("clock", "show", data_dir=False).splitlines()[-1] == "2020-05-04T09:00:00+08:00"
        # The move settled every service: each read copy holds the last project registered.
        last = projects[-1]["id"]
        for service in ("approvals", "issues", "scoring", "notifier"):
            copy = httpx.get(f"{first.base}/api/v1/read-copies/{service}/projects/{last}", headers=headers)
            assert copy.status_code == 200, (service, copy.text)
    finally:
        first.interrupt()
    assert no_strays(data_dir) == []
    # Every service, the shared connection and the CLI kept to their permissions on the bus (item 8).
    assert "Violation" not in (data_dir / "nats" / "nats.log").read_text()

    second = Run(data_dir)
    try:
        ready = second.wait_ready()
        assert ready["now"] == "2020-05-04T09:00:00+08:00"
        assert len(second.projects(headers)) == 245  # seeded once
    finally:
        second.interrupt()
    assert no_strays(data_dir) == []
