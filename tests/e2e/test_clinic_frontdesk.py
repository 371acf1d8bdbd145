"""The clinic app's front-desk screens end to end: Debian chromium (Playwright) against a live server
with the demo studies, the sample catalog and stations.

Register a dog and its owner through the form (a validation error shown and fixed), find it by the
owner's name and by microchip, open its chart, order thoracic radiographs booked on a DX station
today (with the printable worklist label), see the booking on the schedule and drag it to another
time (checked through the REST API), then open a demo study from search in the viewer.

Needs the built front end (``frontend/dist``) and ``/usr/bin/chromium``. Screenshots:
``tests/e2e/screenshots/clinic-*.png``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PX_PER_MINUTE = 2  # frontend/src/clinic/screens/schedule.tsx
MICROCHIP = "985112345678901"


def api(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{server.http_url}/api/v1{path}", headers=server.auth_headers(), timeout=30, **kwargs
    )
    assert response.is_success, (response.status_code, response.text)
    return response.json()


@pytest.fixture
def clinic_server(demo_server: LiveServer) -> LiveServer:
    """Demo studies with their owners and animals (``vetpacs demo``), the sample catalog and
    stations, and a DX station open around the clock (so the test books 'today' whatever the
    weekday and hour)."""
    demo_server.cli("demo")
    api(
        demo_server,
        "POST",
        "/stations",
        json={"name": "DX Emergency", "ae_title": "DXEMERG", "modality": "DX", "location": "ER"},
    )
    return demo_server


def test_front_desk_day(clinic_server: LiveServer, demo_files: list[Path], browser_page: Any) -> None:
    server, page = clinic_server, browser_page
    base = server.http_url
    page.goto(f"{base}/viewer/login")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))

    # --- search: the box has the focus, the empty state shows
    page.wait_for_selector("#search-q")
    page.wait_for_function("document.activeElement?.id === 'search-q'")  # focused by an effect after paint
    assert "Type an animal or owner name" in page.inner_text("main")

    # --- register a dog and its owner; one validation error shown, then fixed
    page.click("text=New patient >> nth=0")
    page.wait_for_url(re.compile(r".*/app/animals/new$"))
    page.fill("#reg-name", "Biscuit")
    page.fill("#reg-given", "Ada")
    page.fill("#reg-phone", "+44 20 7946 0958")
    page.select_option("#reg-species", "448771007")
    labrador = "#reg-breed:not([disabled]) option:has-text('Labrador Retriever')"
    page.wait_for_selector(labrador, state="attached")
    page.select_option("#reg-breed", label="Labrador Retriever")
    page.select_option("#reg-sex", "M")
    page.select_option("#reg-neuter", "ALTERED")
    page.fill("#reg-birth", "2021-03-04")
    page.fill("#reg-weight", "31,5")
    page.fill("#reg-microchip", MICROCHIP[:-1])  # 14 digits: refused on the client
    page.fill("#reg-alerts", "Bites when muzzled")
    page.click("#reg-submit")
    assert "family name is required" in page.inner_text("#reg-family-error")
    assert "15 digits" in page.inner_text("#reg-microchip-error")
    assert page.evaluate("document.activeElement.id") == "reg-family"
    shot(page, "clinic-register")
    assert page.url.endswith("/app/animals/new")  # nothing was sent
    page.fill("#reg-family", "Okonkwo")
    page.fill("#reg-microchip", MICROCHIP)
    page.click("#reg-submit")
    page.wait_for_url(re.compile(r".*/app/animals/\d+$"))
    animal_id = int(page.url.rsplit("/", 1)[1])
    animal = api(server, "GET", f"/animals/{animal_id}")
    assert animal["microchip"] == MICROCHIP and animal["weight_kg"] == 31.5
    assert animal["breed"]["name"] == "Labrador Retriever"
    assert [o["family_name"] for o in animal["owners"]] == ["Okonkwo"]

    # --- chart: alerts prominent, owner contact, no reports or charges yet
    page.wait_for_selector(".alerts")
    assert "Bites when muzzled" in page.inner_text(".alerts")
    page.wait_for_selector("text=+44 20 7946 0958")
    page.wait_for_selector("[data-reports='0'][data-charges='0']")
    assert "0 signed reports" in page.inner_text("main") and "Charged: nothing yet" in page.inner_text("main")
    assert "Male, neutered" in page.inner_text("main")

    # --- edit inline: a bad weight is refused beside the field, a good one saved (PATCH)
    page.click("text=Edit patient")
    page.fill("#edit-weight", "0")
    page.fill("#edit-colour", "Yellow")
    page.click(".edit-form button[type=submit]")
    assert "more than 0" in page.inner_text("#edit-weight-error")
    page.fill("#edit-weight", "32")
    page.click(".edit-form button[type=submit]")
    page.wait_for_selector(".edit-form", state="detached")
    assert "32 kg" in page.inner_text(".facts")
    edited = api(server, "GET", f"/animals/{animal_id}")
    assert (edited["weight_kg"], edited["colour"], edited["microchip"]) == (32, "Yellow", MICROCHIP)

    # --- search by owner name, then by microchip (typed, debounced, kept in the URL)
    page.click("nav >> text=Search")
    page.fill("#search-q", "okonk")
    page.wait_for_selector(".animal-card >> text=Biscuit")
    assert "q=okonk" in page.url
    page.fill("#search-q", MICROCHIP)
    page.wait_for_url(re.compile(rf".*q={MICROCHIP}"))
    page.wait_for_selector(f".animal-card >> text=Chip {MICROCHIP}")
    cards = page.locator(".animal-card")
    assert cards.count() == 1
    assert "OKONKWO, Ada" in cards.first.inner_text()
    shot(page, "clinic-search")
    page.reload()  # the search survives a reload
    page.wait_for_selector(".animal-card >> text=Biscuit")
    assert page.input_value("#search-q") == MICROCHIP

    # --- chart, then a new order for thoracic radiographs booked on the DX station today
    page.click(".animal-card .animal-link")
    page.wait_for_url(re.compile(rf".*/app/animals/{animal_id}$"))
    page.wait_for_selector("text=No orders or studies for Biscuit yet.")
    page.click("main >> text=New order")
    page.wait_for_url(re.compile(rf".*/app/orders/new\?animal={animal_id}$"))
    page.check("input[value='DX-THX2']")
    assert page.input_value("#order-region") == "CHEST"
    page.fill("#order-question", "Coughing for two weeks: metastases? bronchial pattern?")
    page.fill("#order-vet", "Dr Vet")
    page.wait_for_selector("#order-station option:has-text('DX Emergency')", state="attached")
    page.select_option("#order-station", label="DX Emergency (ER)")
    page.wait_for_selector(".slots button.slot")
    first_slot = page.inner_text(".slots button.slot >> nth=0")
    page.click(".slots button.slot >> nth=0")
    page.click("#order-submit")
    page.wait_for_selector("[data-testid=accession]")
    accession = page.inner_text("[data-testid=accession]")
    label = page.inner_text("[data-testid=worklist-label]")
    wanted = ("Biscuit", "Labrador Retriever", "Okonkwo, Ada", accession, "Thorax, 2 views", "DX Emergency")
    for text in wanted:
        assert text in label
    assert page.locator("[data-testid=worklist-label] svg rect").count() > 20  # the Code 128 bars
    shot(page, "clinic-order")

    orders = api(server, "GET", "/orders", params={"accession_number": accession})["items"]
    assert len(orders) == 1
    step = orders[0]["steps"][0]
    today = datetime.now().strftime("%Y-%m-%d")
    assert step["start"] == f"{today}T{first_slot}:00", step
    assert orders[0]["clinical_question"].startswith("Coughing")

    # --- the chart's timeline shows the order with its booking
    page.click("text=Back to Biscuit's chart")
    order_card = page.locator(f"[data-order='{accession}']")
    order_card.wait_for()
    assert f"DX Emergency {today} {first_slot}" in order_card.inner_text()
    shot(page, "clinic-chart-order")

    # an order left unscheduled (made over REST): the schedule lists it to drag in
    later = api(server, "POST", "/orders", json={"animal_id": animal_id, "procedure_codes": ["DX-ABD"]})
    assert later["steps"][0]["start"] is None

    # --- the schedule shows the booking; drag it an hour later (earlier when it is late in the day)
    page.goto(f"{base}/app/schedule")
    block = page.locator(f".sched-block[data-accession='{accession}']")
    block.wait_for()
    shot(page, "clinic-schedule")
    start = datetime.fromisoformat(step["start"])
    shift = 60 if start.hour < 20 else -60
    # the booking is at the next free slot after now: late in the day it is below the fold
    block.evaluate("e => e.scrollIntoView({block: 'center'})")
    box = block.bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 3, box["y"] + 6
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + shift * PX_PER_MINUTE / 2, steps=5)
    page.mouse.move(x, y + shift * PX_PER_MINUTE, steps=5)
    page.wait_for_selector(".sched-ghost")
    page.mouse.up()
    expected = (start + timedelta(minutes=shift)).strftime("%Y-%m-%dT%H:%M:%S")
    page.wait_for_selector(f"text=booked {expected[:10]} {expected[11:16]}")
    assert api(server, "GET", f"/steps/{step['id']}")["start"] == expected

    # --- drag the unscheduled step from the list onto the DX Emergency column, 90 minutes away
    item = page.locator(f"[data-unscheduled='{later['accession_number']}']")
    item.wait_for()
    # the block shows its new time only once the reloaded day arrives: measure it after that
    page.locator(f".sched-block[data-accession='{accession}'] strong", has_text=expected[11:16]).wait_for()
    block.scroll_into_view_if_needed()
    box = block.bounding_box()
    assert box
    moved = datetime.fromisoformat(expected)
    gap = 90 if box["y"] + 90 * PX_PER_MINUTE < 760 and moved.hour < 21 else -90
    item_box = item.bounding_box()
    assert item_box
    page.mouse.move(item_box["x"] + 20, item_box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + gap * PX_PER_MINUTE, steps=8)
    page.wait_for_selector(".sched-ghost")
    page.mouse.up()
    page.locator(f".sched-block[data-accession='{later['accession_number']}']").wait_for()
    booked = api(server, "GET", f"/steps/{later['steps'][0]['id']}")
    assert booked["station_name"] == "DX Emergency"
    assert booked["start"] == (moved + timedelta(minutes=gap)).strftime("%Y-%m-%dT%H:%M:%S")
    # the "Not scheduled" list is its own, slower request
    page.locator(f"[data-unscheduled='{later['accession_number']}']").wait_for(state="detached")

    # --- a refused move: the server's reason is shown and the block stays where it is
    page.locator(f".sched-block[data-accession='{accession}'] button.move").click()
    page.select_option("#move-station", label="X-ray room 1")
    page.fill("#move-day", today)
    page.fill("#move-time", "03:00")  # the seeded X-ray room is never open at 03:00
    page.click(".move-form button[type=submit]")
    page.wait_for_selector("[data-testid=refusal]")
    assert "opening hours" in page.inner_text("[data-testid=refusal]") or "closed" in page.inner_text(
        "[data-testid=refusal]"
    )
    assert api(server, "GET", f"/steps/{step['id']}")["start"] == expected

    # --- a demo animal's chart: studies with thumbnails, compare with the prior (same modality first)
    page.goto(f"{base}/app/?q=Luna")
    page.click(".animal-card .animal-link >> text=Luna")
    page.wait_for_selector("[data-study]")
    studies = page.locator("[data-study]")
    assert studies.count() >= 2
    assert studies.first.locator("img.thumb").get_attribute("loading") == "lazy"
    newest_uid = studies.first.get_attribute("data-study")
    compare = studies.first.locator("text=Compare with prior")
    href = compare.get_attribute("href") or ""
    prior_uid = studies.nth(studies.count() - 1).get_attribute("data-study")
    assert href == f"/viewer/?StudyInstanceUID={newest_uid}&prior={prior_uid}", href
    shot(page, "clinic-chart")

    # --- a demo study from search opens in the viewer
    dx = next(
        ds
        for ds in (pydicom.dcmread(p, stop_before_pixels=True) for p in demo_files)
        if ds.Modality == "DX" and ds.AccessionNumber
    )
    page.goto(f"{base}/app/?q={dx.AccessionNumber}")
    row = page.locator(".studies-table tbody tr", has_text=str(dx.AccessionNumber))
    row.wait_for()
    assert row.locator("img.thumb").get_attribute("loading") == "lazy"
    row.locator("text=Open").click()
    page.wait_for_url(re.compile(rf".*/viewer/\?StudyInstanceUID={re.escape(str(dx.StudyInstanceUID))}$"))
    page.wait_for_selector("body[data-first-image-ms]", state="attached")
