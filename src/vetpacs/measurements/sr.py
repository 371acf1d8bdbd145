"""DICOM export of measurements: a TID 1500 Measurement Report (Comprehensive SR) and a GSPS.

Built with pydicom by hand (PS3.16 TID 1500 "Measurement Report"; each measurement a Measurement
Group, TID 1501/1410 style, with Tracking Identifier and UID, Finding, an Image Region SCOORD
SELECTED FROM the source image, and NUM items with UCUM units; PS3.3 C.17 SR Document modules).
The report is stored through :func:`vetpacs.archive.ingest.store_instance`, the one ingest path, so
WADO, C-GET and any DICOM viewer see it.
"""

from __future__ import annotations

import json
from datetime import datetime
from io import BytesIO
from typing import Any

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

from vetpacs import __version__, events
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.retrieve import read_dataset, stored_instances
from vetpacs.auth.audit import record_in
from vetpacs.auth.roles import Actor
from vetpacs.errors import Invalid
from vetpacs.measurements.presentation import build_presentation_state
from vetpacs.measurements.schemas import ExportResult
from vetpacs.measurements.service import list_measurements

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"

# Result unit identifier -> (UCUM code, meaning), docs/measurements.md.
UCUM: dict[str, tuple[str, str]] = {
    "mm": ("mm", "millimeter"),
    "mm2": ("mm2", "square millimeter"),
    "detector_mm": ("mm{detector}", "millimeter at the detector"),
    "detector_mm2": ("mm2{detector}", "square millimeter at the detector"),
    "px": ("{pixel}", "pixel"),
    "px2": ("{pixel2}", "square pixel"),
    "deg": ("deg", "degree"),
    "vertebrae": ("{vertebrae}", "vertebrae"),
    "ratio": ("1", "no units"),
    "count": ("{pixel}", "pixel"),
    "mm/px": ("mm/{pixel}", "millimeter per pixel"),
    "HU": ("[hnsf'U]", "Hounsfield unit"),
    "pixel_value": ("1", "no units"),
}

# Value name -> concept name (code value, scheme, meaning). 99VETPACS is our private scheme.
CONCEPTS: dict[str, tuple[str, str, str]] = {
    "length": ("410668003", "SCT", "Length"),
    "angle": ("1483009", "SCT", "Angle"),
    "area": ("42798000", "SCT", "Area"),
    "mean": ("373098007", "SCT", "Mean"),
    "sd": ("386136009", "SCT", "Standard Deviation"),
    "min": ("255605001", "SCT", "Minimum"),
    "max": ("56851009", "SCT", "Maximum"),
    "radius": ("131190003", "SCT", "Radius"),
    "diameter": ("81827009", "SCT", "Diameter"),
    "vhs": ("VHS", "99VETPACS", "Vertebral heart score"),
    "vlas": ("VLAS", "99VETPACS", "Vertebral left atrial size"),
    "tpa": ("TPA", "99VETPACS", "Tibial plateau angle"),
    "di": ("DI", "99VETPACS", "Distraction index"),
    "left_angle": ("NORBERG-L", "99VETPACS", "Norberg angle, left hip"),
    "right_angle": ("NORBERG-R", "99VETPACS", "Norberg angle, right hip"),
}

FINDINGS: dict[str, tuple[str, str, str]] = {
    "length": ("410668003", "SCT", "Length"),
    "angle": ("1483009", "SCT", "Angle"),
    "cobb": ("COBB", "99VETPACS", "Cobb angle"),
    "ellipse_roi": ("ROI-E", "99VETPACS", "Elliptical region of interest"),
    "rectangle_roi": ("ROI-R", "99VETPACS", "Rectangular region of interest"),
    "circle": ("CIRCLE", "99VETPACS", "Fitted circle"),
    "calibration": ("CAL", "99VETPACS", "Calibration marker"),
    "vhs": ("VHS", "99VETPACS", "Vertebral heart score"),
    "vlas": ("VLAS", "99VETPACS", "Vertebral left atrial size"),
    "norberg": ("NORBERG", "99VETPACS", "Norberg angle"),
    "tpa": ("TPA", "99VETPACS", "Tibial plateau angle"),
    "distraction_index": ("DI", "99VETPACS", "Distraction index"),
}

PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
    "PatientBreedDescription",
    "PatientBreedCodeSequence",
    "BreedRegistrationSequence",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "PatientSexNeutered",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (PS3.3 8.8)."""
    ds = Dataset()
    ds.CodeValue = value
    ds.CodingSchemeDesignator = scheme
    ds.CodeMeaning = meaning
    return ds


def _item(relationship: str, value_type: str, concept: tuple[str, str, str]) -> Dataset:
    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = DicomSequence([code(*concept)])
    return ds


def _container(relationship: str, concept: tuple[str, str, str], children: list[Dataset]) -> Dataset:
    ds = _item(relationship, "CONTAINER", concept)
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = DicomSequence(children)
    return ds


def _text(relationship: str, concept: tuple[str, str, str], text: str) -> Dataset:
    ds = _item(relationship, "TEXT", concept)
    ds.TextValue = text
    return ds


def _code_item(relationship: str, concept: tuple[str, str, str], value: tuple[str, str, str]) -> Dataset:
    ds = _item(relationship, "CODE", concept)
    ds.ConceptCodeSequence = DicomSequence([code(*value)])
    return ds


def _image_ref(sop_class_uid: str, sop_instance_uid: str, frame: int | None) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class_uid
    ref.ReferencedSOPInstanceUID = sop_instance_uid
    if frame is not None:
        ref.ReferencedFrameNumber = frame
    return ref


def _num(name: str, value: float, unit: str) -> Dataset:
    concept = CONCEPTS.get(name, (name.upper()[:16], "99VETPACS", name.replace("_", " ")))
    ds = _item("CONTAINS", "NUM", concept)
    mv = Dataset()
    mv.NumericValue = DSfloat(value, auto_format=True)
    mv.FloatingPointValue = float(value)
    ucum, meaning = UCUM.get(unit, ("1", "no units"))
    mv.MeasurementUnitsCodeSequence = DicomSequence([code(ucum, "UCUM", meaning)])
    ds.MeasuredValueSequence = DicomSequence([mv])
    return ds


def _flatten(value: Any) -> list[tuple[float, float]]:
    """Every [column, row] pair in a tool's points, in field order."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return [(float(value[0]), float(value[1]))]
    if isinstance(value, dict):
        return [p for k, v in value.items() if k != "known_mm" for p in _flatten(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in _flatten(v)]
    return []


def graphic(tool: str, points: dict[str, Any]) -> tuple[str, list[float]]:
    """SCOORD Graphic Type and Graphic Data (column\\row, pixel-corner origin: +0.5; PS3.3 C.18.6.1)."""
    if tool in ("ellipse_roi", "rectangle_roi"):
        (c1, r1), (c2, r2) = _flatten(points.get("corners"))[:2]
        c1, c2, r1, r2 = min(c1, c2), max(c1, c2), min(r1, r2), max(r1, r2)
        if tool == "ellipse_roi":
            cx, cy = (c1 + c2) / 2, (r1 + r2) / 2
            pts = [(c1, cy), (c2, cy), (cx, r1), (cx, r2)]
            if c2 - c1 < r2 - r1:  # the major axis comes first
                pts = [(cx, r1), (cx, r2), (c1, cy), (c2, cy)]
            kind = "ELLIPSE"
        else:
            pts = [(c1, r1), (c2, r1), (c2, r2), (c1, r2), (c1, r1)]
            kind = "POLYLINE"
    elif tool == "angle":
        pts = _flatten([points.get("arm1"), points.get("vertex"), points.get("arm2")])
        kind = "POLYLINE"
    elif tool in ("length", "calibration"):
        pts = _flatten(points.get("line"))
        kind = "POLYLINE"
    else:
        pts = _flatten(points)
        kind = "MULTIPOINT" if len(pts) > 1 else "POINT"
    return kind, [v + 0.5 for p in pts for v in p]


def build_report(
    archive: Archive, study_uid: str, *, actor: Actor, all_users: bool = False
) -> tuple[bytes, int]:
    """The Part 10 bytes of a TID 1500 Measurement Report of a study's measurements, and their count."""
    listed = list_measurements(archive, study_uid, username=None if all_users else actor.username)
    measurements = [m for m in listed.measurements if m.tool not in ("arrow", "text")]
    if not measurements:
        raise Invalid("there are no measurements to export in this study")
    instances = {s.ref.sop_instance_uid: s.ref for s in stored_instances(archive, study_uid=study_uid)}
    source = read_dataset(archive, instances[measurements[0].sop_instance_uid])

    now = datetime.now()
    ds = Dataset()
    for keyword, value in patient_study_attributes(source).items():
        setattr(ds, keyword, value)
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 9001
    ds.SeriesDescription = "VetPACS measurements"
    ds.InstanceNumber = 1
    ds.Manufacturer = "VetPACS"
    ds.SoftwareVersions = __version__
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.SeriesDate, ds.SeriesTime = ds.ContentDate, ds.ContentTime
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = DicomSequence()
    ds.SpecificCharacterSet = "ISO_IR 192"

    used = {m.sop_instance_uid for m in measurements}
    by_series: dict[str, list[Dataset]] = {}
    for uid in sorted(used):
        ref = instances[uid]
        by_series.setdefault(ref.series_instance_uid, []).append(_image_ref(ref.sop_class_uid, uid, None))
    evidence = Dataset()
    evidence.StudyInstanceUID = study_uid
    series_items = []
    for series_uid, refs in by_series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = DicomSequence(refs)
        series_items.append(item)
    evidence.ReferencedSeriesSequence = DicomSequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([evidence])

    # SR Document Content: the root container of TID 1500.
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([code("126000", "DCM", "Imaging Measurement Report")])
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "1500"
    ds.ContentTemplateSequence = DicomSequence([template])

    library = []
    for uid in sorted(used):
        image = _item("CONTAINS", "IMAGE", ("260753009", "SCT", "Source"))
        image.ReferencedSOPSequence = DicomSequence([_image_ref(instances[uid].sop_class_uid, uid, None)])
        library.append(image)
    groups = [_group(m, instances[m.sop_instance_uid].sop_class_uid) for m in measurements]
    observer = _code_item("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121006", "DCM", "Person"))
    person = _item("HAS OBS CONTEXT", "PNAME", ("121008", "DCM", "Person Observer Name"))
    person.PersonName = "^".join([actor.username] if not all_users else ["VetPACS users"])
    ds.ContentSequence = DicomSequence(
        [
            _code_item(
                "HAS CONCEPT MOD",
                ("121049", "DCM", "Language of Content Item and Descendants"),
                ("en", "RFC5646", "English"),
            ),
            observer,
            person,
            _code_item(
                "HAS CONCEPT MOD",
                ("121058", "DCM", "Procedure reported"),
                ("363679005", "SCT", "Imaging procedure"),
            ),
            _container(
                "CONTAINS",
                ("111028", "DCM", "Image Library"),
                [_container("CONTAINS", ("126200", "DCM", "Image Library Group"), library)],
            ),
            _container("CONTAINS", ("126010", "DCM", "Imaging Measurements"), groups),
        ]
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue(), len(measurements)


def _group(m: Any, sop_class_uid: str) -> Dataset:
    value = m.value
    children = [
        _text(
            "HAS OBS CONTEXT",
            ("112039", "DCM", "Tracking Identifier"),
            f"VetPACS measurement {m.id} ({m.tool})",
        ),
    ]
    tracking = _item("HAS OBS CONTEXT", "UIDREF", ("112040", "DCM", "Tracking Unique Identifier"))
    tracking.UID = generate_uid(
        prefix=None, entropy_srcs=["vetpacs-measurement", str(m.id), m.sop_instance_uid]
    )
    children.append(tracking)
    finding = FINDINGS.get(m.tool, (m.tool.upper()[:16], "99VETPACS", m.tool))
    children.append(_code_item("CONTAINS", ("121071", "DCM", "Finding"), finding))
    if m.label:
        children.append(_text("CONTAINS", ("121106", "DCM", "Comment"), m.label))
    kind, data = graphic(m.tool, m.points)
    if data:
        region = _item("CONTAINS", "SCOORD", ("111030", "DCM", "Image Region"))
        region.GraphicType = kind
        region.GraphicData = data
        selected = Dataset()
        selected.RelationshipType = "SELECTED FROM"
        selected.ValueType = "IMAGE"
        selected.ReferencedSOPSequence = DicomSequence(
            [_image_ref(sop_class_uid, m.sop_instance_uid, m.frame_number if m.frame_number > 1 else None)]
        )
        region.ContentSequence = DicomSequence([selected])
        children.append(region)
    for name, q in value["values"].items():
        if name in ("center_column", "center_row"):
            continue
        children.append(_num(name, q["value"], q["unit"]))
    calibration = _text(
        "HAS CONCEPT MOD",
        ("CALSRC", "99VETPACS", "Calibration source"),
        f"{value['calibration_source']} (calibrated: {str(value['calibrated']).lower()})",
    )
    children.append(calibration)
    group = _container("CONTAINS", ("125007", "DCM", "Measurement Group"), children)
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "1410" if kind in ("POLYLINE", "ELLIPSE") else "1501"
    group.ContentTemplateSequence = DicomSequence([template])
    return group


def patient_study_attributes(source: Dataset) -> dict[str, Any]:
    """The Patient and General Study module attributes of ``source`` to copy into a new instance of
    its study (PS3.3 C.7.1.1, C.7.2.1 and the C.7.1.1 veterinary attributes); empty type 2 ones kept."""
    out: dict[str, Any] = {}
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in source:
            out[keyword] = source.data_element(keyword).value  # type: ignore[union-attr]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime"):
        out.setdefault(keyword, "")
    for keyword in ("ReferringPhysicianName", "StudyID", "AccessionNumber"):
        out.setdefault(keyword, "")
    return out


def _sizes(archive: Archive, study_uid: str) -> dict[str, tuple[int, int]]:
    sizes = {}
    for stored in stored_instances(archive, study_uid=study_uid, with_header=True):
        header = json.loads(stored.header_json or "{}")
        rows = ((header.get("00280010") or {}).get("Value") or [0])[0]
        cols = ((header.get("00280011") or {}).get("Value") or [0])[0]
        sizes[stored.ref.sop_instance_uid] = (int(rows or 0), int(cols or 0))
    return sizes


def export_report(archive: Archive, study_uid: str, *, actor: Actor, all_users: bool = False) -> ExportResult:
    """Store the measurement report (TID 1500 SR) and a GSPS of the graphics in the study.

    Both go through the one ingest path (origin ``import``, the acting user); each store commits in
    ingest's own transaction, and the audit row and the ``measurement.exported`` event follow in a
    further one.
    """
    data, count = build_report(archive, study_uid, actor=actor, all_users=all_users)
    origin = Origin(
        kind=OriginKind.IMPORT, user=actor.username, address=actor.address, detail="measurement report"
    )
    stored = store_instance(archive, data, origin=origin)
    series_uid = str(dcmread(BytesIO(data), stop_before_pixels=True).SeriesInstanceUID)

    listed = list_measurements(archive, study_uid, username=None if all_users else actor.username)
    instances = {s.ref.sop_instance_uid: s.ref for s in stored_instances(archive, study_uid=study_uid)}
    items = [m for m in listed.measurements if m.sop_instance_uid in instances]
    source = read_dataset(archive, instances[items[0].sop_instance_uid])
    pr_data = build_presentation_state(
        source,
        items,
        instances,
        _sizes(archive, study_uid),
        creator=actor.username,
        patient_study=patient_study_attributes(source),
    )
    pr_origin = Origin(
        kind=OriginKind.IMPORT, user=actor.username, address=actor.address, detail="measurement graphics"
    )
    pr = store_instance(archive, pr_data, origin=pr_origin)
    pr_series = str(dcmread(BytesIO(pr_data), stop_before_pixels=True).SeriesInstanceUID)
    payload = {
        "study_instance_uid": study_uid,
        "sop_instance_uid": stored.sop_instance_uid,
        "presentation_state_uid": pr.sop_instance_uid,
        "measurement_count": count,
    }
    with archive.write_transaction() as conn:
        record_in(
            conn,
            actor,
            "measurement.exported",
            object_type="study",
            object_id=study_uid,
            detail=payload,
            address=actor.address,
        )
        events.emit(
            conn,
            "measurement.exported",
            aggregate_type="study",
            aggregate_id=study_uid,
            payload=payload,
            actor=actor.username,
        )
    return ExportResult(
        sop_instance_uid=stored.sop_instance_uid,
        series_instance_uid=series_uid,
        sop_class_uid=stored.sop_class_uid,
        measurement_count=count,
        status=str(stored.status),
        presentation_state_uid=pr.sop_instance_uid,
        presentation_series_uid=pr_series,
    )
