"""The web console (``web/``, docs/console.md) served at ``/`` by the app that ``lkg run`` builds.

The console is static files: an HTML shell, ES modules, a stylesheet and vendored libraries. It calls only
the public API with the signed-in person's token, so the server adds nothing for it but the files. They are
served by an ASGI layer inside the edge middleware (correlation id, security headers with the platform's
Content-Security-Policy, access line) and before the routes: ``/`` is the shell, ``/console/<file>`` a file
of the directory. Neither needs a token (the files hold no data) and no API path is touched.

Caching: the shell names its files under ``/console/r-<release>/`` (the release: a digest of every file of
the directory, worked out again when one changes), and a file asked for under the current release is kept
by the browser for a year (``immutable``): a reload asks the server for the shell alone (revalidated, a
304 when unchanged), not for each module again. A new release is a new shell naming new URLs, so it is
seen at once. A file asked for under another release, or under plain ``/console/``, is served as it is now
and revalidated each time.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from lkg.common.http.problems import problem_response
from lkg.common.log import get_logger
from lkg.common.settings import ServiceSettings

log = get_logger(__name__)

#: Where the console's files are in a checkout of the repository (libs/common/src/lkg/common/runtime/…).
CHECKOUT_WEB_DIR = Path(__file__).resolve().parents[6] / "web"
#: The URL prefix of the console's files; the shell is ``/``.
PREFIX = "/console/"
#: Browsers check with the server (ETag / Last-Modified, answered 304) before using a kept copy: a new
#: release is seen at once, and an unchanged file costs no body.
CACHE_CONTROL = "no-cache"
#: A file asked for under the current release never changes: the browser keeps it without asking.
IMMUTABLE = "public, max-age=31536000, immutable"
_RELEASE = re.compile(r"r-([0-9a-f]{16})/")


class Release:
    """The digest of every file of the directory, worked out again when a file's size or time changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._digest = ""

    def current(self) -> str:
        files = sorted(p for p in self.directory.rglob("*") if p.is_file())
        stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        if stamp != self._stamp:
            digest = hashlib.blake2b(digest_size=8)
            for path in files:
                digest.update(str(path.relative_to(self.directory)).encode() + b"\0" + path.read_bytes())
            self._stamp, self._digest = stamp, digest.hexdigest()
        return self._digest


def console_dir(settings: ServiceSettings) -> Path | None:
    """The directory to serve, or None when there is none (an image built without it)."""
    directory = settings.console_dir or CHECKOUT_WEB_DIR
    return directory if (directory / "index.html").is_file() else None


class ConsoleFiles:
    """Serve the console's shell at ``/`` and its files under ``/console/``; pass everything else on."""

    def __init__(self, app: Any, *, directory: Path) -> None:
        self.app = app
        self.files = StaticFiles(directory=directory, follow_symlink=False)
        self.release = Release(directory)
        self.directory = directory

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/" or path.startswith(PREFIX):
            await self.serve(scope, receive, send, "index.html" if path == "/" else path[len(PREFIX) :])
            return
        await self.app(scope, receive, send)

    async def serve(self, scope: Any, receive: Any, send: Any, name: str) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response: Any = problem_response(
                status=405,
                code="method_not_allowed",
                title="不支持该请求方法",
                detail="控制台文件只支持 GET 和 HEAD",
                instance=scope["path"],
                headers={"Allow": "GET, HEAD"},
            )
        else:
            release = self.release.current()
            asked = _RELEASE.match(name)
            if asked:
                name = name[asked.end() :]
            try:
                response = await self.files.get_response(name, scope)
            except HTTPException:
                response = None
            if response is None or response.status_code == 404:
                response = problem_response(
                    status=404,
                    code="not_found",
                    title="资源不存在",
                    detail="控制台没有这个文件",
                    instance=scope["path"],
                )
            elif name == "index.html":
                response = self.shell(release, scope)
            else:
                kept = asked is not None and asked.group(1) == release
                response.headers["Cache-Control"] = IMMUTABLE if kept else CACHE_CONTROL
        await response(scope, receive, send)

    def shell(self, release: str, scope: Any) -> Any:
        """The shell, naming its files under the current release; revalidated (its ETag: the release)."""
        etag = f'"{release}"'
        headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
        inm = dict(scope.get("headers") or []).get(b"if-none-match", b"").decode("latin-1")
        if etag in [t.strip() for t in inm.split(",")]:
            return Response(status_code=304, headers=headers)
        text = (self.directory / "index.html").read_text(encoding="utf-8")
        text = text.replace(PREFIX, f"{PREFIX}r-{release}/")
        return HTMLResponse(text, headers=headers)


def console_middleware(settings: ServiceSettings) -> Middleware | None:
    """The middleware for ``app.user_middleware`` when there are console files to serve."""
    directory = console_dir(settings)
    if directory is None:
        log.info("lkg.console_absent", looked_in=str(settings.console_dir or CHECKOUT_WEB_DIR))
        return None
    return Middleware(ConsoleFiles, directory=directory)
