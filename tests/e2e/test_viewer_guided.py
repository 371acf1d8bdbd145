"""The guided VLAS, Norberg angle, tibial plateau angle and distraction index (issue 6, item 5) end to end:
Debian's chromium (Playwright) against a live server with the demo studies, one browser session.

Every landmark is clicked at a known image point (rim points on exact circles, so the centres and radii
are known); the expected value is computed here from the definitions of docs/measurements.md (Kåsa fit
by numpy least squares, angles with atan2, the vertebral ladder walked segment by segment), on the
points the viewer stored (read back from the Measurements panel) and, within a tolerance, on the points
intended. It is compared with the guide's result, the panel, the text drawn on the image and the
server's stored value over REST; reopening the study must bring each measurement back.

Needs the built front end and ``/usr/bin/chromium`` (see ``tests/e2e/test_viewer.py``).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot
from e2e.test_viewer_keyimages import multipart_parts, numeric_values
from e2e.test_viewer_tools import (
    angle_deg,
    click_image,
    datasets_by_accession,
    drag_image,
    drawn,
    item,
    near,
    open_study,
    panel_texts,
    round_tenth,
    spacing_of,
    stored,
    vertebral_units,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

Point = tuple[float, float]
GUIDE_CIRCLES = "[data-viewport='0'] svg circle[stroke='rgb(0, 220, 255)']"


def on_circle(centre: Point, radius: float, degrees: list[float]) -> list[Point]:
    """Points on a circle (image y grows downwards)."""
    return [
        (centre[0] + radius * math.cos(math.radians(t)), centre[1] + radius * math.sin(math.radians(t)))
        for t in degrees
    ]


def kasa(points: list[Point]) -> tuple[Point, float]:
    """Kåsa's circle: least squares of x^2 + y^2 + D x + E y + F over the points (docs/measurements.md)."""
    a = np.array([[x, y, 1.0] for x, y in points])
    b = np.array([-(x * x + y * y) for x, y in points])
    d, e, f = np.linalg.lstsq(a, b, rcond=None)[0]
    return (-d / 2, -e / 2), math.sqrt(d * d / 4 + e * e / 4 - f)


def round_hundredth(x: float) -> float:
    return math.floor(x * 100 + 0.5) / 100


def step_is(page: Any, step: str) -> None:
    page.wait_for_function(
        "s => document.querySelector('#guide-steps li[aria-current=\"step\"]')?.dataset.step === s", arg=step
    )


def has_points(page: Any, step: str, count: int) -> None:
    """Wait until the guide counts the step's landmarks (Cornerstone holds a click back a moment)."""
    page.wait_for_selector(f"#guide-progress li[data-step='{step}'][data-count='{count}']")


def click_all(page: Any, points: list[Point]) -> None:
    for p in points:
        click_image(page, p)


def guided_points(li: Any) -> dict[str, Any]:
    points: dict[str, Any] = json.loads(li.get_attribute("data-guided-points") or "{}")
    return points


def result_saved(page: Any) -> int:
    page.wait_for_selector("#guide-result[data-saved]")
    return int(page.get_attribute("#guide-result", "data-saved") or 0)


def settled(server: LiveServer, measurement_id: int, points: dict[str, Any], page: Any) -> dict[str, Any]:
    """The stored row once it holds these points (a change is PATCHed half a second after it)."""
    row: dict[str, Any] = stored(server, measurement_id)
    for _ in range(50):
        if row["points"] == points:
            break
        page.wait_for_timeout(100)
        row = stored(server, measurement_id)
    return row


