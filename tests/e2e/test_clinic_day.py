"""A day at the clinic, end to end, the way the issue tells it: Debian chromium (Playwright) on the
clinic app, a simulated X-ray unit built from DCMTK (``findscu -W``, ``storescu``) and pynetdicom
(MPPS), against one live server.

The front desk registers a dog and its owner and orders thoracic radiographs on the DX room; the
technician sees it on the board and marks the dog arrived; the X-ray unit takes the step from the
worklist, reports progress by MPPS and sends the images; the board follows without a reload; the vet
finds the study on the chart, with its thumbnail, and opens it in the viewer. Then a portable unit
sends an image with a typed-in patient ID that matches nobody, and the technician fixes it from
the reconciliation queue: the chart shows it as the dog's second study.

Screenshots: ``tests/e2e/screenshots/day-*.png``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in
from modality_sim import XrayUnit, send, stray_image

pytestmark = [pytest.mark.browser, pytest.mark.integration]

STATION_AET = "DXROOM3"
MICROCHIP = "985112000777123"
LIVE_WITHIN_MS = 10_000


def api(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{server.http_url}/api/v1{path}", headers=server.auth_headers(), timeout=30, **kwargs
    )
    assert response.is_success, (response.status_code, response.text)
    return response.json()


@pytest.fixture
def clinic(server: LiveServer) -> LiveServer:
    """The sample procedure catalog and the clinic's DX room (open around the clock, so the test
    books today whatever the weekday), as the clinic's IT person would have set them up."""
    server.cli("catalog", "seed")
    api(
        server,
        "POST",
        "/stations",
        json={"name": "DX room", "ae_title": STATION_AET, "modality": "DX", "location": "Room 3"},
    )
    return server


def chip(page: Any, accession: str) -> Any:
    return page.locator(f'.board-card[data-accession="{accession}"] .chip')


