"""/docs and /redoc name only coach's own URLs, and coach serves every asset they name
(tests/e2e/test_docs_browser.py loads them in a real browser)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings


def test_the_doc_pages_name_only_local_assets_and_those_are_served(settings: Settings):
    with TestClient(create_app(settings)) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            assert "://" not in html.text, page  # no absolute URL: nothing from another host
            assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
            for asset in assets:
                served = client.get(asset)
                assert served.status_code == 200 and len(served.content) > 1000, asset
        script = client.get("/docs-assets/redoc.standalone.js").content
        assert b"cdn.redoc.ly" not in script  # Redocly's logo: the only other host it names
        assert client.get("/openapi.json").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert not any(p.startswith(("/docs", "/redoc")) for p in paths)
