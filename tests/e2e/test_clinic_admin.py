"""Administration (/app/admin/...) in a real browser against a live server: add a user with a role
and see it listed (the generated password shown once), issue an API token that works, add a DICOM
destination and a catalog procedure (checked through the REST API), see the server's validation
message beside the field it concerns, find the user's creation in the audit log, and read the
system health page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.http_url + "/api/v1", headers=server.auth_headers(), timeout=30
    ) as client:
        yield client


@pytest.fixture
def page(server: LiveServer, browser_page: Any) -> Any:
    browser_page.goto(f"{server.http_url}/app/admin")
    sign_in(browser_page, server)
    browser_page.wait_for_url("**/app/admin")
    browser_page.get_by_role("heading", name="Users and roles").wait_for()
    return browser_page


def test_users_tokens_and_the_audit_log(server: LiveServer, api: httpx.Client, page: Any) -> None:
    # a username the server refuses: its rule is shown beside the field
    page.fill("#user-username", "anna berg")
    page.get_by_role("button", name="Add user").click()
    error = page.locator("#user-username-error")
    error.wait_for()
    assert "no spaces" in error.inner_text()

    # a technician with a generated password, shown once
    page.fill("#user-username", "anna.berg")
    page.fill("#user-display", "Anna Berg")
    page.select_option("#user-role", "technician")
    page.get_by_role("button", name="Add user").click()
    row = page.locator('tr[data-user="anna.berg"]')
    row.wait_for()
    assert "Technician" in row.inner_text() and "active" in row.inner_text()
    password = page.locator('[data-testid="secret"]').inner_text().strip()
    assert len(password) >= 8
    users = {u["username"]: u for u in api.get("/users").json()}
    assert users["anna.berg"]["role"] == "technician"
    with httpx.Client(base_url=server.http_url) as anon:  # the shown password signs in
        login = anon.post("/api/v1/auth/login", json={"username": "anna.berg", "password": password})
        assert login.status_code == 200, login.text
    shot(page, "clinic-admin-users")

    # an API token, shown once, that works
    row.get_by_role("button", name="Tokens").click()
    page.get_by_label("Token name").fill("PMS")
    page.get_by_role("button", name="Issue token").click()
    token_box = page.locator('.tokens [data-testid="secret"]')
    token_box.wait_for()
    token = token_box.inner_text().strip()
    me = httpx.get(server.http_url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "anna.berg"

    # the audit log shows who created the user
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/app/admin/audit")
    page.fill("#audit-action", "user.created")
    page.get_by_role("button", name="Search").click()
    audit_row = page.locator('tr[data-action="user.created"]', has_text="anna.berg")
    audit_row.wait_for()
    assert "admin" in audit_row.inner_text()
    shot(page, "clinic-admin-audit")


def test_destinations_procedures_and_system_health(server: LiveServer, api: httpx.Client, page: Any) -> None:
    page.get_by_role("link", name="DICOM destinations").click()
    page.wait_for_url("**/app/admin/destinations")
    page.fill("#dest-name", "reading-room")
    page.fill("#dest-ae", "READ1")
    page.fill("#dest-host", "192.168.1.40")
    page.fill("#dest-port", "11113")
    page.get_by_role("button", name="Add destination").click()
    page.locator('tr[data-destination="reading-room"]').wait_for()
    nodes = {n["name"]: n for n in api.get("/modalities").json()}
    assert nodes["reading-room"]["ae_title"] == "READ1" and nodes["reading-room"]["port"] == 11113

    page.get_by_role("link", name="Procedure catalog").click()
    page.wait_for_url("**/app/admin/procedures")
    page.fill("#proc-new-code", "DX-PELV-VD")
    page.fill("#proc-new-name", "Pelvis VD")
    page.fill("#proc-new-modality", "dx")  # lower case: refused, the rule beside the field
    page.get_by_role("button", name="Add procedure").click()
    error = page.locator("#proc-new-modality-error")
    error.wait_for()
    assert "capital letters" in error.inner_text()
    shot(page, "clinic-admin-validation")
    assert all(p["code"] != "DX-PELV-VD" for p in api.get("/procedures").json())
    page.fill("#proc-new-modality", "DX")
    page.fill("#proc-new-duration", "20")
    page.get_by_role("button", name="Add procedure").click()
    page.locator('tr[data-procedure="DX-PELV-VD"]').wait_for()
    assert page.locator("#proc-new-modality-error").count() == 0
    added = {p["code"]: p for p in api.get("/procedures").json()}["DX-PELV-VD"]
    assert added["name"] == "Pelvis VD" and added["modality"] == "DX" and added["duration_minutes"] == 20

    page.get_by_role("link", name="System health").click()
    page.wait_for_url("**/app/admin/system")
    database = page.locator('[data-check="database"] .badge')
    database.wait_for()
    assert database.inner_text() == "ok"
    page.locator('[data-count="studies"]').wait_for()
    assert page.locator('[data-count="studies"]').inner_text() == "0"
    page.get_by_role("button", name="Refresh").click()
    page.locator('[data-check="database"] .badge').wait_for()
    shot(page, "clinic-admin-system")
