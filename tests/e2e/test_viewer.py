"""The browser viewer end to end: Debian's chromium (Playwright) against a live server with the demo
studies. Sign in through the page, open studies by accession number like a PMS link, wait for pixels,
scroll a CT stack, drag window/level, and place a Length on a DX radiograph whose Pixel Spacing is
known, comparing the displayed millimetres with the expected value.

Needs the built front end (``frontend/dist``; ``scripts/test.sh`` builds it) and ``/usr/bin/chromium``
(``apt-get install chromium``; never ``playwright install``). Screenshots: ``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def datasets_by_accession(files: list[Path]) -> dict[str, list[pydicom.Dataset]]:
    out: dict[str, list[pydicom.Dataset]] = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out.setdefault(str(ds.AccessionNumber), []).append(ds)
    return out


def wait_first_image(page: Any) -> float:
    """Wait until the viewer has rendered an image; its time since navigation start (ms)."""
    page.wait_for_selector("body[data-first-image-ms]", state="attached")
    return float(page.get_attribute("body", "data-first-image-ms"))


def non_blank_pixels(page: Any, viewport: int = 0) -> int:
    """How many pixels of the viewport's canvas are not black (read back from the 2D canvas)."""
    count: int = page.evaluate(
        """(n) => {
            const canvas = document.querySelector(`[data-viewport="${n}"] canvas`);
            const ctx = canvas.getContext('2d');
            const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
            let lit = 0;
            for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
            return lit;
        }""",
        viewport,
    )
    return count


def overlay(page: Any, attribute: str, corner: str = ".overlay:not(.br)") -> str:
    return str(page.get_attribute(f"#viewports .viewport {corner}", attribute) or "")


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def page_point(page: Any, image_xy: tuple[float, float]) -> tuple[float, float]:
    """Page coordinates (CSS px) of an image point [column, row] in the active viewport."""
    box = page.locator('[data-viewport="0"]').bounding_box()
    cx, cy = page.evaluate("([x, y]) => window.vetpacs.imageToCanvas(x, y)", list(image_xy))
    return box["x"] + cx, box["y"] + cy


