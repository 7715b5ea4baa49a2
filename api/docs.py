"""GET /docs (Swagger UI) and GET /redoc, with their scripts and styles served by coach.

FastAPI's own pages load Swagger UI and Redoc from a public CDN (and Redoc its fonts from
Google), which an internal network or a strict content policy blocks. Here the same pages
(FastAPI's `get_swagger_ui_html` and `get_redoc_html`) point at `/docs-assets/`, the files
of the `fastapi-offline` package (Swagger UI 5, Redoc 2, pinned by uv.lock), so opening the
docs makes no request to another host: no CDN, no fonts, no favicon, no Swagger validator.

One exception had to be removed by hand: Redoc's sidebar footer shows Redocly's logo from
its CDN (a hard-coded `<img src>`, no option turns it off). `redoc.standalone.js` is served
with that one URL emptied (an empty `src` is never requested; the image's error handler hides
it; the footer's text and link stay); tests/e2e/test_docs_browser.py fails on any request to
another host, so a newer Redoc with another such URL is caught.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"
REDOC_JS = "redoc.standalone.js"
REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


def redoc_script() -> bytes:
    """Redoc's standalone script without the request for Redocly's logo."""
    return (ASSETS_DIR / REDOC_JS).read_bytes().replace(REDOC_LOGO, b'src:""')


def add_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (build the app with docs_url=redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    script = redoc_script()

    @app.get(f"{ASSETS_PATH}/{REDOC_JS}", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(script, media_type="text/javascript")

    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=None,
            # null: no badge asking validator.swagger.io about the document
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
