"""Key images and DICOM export from the browser viewer (issue 6, item 6).

Flag the image on screen (F), find the flag on the server and again after reopening (overlay and
series thumbnail); place a Length, press Export, and read the stored TID 1500 SR back by QIDO and
WADO-RS with pydicom: the Length's value is in it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def multipart_parts(r: httpx.Response) -> list[bytes]:
    """The bodies of a multipart/related answer."""
    ctype = r.headers["content-type"]
    boundary = next(
        p.split("=", 1)[1].strip('"') for p in ctype.split(";") if p.strip().startswith("boundary=")
    )
    delim = b"--" + boundary.encode()
    chunks = r.content.split(b"\r\n" + delim)
    assert chunks[0].startswith(delim)
    chunks[0] = chunks[0][len(delim) :]
    out = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            break
        out.append(chunk[2:].partition(b"\r\n\r\n")[2])
    return out


def numeric_values(ds: pydicom.Dataset) -> list[tuple[str, float, str]]:
    """Every NUM content item of an SR tree: (concept meaning, value, unit code)."""
    out = []
    for item in ds.get("ContentSequence", []):
        if item.get("ValueType") == "NUM" and "MeasuredValueSequence" in item:
            mv = item.MeasuredValueSequence[0]
            unit = mv.MeasurementUnitsCodeSequence[0].CodeValue
            out.append((item.ConceptNameCodeSequence[0].CodeMeaning, float(mv.NumericValue), unit))
        out.extend(numeric_values(item))
    return out


def page_point(page: Any, image_xy: tuple[float, float]) -> tuple[float, float]:
    box = page.locator('[data-viewport="0"]').bounding_box()
    cx, cy = page.evaluate("([x, y]) => window.vetpacs.imageToCanvas(x, y)", list(image_xy))
    return box["x"] + cx, box["y"] + cy


def test_key_image_flag_restore_and_export_sr(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    base = demo_server.http_url
    headers = demo_server.auth_headers()
    pelvis = next(
        ds
        for ds in (pydicom.dcmread(p, stop_before_pixels=True) for p in demo_files)
        if ds.Modality == "DX" and ds.BodyPartExamined == "PELVIS"
    )
    study = pelvis.StudyInstanceUID
    page.goto(f"{base}/viewer/?accession={pelvis.AccessionNumber}")
    page.wait_for_selector("#login")
    sign_in(page, demo_server)
    page.wait_for_selector("body[data-first-image-ms]", state="attached")
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.index === '1'")
    assert page.get_attribute("#viewports .overlay:not(.br)", "data-key-image") == "false"

    # Flag with the key F: the server has it, the overlay and the thumbnail show it.
    page.click("#viewports .viewport", position={"x": 40, "y": 120})
    page.keyboard.press("f")
    page.wait_for_function("document.querySelector('#status').textContent === 'Key image flagged'")
    page.wait_for_function("document.querySelector('#viewports .overlay').dataset.keyImage === 'true'")
    assert "★ Key image" in page.text_content("#viewports .overlay")
    assert page.get_attribute(f'.thumb[data-series="{pelvis.SeriesInstanceUID}"]', "data-key-images") == "1"
    listing = httpx.get(f"{base}/api/v1/studies/{study}/measurements", headers=headers, timeout=30).json()
    assert [(k["sop_instance_uid"], k["frame_number"], k["flagged"]) for k in listing["key_images"]] == [
        (pelvis.SOPInstanceUID, 1, True)
    ]

    # A Length to export.
    page.click('[data-tool="Length"]')
    a, b = (0.25 * pelvis.Columns, 0.3 * pelvis.Rows), (0.7 * pelvis.Columns, 0.75 * pelvis.Rows)
    page.mouse.move(*page_point(page, a))
    page.mouse.down()
    page.mouse.move(*page_point(page, b), steps=12)
    page.mouse.up()
    page.wait_for_selector("#measurement-list li[data-saved]")
    saved_id = int(page.get_attribute("#measurement-list li[data-saved]", "data-saved") or 0)
    stored = httpx.get(f"{base}/api/v1/measurements/{saved_id}", headers=headers, timeout=30).json()
    length_mm = stored["value"]["values"]["length"]["value"]

    # Reopen: the flag is restored (overlay and thumbnail marker).
    page.goto(f"{base}/viewer/?accession={pelvis.AccessionNumber}")
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.keyImage === 'true'")
    page.wait_for_selector(f'.thumb[data-series="{pelvis.SeriesInstanceUID}"] .key-marker:not([hidden])')
    assert page.get_attribute("#key-image", "aria-pressed") == "true"
    shot(page, "key-image-restored")
    series_before = page.locator(".thumb").count()
    # Drawing the restored Length (Cornerstone recomputes its statistics) is not a change: no PATCH.
    page.wait_for_selector("#measurement-list li[data-saved]")
    page.wait_for_timeout(1500)  # longer than the viewer's 500 ms PATCH delay
    again = httpx.get(f"{base}/api/v1/measurements/{saved_id}", headers=headers, timeout=30).json()
    assert again["updated_at"] == stored["updated_at"]

    # Export: the status bar names the SR; the SR and GSPS series appear in the list.
    page.click("#export")
    page.wait_for_selector("body[data-exported-sr]", state="attached")
    status = page.text_content("#status") or ""
    match = re.fullmatch(
        r"Exported (\d+) measurements?: SR ([0-9.]+) \(series [0-9.]+\), presentation state [0-9.]+", status
    )
    assert match, status
    assert int(match.group(1)) == 1
    sr_uid = match.group(2)
    assert page.get_attribute("body", "data-exported-sr") == sr_uid
    page.wait_for_function("n => document.querySelectorAll('.thumb').length >= n + 2", arg=series_before)
    labels = page.locator(".thumb span:not(.key-marker)").all_text_contents()
    assert any(label.startswith("SR ") for label in labels), labels
    shot(page, "export-done")

    # The SR by QIDO then WADO-RS, parsed with pydicom: the Length's value is in it.
    found = httpx.get(
        f"{base}/dicom-web/studies/{study}/instances",
        params={"SOPInstanceUID": sr_uid, "includefield": "0020000E"},
        headers={**headers, "Accept": "application/dicom+json"},
        timeout=30,
    ).json()
    assert len(found) == 1
    series_uid = found[0]["0020000E"]["Value"][0]
    r = httpx.get(
        f"{base}/dicom-web/studies/{study}/series/{series_uid}/instances/{sr_uid}",
        headers={**headers, "Accept": 'multipart/related; type="application/dicom"'},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    (part,) = multipart_parts(r)
    sr = pydicom.dcmread(io.BytesIO(part))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert sr.SOPInstanceUID == sr_uid
    values = numeric_values(sr)
    lengths = [v for meaning, v, unit in values if meaning == "Length" and unit == "mm"]
    assert lengths and abs(lengths[0] - length_mm) < 1e-3, values
