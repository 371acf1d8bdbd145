"""The viewer's measurement and annotation tools end to end (issue 6, items 4 and 5): Debian's chromium
(Playwright) against a live server with the demo studies.

Each tool is placed between known image points; the displayed value is compared with a value this test
computes itself from the definition (docs/measurements.md) and the DICOM file (Pixel Spacing, pixel
data), from the points the viewer actually placed (read back from the Measurements panel, and checked
to be where the mouse put them). The server's stored value is read over REST; reopening the study must
bring every measurement back with the same text.

Needs the built front end and ``/usr/bin/chromium`` (see ``tests/e2e/test_viewer.py``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

Point = tuple[float, float]


# --------------------------------------------------------------------------- helpers
def datasets_by_accession(files: list[Path], *, pixels: bool = False) -> dict[str, list[pydicom.Dataset]]:
    out: dict[str, list[pydicom.Dataset]] = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
        out.setdefault(str(ds.AccessionNumber), []).append(ds)
    for datasets in out.values():
        datasets.sort(key=lambda d: int(d.InstanceNumber))
    return out


def open_study(page: Any, server: LiveServer, accession: str, *, sign: bool = True) -> None:
    page.goto(f"{server.http_url}/viewer/?accession={accession}")
    if sign:
        page.wait_for_selector("#login")
        sign_in(page, server)
    page.wait_for_selector("body[data-first-image-ms]", state="attached")
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.index === '1'")


def page_point(page: Any, image_xy: Point) -> Point:
    """Page coordinates (CSS px) of an image point [column, row] in the first viewport."""
    box = page.locator('[data-viewport="0"]').bounding_box()
    cx, cy = page.evaluate("([x, y]) => window.vetpacs.imageToCanvas(x, y)", list(image_xy))
    return box["x"] + cx, box["y"] + cy


def drag(page: Any, start: Point, end: Point, steps: int = 12) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def drag_image(page: Any, a: Point, b: Point) -> None:
    drag(page, page_point(page, a), page_point(page, b))


def click_image(page: Any, p: Point) -> None:
    x, y = page_point(page, p)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()


def item(page: Any, measurement: str, nth: int = 0) -> Any:
    locator = page.locator(f"#measurement-list li[data-measurement='{measurement}']").nth(nth)
    locator.wait_for()
    return locator


def placed(li: Any) -> list[Point]:
    """The handles the viewer placed (image pixels), from the panel item's data-points."""
    text = li.get_attribute("data-points") or ""
    return [tuple(float(v) for v in p.split(",")) for p in text.split(";")]  # type: ignore[misc]


def near(got: list[Point], want: list[Point], tolerance: float = 0.75) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert math.dist(g, w) < tolerance, (got, want)


def saved_id(page: Any, measurement: str, nth: int = 0) -> int:
    page.wait_for_selector(f"#measurement-list li[data-measurement='{measurement}'][data-saved]")
    li = page.locator(f"#measurement-list li[data-measurement='{measurement}'][data-saved]").nth(nth)
    return int(li.get_attribute("data-saved") or 0)


def stored(server: LiveServer, measurement_id: int) -> dict[str, Any]:
    response = httpx.get(
        f"{server.http_url}/api/v1/measurements/{measurement_id}", headers=server.auth_headers(), timeout=30
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def panel_texts(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#measurement-list li").all_text_contents()]


def drawn(page: Any, text: str) -> None:
    """Wait until the text is drawn on the image (SVG text of an annotation)."""
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-viewport="0"] svg text, [data-viewport="0"] svg tspan\')]'
        ".some(e => e.textContent === t)",
        arg=text,
    )


def overlay_says(page: Any, text: str) -> None:
    page.wait_for_function(
        "t => document.querySelector('#viewports .overlay').textContent.includes(t)", arg=text
    )


def round_tenth(x: float) -> float:
    return math.floor(x * 10 + 0.5) / 10


def angle_deg(u: Point, v: Point) -> float:
    return math.degrees(math.atan2(abs(u[0] * v[1] - u[1] * v[0]), u[0] * v[0] + u[1] * v[1]))


def spacing_of(ds: pydicom.Dataset) -> tuple[float, float]:
    """(column mm, row mm) from Pixel Spacing [row, column]."""
    row, column = (float(v) for v in ds.PixelSpacing)
    return column, row


