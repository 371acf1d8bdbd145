"""The clinic app on a tablet (820 x 1180, portrait) and for a screen reader: every main screen fits
the width (no sideways scrolling), and a field's validation message is tied to its input.

Screenshots: ``tests/e2e/screenshots/tablet-*.png``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

FITS = "() => document.scrollingElement.scrollWidth <= window.innerWidth + 1"
# The outermost elements sticking out on the right (for the failure message).
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-scroll'))
  .slice(0, 5)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture
def demo_clinic(server: LiveServer) -> LiveServer:
    """The demo: animals, owners, studies, the sample catalog and stations."""
    server.cli("demo")
    return server


def test_main_screens_fit_a_tablet(demo_clinic: LiveServer, browser_page: Any) -> None:
    server, page = demo_clinic, browser_page
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(f"{server.http_url}/app/")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))
    animals = httpx.get(
        f"{server.http_url}/api/v1/animals", headers=server.auth_headers(), timeout=30
    ).json()["items"]
    luna = next(a for a in animals if a["name"] == "Luna")

    screens = {
        "search": (f"/app/?q={luna['name']}", ".animal-card"),
        "chart": (f"/app/animals/{luna['id']}", ".study-item"),
        "register": ("/app/animals/new", "#reg-family"),
        "order": (f"/app/orders/new?animal={luna['id']}", "input[type=checkbox]"),
        "schedule": ("/app/schedule", "main h1"),
        "board": ("/app/board", "main h1"),
        "reconciliation": ("/app/reconciliation", "main h1"),
        "admin": ("/app/admin", "main h1"),
    }
    for name, (path, ready) in screens.items():
        page.goto(server.http_url + path)
        page.locator(ready).first.wait_for()
        page.wait_for_timeout(150)
        wide = page.evaluate(WIDE)
        assert page.evaluate(FITS), f"{name} scrolls sideways on a tablet: {wide}"
        shot(page, f"tablet-{name}")

    # A screen reader hears the message with the field: aria-describedby and aria-invalid.
    page.goto(f"{server.http_url}/app/animals/new")
    page.click("#reg-submit")
    page.wait_for_selector("#reg-family-error")
    assert page.get_attribute("#reg-family", "aria-invalid") == "true"
    assert page.get_attribute("#reg-family", "aria-describedby") == "reg-family-error"
    assert page.evaluate("document.activeElement.id") == "reg-family"
