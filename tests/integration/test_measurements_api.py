"""REST measurements against a live server: save (recomputed), reload, change, delete, key images,
permissions, and the exported TID 1500 report retrieved over WADO-RS and parsed with pydicom."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import httpx
import pytest
from dicom_support import module_server
from pydicom import dcmread
from pydicom.uid import generate_uid

from conftest import LiveServer
from measurement_images import make_image  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration
C75, S75 = math.cos(math.radians(75)), math.sin(math.radians(75))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("measurements-api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.http_url, headers=live.auth_headers(), timeout=30) as client:
        yield client


def _stow(http: httpx.Client, data: bytes) -> None:
    boundary = "vetpacs-measure"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = http.post(
        "/dicom-web/studies",
        content=body,
        headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
    )
    assert r.status_code == 200, r.text


def _image(http: httpx.Client, **kw: Any) -> tuple[str, str]:
    study = generate_uid()
    data, sop = make_image(study_uid=study, **kw)
    _stow(http, data)
    return study, sop


def _token(live: LiveServer, role: str) -> dict[str, str]:
    name = f"{role.replace('_', '')}{uuid.uuid4().hex[:6]}"
    live.cli("user", "add", name, "--role", role, "--generate-password")
    return {"Authorization": f"Bearer {live.cli('user', 'token', name, '--name', 't').stdout.strip()}"}


def test_save_reload_change_delete(http: httpx.Client) -> None:
    study, sop = _image(http, pixel_spacing=[0.2, 0.1])
    body = {
        "sop_instance_uid": sop,
        "tool": "length",
        "label": "femur",
        "points": {"line": [[0, 0], [30, 40]]},
        "value": {"values": {"length": {"value": 99.0, "unit": "mm"}}},
    }
    r = http.post(f"/api/v1/studies/{study}/measurements", json=body)
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["value"]["values"]["length"]["value"] == pytest.approx(math.sqrt(73))
    assert saved["value_corrected"] is True and saved["value"]["calibrated"] is True

    listed = http.get(f"/api/v1/studies/{study}/measurements").json()
    assert [m["id"] for m in listed["measurements"]] == [saved["id"]]

    r = http.patch(f"/api/v1/measurements/{saved['id']}", json={"points": {"line": [[0, 0], [0, 10]]}})
    assert r.status_code == 200 and r.json()["value"]["values"]["length"]["value"] == pytest.approx(2.0)
    assert r.json()["label"] == "femur" and r.json()["value_corrected"] is False

    assert http.delete(f"/api/v1/measurements/{saved['id']}").status_code == 204
    assert http.get(f"/api/v1/measurements/{saved['id']}").status_code == 404
    assert http.get(f"/api/v1/studies/{study}/measurements").json()["measurements"] == []


def test_geometry_errors_are_problems(http: httpx.Client) -> None:
    study, sop = _image(http)
    r = http.post(
        f"/api/v1/studies/{study}/measurements",
        json={"sop_instance_uid": sop, "tool": "circle", "points": {"rim": [[0, 0], [1, 1], [2, 2]]}},
    )
    assert r.status_code == 400 and "collinear_points" in r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = http.post(
        f"/api/v1/studies/{generate_uid()}/measurements",
        json={"sop_instance_uid": sop, "tool": "length", "points": {"line": [[0, 0], [1, 1]]}},
    )
    assert r.status_code == 404


def test_key_image_flag(http: httpx.Client) -> None:
    study, sop = _image(http)
    r = http.post(f"/api/v1/instances/{sop}/key-image", json={"flagged": True})
    assert r.status_code == 200 and r.json()["flagged"] is True
    keys = http.get(f"/api/v1/studies/{study}/measurements").json()["key_images"]
    assert [k["sop_instance_uid"] for k in keys] == [sop]


def test_permissions(live: LiveServer, http: httpx.Client) -> None:
    study, sop = _image(http)
    body = {"sop_instance_uid": sop, "tool": "length", "points": {"line": [[0, 0], [3, 4]]}}
    tech = _token(live, "technician")
    desk = _token(live, "front_desk")
    vet = _token(live, "veterinarian")
    base = live.http_url
    assert (
        httpx.post(f"{base}/api/v1/studies/{study}/measurements", json=body, headers=tech).status_code == 403
    )
    assert httpx.get(f"{base}/api/v1/studies/{study}/measurements", headers=desk).status_code == 403
    assert httpx.get(f"{base}/api/v1/studies/{study}/measurements").status_code == 401
    mine = httpx.post(f"{base}/api/v1/studies/{study}/measurements", json=body, headers=vet)
    assert mine.status_code == 201 and mine.json()["value"]["values"]["length"]["unit"] == "px"
    # The admin sees it only when asking for everyone's; the vet's own list has it.
    assert http.get(f"/api/v1/studies/{study}/measurements").json()["measurements"] == []
    everyone = http.get(f"/api/v1/studies/{study}/measurements", params={"all_users": True}).json()
    assert len(everyone["measurements"]) == 1
    other_vet = _token(live, "veterinarian")
    r = httpx.delete(f"{base}/api/v1/measurements/{mine.json()['id']}", headers=other_vet)
    assert r.status_code == 403


def test_export_report_is_retrievable_over_wado(http: httpx.Client) -> None:
    study, sop = _image(http, pixel_spacing=[0.25, 0.25])
    rim_l = [[20 + 8 * math.cos(a), 30 + 8 * math.sin(a)] for a in (0.0, 1.5, 3.0, 4.5)]
    rim_r = [[44 + 8 * math.cos(a), 30 + 8 * math.sin(a)] for a in (0.0, 1.5, 3.0, 4.5)]
    norberg = {
        "sop_instance_uid": sop,
        "tool": "norberg",
        "points": {
            "left_head_rim": rim_l,
            "right_head_rim": rim_r,
            "left_acetabular_rim": [
                20 - 10 * math.cos(math.radians(75)),
                30 - 10 * math.sin(math.radians(75)),
            ],
            "right_acetabular_rim": [
                44 + 10 * math.cos(math.radians(75)),
                30 - 10 * math.sin(math.radians(75)),
            ],
        },
    }
    r = http.post(f"/api/v1/studies/{study}/measurements", json=norberg)
    assert r.status_code == 201, r.text
    assert r.json()["value"]["values"]["left_angle"]["value"] == pytest.approx(105.0)
    r = http.post(f"/api/v1/studies/{study}/measurements/export", json={})
    assert r.status_code == 201, r.text
    exported = r.json()
    assert exported["measurement_count"] == 1

    wado = http.get(
        f"/dicom-web/studies/{study}/series/{exported['series_instance_uid']}/instances/"
        f"{exported['sop_instance_uid']}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
    )
    assert wado.status_code == 200
    ds = dcmread(BytesIO(_single_part(wado)))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    group = ds.ContentSequence[-1].ContentSequence[0]
    nums = {
        i.ConceptNameCodeSequence[0].CodeValue: float(i.MeasuredValueSequence[0].NumericValue)
        for i in group.ContentSequence
        if i.ValueType == "NUM"
    }
    assert nums["NORBERG-L"] == pytest.approx(105.0, abs=1e-6)
    assert nums["NORBERG-R"] == pytest.approx(105.0, abs=1e-6)
    for modality in ("SR", "PR"):
        qido = http.get(f"/dicom-web/studies/{study}/series", params={"Modality": modality})
        assert qido.status_code == 200 and len(qido.json()) == 1, modality
    pr = http.get(
        f"/dicom-web/studies/{study}/series/{exported['presentation_series_uid']}/instances/"
        f"{exported['presentation_state_uid']}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
    )
    gsps = dcmread(BytesIO(_single_part(pr)))
    assert gsps.GraphicAnnotationSequence[0].GraphicLayer == "MEASUREMENTS"


def _single_part(r: httpx.Response) -> bytes:
    ctype = r.headers["content-type"]
    boundary = next(
        p.split("=", 1)[1].strip('"') for p in ctype.split(";") if p.strip().startswith("boundary=")
    )
    part = r.content.split(b"--" + boundary.encode())[1]
    return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
