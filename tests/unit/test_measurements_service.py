"""Measurement services on a real archive: server recomputation, corrections, key images, SR export."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from measurement_images import assert_close, make_image  # type: ignore[import-not-found]
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.retrieve import read_dataset, stored_instances
from vetpacs.auth.audit import AUDIT
from vetpacs.auth.roles import Actor, Role
from vetpacs.errors import Forbidden, Invalid, NotFound
from vetpacs.events import OUTBOX
from vetpacs.measurements import service, sr
from vetpacs.measurements.geometry import GeometryError
from vetpacs.measurements.schemas import KeyImageSet, MeasurementCreate, MeasurementUpdate

VET = Actor(username="vet1", role=Role.VETERINARIAN)
OTHER = Actor(username="vet2", role=Role.RADIOLOGIST)
ORIGIN = Origin(OriginKind.IMPORT, user="tester", detail="measurement test")


def _store(archive: Archive, **kw: object) -> tuple[str, str]:
    study = str(kw.pop("study_uid", None) or generate_uid())
    data, sop = make_image(study_uid=study, **kw)  # type: ignore[arg-type]
    store_instance(archive, data, origin=ORIGIN)
    return study, sop


def _length(sop: str, value: float | None = None, **kw: object) -> MeasurementCreate:
    client = {"values": {"length": {"value": value, "unit": "mm"}}} if value is not None else None
    return MeasurementCreate(
        sop_instance_uid=sop, tool="length", points={"line": [[0, 0], [30, 40]]}, value=client, **kw
    )  # type: ignore[arg-type]


def test_server_recomputes_length_with_pixel_spacing(archive: Archive) -> None:
    study, sop = _store(archive, pixel_spacing=[0.2, 0.1])
    good = service.save_measurement(archive, study, _length(sop, math.sqrt(73)), actor=VET)
    assert good.value["values"]["length"] == {"value": pytest.approx(math.sqrt(73)), "unit": "mm"}
    assert good.value["calibrated"] is True and good.value_corrected is False
    bad = service.save_measurement(archive, study, _length(sop, 50.0, label="wrong"), actor=VET)
    assert bad.value_corrected is True
    assert bad.value["values"]["length"]["value"] == pytest.approx(math.sqrt(73))
    with archive.engine.connect() as conn:
        events = conn.execute(select(OUTBOX).where(OUTBOX.c.type == "measurement.saved")).all()
        audits = conn.execute(select(AUDIT).where(AUDIT.c.action == "measurement.saved")).all()
    assert len(events) == 2 and len(audits) == 2
    payloads = [json.loads(e.payload_json) for e in events]
    assert [p["corrected"] for p in payloads] == [False, True]
    assert payloads[1]["client_values"]["length"]["value"] == 50.0


def test_imager_pixel_spacing_is_detector_mm_until_user_calibration(archive: Archive) -> None:
    study, sop = _store(archive, imager_pixel_spacing=[0.15, 0.15])
    m = service.save_measurement(archive, study, _length(sop), actor=VET)
    assert m.value["values"]["length"] == {"value": pytest.approx(7.5), "unit": "detector_mm"}
    assert m.value["calibrated"] is False
    assert m.value["calibration_source"] == "imager_pixel_spacing"
    cal = {"line": [[0, 0], [0, 100]], "known_mm": 25}
    changed = service.update_measurement(archive, m.id, MeasurementUpdate(calibration=cal), actor=VET)
    assert changed.value["values"]["length"] == {"value": pytest.approx(12.5), "unit": "mm"}
    assert changed.calibration == cal and changed.value["calibration_source"] == "user"
    cleared = service.update_measurement(archive, m.id, MeasurementUpdate(calibration=None), actor=VET)
    assert cleared.value["values"]["length"]["unit"] == "detector_mm" and cleared.calibration is None


def test_uncalibrated_image_measures_pixels(archive: Archive) -> None:
    study, sop = _store(archive)
    m = service.save_measurement(archive, study, _length(sop), actor=VET)
    assert m.value["values"]["length"] == {"value": 50.0, "unit": "px"}


def test_roi_statistics_come_from_the_archived_frame_in_hu(archive: Archive) -> None:
    study, sop = _store(archive, modality="CT", pixel_spacing=[0.5, 0.5], intercept=-1024)
    body = MeasurementCreate(
        sop_instance_uid=sop,
        tool="rectangle_roi",
        points={"corners": [[1, 0], [3, 1]], "pixels": {"origin": [0, 0], "values": [[9999] * 5] * 3}},
        value={"values": {"mean": {"value": 9999, "unit": "HU"}}},
    )
    m = service.save_measurement(archive, study, body, actor=VET)
    values = m.value["values"]
    # pixel (c, r) = 1000 + c + 10 r - 1024: columns 1..3 of rows 0 and 1.
    assert values["mean"] == {"value": pytest.approx(-17.0), "unit": "HU"}
    assert values["min"]["value"] == -23 and values["max"]["value"] == -11
    assert values["pixel_count"]["value"] == 6
    assert values["area"] == {"value": pytest.approx(0.5), "unit": "mm2"}
    assert "pixels" not in m.points and m.value_corrected is True


def test_vhs_is_recomputed_and_exported(archive: Archive) -> None:
    study, sop = _store(archive, pixel_spacing=[0.1, 0.1])
    ladder = [[2 + 5 * i, 5] for i in range(12)]
    vhs = MeasurementCreate(
        sop_instance_uid=sop,
        tool="vhs",
        label="VHS",
        points={
            "species": "dog",
            "ladder": ladder,
            "long_axis": [[10, 10], [10, 36.5]],
            "short_axis": [[5, 20], [26, 20]],
        },
    )
    m = service.save_measurement(archive, study, vhs, actor=VET)
    assert m.value["values"]["vhs"]["value"] == pytest.approx(9.5)  # 26.5/5 = 5.3, 21/5 = 4.2
    service.save_measurement(archive, study, _length(sop), actor=VET)
    service.save_measurement(
        archive,
        study,
        MeasurementCreate(sop_instance_uid=sop, tool="arrow", points={"start": [1, 1], "end": [9, 9]}),
        actor=VET,
    )

    result = sr.export_report(archive, study, actor=VET)
    assert result.measurement_count == 2 and result.status == "stored"
    stored = stored_instances(archive, study_uid=study, sop_uid=result.sop_instance_uid)[0]
    ds = read_dataset(archive, stored.ref)
    assert ds.SOPClassUID == sr.COMPREHENSIVE_SR and ds.Modality == "SR"
    assert ds.PatientID == "MEAS-1" and ds.StudyInstanceUID == study
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    measurements = next(
        item for item in ds.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "126010"
    )
    groups = list(measurements.ContentSequence)
    assert len(groups) == 2
    nums = {}
    for group in groups:
        for item in group.ContentSequence:
            if item.ValueType == "NUM":
                mv = item.MeasuredValueSequence[0]
                nums[item.ConceptNameCodeSequence[0].CodeMeaning] = (
                    float(mv.NumericValue),
                    mv.MeasurementUnitsCodeSequence[0].CodeValue,
                )
            if item.ValueType == "SCOORD":
                ref = item.ContentSequence[0].ReferencedSOPSequence[0]
                assert ref.ReferencedSOPInstanceUID == sop
    assert nums["Vertebral heart score"] == (pytest.approx(9.5), "{vertebrae}")
    assert nums["Length"] == (pytest.approx(5.0), "mm")
    length_group = groups[1]
    scoord = next(i for i in length_group.ContentSequence if i.ValueType == "SCOORD")
    assert scoord.GraphicType == "POLYLINE"
    assert [float(v) for v in scoord.GraphicData] == [0.5, 0.5, 30.5, 40.5]
    assert ds.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == study
    with archive.engine.connect() as conn:
        assert conn.execute(select(OUTBOX).where(OUTBOX.c.type == "measurement.exported")).first()

    # The presentation state draws all three (VHS landmarks, the length, the arrow) on the image.
    pr_ref = stored_instances(archive, study_uid=study, sop_uid=result.presentation_state_uid)[0].ref
    pr = read_dataset(archive, pr_ref)
    assert pr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1" and pr.Modality == "PR"
    assert pr.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID == sop
    assert list(pr.DisplayedAreaSelectionSequence[0].DisplayedAreaBottomRightHandCorner) == [64, 64]
    annotations = list(pr.GraphicAnnotationSequence)
    assert len(annotations) == 3
    length_graphic = annotations[1].GraphicObjectSequence[0]
    assert length_graphic.GraphicType == "POLYLINE"
    assert [float(v) for v in length_graphic.GraphicData] == [0.5, 0.5, 30.5, 40.5]
    assert "vhs 9.5 v" in annotations[0].TextObjectSequence[0].UnformattedTextValue
    assert annotations[2].GraphicObjectSequence[0].GraphicType == "POLYLINE"


def test_export_without_measurements_is_invalid(archive: Archive) -> None:
    study, _ = _store(archive)
    with pytest.raises(Invalid):
        sr.export_report(archive, study, actor=VET)


def test_ownership_listing_and_delete(archive: Archive) -> None:
    study, sop = _store(archive, pixel_spacing=[0.1, 0.1])
    mine = service.save_measurement(archive, study, _length(sop), actor=VET)
    theirs = service.save_measurement(archive, study, _length(sop), actor=OTHER)
    assert [m.id for m in service.list_measurements(archive, study, username="vet1").measurements] == [
        mine.id
    ]
    assert len(service.list_measurements(archive, study, username=None).measurements) == 2
    with pytest.raises(Forbidden):
        service.update_measurement(archive, theirs.id, MeasurementUpdate(label="x"), actor=VET)
    with pytest.raises(Forbidden):
        service.delete_measurement(archive, theirs.id, actor=VET)
    moved = service.update_measurement(
        archive, mine.id, MeasurementUpdate(points={"line": [[0, 0], [0, 10]]}, label="moved"), actor=VET
    )
    assert moved.value["values"]["length"]["value"] == pytest.approx(1.0) and moved.label == "moved"
    service.delete_measurement(archive, mine.id, actor=VET)
    assert service.list_measurements(archive, study, username="vet1").measurements == []
    with pytest.raises(NotFound):
        service.get_measurement(archive, mine.id)


def test_bad_input_is_refused(archive: Archive) -> None:
    study, sop = _store(archive)
    other_study, _ = _store(archive)
    with pytest.raises(NotFound):
        service.save_measurement(archive, other_study, _length(sop), actor=VET)
    with pytest.raises(NotFound):
        service.save_measurement(archive, study, _length("1.2.3.4"), actor=VET)
    collinear = MeasurementCreate(
        sop_instance_uid=sop, tool="circle", points={"rim": [[0, 0], [1, 1], [2, 2]]}
    )
    with pytest.raises(GeometryError) as info:
        service.save_measurement(archive, study, collinear, actor=VET)
    assert info.value.code == "collinear_points"
    with pytest.raises(Invalid):
        service.save_measurement(archive, study, _length(sop, frame_number=2), actor=VET)


def test_key_images(archive: Archive) -> None:
    study, sop = _store(archive)
    flagged = service.set_key_image(archive, sop, KeyImageSet(), actor=VET)
    assert flagged.flagged and flagged.study_instance_uid == study
    assert len(service.list_measurements(archive, study, username="vet1").key_images) == 1
    service.set_key_image(archive, sop, KeyImageSet(flagged=False), actor=VET)
    assert service.list_measurements(archive, study, username="vet1").key_images == []
    with archive.engine.connect() as conn:
        assert len(conn.execute(select(OUTBOX).where(OUTBOX.c.type == "key_image.flagged")).all()) == 2


VECTORS = json.loads(
    (Path(__file__).parents[1] / "data" / "measurement_vectors.json").read_text(encoding="utf-8")
)["cases"]


def _pixels_match_archive(case: dict[str, Any]) -> bool:
    pixels = case["input"]["points"].get("pixels")
    return pixels is None or pixels.get("origin", [0, 0]) == [0, 0]


def test_server_recomputation_runs_the_shared_vectors(archive: Archive) -> None:
    """Every shared vector through save_measurement: image spacing from the archived header.

    The images hold ``10 * row + column`` like the vectors' pixel grids (the server reads region
    statistics from the archive, so a vector whose grid sits elsewhere is skipped).
    """
    images: dict[str, tuple[str, str]] = {}
    checked = 0
    for case in filter(_pixels_match_archive, VECTORS):
        cal = case["input"]["calibration"] or {}
        hu = any(v.get("unit") == "HU" for v in case["expected"].get("values", {}).values())
        key = json.dumps([cal.get("pixel_spacing"), cal.get("imager_pixel_spacing"), hu])
        if key not in images:
            images[key] = _store(
                archive,
                pixel_spacing=cal.get("pixel_spacing"),
                imager_pixel_spacing=cal.get("imager_pixel_spacing"),
                fill=0,
                modality="CT" if hu else "DX",
                intercept=0 if hu else None,
            )
        study, sop = images[key]
        body = MeasurementCreate(
            sop_instance_uid=sop,
            tool=case["tool"],
            points=case["input"]["points"],
            calibration=cal.get("user"),
        )
        expected = case["expected"]
        if "error" in expected:
            with pytest.raises(GeometryError) as info:
                service.save_measurement(archive, study, body, actor=VET)
            assert info.value.code == expected["error"], case["id"]
        else:
            saved = service.save_measurement(archive, study, body, actor=VET)
            expect = {k: v for k, v in expected.items() if k != "warnings"}
            assert_close(saved.value, expect, case["tolerance"], case["id"])
            assert saved.value["warnings"] == expected.get("warnings", []), case["id"]
        checked += 1
    assert checked >= len(VECTORS) - 2
