"""/docs and /redoc in a real browser: they render, and load nothing from another host.

Debian's headless Chromium, driven by Playwright (never Playwright's own browser download),
opens the pages of a real `coach api` process. Every request the browser makes is recorded
(the page's, its scripts', workers'): one to any host but the loopback address fails the
test, and so does any console error or uncaught exception. A screenshot of each page is
kept in the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config.settings import Settings
from tests.e2e.helpers import Service, free_port, wait_for
from tests.factories import upserted
from tests.integration.conftest import project  # noqa: F401 (a fixture)
from tests.routing.conftest import call

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def coach_api(settings: Settings, project, tmp_path: Path) -> Iterator[int]:  # type: ignore[no-untyped-def]  # noqa: F811
    project([upserted(1)])
    port = free_port()
    service = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
    wait_for("coach api", lambda: call(port, "/health").status == 200, service=service)
    yield port
    service.stop()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock-summary-path[data-path='/fitness/wod']"),
        ("/redoc", "[data-section-id^='tag/wod'], [data-section-id^='operation/']"),
    ],
)
def test_the_docs_render_from_coach_alone(chromium, coach_api, tmp_path, path, rendered):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a new, empty profile
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"http://127.0.0.1:{coach_api}{path}", wait_until="networkidle")
            page.wait_for_selector(rendered, timeout=30_000)
            page.wait_for_load_state("networkidle")
            shot = tmp_path / f"{path.strip('/')}.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            context.close()
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    hosts = {urlsplit(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(requests)
    assert any(url.endswith("/openapi.json") for url in requests)
    assert errors == []
