"""The web console (``web/``, docs/console.md) served at ``/`` by the app that ``lkg run`` builds.

The console is static files: an HTML shell, ES modules, a stylesheet and vendored libraries. It calls only
the public API with the signed-in person's token, so the server adds nothing for it but the files. They are
served by an ASGI layer inside the edge middleware (correlation id, security headers with the platform's
Content-Security-Policy, access line) and before the routes: ``/`` is the shell, ``/console/<file>`` a file
of the directory. Neither needs a token (the files hold no data) and no API path is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
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


def console_dir(settings: ServiceSettings) -> Path | None:
    """The directory to serve, or None when there is none (an image built without it)."""
    directory = settings.console_dir or CHECKOUT_WEB_DIR
    return directory if (directory / "index.html").is_file() else None


class ConsoleFiles:
    """Serve the console's shell at ``/`` and its files under ``/console/``; pass everything else on."""

    def __init__(self, app: Any, *, directory: Path) -> None:
        self.app = app
        self.files = StaticFiles(directory=directory, follow_symlink=False)

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
            else:
                response.headers["Cache-Control"] = CACHE_CONTROL
        await response(scope, receive, send)


def console_middleware(settings: ServiceSettings) -> Middleware | None:
    """The middleware for ``app.user_middleware`` when there are console files to serve."""
    directory = console_dir(settings)
    if directory is None:
        log.info("lkg.console_absent", looked_in=str(settings.console_dir or CHECKOUT_WEB_DIR))
        return None
    return Middleware(ConsoleFiles, directory=directory)
