"""Reading aids of the viewer end to end (issue 6, items 2 and 4): touch (one finger drives the selected
tool, a two-finger pinch zooms), a free text label without an arrow (placed, saved, reopened) and the
magnifier while the button is held. Debian's chromium (Playwright) against a live server with the
demo studies; touches are real touch events dispatched through the DevTools protocol.
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot
from e2e.test_viewer_tools import (
    click_image,
    datasets_by_accession,
    drag_image,
    item,
    near,
    open_study,
    page_point,
    panel_texts,
    saved_id,
    stored,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SKULL = "VPD0070007"  # Kiwi's skull radiograph (no other browser test measures on it)


def zoom_of(page: Any) -> float:
    text = page.text_content("#viewports .viewport .overlay.br") or ""
    match = re.search(r"Zoom: ([0-9.]+)", text)
    assert match, text
    return float(match.group(1))


def overlay_window(page: Any) -> str:
    return str(page.get_attribute("#viewports .viewport .overlay.br", "data-ww") or "")


def test_text_label_magnifier_and_pinch_zoom(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    study = datasets_by_accession(demo_files)[SKULL]
    ds = study[0]
    cols, rows = int(ds.Columns), int(ds.Rows)
    open_study(page, demo_server, SKULL)

    # Touch: one finger drives the selected tool (window/level), a two-finger pinch outwards zooms.
    page.click('[data-tool="WindowLevel"]')
    ww_before = overlay_window(page)
    zoom_before = zoom_of(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    cx, cy = page_point(page, (0.5 * cols, 0.5 * rows))

    def touch(kind: str, *points: tuple[float, float]) -> None:
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": kind, "touchPoints": [{"x": x, "y": y, "id": n} for n, (x, y) in enumerate(points)]},
        )
        page.wait_for_timeout(16)

    touch("touchStart", (cx, cy))
    for step in range(1, 10):
        touch("touchMove", (cx + 10 * step, cy + 5 * step))
    touch("touchEnd")
    page.wait_for_function(
        "w => document.querySelector('#viewports .overlay.br').dataset.ww !== w", arg=ww_before
    )
    assert zoom_of(page) == zoom_before  # one finger did not zoom
    touch("touchStart", (cx - 20, cy), (cx + 20, cy))
    for spread in range(30, 160, 10):
        touch("touchMove", (cx - spread, cy), (cx + spread, cy))
    touch("touchEnd")
    page.wait_for_function(
        "z => { const o = document.querySelector('#viewports .overlay.br');"
        " const m = /Zoom: ([0-9.]+)/.exec(o.textContent); return m && parseFloat(m[1]) > z * 1.3; }",
        arg=zoom_before,
    )
    page.click("#reset")
    page.wait_for_function(
        "z => document.querySelector('#viewports .overlay.br').textContent.includes('Zoom: ' + z)",
        arg=f"{zoom_before:.2f}",
    )

    # A text label, no arrow: asked in a dialog, anchored where it was clicked, saved as `text`.
    page.click('[data-tool="Label"]')
    anchor = (0.3 * cols, 0.4 * rows)
    click_image(page, anchor)
    page.wait_for_selector("#ask[open]")
    assert page.text_content("#ask-title") == "Text label"
    page.fill("#ask-input", "nasal cavity clear")
    page.click("#ask-ok")
    label = item(page, "text")
    assert label.text_content().strip() == "Text: nasal cavity clear"
    row = stored(demo_server, saved_id(page, "text"))
    assert row["tool"] == "text" and row["label"] == "nasal cavity clear"
    assert row["sop_instance_uid"] in {d.SOPInstanceUID for d in study}
    near([tuple(row["points"]["anchor"])], [anchor])
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-viewport="0"] svg text, [data-viewport="0"] svg tspan\')]'
        ".some(e => e.textContent === t)",
        arg="nasal cavity clear",
    )
    shot(page, "reading-text-label")

    # The magnifier: shown while the button is held over the image, gone when released.
    page.click('[data-tool="Magnify"]')
    x, y = page_point(page, (0.5 * cols, 0.5 * rows))
    page.mouse.move(x, y)
    page.mouse.down()
    page.wait_for_selector('[data-viewport="0"] .magnifyTool', state="visible")
    page.mouse.move(x + 30, y + 20, steps=5)
    shot(page, "reading-magnifier")
    page.mouse.up()
    page.wait_for_function(
        "() => { const m = document.querySelector('[data-viewport=\"0\"] .magnifyTool');"
        " return !m || m.style.display === 'none' || !m.isConnected; }"
    )

    # Reopened: the label is back, with its text.
    before_texts = panel_texts(page)
    open_study(page, demo_server, SKULL, sign=False)
    page.wait_for_selector("#measurement-list li[data-measurement='text'][data-saved]")
    assert panel_texts(page) == before_texts


def test_linked_scroll_follows_patient_position_in_one_frame_of_reference(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any, tmp_path: Path
) -> None:
    """Two series of one CT (all slices, and a shorter one starting two slices later, in the same
    Frame of Reference) side by side and linked: scrolling one shows, in the other, the slice nearest
    in patient position (not the same relative place). Expected slices are computed here from the
    files' Image Position (Patient)."""
    page = browser_page
    thin = datasets_by_accession(demo_files, pixels=True)["VPD0070005"]
    assert len({str(ds.SeriesInstanceUID) for ds in thin}) == 1 and len(thin) >= 6
    thick_uid = pydicom.uid.generate_uid()
    thick = []
    for n, source in enumerate(thin[2:], start=1):  # a shorter stack: starts two slices later
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID = thick_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.SeriesNumber = 2
        ds.SeriesDescription = "shorter"
        ds.InstanceNumber = n
        ds.save_as(tmp_path / f"thick{n:03d}.dcm", enforce_file_format=True)
        thick.append(ds)
    demo_server.cli("import", str(tmp_path))
    z_thin = [float(ds.ImagePositionPatient[2]) for ds in thin]
    z_thick = [float(ds.ImagePositionPatient[2]) for ds in thick]

    open_study(page, demo_server, "VPD0070005")
    page.click('[data-layout="1x2"]')
    page.click('[data-viewport="1"]', position={"x": 40, "y": 120})
    page.click(f"#series .thumb[data-series='{thick_uid}']")
    page.wait_for_function(
        "n => (document.querySelectorAll('#viewports .overlay:not(.br)')[1]?.textContent ?? '')"
        ".includes('Im: 1/' + n)",
        arg=str(len(thick)),
    )
    if page.get_attribute("#link", "aria-pressed") != "true":
        page.click("#link")
    page.click('[data-viewport="0"]', position={"x": 40, "y": 120})
    differs = False  # at least one step where position and relative place disagree
    shown = 1
    for steps in (3, 2, 2):
        for _ in range(steps):
            page.keyboard.press("ArrowDown")
        shown += steps
        page.wait_for_function(
            "i => document.querySelectorAll('#viewports .overlay:not(.br)')[0].dataset.index === i",
            arg=str(shown),
        )
        z = z_thin[shown - 1]
        expected = min(range(len(z_thick)), key=lambda i: abs(z_thick[i] - z)) + 1
        try:
            page.wait_for_function(
                "i => document.querySelectorAll('#viewports .overlay:not(.br)')[1].dataset.index === i",
                arg=str(expected),
                timeout=5000,
            )
        except Exception as err:
            got = page.eval_on_selector_all(
                "#viewports .overlay:not(.br)", "os => os.map(o => o.dataset.index)"
            )
            followed = page.get_attribute('[data-viewport="1"]', "data-followed-by")
            raise AssertionError(
                f"thin {shown} (z {z}): want {expected} of {z_thick}, got {got} by {followed}"
            ) from err
        relative = round((shown - 1) / (len(thin) - 1) * (len(thick) - 1)) + 1
        assert page.get_attribute('[data-viewport="1"]', "data-followed-by") == "position"
        differs = differs or expected != relative
    assert differs, "these steps do not tell patient position from relative place"


