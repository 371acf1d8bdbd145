"""Billing (/app/billing) in a real browser against a live server: the fee list and the missed-charge
report, and voiding a charge from the chart.

Two orders are performed by the simulated X-ray unit (``findscu -W``, MPPS, ``storescu``): thoracic
radiographs whose fee (RAD-THX2) the clinic made inactive, and a paw study whose procedure names a
fee code missing from the fee list. The front desk edits a price (the browser's and the server's
validation beside the fields), sees both orders in the missed-charge report with their reasons,
fixes the fee list (activates RAD-THX2, adds RAD-PAW from the report's link), charges both with
"Charge now" and checks the charges over REST at the new prices; then voids one from the chart
with a reason and finds it voided over REST and back in the report. A manual charge is added from
the chart ("Add charge": a fee, a quantity, one of the animal's orders, a note; the form's own
checks, then a refusal from the server shown in the dialog) and appears on the chart without a
reload. A front-desk user sees the Billing screen, a radiologist (no billing:read) neither the
navigation entry nor the screen.

The server runs with ``billing_auto_charge = false``: with the worker charging, fixing the fee list
would race with it (the automatic path is covered by ``tests/integration/test_billing_live.py`` and
the day-in-the-clinic test); here "Charge now" is what posts the charges.

Screenshots: ``tests/e2e/screenshots/clinic-billing-*.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in
from modality_sim import XrayUnit

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOG = "448771007"
STATION_AET = "BILLDX9"


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.http_url + "/api/v1", headers=server.auth_headers(), timeout=30
    ) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.status_code, response.text)
    return response.json()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def sign_in_as(page: Any, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")


@pytest.fixture
def server(server_factory: Any) -> LiveServer:
    """A live server whose worker does not post charges by itself (see the module's docstring)."""
    srv: LiveServer = server_factory(VETPACS_BILLING_AUTO_CHARGE="false")
    srv.start()
    seeded = srv.cli("catalog", "seed")
    assert "fee list lines added" in seeded.stdout + seeded.stderr, seeded.stdout + seeded.stderr
    return srv


@pytest.fixture
def performed(server: LiveServer, api: httpx.Client, tmp_path: Path) -> dict[str, Any]:
    """A dog with two orders performed on the DX room: DX-THX2 (fee RAD-THX2, made inactive) and
    DX-PAW (fee RAD-PAW, not on the fee list)."""
    fee = ok(api.get("/fees/RAD-THX2"))
    assert fee["unit_price"] == "95.00" and fee["active"]
    ok(
        api.put(
            "/fees/RAD-THX2", json={"description": fee["description"], "unit_price": "95.00", "active": False}
        )
    )
    ok(
        api.post(
            "/procedures",
            json={"code": "DX-PAW", "name": "Paw, 2 views", "modality": "DX", "fee_code": "RAD-PAW"},
        )
    )
    assert "RAD-PAW" not in [f["fee_code"] for f in ok(api.get("/fees"))]
    station = ok(api.post("/stations", json={"name": "DX room", "ae_title": STATION_AET, "modality": "DX"}))
    owner = ok(api.post("/owners", json={"family_name": "Lindqvist", "given_name": "Maja"}))
    animal = ok(
        api.post(
            "/animals", json={"name": "Pepper", "species_code": DOG, "owners": [{"owner_id": owner["id"]}]}
        )
    )
    orders = {}
    for hour, code in ((9, "DX-THX2"), (10, "DX-PAW")):
        start = datetime.now().replace(hour=hour, minute=0, second=0, microsecond=0)
        orders[code] = ok(
            api.post(
                "/orders",
                json={
                    "animal_id": animal["id"],
                    "procedure_codes": [code],
                    "schedule": {"station_id": station["id"], "start": start.isoformat()},
                },
            )
        )
    unit = XrayUnit(server, STATION_AET)
    items = {i.AccessionNumber: i for i in unit.worklist(tmp_path / "mwl")}
    for order in orders.values():
        unit.acquire(items[order["accession_number"]], tmp_path / order["accession_number"], views=1)

    def both_missed() -> bool:
        listed = {o["order_id"]: o["reason"] for o in ok(api.get("/billing/missed-charges"))["orders"]}
        return listed.get(orders["DX-THX2"]["id"]) == "fee-inactive" and (
            listed.get(orders["DX-PAW"]["id"]) == "fee-not-in-list"
        )

    wait_for(both_missed, "both performed orders in the missed-charge report")
    return {"animal": animal, "thx": orders["DX-THX2"], "paw": orders["DX-PAW"]}


def fee_of(api: httpx.Client, code: str) -> dict[str, Any]:
    found: dict[str, Any] = {f["fee_code"]: f for f in ok(api.get("/fees"))}[code]
    return found


def test_fee_list_missed_charges_and_a_void(
    server: LiveServer, api: httpx.Client, performed: dict[str, Any], browser_page: Any
) -> None:
    page, thx, paw = browser_page, performed["thx"], performed["paw"]
    page.goto(f"{server.http_url}/app/billing")
    sign_in(page, server)
    page.wait_for_url("**/app/billing")
    page.get_by_role("heading", name="Billing", exact=True).wait_for()
    assert page.get_by_role("link", name="Fee list").get_attribute("aria-current") == "page"
    row = page.locator('tr[data-fee="RAD-THX2"]')
    row.wait_for()
    assert "95.00" in row.inner_text() and "inactive" in row.inner_text()
    assert page.locator("tr[data-fee]").count() == 15  # the seeded fee list

    # ----------------------------------------------- edit a price: checked here, then by the server
    row.get_by_role("button", name="Edit RAD-THX2").click()
    price = page.locator("#fee-RAD-THX2-price")
    price.wait_for()
    assert price.input_value() == "95.00"
    price.fill("99.505")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#fee-RAD-THX2-price-error")
    error.wait_for()
    assert "At most 2 decimals" in error.inner_text()
    assert price.get_attribute("aria-invalid") == "true"
    assert price.get_attribute("aria-describedby") == "fee-RAD-THX2-price-error"
    price.fill("99.50")
    page.locator("#fee-RAD-THX2-tax").fill("150")  # not checked in the browser: the server refuses it
    page.get_by_role("button", name="Save").click()
    tax_error = page.locator("#fee-RAD-THX2-tax-error")
    tax_error.wait_for()
    assert "100" in tax_error.inner_text()
    shot(page, "clinic-billing-validation")
    assert fee_of(api, "RAD-THX2")["unit_price"] == "95.00"  # nothing was saved
    page.locator("#fee-RAD-THX2-tax").fill("")
    page.get_by_role("button", name="Save").click()
    page.locator('tr[data-fee="RAD-THX2"]', has_text="99.50").wait_for()
    saved = fee_of(api, "RAD-THX2")
    assert saved["unit_price"] == "99.50" and saved["tax_rate"] is None and saved["active"] is False

    # ----------------------------------------------- the missed-charge report, with reasons
    page.get_by_role("link", name="Missed charges").click()
    page.wait_for_url("**/app/billing/missed")
    thx_row = page.locator(f'tr[data-missed-order="{thx["id"]}"]')
    paw_row = page.locator(f'tr[data-missed-order="{paw["id"]}"]')
    thx_row.wait_for()
    paw_row.wait_for()
    assert thx_row.get_attribute("data-reason") == "fee-inactive" and "Fee inactive" in thx_row.inner_text()
    assert paw_row.get_attribute("data-reason") == "fee-not-in-list"
    assert "Fee code not on the fee list" in paw_row.inner_text() and "RAD-PAW" in paw_row.inner_text()
    assert "Pepper" in paw_row.get_by_role("link", name="Pepper").inner_text()  # the chart is one click away
    assert (
        paw_row.get_by_role("link", name="Pepper").get_attribute("href")
        == f"/app/animals/{performed['animal']['id']}"
    )
    shot(page, "clinic-billing-missed")

    # ----------------------------------------------- fix the fee list: add RAD-PAW from the report
    paw_row.get_by_role("link", name="Fix fee RAD-PAW").click()
    page.wait_for_url(re.compile(r".*/app/billing/fees\?fee=RAD-PAW$"))
    assert page.locator("#fee-new-code").input_value() == "RAD-PAW"
    page.fill("#fee-new-description", "Paw, 2 views")
    page.fill("#fee-new-price", "0")
    page.get_by_role("button", name="Add fee").click()
    page.locator("#fee-new-price-error", has_text="more than 0").wait_for()
    assert "RAD-PAW" not in [f["fee_code"] for f in ok(api.get("/fees"))]
    page.fill("#fee-new-price", "85,5")
    page.get_by_role("button", name="Add fee").click()
    page.locator('tr[data-fee="RAD-PAW"]', has_text="85.50").wait_for()
    added = fee_of(api, "RAD-PAW")
    assert (added["unit_price"], added["currency"], added["active"]) == ("85.50", "EUR", True)

    # ... and make RAD-THX2 active again
    page.locator('tr[data-fee="RAD-THX2"]').get_by_role("button", name="Edit RAD-THX2").click()
    page.check("#fee-RAD-THX2-active")
    page.get_by_role("button", name="Save").click()
    page.locator('tr[data-fee="RAD-THX2"][data-active="true"]').wait_for()
    assert fee_of(api, "RAD-THX2")["active"] is True

    # ----------------------------------------------- charge now: the orders leave the report
    page.get_by_role("link", name="Missed charges").click()
    thx_row.wait_for()
    assert thx_row.get_attribute("data-reason") == "not-charged"
    thx_row.get_by_role("button", name=f"Charge order {thx['accession_number']} now").click()
    outcome = page.locator(".charge-outcome")
    outcome.wait_for()
    assert f"Order {thx['accession_number']}: Posted RAD-THX2 EUR 99.50." in outcome.inner_text()
    thx_row.wait_for(state="detached")
    paw_row.get_by_role("button", name=f"Charge order {paw['accession_number']} now").click()
    page.locator(".charge-outcome", has_text="RAD-PAW EUR 85.50").wait_for()
    paw_row.wait_for(state="detached")
    page.get_by_text("Every performed order is charged.").wait_for()
    shot(page, "clinic-billing-charged")
    (thx_charge,) = ok(api.get("/charges", params={"order": thx["id"]}))["items"]
    (paw_charge,) = ok(api.get("/charges", params={"order": paw["id"]}))["items"]
    assert (thx_charge["fee_code"], thx_charge["amount"], thx_charge["status"]) == (
        "RAD-THX2",
        "99.50",
        "posted",
    )
    assert (paw_charge["fee_code"], paw_charge["amount"], paw_charge["status"]) == (
        "RAD-PAW",
        "85.50",
        "posted",
    )
    assert ok(api.get("/billing/missed-charges"))["orders"] == []

    # ----------------------------------------------- void a charge from the chart, with a reason
    page.goto(f"{server.http_url}/app/animals/{performed['animal']['id']}")
    card = page.locator(f'[data-charge="{thx_charge["id"]}"]')
    card.wait_for()
    page.locator(".charge-total", has_text="EUR 185.00").wait_for()
    card.get_by_role("button", name="Void").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "RAD-THX2" in dialog.inner_text() and "EUR 99.50" in dialog.inner_text()
    dialog.get_by_role("button", name="Void charge").click()  # no reason: refused here
    page.locator(f"#void-{thx_charge['id']}-reason-error", has_text="reason is required").wait_for()
    assert ok(api.get(f"/charges/{thx_charge['id']}"))["status"] == "posted"
    dialog.get_by_label("Reason").fill("Thorax repeated at our cost: positioning")
    shot(page, "clinic-billing-void")
    dialog.get_by_role("button", name="Void charge").click()
    card.locator(".badge", has_text="voided").wait_for()
    assert not dialog.is_visible()
    assert card.get_by_role("button", name="Void").count() == 0
    assert "positioning" in card.inner_text()
    page.locator(".charge-total", has_text="EUR 85.50").wait_for()
    voided = ok(api.get(f"/charges/{thx_charge['id']}"))
    assert (
        voided["status"] == "voided" and voided["void_reason"] == "Thorax repeated at our cost: positioning"
    )
    assert voided["voided_by"] == "admin"

    # the order is back in the report, voided, with nothing to charge automatically
    page.goto(f"{server.http_url}/app/billing/missed")
    again = page.locator(f'tr[data-missed-order="{thx["id"]}"]')
    again.wait_for()
    assert again.get_attribute("data-reason") == "voided" and "Charge voided" in again.inner_text()
    assert again.get_by_role("button", name=re.compile("Charge order")).count() == 0


def test_billing_by_role(server: LiveServer, browser_page: Any) -> None:
    page = browser_page
    users = {}
    for username, role in (("desk1", "front_desk"), ("rad1", "radiologist")):
        users[username] = server.cli(
            "user", "add", username, "--role", role, "--generate-password"
        ).stdout.strip()

    # the front desk: Billing in the navigation, the fee list editable
    page.goto(f"{server.http_url}/app/")
    sign_in_as(page, "desk1", users["desk1"])
    page.wait_for_url(re.compile(r".*/app/$"))
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Billing").click()
    page.wait_for_url("**/app/billing")
    page.locator('tr[data-fee="CT-HEAD"]').wait_for()
    assert page.locator('tr[data-fee="CT-HEAD"]').get_by_role("button", name="Edit CT-HEAD").is_visible()
    assert page.get_by_role("button", name="Add fee").is_visible()
    page.get_by_role("link", name="Missed charges").click()
    page.get_by_text("Every performed order is charged.").wait_for()
    page.get_by_role("button", name="Sign out").click()

    # a radiologist: no Billing in the navigation, and the screen says why
    page.wait_for_selector("#username")
    page.goto(f"{server.http_url}/app/")
    page.wait_for_selector("#username")
    sign_in_as(page, "rad1", users["rad1"])
    page.wait_for_url(re.compile(r".*/app/$"))
    nav.get_by_role("link", name="Search").wait_for()
    assert nav.get_by_role("link", name="Billing").count() == 0
    page.goto(f"{server.http_url}/app/billing")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "billing:read permission" in alert.inner_text()
    assert page.locator("tr[data-fee]").count() == 0
    shot(page, "clinic-billing-no-permission")


def test_add_a_manual_charge_from_the_chart(server: LiveServer, api: httpx.Client, browser_page: Any) -> None:
    page = browser_page
    owner = ok(api.post("/owners", json={"family_name": "Moreau", "given_name": "Léa"}))
    animal = ok(
        api.post(
            "/animals", json={"name": "Biscuit", "species_code": DOG, "owners": [{"owner_id": owner["id"]}]}
        )
    )
    order = ok(api.post("/orders", json={"animal_id": animal["id"], "procedure_codes": ["DX-THX2"]}))
    fees = {f["fee_code"]: f for f in ok(api.get("/fees")) if f["active"]}
    assert {"RAD-THX2", "CT-HEAD"} <= set(fees)
    page.goto(f"{server.http_url}/viewer/login")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{server.http_url}/app/animals/{animal['id']}")
    page.locator(".charge-total", has_text="nothing yet").wait_for()

    # --- the dialog: the fee list's active fees, the animal's order; the form checks before sending
    page.get_by_role("button", name="Add charge").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    page.wait_for_selector("#add-charge-fee_code option[value='RAD-THX2']", state="attached")
    offered = page.eval_on_selector_all("#add-charge-fee_code option", "els => els.map(e => e.value)")
    assert set(offered) == {"", *fees}
    orders = page.eval_on_selector_all("#add-charge-order_id option", "els => els.map(e => e.value)")
    assert orders == ["", str(order["id"])]
    page.fill("#add-charge-quantity", "0")
    dialog.get_by_role("button", name="Add charge").click()
    page.locator("#add-charge-fee_code-error", has_text="Pick a fee").wait_for()
    page.locator("#add-charge-quantity-error", has_text="more than 0").wait_for()
    assert ok(api.get("/charges", params={"animal": animal["id"]}))["total"] == 0

    # --- a refusal from the server: the fee was made inactive after the list was loaded
    page.select_option("#add-charge-fee_code", "CT-HEAD")
    page.fill("#add-charge-quantity", "1")
    ct = fees["CT-HEAD"]
    ok(
        api.put(
            "/fees/CT-HEAD",
            json={"description": ct["description"], "unit_price": ct["unit_price"], "active": False},
        )
    )
    dialog.get_by_role("button", name="Add charge").click()
    dialog.get_by_role("alert").wait_for()
    assert "CT-HEAD" in dialog.get_by_role("alert").inner_text()
    assert ok(api.get("/charges", params={"animal": animal["id"]}))["total"] == 0
    shot(page, "clinic-billing-add-refused")

    # --- a valid charge on the order: posted, the dialog closes, the chart shows it without a reload
    page.select_option("#add-charge-fee_code", "RAD-THX2")
    page.fill("#add-charge-quantity", "2")
    page.locator("#add-charge-quantity-hint", has_text="EUR 190.00").wait_for()
    page.select_option("#add-charge-order_id", str(order["id"]))
    page.fill("#add-charge-note", "Second series after repositioning")
    page.evaluate("window.__notReloaded = true")
    dialog.get_by_role("button", name="Add charge").click()
    page.locator(".charge-total", has_text="EUR 190.00").wait_for()
    assert not dialog.is_visible()
    assert page.evaluate("window.__notReloaded") is True
    (charge,) = ok(api.get("/charges", params={"animal": animal["id"]}))["items"]
    assert (charge["fee_code"], charge["quantity"], charge["amount"], charge["source"]) == (
        "RAD-THX2",
        "2.00",
        "190.00",
        "manual",
    )
    assert charge["order_id"] == order["id"] and charge["note"] == "Second series after repositioning"
    card = page.locator(f'[data-charge="{charge["id"]}"]')
    card.wait_for()
    assert "RAD-THX2" in card.inner_text() and order["accession_number"] in card.inner_text()
    shot(page, "clinic-billing-add")
