"""``GET /api/v1/search`` and ``GET /api/v1/animals/{id}/timeline`` against a live server (httpx):
an order, its images sent by STOW-RS and linked, a stray study; 422s, 404 and 403 as problem+json."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from pydicom.uid import generate_uid

from conftest import LiveServer  # type: ignore[import-not-found]
from measurement_images import tiny_image  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
SC = "1.2.840.10008.5.1.4.1.1.1.1"


def dx_image(**attrs: str) -> bytes:
    """A thorax radiograph of 1 March 2025; ``attrs`` add to or replace its attributes."""
    defaults = {"BodyPartExamined": "THORAX", "StudyDate": "20250301", "StudyTime": "101500"}
    return tiny_image(SC, **(defaults | attrs))


def stow(server: LiveServer, *parts: bytes) -> None:
    boundary = "clinic-search-boundary"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    r = httpx.post(
        f"{server.http_url}/dicom-web/studies",
        content=body,
        headers={
            **server.auth_headers(),
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text


def eventually(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def token_for(server: LiveServer, role: str) -> dict[str, str]:
    name = f"{role.replace('_', '')}{uuid.uuid4().hex[:6]}"
    server.cli("user", "add", name, "--role", role, "--generate-password")
    return {"Authorization": f"Bearer {server.cli('user', 'token', name, '--name', 't').stdout.strip()}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("clinic-search")) as srv:
        srv.cli("catalog", "seed", "--stations")
        yield srv


@pytest.fixture(scope="module")
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.http_url}/api/v1", headers=live.auth_headers(), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(live: LiveServer, api: httpx.Client) -> dict[str, Any]:
    owner = api.post("/owners", json={"family_name": "Lindqvist", "given_name": "Eva"}).json()
    animal = api.post(
        "/animals",
        json={
            "name": "Biscuit",
            "species_code": "448771007",
            "sex": "F",
            "microchip": "941000012345678",
            "owners": [{"owner_id": owner["id"]}],
        },
    ).json()
    order = api.post("/orders", json={"animal_id": animal["id"], "procedure_codes": ["DX-THX2"]}).json()
    study_uid = generate_uid()
    stow(
        live,
        dx_image(
            StudyInstanceUID=study_uid,
            AccessionNumber=order["accession_number"],
            PatientID=animal["patient_id"],
            PatientName="LINDQVIST^Biscuit",
        ),
    )
    stray_uid = generate_uid()
    stow(live, dx_image(StudyInstanceUID=stray_uid, PatientID="OTHER-9", PatientName="NOBODY^Tom"))

    def linked() -> None:
        assert api.get(f"/orders/{order['id']}").json()["status"] == "images_received"

    eventually(linked)
    return {"animal": animal, "order": order, "study_uid": study_uid, "stray_uid": stray_uid}


def test_search_by_name_prefix(api: httpx.Client, world: dict[str, Any]) -> None:
    r = api.get("/search", params={"q": "bisc"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["took_ms"], float)
    [animal] = body["animals"]
    assert animal["id"] == world["animal"]["id"]
    assert animal["owners"] == ["LINDQVIST, Eva"]
    assert (animal["study_count"], animal["last_study_date"]) == (1, "2025-03-01")
    assert animal["species"] == "Canine" and animal["deceased"] is False
    assert body["studies"]["total"] == 1
    [hit] = body["studies"]["items"]
    assert hit["study_uid"] == world["study_uid"]
    assert hit["status"] == "images_received"
    assert hit["order_id"] == world["order"]["id"]
    assert hit["owner"] == "LINDQVIST, Eva"
    assert (hit["modalities"], hit["body_parts"], hit["series"], hit["instances"]) == (
        ["DX"],
        ["THORAX"],
        1,
        1,
    )


def test_search_filters_over_http(api: httpx.Client, world: dict[str, Any]) -> None:
    unmatched = api.get("/search", params={"status": "unmatched"}).json()["studies"]
    assert [s["study_uid"] for s in unmatched["items"]] == [world["stray_uid"]]
    by_chip = api.get("/search", params={"q": "941000012345678"}).json()
    assert [s["study_uid"] for s in by_chip["studies"]["items"]] == [world["study_uid"]]
    dated = api.get("/search", params={"date_from": "2025-03-01", "date_to": "2025-03-01", "modality": "DX"})
    assert dated.json()["studies"]["total"] == 2
    assert api.get("/search", params={"date_from": "2025-03-02"}).json()["studies"]["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"date_from": "2025-13-01"},
        {"date_from": "2025-03-02", "date_to": "2025-03-01"},
        {"limit": "201"},
        {"limit": "0"},
        {"offset": "-1"},
        {"modality": "D X;"},
    ],
)
def test_bad_values_are_422_problems(
    api: httpx.Client, world: dict[str, Any], params: dict[str, str]
) -> None:
    r = api.get("/search", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_timeline(live: LiveServer, api: httpx.Client, world: dict[str, Any]) -> None:
    # The performed order was charged from the fee list (the billing worker); sign a report on it.
    order_id = world["order"]["id"]
    (charge,) = eventually(lambda: _one(api.get("/charges", params={"order": order_id}).json()["items"]))
    report = api.post(
        f"/studies/{world['study_uid']}/reports",
        json={"template_key": "general", "conclusion": "No cardiopulmonary abnormality."},
    )
    assert report.status_code == 201, report.text
    signed = api.post(f"/reports/{report.json()['id']}/sign")
    assert signed.status_code == 200, signed.text

    r = api.get(f"/animals/{world['animal']['id']}/timeline")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["animal_id"] == world["animal"]["id"]
    kinds = [i["kind"] for i in body["items"]]
    # newest first: the report was signed after the charge was posted (today), both after the
    # order was made; the study is dated 2025-03-01
    assert kinds == ["report", "charge", "order", "study"], kinds
    by_kind = {i["kind"]: i for i in body["items"]}
    assert by_kind["report"]["report"]["status"] == "final"
    assert by_kind["report"]["at"] == by_kind["report"]["report"]["signed_at"]
    assert by_kind["charge"]["charge"]["id"] == charge["id"]
    assert by_kind["charge"]["charge"]["fee_code"] == charge["fee_code"]
    assert by_kind["order"]["order"]["id"] == order_id
    assert by_kind["order"]["order"]["steps"][0]["procedure_code"] == "DX-THX2"
    assert by_kind["study"]["study"]["study_uid"] == world["study_uid"]
    assert by_kind["study"]["at"] == "2025-03-01T10:15:00"
    # a radiologist (no billing:read) sees the report, not the charge; the front desk (no
    # reports:read) the charge, not the report
    for role, hidden in (("radiologist", "charge"), ("front_desk", "report")):
        seen = httpx.get(
            f"{live.http_url}/api/v1/animals/{world['animal']['id']}/timeline",
            headers=token_for(live, role),
            timeout=30,
        )
        assert seen.status_code == 200, seen.text
        assert hidden not in [i["kind"] for i in seen.json()["items"]], role
    missing = api.get("/animals/999999/timeline")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)


def _one(items: list[Any]) -> list[Any]:
    assert len(items) == 1, items
    return items


def test_search_is_audited_and_needs_patients_read(
    live: LiveServer, api: httpx.Client, world: dict[str, Any]
) -> None:
    reader = token_for(live, "external_reader")  # images, no patient data
    for path in ("/search", f"/animals/{world['animal']['id']}/timeline"):
        r = httpx.get(f"{live.http_url}/api/v1{path}", headers=reader, timeout=30)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
    desk = token_for(live, "front_desk")
    assert httpx.get(f"{live.http_url}/api/v1/search", headers=desk, timeout=30).status_code == 200
    rows = api.get("/audit", params={"action": "clinic.searched"}).json()
    assert any("q=bisc" in str(r["detail"]) for r in rows), rows