def test_step_through_key_images(demo_server: LiveServer, browser_page: Any) -> None:
    """Flag two CT slices with F; ] and [ go from key image to key image, wrapping around."""
    page = browser_page
    open_study(page, demo_server, "VPD0070005")
    page.click('[data-viewport="0"]', position={"x": 40, "y": 120})

    def index() -> str:
        return str(page.get_attribute("#viewports .overlay:not(.br)", "data-index"))

    def at(i: int) -> None:
        page.wait_for_function(
            "i => document.querySelector('#viewports .overlay:not(.br)').dataset.index === i", arg=str(i)
        )

    page.keyboard.press("]")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('No key image')")
    for target in (3, 6):
        while (now := int(index())) < target:
            page.keyboard.press("ArrowDown")
            at(now + 1)
        page.keyboard.press("f")
        page.wait_for_function("document.querySelector('#status').textContent === 'Key image flagged'")
        page.evaluate("document.querySelector('#status').textContent = ''")
    for _ in range(5):
        page.keyboard.press("ArrowUp")
    at(1)
    for key, expected, status in (
        ("]", 3, "Key image 1 of 2"),
        ("]", 6, "Key image 2 of 2"),
        ("]", 3, "Key image 1 of 2"),
        ("[", 6, "Key image 2 of 2"),
    ):
        page.keyboard.press(key)
        at(expected)
        page.wait_for_function("s => document.querySelector('#status').textContent === s", arg=status)
    assert page.get_attribute("#key-image", "aria-pressed") == "true"
    page.click("#key-prev")
    at(3)


