"""Fixtures and helpers for the browser tests (tests/e2e/), loaded as a plugin by tests/conftest.py.

``browser_page``: a fresh page in headless Debian chromium (Playwright, never ``playwright
install``); uncaught page errors fail the test. ``demo_server``: the live server with the demo
studies imported. ``sign_in`` fills the sign-in page; ``shot`` saves a screenshot under
``tests/e2e/screenshots/``. Test modules import helpers as ``from e2e.e2e_support import ...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import IN_CI, ROOT, LiveServer, require_tool

DIST = ROOT / "frontend" / "dist"
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def require_viewer_build() -> None:
    """The built front end; missing: skip, or fail under CI=true (scripts/test.sh builds it)."""
    if not (DIST / "index.html").is_file():
        message = "frontend/dist is not built (cd frontend && npm ci && npm run build)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Any, server: LiveServer) -> None:
    page.fill("#username", "admin")
    page.fill("#password", server.admin_password)
    page.click("#submit")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in headless Debian chromium (1280x800)."""
    chromium = require_tool("chromium")
    require_viewer_build()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def demo_server(server: LiveServer, demo_files: list[Path]) -> LiveServer:
    """The live server with the demo studies imported."""
    server.cli("import", *[str(p) for p in demo_files])
    return server