# --------------------------------------------------------------------------- angle, Cobb, arrow
def test_angle_cobb_and_arrow_on_a_radiograph(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    (dx,) = datasets_by_accession(demo_files)["VPD0070003"]
    cols, rows = int(dx.Columns), int(dx.Rows)
    sx, sy = spacing_of(dx)
    open_study(page, demo_server, "VPD0070003")

    # Angle: drag the first arm from its end to the vertex, then click the end of the second arm.
    page.click('[data-tool="Angle"]')
    arm1, vertex, arm2 = (0.2 * cols, 0.25 * rows), (0.45 * cols, 0.6 * rows), (0.75 * cols, 0.3 * rows)
    drag_image(page, arm1, vertex)
    click_image(page, arm2)
    li = item(page, "angle")
    got = placed(li)
    near(got, [arm1, vertex, arm2])
    # The angle in the patient plane (Pixel Spacing may be anisotropic), from the placed points.
    phys = [(p[0] * sx, p[1] * sy) for p in got]
    u = (phys[0][0] - phys[1][0], phys[0][1] - phys[1][1])
    v = (phys[2][0] - phys[1][0], phys[2][1] - phys[1][1])
    expected_angle = angle_deg(u, v)
    match = re.fullmatch(r"Angle (\d+\.\d)°", li.text_content().strip())
    assert match, li.text_content()
    shown_angle = float(match.group(1))
    assert shown_angle == round_tenth(expected_angle), (shown_angle, expected_angle)
    # ...and within a degree of the angle between the intended points (placement is sub-pixel).
    intended = angle_deg(
        ((arm1[0] - vertex[0]) * sx, (arm1[1] - vertex[1]) * sy),
        ((arm2[0] - vertex[0]) * sx, (arm2[1] - vertex[1]) * sy),
    )
    assert abs(shown_angle - intended) < 1.0, (shown_angle, intended)
    drawn(page, f"{shown_angle:.1f}°")
    angle_id = saved_id(page, "angle")
    row = stored(demo_server, angle_id)
    assert row["tool"] == "angle" and row["sop_instance_uid"] == dx.SOPInstanceUID
    assert set(row["points"]) == {"arm1", "vertex", "arm2"}
    assert abs(row["value"]["values"]["angle"]["value"] - expected_angle) < 0.01
    assert row["value_corrected"] is False

    # Cobb angle: two lines; the acute angle between them, whatever the order of their ends.
    page.click('[data-tool="CobbAngle"]')
    l1 = [(0.15 * cols, 0.75 * rows), (0.45 * cols, 0.85 * rows)]
    l2 = [(0.55 * cols, 0.9 * rows), (0.85 * cols, 0.7 * rows)]
    drag_image(page, *l1)
    drag_image(page, *l2)
    cobb = item(page, "cobb")
    got = placed(cobb)
    near(got, [*l1, *l2])
    p = [(q[0] * sx, q[1] * sy) for q in got]
    a = angle_deg((p[1][0] - p[0][0], p[1][1] - p[0][1]), (p[3][0] - p[2][0], p[3][1] - p[2][1]))
    expected_cobb = min(a, 180 - a)
    match = re.fullmatch(r"Cobb (\d+\.\d)°", cobb.text_content().strip())
    assert match, cobb.text_content()
    assert float(match.group(1)) == round_tenth(expected_cobb), (match.group(1), expected_cobb)
    cobb_row = stored(demo_server, saved_id(page, "cobb"))
    assert abs(cobb_row["value"]["values"]["angle"]["value"] - expected_cobb) < 0.01

    # Arrow with a label: the label is asked in the page (a dialog, not window.prompt).
    page.click('[data-tool="ArrowAnnotate"]')
    head, tail = (0.6 * cols, 0.5 * rows), (0.85 * cols, 0.55 * rows)
    drag_image(page, head, tail)
    page.wait_for_selector("#ask[open]")
    assert page.text_content("#ask-title") == "Arrow label"
    page.click("#ask-ok")  # empty: refused with a message, the dialog stays
    assert "Enter a label" in page.text_content("#ask-error")
    page.fill("#ask-input", "fracture line?")
    page.click("#ask-ok")
    arrow = item(page, "arrow")
    assert arrow.text_content().strip() == "Arrow: fracture line?"
    drawn(page, "fracture line?")
    arrow_row = stored(demo_server, saved_id(page, "arrow"))
    assert arrow_row["label"] == "fracture line?"
    near([tuple(arrow_row["points"]["start"]), tuple(arrow_row["points"]["end"])], [tail, head])
    shot(page, "tools-angle-cobb-arrow")

    # Reopened: all three back, with the same text, drawn.
    before = panel_texts(page)
    open_study(page, demo_server, "VPD0070003", sign=False)
    page.wait_for_function("document.querySelectorAll('#measurement-list li[data-saved]').length === 3")
    assert sorted(panel_texts(page)) == sorted(before)
    drawn(page, f"{shown_angle:.1f}°")
    drawn(page, "fracture line?")
    assert item(page, "angle").get_attribute("data-saved") == str(angle_id)

    # Delete from the panel: gone on the server too.
    page.click("#measurement-list li[data-measurement='arrow'] button.delete")
    page.wait_for_function("document.querySelectorAll('#measurement-list li').length === 2")
    listed = httpx.get(
        f"{demo_server.http_url}/api/v1/studies/{dx.StudyInstanceUID}/measurements",
        headers=demo_server.auth_headers(),
        timeout=30,
    ).json()["measurements"]
    for _ in range(20):
        if len(listed) == 2:
            break
        page.wait_for_timeout(100)
        listed = httpx.get(
            f"{demo_server.http_url}/api/v1/studies/{dx.StudyInstanceUID}/measurements",
            headers=demo_server.auth_headers(),
            timeout=30,
        ).json()["measurements"]
    assert sorted(m["tool"] for m in listed) == ["angle", "cobb"]


# --------------------------------------------------------------------------- regions on CT
def roi_statistics(values: np.ndarray, corners: list[Point], ellipse: bool) -> dict[str, float]:
    """Mean, SD (population), min, max of the pixel centres inside the region (docs/measurements.md)."""
    (c0, c1), (r0, r1) = sorted(p[0] for p in corners), sorted(p[1] for p in corners)
    cx, cy, a, b = (c0 + c1) / 2, (r0 + r1) / 2, (c1 - c0) / 2, (r1 - r0) / 2
    inside = []
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            if ellipse:
                if ((c - cx) / a) ** 2 + ((r - cy) / b) ** 2 <= 1 + 1e-12:
                    inside.append(values[r, c])
            elif c0 <= c <= c1 and r0 <= r <= r1:
                inside.append(values[r, c])
    sample = np.array(inside, dtype=np.float64)
    return {
        "mean": sample.mean(),
        "sd": sample.std(),
        "min": sample.min(),
        "max": sample.max(),
        "n": len(sample),
    }


def stat_numbers(text: str) -> dict[str, float]:
    found = re.findall(r"(mean|SD|min|max) (-?\d+\.\d) HU", text)
    return {name.lower(): float(value) for name, value in found}


def test_regions_on_ct_show_hounsfield_units(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    ct = datasets_by_accession(demo_files, pixels=True)["VPD0070005"][0]  # the first slice shown
    cols, rows = int(ct.Columns), int(ct.Rows)
    hu = ct.pixel_array.astype(np.float64) * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    sx, sy = spacing_of(ct)
    open_study(page, demo_server, "VPD0070005")

    page.click('[data-tool="RectangleROI"]')
    corners = [(0.3 * cols + 0.5, 0.35 * rows + 0.5), (0.7 * cols + 0.5, 0.6 * rows + 0.5)]
    drag_image(page, *corners)
    rect = item(page, "rectangle_roi")
    got = placed(rect)  # [top-left, top-right, bottom-left, bottom-right]
    near([got[0], got[3]], corners)
    box = [got[0], got[3]]
    want = roi_statistics(hu, box, ellipse=False)
    text = rect.text_content().strip()
    assert text.startswith("Rectangle "), text
    area = re.match(r"Rectangle (\d+\.\d) mm²", text)
    assert area, text
    expected_area = abs(box[1][0] - box[0][0]) * sx * abs(box[1][1] - box[0][1]) * sy
    assert float(area.group(1)) == round_tenth(expected_area), (text, expected_area)
    shown = stat_numbers(text)
    for name in ("mean", "sd", "min", "max"):
        assert shown[name] == round_tenth(want[name]), (name, shown, want)
    drawn(page, f"Mean {round_tenth(want['mean']):.1f} HU  SD {round_tenth(want['sd']):.1f} HU")
    rect_row = stored(demo_server, saved_id(page, "rectangle_roi"))
    values = rect_row["value"]["values"]
    assert values["mean"]["unit"] == "HU" and abs(values["mean"]["value"] - want["mean"]) < 1e-3
    assert values["pixel_count"]["value"] == want["n"]
    assert rect_row["value_corrected"] is False
    print(f"\nCT rectangle: {text}")

    page.click('[data-tool="EllipticalROI"]')
    e_corners = [(0.15 * cols + 0.5, 0.65 * rows + 0.5), (0.45 * cols + 0.5, 0.9 * rows + 0.5)]
    centre = ((e_corners[0][0] + e_corners[1][0]) / 2, (e_corners[0][1] + e_corners[1][1]) / 2)
    drag_image(page, centre, e_corners[1])  # Cornerstone's ellipse is dragged from its centre
    ell = item(page, "ellipse_roi")
    got = placed(ell)  # [bottom, top, left, right]
    e_box = [
        (min(p[0] for p in got), min(p[1] for p in got)),
        (max(p[0] for p in got), max(p[1] for p in got)),
    ]
    near(e_box, e_corners)
    want_e = roi_statistics(hu, e_box, ellipse=True)
    shown_e = stat_numbers(ell.text_content())
    assert shown_e["mean"] == round_tenth(want_e["mean"]), (shown_e, want_e)
    assert shown_e["sd"] == round_tenth(want_e["sd"]), (shown_e, want_e)
    e_row = stored(demo_server, saved_id(page, "ellipse_roi"))
    assert abs(e_row["value"]["values"]["mean"]["value"] - want_e["mean"]) < 1e-3
    shot(page, "tools-ct-regions")

    before = panel_texts(page)
    open_study(page, demo_server, "VPD0070005", sign=False)
    page.wait_for_function("document.querySelectorAll('#measurement-list li[data-saved]').length === 2")
    assert sorted(panel_texts(page)) == sorted(before)


# --------------------------------------------------------------------------- user calibration
def test_calibration_against_a_marker_then_length(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    (dx,) = datasets_by_accession(demo_files)["VPD0070003"]
    cols, rows = int(dx.Columns), int(dx.Rows)
    open_study(page, demo_server, "VPD0070003")
    assert "Calibrated (Pixel Spacing)" in page.text_content("#viewports .overlay")

    # Calibrate: a line across a marker, its known size typed into the dialog.
    page.click('[data-tool="Calibrate"]')
    marker = [(0.1 * cols, 0.15 * rows), (0.5 * cols, 0.15 * rows)]
    drag_image(page, *marker)
    page.wait_for_selector("#ask[open]")
    page.fill("#ask-input", "0")
    page.click("#ask-ok")
    assert "above 0" in page.text_content("#ask-error")
    page.fill("#ask-input", "25")
    page.click("#ask-ok")
    overlay_says(page, "Calibrated (user marker, 25 mm)")
    cal = item(page, "calibration")
    line = placed(cal)
    near(line, marker)
    marker_px = math.dist(*line)
    mm_per_px = 25 / marker_px
    assert cal.text_content().strip() == f"Calibration 25 mm ({mm_per_px:#.4g} mm/px)"
    drawn(page, "Calibration 25 mm")
    cal_id = saved_id(page, "calibration")

    # A Length on the calibrated image: mm from the marker, not from Pixel Spacing.
    page.click('[data-tool="Length"]')
    a, b = (0.2 * cols, 0.4 * rows), (0.8 * cols, 0.85 * rows)
    drag_image(page, a, b)
    length = item(page, "length")
    got = placed(length)
    near(got, [a, b])
    expected = math.dist(*got) * mm_per_px
    match = re.fullmatch(r"Length (\d+\.\d) mm", length.text_content().strip())
    assert match, length.text_content()
    assert float(match.group(1)) == round_tenth(expected), (match.group(1), expected)
    sx, sy = spacing_of(dx)
    by_header = math.hypot((got[1][0] - got[0][0]) * sx, (got[1][1] - got[0][1]) * sy)
    assert abs(by_header - expected) > 0.2, "the test marker must differ from Pixel Spacing"
    drawn(page, f"{float(match.group(1)):.1f} mm")
    length_row = stored(demo_server, saved_id(page, "length"))
    assert length_row["calibration"]["known_mm"] == 25
    assert length_row["value"]["calibration_source"] == "user"
    assert abs(length_row["value"]["values"]["length"]["value"] - expected) < 1e-3
    cal_row = stored(demo_server, cal_id)
    assert cal_row["tool"] == "calibration" and cal_row["points"]["known_mm"] == 25
    assert abs(cal_row["value"]["values"]["mm_per_pixel"]["value"] - mm_per_px) < 1e-6
    shot(page, "tools-calibration")

    # Reopened: the calibration is back (overlay, marker) and the Length keeps its value.
    before = panel_texts(page)
    open_study(page, demo_server, "VPD0070003", sign=False)
    page.wait_for_function("document.querySelectorAll('#measurement-list li[data-saved]').length === 2")
    assert sorted(panel_texts(page)) == sorted(before)
    overlay_says(page, "Calibrated (user marker, 25 mm)")

    # Removing the calibration: the Length goes back to Pixel Spacing, here and on the server.
    page.click("#measurement-list li[data-measurement='calibration'] button.delete")
    page.wait_for_function(
        "document.querySelector('#viewports .overlay').textContent.includes('(Pixel Spacing)')"
    )
    back = item(page, "length")
    assert back.text_content().strip() == f"Length {round_tenth(by_header):.1f} mm"
    for _ in range(50):
        row = stored(demo_server, length_row["id"])
        if row["calibration"] is None:
            break
        page.wait_for_timeout(100)
    assert row["calibration"] is None and row["value"]["calibration_source"] == "pixel_spacing"
    assert abs(row["value"]["values"]["length"]["value"] - by_header) < 1e-3


# --------------------------------------------------------------------------- guided VHS
def vertebral_units(length: float, ladder: list[Point]) -> float:
    """docs/measurements.md: walk the length along the ladder segments from T4."""
    segments = [math.dist(p, q) for p, q in itertools.pairwise(ladder)]
    walked = 0.0
    for k, s in enumerate(segments):
        if length <= walked + s:
            return k + (length - walked) / s
        walked += s
    return len(segments) + (length - walked) / segments[-1]


def test_guided_vhs_on_the_dog_thorax(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    lateral = datasets_by_accession(demo_files)["VPD0070001"][0]
    assert (
        lateral.PatientSpeciesDescription == "Canine"
        and lateral.PatientBreedDescription == "Labrador Retriever"
    )
    cols, rows = int(lateral.Columns), int(lateral.Rows)
    sx, sy = spacing_of(lateral)
    open_study(page, demo_server, "VPD0070001")

    page.click("#vhs")
    page.wait_for_selector("#vhs-guide:not([hidden])")
    assert page.input_value("#vhs-species") == "dog"  # from Patient Species Description "Canine"
    assert page.input_value("#vhs-breed") == "labrador_retriever"
    assert "cranial edge of T4" in page.text_content("#vhs-steps li[aria-current='step']")

    # 1. The ladder: T4 .. T11 along the spine, 9% of the width apart.
    seg = 0.09 * cols
    ladder = [(0.12 * cols + i * seg, 0.2 * rows) for i in range(8)]
    for p in ladder:
        click_image(page, p)
    page.wait_for_function("document.querySelector('#vhs-progress').textContent.includes('(8 landmarks)')")
    drawn(page, "T4")
    drawn(page, "T11")
    page.click("#vhs-next")
    assert "long axis" in page.text_content("#vhs-steps li[aria-current='step']")

    # 2. Long axis (about 5.3 vertebrae) and 3. short axis (about 4.6, perpendicular, at its middle).
    d = (0.6, 0.8)
    start = (0.3 * cols, 0.32 * rows)
    long_axis = [start, (start[0] + d[0] * 5.3 * seg, start[1] + d[1] * 5.3 * seg)]
    mid = ((long_axis[0][0] + long_axis[1][0]) / 2, (long_axis[0][1] + long_axis[1][1]) / 2)
    n = (0.8, -0.6)
    half = 2.3 * seg
    short_axis = [(mid[0] - n[0] * half, mid[1] - n[1] * half), (mid[0] + n[0] * half, mid[1] + n[1] * half)]
    for p in (*long_axis, *short_axis):
        assert 0 <= p[0] < cols and 0 <= p[1] < rows, p
    drag_image(page, *long_axis)
    page.wait_for_function(
        "document.querySelector('#vhs-steps li[aria-current=\"step\"]')?.dataset.step === 'short'"
    )
    drag_image(page, *short_axis)
    page.wait_for_selector("#vhs-result[data-saved]")

    # The expected score from the definition, on the points the viewer placed (physical space).
    vhs_li = item(page, "vhs")
    points = json.loads(vhs_li.get_attribute("data-vhs-points") or "{}")
    near([tuple(p) for p in points["ladder"]], ladder)
    near([tuple(p) for p in points["long_axis"]], long_axis)
    near([tuple(p) for p in points["short_axis"]], short_axis)
    assert points["species"] == "dog" and points["breed"] == "labrador_retriever"

    def phys(p: list[float]) -> Point:
        return p[0] * sx, p[1] * sy

    rung = [phys(p) for p in points["ladder"]]
    long_vu = round_tenth(vertebral_units(math.dist(*map(phys, points["long_axis"])), rung))
    short_vu = round_tenth(vertebral_units(math.dist(*map(phys, points["short_axis"])), rung))
    expected = round_tenth(long_vu + short_vu)
    assert abs(expected - 9.9) <= 0.3, expected  # 5.3 + 4.6 as drawn, give or take the placement
    reading = "below" if expected < 9.6 else "above" if expected > 12.0 else "within"
    score = page.text_content("#vhs-result .score")
    assert score == f"VHS {expected:.1f} v", (score, expected)
    assert page.text_content("#vhs-result .axes") == f"long {long_vu:.1f} v + short {short_vu:.1f} v"
    readings = {
        "below": "below the reference range",
        "within": "within the reference range",
        "above": "above the reference range (cardiomegaly?)",
    }
    assert page.text_content("#vhs-result .reading") == readings[reading]
    assert "labrador retriever): 9.6\u201312.0 v" in page.text_content("#vhs-result .reference")
    assert vhs_li.text_content().strip().startswith(f"VHS {expected:.1f} v · long {long_vu:.1f} v")
    drawn(page, f"Long axis {long_vu:.1f} v")
    shot(page, "tools-vhs")
    print(f"\nVHS: {score} ({long_vu} + {short_vu}), {reading}")

    vhs_id = int(page.get_attribute("#vhs-result", "data-saved") or 0)
    row = stored(demo_server, vhs_id)
    assert row["tool"] == "vhs" and row["sop_instance_uid"] == lateral.SOPInstanceUID
    assert row["points"] == points
    assert row["value"]["values"]["vhs"]["value"] == expected
    assert row["value"]["extra"]["interpretation"] == reading
    assert row["value_corrected"] is False

    # Moving the apex end of the long axis re-scores and re-saves it (PATCH after the drag settles).
    apex = long_axis[1]
    moved = (apex[0] + d[0] * 0.6 * seg, apex[1] + d[1] * 0.6 * seg)
    drag_image(page, apex, moved)
    page.wait_for_function("s => document.querySelector('#vhs-result .score').textContent !== s", arg=score)
    vhs_li = item(page, "vhs")
    points = json.loads(vhs_li.get_attribute("data-vhs-points") or "{}")
    near([tuple(points["long_axis"][1])], [moved])
    rung = [phys(p) for p in points["ladder"]]
    long_vu = round_tenth(vertebral_units(math.dist(*map(phys, points["long_axis"])), rung))
    expected = round_tenth(long_vu + short_vu)
    assert page.text_content("#vhs-result .score") == f"VHS {expected:.1f} v"
    for _ in range(50):
        row = stored(demo_server, vhs_id)
        if row["points"] == points:
            break
        page.wait_for_timeout(100)
    assert row["points"] == points and row["value"]["values"]["vhs"]["value"] == expected

    # Reopened: drawn again (ladder names, axes) and listed with the same value.
    text = vhs_li.text_content().strip()
    open_study(page, demo_server, "VPD0070001", sign=False)
    restored = item(page, "vhs")
    assert restored.text_content().strip() == text
    assert restored.get_attribute("data-saved") == str(vhs_id)
    drawn(page, "T4")
    drawn(page, f"Long axis {long_vu:.1f} v")


def test_vhs_asks_the_species_when_the_study_does_not_say(demo_server: LiveServer, browser_page: Any) -> None:
    """Thunder is a horse: the guide asks dog or cat before the ladder can be marked."""
    page = browser_page
    open_study(page, demo_server, "VPD0070006")
    page.click("#vhs")
    page.wait_for_selector("#vhs-guide:not([hidden])")
    assert page.input_value("#vhs-species") == ""
    assert "Choose the species" in page.text_content("#vhs-steps li[aria-current='step']")
    assert page.is_disabled("#vhs-next")
    page.select_option("#vhs-species", "cat")
    assert "cranial edge of T4" in page.text_content("#vhs-steps li[aria-current='step']")
    page.click("#vhs-cancel")
    page.wait_for_selector("#vhs-guide", state="hidden")