def test_other_users_measurements_are_shown_read_only(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    """A radiologist saved a length on the skull radiograph (REST, their own token): "Others" draws
    it for the admin, locked, with their value and name; hidden again on a second press."""
    page = browser_page
    study = datasets_by_accession(demo_files)[SKULL]
    ds = min(study, key=lambda d: (int(d.SeriesNumber), int(d.InstanceNumber)))  # the image shown first
    demo_server.cli("user", "add", "drsmith", "--role", "radiologist", "--generate-password")
    token = demo_server.cli("user", "token", "drsmith", "--name", "t").stdout.strip()
    cols, rows = int(ds.Columns), int(ds.Rows)
    line = [[0.2 * cols, 0.3 * rows], [0.7 * cols, 0.6 * rows]]
    created = httpx.post(
        f"{demo_server.http_url}/api/v1/studies/{ds.StudyInstanceUID}/measurements",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "sop_instance_uid": ds.SOPInstanceUID,
            "frame_number": 1,
            "tool": "length",
            "points": {"line": line},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    theirs = created.json()
    value = theirs["value"]["values"]["length"]["value"]

    open_study(page, demo_server, SKULL)
    assert page.locator("#measurement-list li").count() == 0  # the admin's own list is empty
    page.click("#others")
    item = page.locator("#measurement-list li[data-by='drsmith']")
    item.wait_for()
    assert f"{round(value, 1):.1f} mm" in item.text_content() and "drsmith" in item.text_content()
    assert item.locator("button.delete").count() == 0  # read-only
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-viewport="0"] svg text, [data-viewport="0"] svg tspan\')]'
        ".some(e => e.textContent === t)",
        arg="(drsmith)",
    )
    # Hidden again; never deleted on the server.
    page.click("#others")
    page.wait_for_function("document.querySelectorAll('#measurement-list li').length === 0")
    still = httpx.get(
        f"{demo_server.http_url}/api/v1/measurements/{theirs['id']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert still.status_code == 200 and still.json()["username"] == "drsmith"


def test_a_measurement_gets_a_label(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    """✎ in the panel labels a length: shown above its value and in the panel, saved (PATCH), and
    back after reopening the study."""
    page = browser_page
    ds = min(
        datasets_by_accession(demo_files)[SKULL], key=lambda d: (int(d.SeriesNumber), int(d.InstanceNumber))
    )
    cols, rows = int(ds.Columns), int(ds.Rows)
    open_study(page, demo_server, SKULL)
    page.click('[data-tool="Length"]')
    drag_image(page, (0.2 * cols, 0.5 * rows), (0.8 * cols, 0.5 * rows))
    length = item(page, "length")
    measurement_id = saved_id(page, "length")
    value_text = length.text_content().strip()
    page.click("#measurement-list li[data-measurement='length'] button.label")
    page.wait_for_selector("#ask[open]")
    page.fill("#ask-input", "skull width")
    page.click("#ask-ok")
    page.wait_for_function(
        "t => document.querySelector(\"#measurement-list li[data-measurement='length']\")"
        ".textContent.trim() === t",
        arg=f"{value_text} · “skull width”",
    )
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-viewport="0"] svg text, [data-viewport="0"] svg tspan\')]'
        ".some(e => e.textContent === t)",
        arg="skull width",
    )
    deadline = time.monotonic() + 10
    while stored(demo_server, measurement_id)["label"] != "skull width":
        assert time.monotonic() < deadline, "the label was not saved"
        time.sleep(0.2)
    open_study(page, demo_server, SKULL, sign=False)
    page.wait_for_function(
        "t => document.querySelector(\"#measurement-list li[data-measurement='length']\")"
        "?.textContent.trim() === t",
        arg=f"{value_text} · “skull width”",
    )
