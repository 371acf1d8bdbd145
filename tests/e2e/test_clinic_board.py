"""The technician's board (/app/board) in a real browser against a live server.

An order for a dog is booked today on a DX station through the REST API; the board shows it as
scheduled; "Arrived" on the card moves it to arrived; then the modality starts the procedure (a real
MPPS N-CREATE IN PROGRESS over DICOM, from outside the page) and the card turns to "in progress"
without a reload, well before the board's 30 s fallback refresh: that is the live channel
(Server-Sent Events from /api/v1/events).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in
from modality_sim import XrayUnit

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MPPS = "1.2.840.10008.3.1.2.3.3"
DOG = "448771007"
LIVE_WITHIN_MS = 12_000  # well under the 30 s fallback refresh: only the live channel is that quick


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    server.cli("catalog", "seed")
    with httpx.Client(
        base_url=server.http_url + "/api/v1", headers=server.auth_headers(), timeout=30
    ) as client:
        yield client


def book_today(api: httpx.Client, name: str, hour: int, priority: str = "ROUTINE") -> dict[str, Any]:
    """An animal, a DX order and its step booked today at ``hour`` on an always-open DX station."""
    stations = api.get("/stations", params={"modality": "DX"}).json()
    station = next((s for s in stations if s["name"] == "Board DX"), None)
    if station is None:
        created = api.post(
            "/stations",
            json={"name": "Board DX", "ae_title": "BOARDDX", "modality": "DX", "location": "Room 3"},
        )
        assert created.status_code == 201, created.text
        station = created.json()
    owner = api.post("/owners", json={"family_name": "Hansen", "given_name": "Ida"})
    assert owner.status_code == 201, owner.text
    animal = api.post(
        "/animals",
        json={"name": name, "species_code": DOG, "owners": [{"owner_id": owner.json()["id"]}]},
    )
    assert animal.status_code == 201, animal.text
    start = datetime.now().replace(hour=hour, minute=0, second=0, microsecond=0)
    order = api.post(
        "/orders",
        json={
            "animal_id": animal.json()["id"],
            "procedure_codes": ["DX-THX2"],
            "priority": priority,
            "schedule": {"station_id": station["id"], "start": start.isoformat()},
        },
    )
    assert order.status_code == 201, order.text
    body: dict[str, Any] = order.json()
    assert body["status"] == "scheduled", body
    return body


def mpps_in_progress(server: LiveServer, accession: str) -> None:
    """The modality starts the procedure: MPPS N-CREATE IN PROGRESS (PS3.4 F.7)."""
    ds = Dataset()
    ref = Dataset()
    ref.AccessionNumber = accession
    ref.StudyInstanceUID = ""
    ref.RequestedProcedureID = ""
    ref.ScheduledProcedureStepID = ""
    ds.ScheduledStepAttributesSequence = Sequence([ref])
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = "BOARDDX"
    ds.PerformedProcedureStepStartDate = datetime.now().strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = datetime.now().strftime("%H%M%S")
    ds.Modality = "DX"
    ds.PerformedSeriesSequence = Sequence([])
    ae = AE(ae_title="BOARDDX")
    ae.add_requested_context(MPPS)
    assoc = ae.associate("127.0.0.1", server.dicom_port, ae_title=server.ae_title)
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_create(ds, MPPS, generate_uid())
        assert status.Status == 0x0000
    finally:
        assoc.release()


CHIP_IS = (
    "([acc, want]) => document.querySelector(`.board-card[data-accession='${acc}'] .chip`)"
    "?.dataset.status === want"
)


def card(page: Any, accession: str) -> Any:
    return page.locator(f'.board-card[data-accession="{accession}"]')


def test_board_shows_the_day_and_updates_live(
    server: LiveServer, api: httpx.Client, browser_page: Any
) -> None:
    order = book_today(api, "Bella", 10)
    stat = book_today(api, "Mango", 9, priority="STAT")
    accession = order["accession_number"]

    page = browser_page
    page.goto(f"{server.http_url}/app/board")
    page.wait_for_selector("#username")
    sign_in(page, server)
    page.wait_for_url("**/app/board")
    page.wait_for_selector(".board-lane")
    bella = card(page, accession)
    assert bella.locator(".chip").inner_text() == "scheduled"
    assert "Bella" in bella.inner_text() and "Thorax" in bella.inner_text()
    assert "HANSEN, Ida" in bella.inner_text()  # the owner
    assert "Canine" in bella.inner_text()  # the species
    assert "STAT" in card(page, stat["accession_number"]).inner_text()
    assert "stat" in (card(page, stat["accession_number"]).get_attribute("class") or "")
    assert page.locator('[data-testid="last-updated"]').inner_text().startswith("Last updated")
    page.wait_for_selector('[data-live="live"]')

    # the technician marks the animal arrived on the board
    bella.get_by_role("button", name="Arrived").click()
    page.wait_for_function(CHIP_IS, arg=[accession, "arrived"])
    assert api.get(f"/orders/{order['id']}").json()["status"] == "arrived"
    shot(page, "clinic-board")

    # the modality starts the procedure: the card follows without a reload
    page.evaluate("() => { window.__sameDocument = true; }")
    started = time.monotonic()
    mpps_in_progress(server, accession)
    page.wait_for_function(CHIP_IS, arg=[accession, "in-progress"], timeout=LIVE_WITHIN_MS)
    elapsed = time.monotonic() - started
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert elapsed < LIVE_WITHIN_MS / 1000
    assert api.get(f"/orders/{order['id']}").json()["status"] == "in_progress"
    shot(page, "clinic-board-live")


def test_no_show_asks_first_and_an_empty_day_says_so(
    server: LiveServer, api: httpx.Client, browser_page: Any
) -> None:
    order = book_today(api, "Pixel", 11)
    page = browser_page
    page.goto(f"{server.http_url}/app/board")
    sign_in(page, server)
    page.wait_for_selector(".board-card")
    pixel = card(page, order["accession_number"])
    pixel.get_by_role("button", name="No-show").click()
    assert api.get(f"/orders/{order['id']}").json()["status"] == "scheduled"  # not yet: it asks
    pixel.get_by_role("button", name="Yes, no-show").click()
    page.wait_for_selector(f'.board-card[data-accession="{order["accession_number"]}"]', state="detached")
    assert api.get(f"/orders/{order['id']}").json()["status"] == "no_show"

    page.fill("#board-date", "2020-01-01")
    page.wait_for_selector("text=Nothing booked on 2020-01-01")
    assert "date=2020-01-01" in page.url
    shot(page, "clinic-board-empty")


def test_images_from_the_unit_show_on_the_card_with_a_viewer_link(
    server: LiveServer, api: httpx.Client, browser_page: Any, tmp_path: Path
) -> None:
    """The unit takes the step from the worklist, performs it (MPPS) and sends 2 images: the card
    follows live to "images received (2 images)" and opens the study in the viewer."""
    order = book_today(api, "Kira", 12)
    page = browser_page
    page.goto(f"{server.http_url}/app/board")
    sign_in(page, server)
    page.wait_for_selector('[data-live="live"]')
    kira = card(page, order["accession_number"])
    assert kira.locator(".chip").inner_text() == "scheduled"
    assert kira.get_by_role("link", name="Open images").count() == 0

    unit = XrayUnit(server, "BOARDDX")
    items = [i for i in unit.worklist(tmp_path / "wl") if i.AccessionNumber == order["accession_number"]]
    assert len(items) == 1
    unit.acquire(items[0], tmp_path / "images", views=2)
    page.wait_for_function(CHIP_IS, arg=[order["accession_number"], "images"], timeout=LIVE_WITHIN_MS)
    kira.locator(".chip", has_text="images received (2 images)").wait_for()  # not a refresh after image 1
    link = kira.get_by_role("link", name="Open images")
    assert order["study_instance_uid"] in (link.get_attribute("href") or "")
    assert kira.get_by_role("button", name="Arrived").count() == 0
    shot(page, "clinic-board-images")
