"""``/docs`` (Swagger UI) and ``/redoc`` served from the platform itself, offline and under a strict CSP.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start them with an inline script: blank on a
network without the internet (a government intranet), and blocked by a Content-Security-Policy that allows
scripts from the platform only (:data:`lkg.common.http.middleware.CONTENT_SECURITY_POLICY`). Here the
assets come from the ``fastapi-offline`` wheel (Swagger UI 5.32, ReDoc; MIT, Apache-2.0 and MIT licences
in the wheel), Swagger UI is started by ``static/swagger-init.js``, and no page carries an inline script.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse

from lkg.common.http.problems import NotFound

#: Docs assets change only with a release: browsers may keep them a day.
ASSET_CACHE_CONTROL = "public, max-age=86400"

_VENDORED = Path(str(files("fastapi_offline") / "static"))
_OURS = Path(str(files("lkg.common.http") / "static"))

#: name → (file, media type)
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDORED / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDORED / "swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": (_VENDORED / "redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": (_VENDORED / "favicon.png", "image/png"),
    "swagger-init.js": (_OURS / "swagger-init.js", "text/javascript; charset=utf-8"),
}

#: ReDoc runs its search in a worker it builds from a blob: URL; its page alone allows that.
REDOC_CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def install_docs(app: FastAPI, title: str, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, ``/redoc`` and ``/docs/assets/{name}`` to ``app`` as plain routes of its own (open to
    all, like FastAPI's pages, and kept out of the OpenAPI document)."""
    safe_title = html.escape(title)

    def url(request: Request, path: str) -> str:
        return html.escape(f"{request.scope.get('root_path', '')}{path}", quote=True)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        page = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{safe_title} - Swagger UI</title>
<link rel="stylesheet" href="{url(request, "/docs/assets/swagger-ui.css")}">
<link rel="icon" href="{url(request, "/docs/assets/favicon.png")}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{url(request, openapi_url)}"></div>
<script src="{url(request, "/docs/assets/swagger-ui-bundle.js")}"></script>
<script src="{url(request, "/docs/assets/swagger-init.js")}"></script>
</body>
</html>
"""
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        page = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{safe_title} - ReDoc</title>
<link rel="icon" href="{url(request, "/docs/assets/favicon.png")}">
</head>
<body>
<redoc spec-url="{url(request, openapi_url)}"></redoc>
<script src="{url(request, "/docs/assets/redoc.standalone.js")}"></script>
</body>
</html>
"""
        return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": REDOC_CSP})

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        found = ASSETS.get(name)
        if found is None:
            raise NotFound("没有这个文档资源")
        path, media_type = found
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": ASSET_CACHE_CONTROL})