def test_a_day_at_the_clinic(clinic: LiveServer, browser_page: Any, tmp_path: Path) -> None:
    server, page = clinic, browser_page
    base = server.http_url

    # ------------------------------------------------------------- front desk: sign in, register
    page.goto(f"{base}/")
    page.wait_for_selector("#username")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.wait_for_selector("#search-q")
    page.click("text=New patient >> nth=0")
    page.wait_for_url(re.compile(r".*/app/animals/new$"))
    page.fill("#reg-family", "Okonkwo")
    page.fill("#reg-given", "Ada")
    page.fill("#reg-phone", "+44 20 7946 0958")
    page.fill("#reg-name", "Biscuit")
    page.select_option("#reg-species", "448771007")  # dog (SNOMED CT)
    page.wait_for_selector(
        "#reg-breed:not([disabled]) option:has-text('Labrador Retriever')", state="attached"
    )
    page.select_option("#reg-breed", label="Labrador Retriever")
    page.select_option("#reg-sex", "F")
    page.select_option("#reg-neuter", "ALTERED")
    page.fill("#reg-birth", "2019-05-20")
    page.fill("#reg-weight", "28.4")
    page.fill("#reg-microchip", MICROCHIP)
    shot(page, "day-1-register")
    page.click("#reg-submit")
    page.wait_for_url(re.compile(r".*/app/animals/\d+$"))
    animal_id = int(page.url.rsplit("/", 1)[1])
    animal = api(server, "GET", f"/animals/{animal_id}")
    assert animal["name"] == "Biscuit" and animal["microchip"] == MICROCHIP

    # ------------------------------------------------------------- order thoracic radiographs
    page.click("main >> text=New order")
    page.wait_for_url(re.compile(rf".*/app/orders/new\?animal={animal_id}$"))
    page.check("input[value='DX-THX2']")
    page.fill("#order-question", "Cough for three weeks; rule out metastases")
    page.fill("#order-vet", "Dr Mensah")
    page.wait_for_selector("#order-station option:has-text('DX room')", state="attached")
    page.select_option("#order-station", label="DX room (Room 3)")
    page.wait_for_selector(".slots button.slot")
    page.click(".slots button.slot >> nth=0")
    page.click("#order-submit")
    page.wait_for_selector("[data-testid=accession]")
    accession = page.inner_text("[data-testid=accession]").strip()
    assert "Biscuit" in page.inner_text("[data-testid=worklist-label]")
    shot(page, "day-2-order")
    (order,) = api(server, "GET", "/orders", params={"accession_number": accession})["items"]
    assert order["status"] == "scheduled" and order["animal_id"] == animal_id

    # ------------------------------------------------------------- technician's board
    page.click("nav >> text=Board")
    page.wait_for_url(re.compile(r".*/app/board"))
    chip(page, accession).wait_for()
    assert chip(page, accession).get_attribute("data-status") == "scheduled"
    page.wait_for_selector('[data-live="live"]')
    page.locator(f'.board-card[data-accession="{accession}"]').get_by_role("button", name="Arrived").click()
    page.wait_for_function(
        "(acc) => document.querySelector(`.board-card[data-accession='${acc}'] .chip`)"
        "?.dataset.status === 'arrived'",
        arg=accession,
    )
    shot(page, "day-3-board-arrived")

    # ------------------------------------------------------------- the X-ray unit does its work
    page.evaluate("() => { window.__sameDocument = true; }")
    unit = XrayUnit(server, STATION_AET)
    items = unit.worklist(tmp_path / "mwl")
    (item,) = [i for i in items if i.AccessionNumber == accession]
    assert str(item.PatientName) == "OKONKWO^Biscuit"
    assert item.PatientID == animal["patient_id"]
    assert item.PatientSpeciesDescription and item.PatientBreedDescription
    unit.acquire(item, tmp_path / "images", views=2)
    page.wait_for_function(
        "(acc) => document.querySelector(`.board-card[data-accession='${acc}'] .chip`)"
        "?.dataset.status === 'images'",
        arg=accession,
        timeout=LIVE_WITHIN_MS,
    )
    assert page.evaluate("() => window.__sameDocument === true"), "the board reloaded the page"
    chip(page, accession).filter(has_text="2 images").wait_for()  # a refresh after the first image says 1
    shot(page, "day-4-board-images")
    # the chip counts stored images; the order moves when the linker files the study, a moment later
    deadline = time.monotonic() + 30
    while api(server, "GET", f"/orders/{order['id']}")["status"] != "images_received":
        assert time.monotonic() < deadline, "the order never reached images_received"
        time.sleep(0.2)

    # ------------------------------------------------------------- the vet: chart and viewer
    page.goto(f"{base}/app/animals/{animal_id}")
    study_uid = str(item.StudyInstanceUID)
    study = page.locator(f'.study-item[data-study="{study_uid}"]')
    study.wait_for()
    page.wait_for_function(
        "(uid) => { const img = document.querySelector(`.study-item[data-study='${uid}'] img`);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=study_uid,
    )
    assert "2 images" in study.inner_text()
    assert page.locator(f'[data-order="{accession}"]').count() == 1
    shot(page, "day-5-chart")
    study.get_by_role("link", name="Open", exact=True).click()
    page.wait_for_url(re.compile(rf".*/viewer/\?StudyInstanceUID={re.escape(study_uid)}$"))
    page.wait_for_selector("body[data-first-image-ms]", state="attached")
    assert "Biscuit" in page.inner_text("#study-title")
    shot(page, "day-6-viewer")

    # ------------------------------------------------------------- a stray image, fixed from the queue
    stray = stray_image(tmp_path / "stray.dcm", patient_id="TMP-0815", patient_name="DOG^Labrador")
    send(server, [stray])
    page.goto(f"{base}/app/reconciliation")
    page.locator(".recon-item", has_text="TMP-0815").wait_for()
    # Linking shows the study under its corrected identity: follow the row by its item id.
    item_id = page.locator(".recon-item", has_text="TMP-0815").get_attribute("data-item")
    row = page.locator(f'.recon-item[data-item="{item_id}"]')
    # Biscuit was seen in the DX room today: the queue ranks her first, with her order, preselected.
    best = row.get_by_role("radio").first
    best.wait_for()
    assert best.is_checked()
    # the candidate's animal name is fetched by the row after it renders: wait for it
    row.locator(".choices").get_by_text("Biscuit").first.wait_for()
    likely = row.inner_text()
    assert "Likely matches" in likely and "Biscuit" in likely and accession in likely
    shot(page, "day-7-reconciliation")
    row.get_by_role("button", name="Link to this order").click()
    row.locator(".badge", has_text="linked").wait_for()
    (done,) = [
        i for i in api(server, "GET", "/reconciliation", params={"status": "linked"}) if i["animal_id"]
    ]
    assert done["animal_id"] == animal_id

    page.goto(f"{base}/app/animals/{animal_id}")
    page.wait_for_function("document.querySelectorAll('.study-item').length === 2")
    shot(page, "day-8-chart-two-studies")
    timeline = api(server, "GET", f"/animals/{animal_id}/timeline")
    studies = [i["study"]["study_uid"] for i in timeline["items"] if i["kind"] == "study"]
    assert study_uid in studies and len(studies) == 2

    # The vet signs a report (over REST here; test_clinic_report.py drives the report screen) and the
    # performed order has been charged from the fee list: the chart shows both, the PDF one click away.
    report = api(
        server,
        "POST",
        f"/studies/{study_uid}/reports",
        json={"template_key": "general", "conclusion": "Mild bronchial pattern."},
    )
    signed = api(server, "POST", f"/reports/{report['id']}/sign")
    deadline = time.monotonic() + 20
    while not api(server, "GET", "/charges", params={"animal": animal_id})["items"]:
        assert time.monotonic() < deadline, "the performed order was not charged"
        time.sleep(0.2)
    (charge,) = api(server, "GET", "/charges", params={"animal": animal_id})["items"]
    page.goto(f"{base}/app/animals/{animal_id}")
    page.wait_for_selector(f"[data-report='{report['id']}']")
    assert "Mild bronchial pattern." in page.inner_text(f"[data-report='{report['id']}']")
    page.wait_for_selector(f"[data-charge='{charge['id']}']")
    assert charge["fee_code"] in page.inner_text(f"[data-charge='{charge['id']}']")
    total = f"{charge['currency']} {float(charge['amount']):.2f}"
    assert f"Charged: {total}" in page.inner_text(".charge-total")
    pdf_href = page.get_attribute(f"[data-report='{report['id']}'] a", "href")
    assert pdf_href == signed["pdf_url"]
    pdf = page.request.get(f"{base}{pdf_href}")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    shot(page, "day-9-chart-report-and-charge")
