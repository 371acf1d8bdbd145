"""The reconciliation queue (/app/reconciliation) in a real browser against a live server.

A portable DX unit that ignored the worklist sends an image (DCMTK ``storescu``) for a patient ID
nobody has: the study lands in the queue. The page shows it with its reason and thumbnail; a person
finds the right animal with the search box (the server offers no likely match for this name), links
it, and the REST API confirms the link; Undo puts it back in the queue. A second stray is rejected
with a reason, after a confirmation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, require_tool
from e2e.e2e_support import shot, sign_in
from modality_sim import send, stray_image

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOG = "448771007"


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.http_url + "/api/v1", headers=server.auth_headers(), timeout=30
    ) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def queued(api: httpx.Client, patient_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        items = api.get("/reconciliation").json()
        return next((i for i in items if i["patient_id"] == patient_id), None)

    item: dict[str, Any] = eventually(find)
    return item


def test_link_a_stray_study_then_undo(
    server: LiveServer, api: httpx.Client, browser_page: Any, tmp_path: Path
) -> None:
    require_tool("storescu")
    owner = api.post("/owners", json={"family_name": "Lindqvist", "given_name": "Eva"}).json()
    nova = api.post(
        "/animals", json={"name": "Nova", "species_code": DOG, "owners": [{"owner_id": owner["id"]}]}
    )
    assert nova.status_code == 201, nova.text
    animal = nova.json()
    image = stray_image(tmp_path / "stray.dcm", patient_id="PORT-0042", patient_name="UNKNOWN^Dog")
    send(server, [image])
    item = queued(api, "PORT-0042")
    assert item["status"] == "open"

    page = browser_page
    page.goto(f"{server.http_url}/app/reconciliation")
    sign_in(page, server)
    page.wait_for_url("**/app/reconciliation")
    row = page.locator(f'.recon-item[data-item="{item["id"]}"]')
    row.wait_for()
    text = row.inner_text()
    assert "PORT-0042" in text and "Dog (UNKNOWN)" in text
    assert "No order matches this study" in text  # the reason, in words
    # the modality comes from a QIDO-RS query of its own, after the row: wait for it
    row.locator(".facts", has_text="DX").wait_for()
    # the thumbnail is a real image the browser decoded
    row.locator(".thumb img").wait_for()
    page.wait_for_function(
        "(id) => { const img = document.querySelector(`.recon-item[data-item='${id}'] .thumb img`);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=item["id"],
    )
    assert "No likely match" in text

    # find Nova with the search box and link
    row.get_by_label("Find another animal").fill("Nova")
    row.get_by_role("button", name="Search").click()
    row.get_by_role("radio", name="Nova").check()
    shot(page, "clinic-reconciliation")
    row.get_by_role("button", name="Link to this animal").click()
    row.locator(".badge", has_text="linked").wait_for()
    linked = api.get(f"/reconciliation/{item['id']}").json()
    assert linked["status"] == "linked" and linked["animal_id"] == animal["id"]
    studies = httpx.get(
        server.http_url + "/dicom-web/studies",
        params={"StudyInstanceUID": item["study_instance_uid"]},
        headers={**server.auth_headers(), "Accept": "application/dicom+json"},
    ).json()
    assert studies[0]["00100020"]["Value"] == [animal["patient_id"]]  # served with Nova's identity
    shot(page, "clinic-reconciliation-linked")

    # undo from the row: open again, identity back as received
    row.get_by_role("button", name="Undo").click()
    row.get_by_role("button", name="Link to this animal").wait_for()
    reopened = api.get(f"/reconciliation/{item['id']}").json()
    assert reopened["status"] == "open" and reopened["animal_id"] is None
    studies = httpx.get(
        server.http_url + "/dicom-web/studies",
        params={"StudyInstanceUID": item["study_instance_uid"]},
        headers={**server.auth_headers(), "Accept": "application/dicom+json"},
    ).json()
    assert studies[0]["00100020"]["Value"] == ["PORT-0042"]


def test_reject_asks_for_a_reason_and_confirmation(
    server: LiveServer, api: httpx.Client, browser_page: Any, tmp_path: Path
) -> None:
    require_tool("storescu")
    send(server, [stray_image(tmp_path / "test.dcm", patient_id="QA-PHANTOM", patient_name="QA^Phantom")])
    item = queued(api, "QA-PHANTOM")
    page = browser_page
    page.goto(f"{server.http_url}/app/reconciliation")
    sign_in(page, server)
    row = page.locator(f'.recon-item[data-item="{item["id"]}"]')
    row.get_by_role("button", name="Reject").click()
    assert api.get(f"/reconciliation/{item['id']}").json()["status"] == "open"  # it asks first
    row.get_by_placeholder("Reason (e.g. test image)").fill("QA phantom, not a patient")
    row.get_by_role("button", name="Reject").click()
    row.locator(".badge", has_text="rejected").wait_for()
    assert api.get(f"/reconciliation/{item['id']}").json()["status"] == "rejected"
    audit = api.get("/audit", params={"action": "reconciliation.rejected"}).json()
    assert audit[0]["detail"]["reason"] == "QA phantom, not a patient"

    page.get_by_role("button", name="Rejected").click()
    page.locator(f'.recon-item[data-item="{item["id"]}"]').wait_for()
    page.get_by_role("button", name="Open", exact=True).click()
    page.get_by_text("Nothing to reconcile.").wait_for()
