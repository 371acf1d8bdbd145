"""Veterinary orientation labels and projection names in the browser viewer (issue 6, item 3).

The demo radiographs carry Anatomical Orientation Type QUADRUPED, Patient Orientation (quadruped
codes, PS3.3 C.7.6.1.1.1) and View Position; the demo CT carries Image Orientation (Patient). The
expected edge labels are derived here from those headers, independently of the viewer's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

OPPOSITE = {"LE": "RT", "RT": "LE", "D": "V", "V": "D", "CR": "CD", "CD": "CR", "PR": "DI", "DI": "PR"}
WORDS = {"LE": "Left", "RT": "Right", "D": "Dorsal", "V": "Ventral", "CR": "Cranial", "CD": "Caudal"}


def first_instances(files: list[Path]) -> list[pydicom.Dataset]:
    """The first instance (lowest Instance Number) of every series."""
    by_series: dict[str, pydicom.Dataset] = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        best = by_series.get(ds.SeriesInstanceUID)
        if best is None or int(ds.InstanceNumber) < int(best.InstanceNumber):
            by_series[ds.SeriesInstanceUID] = ds
    return list(by_series.values())


def edges(page: Any) -> dict[str, str]:
    page.wait_for_function("!document.querySelector('#viewports .orient-left').hidden")
    out: dict[str, str] = page.evaluate(
        """() => Object.fromEntries(['left', 'right', 'top', 'bottom'].map(
            e => [e, document.querySelector(`#viewports .orient-${e}`).textContent]))"""
    )
    return out


def wait_edges(page: Any, expected: dict[str, str]) -> None:
    page.wait_for_function(
        """(want) => Object.entries(want).every(
            ([e, t]) => document.querySelector(`#viewports .orient-${e}`)?.textContent === t)""",
        arg=expected,
    )


def open_study(page: Any, server: LiveServer, accession: str) -> None:
    page.goto(f"{server.http_url}/viewer/?accession={accession}")
    if page.locator("#login").count():
        sign_in(page, server)
    page.wait_for_selector("body[data-first-image-ms]", state="attached")


def test_quadruped_labels_and_projection_follow_the_header_and_the_view(
    demo_server: LiveServer, demo_files: list[Path], browser_page: Any
) -> None:
    page = browser_page
    firsts = first_instances(demo_files)
    lateral = next(
        ds
        for ds in firsts
        if ds.Modality == "DX" and ds.ViewPosition == "RL" and ds.BodyPartExamined == "CHEST"
    )
    assert lateral.AnatomicalOrientationType == "QUADRUPED"
    rows, columns = (str(v) for v in lateral.PatientOrientation)
    # Image as stored: rows point to the right edge, columns to the bottom edge.
    expected = {"right": rows, "left": OPPOSITE[rows], "bottom": columns, "top": OPPOSITE[columns]}
    open_study(page, demo_server, lateral.AccessionNumber)
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.index === '1'")
    assert edges(page) == expected
    assert page.get_attribute("#viewports .orient-left", "title") == WORDS[expected["left"]]
    assert page.get_attribute("#viewports .overlay:not(.br)", "data-projection") == "Right lateral"
    assert "Right lateral" in page.text_content("#viewports .overlay")
    shot(page, "orientation-lateral")

    # Rotate 90 degrees clockwise: the image's top edge is now on the right.
    page.click("#rotate")
    wait_edges(
        page,
        {
            "right": expected["top"],
            "left": expected["bottom"],
            "top": expected["left"],
            "bottom": expected["right"],
        },
    )
    page.click("#reset")
    wait_edges(page, expected)
    page.click("#flip-h")
    wait_edges(page, {**expected, "left": expected["right"], "right": expected["left"]})
    page.click("#flip-v")
    wait_edges(
        page,
        {
            "left": expected["right"],
            "right": expected["left"],
            "top": expected["bottom"],
            "bottom": expected["top"],
        },
    )
    shot(page, "orientation-lateral-flipped")

    # The VD pelvis: View Position AP on the trunk of a quadruped is ventrodorsal.
    vd = next(ds for ds in firsts if ds.Modality == "DX" and ds.BodyPartExamined == "PELVIS")
    assert vd.ViewPosition == "AP"
    open_study(page, demo_server, vd.AccessionNumber)
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.projection === 'VD'")
    rows, columns = (str(v) for v in vd.PatientOrientation)
    wait_edges(page, {"right": rows, "left": OPPOSITE[rows], "bottom": columns, "top": OPPOSITE[columns]})

    # The CT: labels from Image Orientation (Patient); quadruped axes +x left, +y dorsal, +z cranial.
    ct = next(ds for ds in firsts if ds.Modality == "CT")
    iop = [float(v) for v in ct.ImageOrientationPatient]
    assert iop == [1, 0, 0, 0, 1, 0] and ct.AnatomicalOrientationType == "QUADRUPED"
    open_study(page, demo_server, ct.AccessionNumber)
    wait_edges(page, {"right": "LE", "left": "RT", "bottom": "D", "top": "V"})
    shot(page, "orientation-ct")