def test_unauthenticated_browser_is_sent_to_the_login_page(
    demo_server: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{demo_server.http_url}/viewer/?accession=VPD0070003")
    page.wait_for_selector("#login")
    assert "/viewer/login?next=" in page.url
    page.fill("#username", "admin")
    page.fill("#password", "not-the-password")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert "Wrong username or password" in page.text_content("#error")
    assert "/viewer/login" in page.url


def test_viewer_reads_dx_and_ct(demo_server: LiveServer, demo_files: list[Path], browser_page: Any) -> None:
    page = browser_page
    studies = datasets_by_accession(demo_files)
    dx_accession, ct_accession = "VPD0070003", "VPD0070005"
    (dx,) = studies[dx_accession]
    assert dx.Modality == "DX" and "PixelSpacing" in dx
    assert {ds.Modality for ds in studies[ct_accession]} == {"CT"}
    ct_slices = len(studies[ct_accession])
    base = demo_server.http_url

    # A PMS link: not signed in yet, so the login page first, then back to the study.
    page.goto(f"{base}/viewer/?accession={dx_accession}")
    page.wait_for_selector("#login")
    sign_in(page, demo_server)
    page.wait_for_url(re.compile(rf".*/viewer/\?accession={dx_accession}$"))
    wait_first_image(page)

    # Time to first image, measured on a fresh navigation (signed in, nothing cached in the page).
    started = time.perf_counter()
    page.goto(f"{base}/viewer/?accession={dx_accession}")
    in_page_ms = wait_first_image(page)
    wall_ms = (time.perf_counter() - started) * 1000
    print(
        f"\nDX {dx.Columns}x{dx.Rows}: first image {in_page_ms:.0f} ms after navigation start "
        f"({wall_ms:.0f} ms wall)"
    )
    page.wait_for_function("document.querySelector('[data-viewport=\"0\"] canvas') !== null")
    page.wait_for_timeout(200)
    assert non_blank_pixels(page) > 1000, "the DX viewport is blank"
    assert page.locator(".thumb").count() == 1
    assert "Calibrated (Pixel Spacing)" in page.text_content("#viewports .overlay")
    shot(page, "dx-first-image")

    # Length on the DX: drag between two known image points and read the displayed mm.
    page.click('[data-tool="Length"]')
    a = (0.2 * dx.Columns, 0.3 * dx.Rows)
    b = (0.75 * dx.Columns, 0.8 * dx.Rows)
    drag(page, page_point(page, a), page_point(page, b))
    item = page.locator("#measurement-list li").first
    item.wait_for()
    text = item.text_content()
    match = re.fullmatch(r"Length (\d+\.\d) mm", text.strip())
    assert match, text
    row_spacing, column_spacing = (float(v) for v in dx.PixelSpacing)
    expected = math.hypot((b[0] - a[0]) * column_spacing, (b[1] - a[1]) * row_spacing)
    shown = float(match.group(1))
    assert abs(shown - expected) <= 0.05 + 0.005 * expected, (shown, expected)
    placed = [tuple(float(v) for v in p.split(",")) for p in item.get_attribute("data-points").split(";")]
    for got, want in zip(placed, (a, b), strict=True):
        assert math.dist(got, want) < 0.75, (placed, a, b)
    # The same value is drawn on the image (SVG text of the annotation).
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-viewport=\"0\"] svg text')]"
        ".some(e => e.textContent === t)",
        arg=f"{shown:.1f} mm",
    )
    shot(page, "dx-length")
    print(f"DX length: shown {shown:.1f} mm, expected {expected:.2f} mm")

    # Kept on the server as the user works: the server recomputed the same value from the points...
    page.wait_for_selector("#measurement-list li[data-saved]")
    saved_id = int(page.get_attribute("#measurement-list li[data-saved]", "data-saved") or 0)
    stored = httpx.get(
        f"{base}/api/v1/measurements/{saved_id}", headers=demo_server.auth_headers(), timeout=30
    ).json()
    assert stored["tool"] == "length" and stored["sop_instance_uid"] == dx.SOPInstanceUID
    assert stored["username"] == "admin"
    assert abs(stored["value"]["values"]["length"]["value"] - shown) <= 0.051, stored["value"]
    # ...and reopening the study brings it back, drawn, with the same value.
    page.goto(f"{base}/viewer/?accession={dx_accession}")
    wait_first_image(page)
    restored = page.locator("#measurement-list li").first
    restored.wait_for()
    assert restored.text_content().strip() == text.strip()
    assert restored.get_attribute("data-saved") == str(saved_id)
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-viewport=\"0\"] svg text')]"
        ".some(e => e.textContent === t)",
        arg=f"{shown:.1f} mm",
    )

    # CT: scroll the stack with the keyboard and the wheel, then drag window/level.
    page.goto(f"{base}/viewer/?accession={ct_accession}")
    wait_first_image(page)
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.index === '1'")
    assert f"Im: 1/{ct_slices}" in page.text_content("#viewports .overlay")
    # Focus the page and activate the viewport, away from the centre where the drag below starts
    # (Cornerstone would take a second press at the same spot for a double click).
    page.click("#viewports .viewport", position={"x": 40, "y": 120})
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('#viewports .overlay').dataset.index === '3'")
    box = page.locator('[data-viewport="0"]').bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    page.mouse.wheel(0, 120)
    page.wait_for_function("document.querySelector('#viewports .overlay').dataset.index === '4'")
    assert non_blank_pixels(page) > 1000, "the CT viewport is blank"
    ww, wc = overlay(page, "data-ww", ".overlay.br"), overlay(page, "data-wc", ".overlay.br")
    assert ww and wc
    drag(page, centre, (centre[0] + 120, centre[1] + 60))
    page.wait_for_function(
        "([ww, wc]) => { const o = document.querySelector('#viewports .overlay.br');"
        " return o.dataset.ww !== ww || o.dataset.wc !== wc; }",
        arg=[ww, wc],
    )
    assert (overlay(page, "data-ww", ".overlay.br"), overlay(page, "data-wc", ".overlay.br")) != (ww, wc)
    # A preset sets an exact window (Hounsfield units).
    page.select_option("#preset", "Bone")
    page.wait_for_function("document.querySelector('#viewports .overlay.br').dataset.ww === '2000'")
    assert overlay(page, "data-wc", ".overlay.br") == "500"
    shot(page, "ct-scrolled-windowed")