def test_guided_norberg_di_vlas_tpa(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    studies = datasets_by_accession(demo_files)

    # ------------------------------------------------------------------ the pelvis (VD): Norberg and DI
    (pelvis,) = studies["VPD0070003"]
    cols, rows = int(pelvis.Columns), int(pelvis.Rows)
    sx, sy = spacing_of(pelvis)

    def phys(p: list[float] | Point) -> Point:
        return p[0] * sx, p[1] * sy

    open_study(page, demo_server, "VPD0070003")

    # Norberg (key N). The patient's left hip is on the image's right in the usual VD display.
    page.keyboard.press("n")
    page.wait_for_selector("#guide:not([hidden])")
    assert page.text_content("#guide-title") == "Norberg angle"
    step_is(page, "left_head_rim")
    assert "left femoral head" in page.text_content("#guide-steps li[aria-current='step']")
    radius = 0.09 * cols
    left_c, right_c = (0.68 * cols, 0.45 * rows), (0.32 * cols, 0.45 * rows)
    left_rim = on_circle(left_c, radius, [20, 110, 180, 250])
    right_rim = on_circle(right_c, radius, [340, 100, 200])
    # The craniodorsal acetabular rims: 70 degrees above the lateral direction on the left (Norberg
    # angle 110), 82 on the right (98), 1.25 radii from the centre.
    left_acetabulum = (
        left_c[0] + 1.25 * radius * math.cos(math.radians(70)),
        left_c[1] - 1.25 * radius * math.sin(math.radians(70)),
    )
    right_acetabulum = (
        right_c[0] - 1.25 * radius * math.cos(math.radians(82)),
        right_c[1] - 1.25 * radius * math.sin(math.radians(82)),
    )
    click_all(page, left_rim[:2])
    has_points(page, "left_head_rim", 2)
    assert page.is_disabled("#guide-next")  # "Rim done" needs three points
    click_all(page, left_rim[2:])
    page.wait_for_function(
        "document.querySelector('#guide-progress li')?.textContent.startsWith('L femoral head: 4 points')"
    )
    # A stray fifth point, taken back with Undo.
    click_image(page, (left_c[0], left_c[1] + 2.2 * radius))
    page.wait_for_function("document.querySelector('#guide-progress li').textContent.includes('5 points')")
    page.click("#guide-undo")
    page.wait_for_function("document.querySelector('#guide-progress li').textContent.includes('4 points')")
    centre_shown = page.get_attribute("#guide-progress li[data-step='left_head_rim']", "data-centre") or ""
    near([tuple(float(v) for v in centre_shown.split(","))], [left_c], 0.5)  # type: ignore[list-item]
    assert page.text_content("#guide-next") == "Rim done"
    page.click("#guide-next")
    step_is(page, "left_acetabular_rim")
    click_image(page, left_acetabulum)
    step_is(page, "right_head_rim")
    click_all(page, right_rim)
    has_points(page, "right_head_rim", 3)
    page.click("#guide-next")
    step_is(page, "right_acetabular_rim")
    click_image(page, right_acetabulum)
    norberg_id = result_saved(page)

    li = item(page, "norberg")
    points = guided_points(li)
    near([tuple(p) for p in points["left_head_rim"]], left_rim)
    near([tuple(p) for p in points["right_head_rim"]], right_rim)
    near(
        [tuple(points["left_acetabular_rim"]), tuple(points["right_acetabular_rim"])],
        [left_acetabulum, right_acetabulum],
    )
    (lc, _), (rc, _) = (
        kasa([phys(p) for p in points["left_head_rim"]]),
        kasa([phys(p) for p in points["right_head_rim"]]),
    )
    la, ra = phys(points["left_acetabular_rim"]), phys(points["right_acetabular_rim"])
    left_angle = angle_deg((rc[0] - lc[0], rc[1] - lc[1]), (la[0] - lc[0], la[1] - lc[1]))
    right_angle = angle_deg((lc[0] - rc[0], lc[1] - rc[1]), (ra[0] - rc[0], ra[1] - rc[1]))
    assert abs(left_angle - 110) < 1 and abs(right_angle - 98) < 1, (left_angle, right_angle)

    def reading(angle: float) -> str:
        return "normal" if round_tenth(angle) >= 105 else "reduced"

    left_text = f"L {round_tenth(left_angle):.1f}° {reading(left_angle)}"
    want = f"{left_text} · R {round_tenth(right_angle):.1f}° {reading(right_angle)}"
    assert page.text_content("#guide-result .score") == want
    assert "below 105° (right)" in page.text_content("#guide-result .reading")
    assert li.text_content().strip() == f"Norberg {want}"
    drawn(page, "L head rim 1")
    drawn(page, f"L {round_tenth(left_angle):.1f}°")
    assert page.locator(GUIDE_CIRCLES).count() == 4  # two fitted circles and their centres
    row = stored(demo_server, norberg_id)
    assert row["tool"] == "norberg" and row["sop_instance_uid"] == pelvis.SOPInstanceUID
    assert row["points"] == points and row["value_corrected"] is False
    values = row["value"]["values"]
    assert abs(values["left_angle"]["value"] - left_angle) < 0.01
    assert abs(values["right_angle"]["value"] - right_angle) < 0.01
    assert row["value"]["extra"]["right_interpretation"] == "reduced"
    page.click("#guide-cancel")  # "Close"
    page.wait_for_selector("#guide", state="hidden")

    # Distraction index (key D), right hip: the side is asked first.
    page.keyboard.press("d")
    page.wait_for_selector("#guide:not([hidden])")
    assert "Choose the side" in page.text_content("#guide-steps li[aria-current='step']")
    page.select_option("#guide-side", "right")
    step_is(page, "femoral_head_rim")
    head_c, head_r = (0.3 * cols, 0.8 * rows), 0.08 * cols
    acet_c, acet_r = (head_c[0] + 3.0, head_c[1] - 4.0), 1.15 * 0.08 * cols  # 5 px apart: DI 5 / r
    head_rim = on_circle(head_c, head_r, [0, 90, 180])
    acet_rim = on_circle(acet_c, acet_r, [340, 290, 240, 200])
    click_all(page, head_rim)
    has_points(page, "femoral_head_rim", 3)
    page.click("#guide-next")
    step_is(page, "acetabulum_rim")
    # Three collinear rim points fit no circle: the geometry error is shown, the step stays open.
    collinear = [(0.5 * cols, 0.7 * rows + 8 * i) for i in range(3)]
    click_all(page, collinear)
    has_points(page, "acetabulum_rim", 3)
    page.click("#guide-next")
    page.wait_for_selector("#guide-result .warning")
    assert page.text_content("#guide-result .warning").startswith("Not computed: collinear_points")
    step_is(page, "acetabulum_rim")
    assert not page.is_visible("#guide-result .score")
    for _ in collinear:
        page.click("#guide-undo")
    page.wait_for_selector("#guide-progress li[data-step='acetabulum_rim']", state="detached")
    assert not page.is_visible("#guide-result .warning")
    # "Rim done" at once: the guide waits for the last click, which Cornerstone holds back 400 ms.
    click_all(page, acet_rim)
    page.click("#guide-next")
    di_id = result_saved(page)
    di_li = item(page, "distraction_index")
    di_points = guided_points(di_li)
    assert di_points["side"] == "right"
    near([tuple(p) for p in di_points["femoral_head_rim"]], head_rim)
    near([tuple(p) for p in di_points["acetabulum_rim"]], acet_rim)
    (hc, hr), (ac, _) = (
        kasa([phys(p) for p in di_points["femoral_head_rim"]]),
        kasa([phys(p) for p in di_points["acetabulum_rim"]]),
    )
    di = math.dist(hc, ac) / hr
    assert abs(di - 5 / head_r) < 0.03, di
    want_di = f"DI {round_hundredth(di):.2f} (right)"
    assert page.text_content("#guide-result .score") == want_di
    assert page.get_attribute("#guide-result", "data-value") == f"{round_hundredth(di):.2f}"
    assert di_li.text_content().strip() == f"{want_di} · {'tight' if round_hundredth(di) < 0.3 else 'lax'}"
    drawn(page, "R head rim 1")
    drawn(page, "R acetabulum 4")
    assert page.locator(GUIDE_CIRCLES).count() == 8
    di_row = stored(demo_server, di_id)
    assert di_row["tool"] == "distraction_index" and di_row["points"] == di_points
    assert abs(di_row["value"]["values"]["di"]["value"] - di) < 1e-3
    assert di_row["value_corrected"] is False
    shot(page, "guided-norberg-di")

    # Export: the study's SR carries both Norberg angles and the DI (TID 1500, docs/measurements.md).
    page.click("#export")
    page.wait_for_selector("body[data-exported-sr]", state="attached")
    assert page.get_attribute("body", "data-exported-count") == "2"
    sr_values = {
        meaning: value for meaning, value, _ in numeric_values(exported_sr(demo_server, page, pelvis))
    }
    assert abs(sr_values["Norberg angle, left hip"] - left_angle) < 0.01, sr_values
    assert abs(sr_values["Norberg angle, right hip"] - right_angle) < 0.01, sr_values
    assert abs(sr_values["Distraction index"] - di) < 1e-3, sr_values

    # Reopened: both listed with the same text, drawn with their circles.
    before = panel_texts(page)
    open_study(page, demo_server, "VPD0070003", sign=False)
    page.wait_for_function("document.querySelectorAll('#measurement-list li[data-saved]').length === 2")
    assert sorted(panel_texts(page)) == sorted(before)
    assert item(page, "norberg").get_attribute("data-saved") == str(norberg_id)
    item(page, "norberg").click(position={"x": 5, "y": 5})  # shows its result in the guide again
    page.wait_for_selector("#guide:not([hidden])")
    assert page.text_content("#guide-result .score") == want
    assert page.get_attribute("#guide-result", "data-saved") == str(norberg_id)
    drawn(page, "L acetabular rim")
    drawn(page, "R acetabulum 1")
    page.wait_for_function(f'document.querySelectorAll("{GUIDE_CIRCLES}").length === 8')

    # ------------------------------------------------------------------ the lateral thorax: VLAS and TPA
    lateral = studies["VPD0070001"][0]
    cols, rows = int(lateral.Columns), int(lateral.Rows)
    sx, sy = spacing_of(lateral)
    open_study(page, demo_server, "VPD0070001", sign=False)

    page.click("[data-guided='vlas']")
    page.wait_for_selector("#guide:not([hidden])")
    step_is(page, "ladder")
    seg = 0.08 * cols
    ladder = [(0.12 * cols + i * seg, 0.2 * rows) for i in range(6)]
    click_all(page, ladder)
    has_points(page, "ladder", 6)
    page.click("#guide-next")  # "Ladder done"
    step_is(page, "axis")
    carina = (0.4 * cols, 0.45 * rows)
    atrium = (carina[0] + 0.6 * 2.6 * seg, carina[1] + 0.8 * 2.6 * seg)  # 2.6 vertebrae
    drag_image(page, carina, atrium)
    vlas_id = result_saved(page)
    vlas_li = item(page, "vlas")
    vlas_points = guided_points(vlas_li)
    near([tuple(p) for p in vlas_points["ladder"]], ladder)
    near([tuple(p) for p in vlas_points["axis"]], [carina, atrium])
    rung = [(p[0] * sx, p[1] * sy) for p in vlas_points["ladder"]]
    a, b = ((p[0] * sx, p[1] * sy) for p in vlas_points["axis"])
    vlas = round_tenth(vertebral_units(math.dist(a, b), rung))
    assert abs(vlas - 2.6) <= 0.1, vlas
    assert page.text_content("#guide-result .score") == f"VLAS {vlas:.1f} v"
    assert "left atrial enlargement likely" in page.text_content("#guide-result .reading")  # >= 2.3
    assert vlas_li.text_content().strip() == f"VLAS {vlas:.1f} v · enlarged (cut-off 2.3)"
    drawn(page, "T9")
    drawn(page, f"VLAS {vlas:.1f} v")
    vlas_row = stored(demo_server, vlas_id)
    assert vlas_row["tool"] == "vlas" and vlas_row["points"] == vlas_points
    assert vlas_row["value"]["values"]["vlas"]["value"] == vlas
    assert vlas_row["value"]["extra"]["interpretation"] == "enlarged"

    # TPA: cranial and caudal plateau margins, then the functional axis (eminences, talus centre).
    page.click("[data-guided='tpa']")
    step_is(page, "plateau_cranial")
    eminences, talus = (0.8 * cols, 0.25 * rows), (0.75 * cols, 0.92 * rows)
    length = math.dist(eminences, talus)
    d = ((talus[0] - eminences[0]) / length, (talus[1] - eminences[1]) / length)
    n = (d[1], -d[0])
    slope = math.radians(24)  # the plateau 24 degrees from the perpendicular, caudal margin distal
    p_dir = (math.cos(slope) * n[0] + math.sin(slope) * d[0], math.cos(slope) * n[1] + math.sin(slope) * d[1])
    mid = (eminences[0] - 4 * d[0], eminences[1] - 4 * d[1])
    half = 0.07 * cols
    cranial = (mid[0] - half * p_dir[0], mid[1] - half * p_dir[1])
    caudal = (mid[0] + half * p_dir[0], mid[1] + half * p_dir[1])
    click_image(page, cranial)
    step_is(page, "plateau_caudal")
    click_image(page, caudal)
    click_image(page, eminences)
    step_is(page, "axis_distal")
    click_image(page, talus)
    tpa_id = result_saved(page)

    def tpa_of(points: dict[str, Any]) -> float:
        (c1, c2), (a1, a2) = ([phys(p) for p in points[k]] for k in ("plateau", "axis"))
        pv, dv = (c2[0] - c1[0], c2[1] - c1[1]), (a2[0] - a1[0], a2[1] - a1[1])
        dn = math.hypot(*dv)
        dv = (dv[0] / dn, dv[1] / dn)
        return math.degrees(math.atan2(pv[0] * dv[0] + pv[1] * dv[1], abs(pv[0] * dv[1] - pv[1] * dv[0])))

    tpa_li = item(page, "tpa")
    tpa_points = guided_points(tpa_li)
    near([tuple(p) for p in tpa_points["plateau"]], [cranial, caudal])
    near([tuple(p) for p in tpa_points["axis"]], [eminences, talus])
    tpa = tpa_of(tpa_points)
    assert abs(tpa - 24) < 1, tpa
    score = page.text_content("#guide-result .score")
    assert score == f"TPA {round_tenth(tpa):.1f}°"
    assert tpa_li.text_content().strip() == f"TPA {round_tenth(tpa):.1f}°"
    drawn(page, "Cr plateau")
    drawn(page, f"TPA {round_tenth(tpa):.1f}°")
    tpa_row = stored(demo_server, tpa_id)
    assert tpa_row["points"] == tpa_points and abs(tpa_row["value"]["values"]["tpa"]["value"] - tpa) < 0.01

    # Moving the talus point re-computes the TPA and re-saves it (PATCH after the drag settles).
    moved = (talus[0] - 0.08 * cols, talus[1])
    drag_image(page, talus, moved)
    page.wait_for_function("s => document.querySelector('#guide-result .score').textContent !== s", arg=score)
    tpa_points = guided_points(item(page, "tpa"))
    near([tuple(tpa_points["axis"][1])], [moved])
    tpa = tpa_of(tpa_points)
    assert page.text_content("#guide-result .score") == f"TPA {round_tenth(tpa):.1f}°"
    tpa_row = settled(demo_server, tpa_id, tpa_points, page)
    assert tpa_row["points"] == tpa_points and abs(tpa_row["value"]["values"]["tpa"]["value"] - tpa) < 0.01
    shot(page, "guided-vlas-tpa")

    # Reopened: both back; deleting the TPA from the panel removes all its landmarks and the server's row.
    before = panel_texts(page)
    open_study(page, demo_server, "VPD0070001", sign=False)
    page.wait_for_function("document.querySelectorAll('#measurement-list li[data-saved]').length === 2")
    assert sorted(panel_texts(page)) == sorted(before)
    drawn(page, "Talus centre")
    page.click("#measurement-list li[data-measurement='tpa'] button.delete")
    page.wait_for_function("document.querySelectorAll('#measurement-list li').length === 1")
    for _ in range(50):
        gone = stored_status(demo_server, tpa_id)
        if gone == 404:
            break
        page.wait_for_timeout(100)
    assert gone == 404


def exported_sr(server: LiveServer, page: Any, source: pydicom.Dataset) -> pydicom.Dataset:
    """The SR the viewer's Export just stored, by WADO-RS."""
    sr_uid = page.get_attribute("body", "data-exported-sr")
    study = source.StudyInstanceUID
    found = httpx.get(
        f"{server.http_url}/dicom-web/studies/{study}/instances",
        params={"SOPInstanceUID": sr_uid, "includefield": "0020000E"},
        headers={**server.auth_headers(), "Accept": "application/dicom+json"},
        timeout=30,
    ).json()
    series = found[0]["0020000E"]["Value"][0]
    response = httpx.get(
        f"{server.http_url}/dicom-web/studies/{study}/series/{series}/instances/{sr_uid}",
        headers={**server.auth_headers(), "Accept": 'multipart/related; type="application/dicom"'},
        timeout=30,
    )
    response.raise_for_status()
    (part,) = multipart_parts(response)
    return pydicom.dcmread(io.BytesIO(part))


def stored_status(server: LiveServer, measurement_id: int) -> int:
    response = httpx.get(
        f"{server.http_url}/api/v1/measurements/{measurement_id}", headers=server.auth_headers(), timeout=30
    )
    return response.status_code
