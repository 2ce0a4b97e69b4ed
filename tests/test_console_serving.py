"""``lkg run`` serves the web console at ``/`` (docs/console.md): the shell and its files need no token, carry
the platform's security headers (scripts from the platform only); the shell is revalidated and names its
files under the current release, which the browser keeps (immutable) while plain or stale names are
revalidated; a
path outside the console's directory, a missing file or a write answers a problem, never a file; the API
behind it is unchanged. Every asset is the platform's own: no page or module names another host, and the
vendored ECharts is the file whose checksum web/vendor/README.md records."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from lkg.common.http.middleware import CONTENT_SECURITY_POLICY
from lkg.common.runtime.console import CHECKOUT_WEB_DIR, Release, console_dir
from lkg.common.settings import ServiceSettings
from lkg.common.testing.system import System, running_system
from lkg.registry.app import SPEC

WEB = Path(__file__).resolve().parents[1] / "web"
_n = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}webs{next(_n)}", specs=[SPEC]
    ) as running:
        yield running


async def test_the_shell_is_served_at_the_root_without_a_token_under_the_platform_csp(system: System) -> None:
    response = await system.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    shell = r'<script type="module" src="/console/r-([0-9a-f]{16})/js/main\.js"></script>'
    release = re.search(shell, response.text)
    assert release, response.text
    assert "/console/app.css" not in response.text  # every file named under the release
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    etag = response.headers["etag"]
    again = await system.client.get("/", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    # Under the current release a file is kept by the browser; under another one, or none, revalidated.
    kept = await system.client.get(f"/console/r-{release.group(1)}/js/main.js")
    assert (kept.status_code, kept.headers["cache-control"]) == (200, "public, max-age=31536000, immutable")
    assert kept.content == (WEB / "js/main.js").read_bytes()
    stale = await system.client.get("/console/r-0123456789abcdef/js/main.js")
    assert (stale.status_code, stale.headers["cache-control"]) == (200, "no-cache")
    plain = await system.client.get("/console/js/main.js")
    assert plain.headers["cache-control"] == "no-cache"


def test_the_release_changes_when_a_file_does(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "a.js").write_text("1")
    release = Release(tmp_path)
    first = release.current()
    assert first == release.current()
    (tmp_path / "a.js").write_text("22")
    assert release.current() != first


async def test_console_files_are_served_with_their_types(system: System) -> None:
    module = await system.client.get("/console/js/main.js")
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/javascript")
    style = await system.client.get("/console/app.css")
    assert style.headers["content-type"].startswith("text/css")
    head = await system.client.head("/console/vendor/echarts/echarts.simple.min.js")
    assert head.status_code == 200
    assert (
        int(head.headers["content-length"]) == (WEB / "vendor/echarts/echarts.simple.min.js").stat().st_size
    )


async def test_anything_else_answers_a_problem_and_the_api_still_wants_a_token(system: System) -> None:
    for path in (
        "/console/missing.js",
        "/console/../pyproject.toml",
        "/console/%2e%2e/pyproject.toml",
        "/console/",
    ):
        response = await system.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["code"] == "not_found"
    wrote = await system.client.post("/", content=b"x")
    assert (wrote.status_code, wrote.json()["code"], wrote.headers["allow"]) == (
        405,
        "method_not_allowed",
        "GET, HEAD",
    )
    api = await system.client.get("/api/v1/projects")
    assert (api.status_code, api.json()["code"]) == (401, "unauthenticated")
    assert (await system.client.get("/healthz")).json() == {"status": "ok"}


def test_the_console_directory_is_the_checkouts_web_unless_settings_name_another(tmp_path: Path) -> None:
    assert CHECKOUT_WEB_DIR == WEB
    assert console_dir(ServiceSettings()) == WEB
    assert console_dir(ServiceSettings(console_dir=tmp_path)) is None  # no index.html: nothing served
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert console_dir(ServiceSettings(console_dir=tmp_path)) == tmp_path


def test_every_asset_is_the_platforms_own_and_the_vendored_library_is_the_recorded_one() -> None:
    for path in WEB.rglob("*"):
        if path.suffix not in {".html", ".js", ".css"} or "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href|import|url)\s*[=(]?\s*["'(]\s*(https?:)?//""", text), path
        # DOM built from text only (web/js/dom.js): data from the API never becomes markup.
        assert ".innerHTML" not in text and "insertAdjacentHTML" not in text, path
        assert "localStorage." not in text, path  # tokens never outlive the tab (docs/console.md)
    recorded = (WEB / "vendor/README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((WEB / "vendor/echarts/echarts.simple.min.js").read_bytes()).hexdigest()
    assert f"`{digest}`" in recorded
    assert "Apache License" in (WEB / "vendor/echarts/LICENSE").read_text(encoding="utf-8")