def test_cine_plays_a_multiframe_ultrasound(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    us_accession = "VPD0070004"
    us = datasets_by_accession(demo_files)[us_accession]
    assert {ds.Modality for ds in us} == {"US"} and all(int(ds.NumberOfFrames) > 1 for ds in us)
    frames = sum(int(ds.NumberOfFrames) for ds in us)
    page.goto(f"{demo_server.http_url}/viewer/login")
    sign_in(page, demo_server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{demo_server.http_url}/viewer/?accession={us_accession}")
    wait_first_image(page)
    assert f"Im: 1/{frames}" in page.text_content("#viewports .overlay")
    assert page.is_visible("#cine-controls")
    page.fill("#fps", "30")
    page.click("#cine")
    assert page.text_content("#cine") == "Stop"
    # Playing: the frame number moves on by itself (and wraps around).
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        seen.add(overlay(page, "data-index"))
        page.wait_for_timeout(50)
    assert len(seen) >= 3, seen
    page.click("#cine")
    assert page.text_content("#cine") == "Play"
    page.wait_for_timeout(300)  # a frame requested just before the stop may still arrive
    stopped = overlay(page, "data-index")
    page.wait_for_timeout(500)
    assert overlay(page, "data-index") == stopped
    assert non_blank_pixels(page) > 500, "the US viewport is blank"
    shot(page, "us-cine")


def test_prior_opens_beside_the_current_study(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    """Luna's dental series (2025-06-05) with her thoracic radiographs (2025-01-22) as the prior."""
    page = browser_page
    studies = datasets_by_accession(demo_files)
    current_uid = str(studies["VPD0070008"][0].StudyInstanceUID)
    prior_uid = str(studies["VPD0070002"][0].StudyInstanceUID)
    page.goto(f"{demo_server.http_url}/viewer/login")
    sign_in(page, demo_server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{demo_server.http_url}/viewer/?StudyInstanceUID={current_uid}&prior={prior_uid}")
    page.wait_for_selector(f"body[data-prior='{prior_uid}']", state="attached")
    page.wait_for_function(
        "document.querySelectorAll('#viewports .viewport .overlay:not(.br)[data-index]').length === 2"
    )
    overlays = page.locator("#viewports .viewport .overlay:not(.br)")
    assert overlays.count() == 2
    assert overlays.nth(0).get_attribute("data-study") == current_uid
    assert overlays.nth(1).get_attribute("data-study") == prior_uid
    assert "PRIOR 2025-01-22" in (overlays.nth(1).text_content() or "")
    assert "PRIOR" not in (overlays.nth(0).text_content() or "")
    assert page.locator("#series .prior-heading").text_content() == "PRIOR 2025-01-22"
    page.wait_for_timeout(200)
    assert non_blank_pixels(page, 0) > 500 and non_blank_pixels(page, 1) > 500
    shot(page, "viewer-prior-side-by-side")

    # Linked by default: scrolling the current study (4 images) moves the prior (2) to the same
    # relative place, and zooming one zooms the other.
    assert page.get_attribute("#link", "aria-pressed") == "true"
    page.click('[data-viewport="0"]')
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "document.querySelectorAll('#viewports .overlay:not(.br)')[0].dataset.index === '4'"
        " && document.querySelectorAll('#viewports .overlay:not(.br)')[1].dataset.index === '2'"
    )
    box = page.locator('[data-viewport="0"]').bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.click('[data-tool="Zoom"]')
    drag(page, centre, (centre[0], centre[1] - 120))
    page.wait_for_function(
        """() => { const z = [...document.querySelectorAll('#viewports .overlay.br')]
              .map(e => /Zoom: ([0-9.]+)/.exec(e.textContent)[1]);
              return z.length === 2 && z[0] !== '1.00' && z[0] === z[1]; }"""
    )
    # Unlinked, the prior stays where it is.
    page.click("#link")
    assert page.get_attribute("#link", "aria-pressed") == "false"
    page.keyboard.press("ArrowUp")
    page.wait_for_function(
        "document.querySelectorAll('#viewports .overlay:not(.br)')[0].dataset.index === '3'"
    )
    page.wait_for_timeout(300)
    assert page.locator("#viewports .overlay:not(.br)").nth(1).get_attribute("data-index") == "2"
    # Rotate and flip the active image; Reset undoes them.
    page.click("#rotate")
    page.click("#flip-h")
    assert page.get_attribute('[data-viewport="0"]', "data-rotation") == "90"
    assert page.get_attribute('[data-viewport="0"]', "data-flip") == "H"
    shot(page, "viewer-prior-rotated")
    page.click("#reset")
    assert page.get_attribute('[data-viewport="0"]', "data-rotation") is None


def test_prior_list_comes_from_the_archive(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    """Opened by accession number, the viewer lists the animal's other studies (QIDO by Patient ID),
    newest first; choosing one opens it beside the current study."""
    page = browser_page
    studies = datasets_by_accession(demo_files)
    current = studies["VPD0070008"][0]
    expected: dict[str, str] = {}  # the animal's other studies: uid -> date, derived from the files
    for group in studies.values():
        ds = group[0]
        if ds.PatientID == current.PatientID and ds.StudyInstanceUID != current.StudyInstanceUID:
            expected[str(ds.StudyInstanceUID)] = str(ds.StudyDate)
    assert expected, "the demo animal needs another study"
    newest_first = sorted(expected, key=lambda uid: expected[uid], reverse=True)
    page.goto(f"{demo_server.http_url}/viewer/login")
    sign_in(page, demo_server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{demo_server.http_url}/viewer/?accession=VPD0070008")
    page.wait_for_selector("#priors:not([hidden]) #prior-list a")
    links = page.locator("#prior-list a")
    assert [links.nth(i).get_attribute("data-study") for i in range(links.count())] == newest_first
    first_date = expected[newest_first[0]]
    assert (links.first.text_content() or "").startswith(
        f"{first_date[:4]}-{first_date[4:6]}-{first_date[6:]}"
    )
    shot(page, "viewer-prior-list")

    links.first.click()
    page.wait_for_selector(f"body[data-prior='{newest_first[0]}']", state="attached")
    assert (
        f"StudyInstanceUID={current.StudyInstanceUID}" in page.url and f"prior={newest_first[0]}" in page.url
    )
    page.wait_for_function(
        "document.querySelectorAll('#viewports .viewport .overlay:not(.br)[data-index]').length === 2"
    )
    assert (
        page.locator("#viewports .viewport .overlay:not(.br)").nth(1).get_attribute("data-study")
        == (newest_first[0])
    )
    page.wait_for_selector(f"#prior-list a[aria-current][data-study='{newest_first[0]}']")

    # A PMS that knows only its patient id: the animal's newest study opens, its priors beside it.
    every = {**expected, str(current.StudyInstanceUID): str(current.StudyDate)}
    newest = max(every, key=lambda uid: every[uid])
    page.goto(f"{demo_server.http_url}/viewer/?patient_id={current.PatientID}")
    page.wait_for_selector("#priors:not([hidden]) #prior-list a")
    page.wait_for_function(
        "u => document.querySelector('#viewports .overlay:not(.br)')?.dataset.study === u", arg=newest
    )
    assert page.locator("#prior-list a").count() == len(every) - 1


def test_radiograph_presets_follow_the_body_region(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    """A pelvis radiograph offers the bone window first; radiograph presets are relative to the
    window the image opened with (no absolute scale on a DX)."""
    page = browser_page
    pelvis = next(
        ds
        for group in datasets_by_accession(demo_files).values()
        for ds in group
        if ds.Modality == "DX" and ds.BodyPartExamined == "PELVIS"
    )
    page.goto(f"{demo_server.http_url}/viewer/login")
    sign_in(page, demo_server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{demo_server.http_url}/viewer/?accession={pelvis.AccessionNumber}")
    wait_first_image(page)
    page.wait_for_function("document.querySelector('#viewports .overlay.br')?.dataset.ww")
    options = page.eval_on_selector_all("#preset option", "os => os.map(o => o.value)")
    assert options[:3] == ["", "Bone", "Soft tissue"], options
    width = float(overlay(page, "data-ww", ".overlay.br"))
    center = float(overlay(page, "data-wc", ".overlay.br"))
    page.select_option("#preset", "Bone")
    page.wait_for_function(
        "ww => document.querySelector('#viewports .overlay.br').dataset.ww !== ww", arg=str(round(width))
    )
    assert abs(float(overlay(page, "data-ww", ".overlay.br")) - 0.7 * width) <= 2
    assert abs(float(overlay(page, "data-wc", ".overlay.br")) - (center + 0.2 * width)) <= 2
    page.select_option("#preset", "")
    page.wait_for_function(
        "ww => document.querySelector('#viewports .overlay.br').dataset.ww === ww", arg=str(round(width))
    )
