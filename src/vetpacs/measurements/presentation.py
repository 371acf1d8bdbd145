"""DICOM export of measurement graphics: a Grayscale Softcopy Presentation State (PS3.3 A.33.1).

One GSPS per export references every image that carries a measurement (Presentation State
Relationship, C.11.11) and draws each measurement on one graphic layer (Graphic Annotation C.10.5,
Graphic Layer C.10.7): lines as POLYLINE, regions as a closed POLYLINE or ELLIPSE, single landmarks
as POINT, and a text object with the label and the values, anchored at the first point. Graphic
coordinates are in PIXEL units with the top-left corner of the first pixel at 0\\0 (C.10.5.1.2),
so our pixel-centre coordinates get +0.5.
"""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from typing import Any

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vetpacs import __version__
from vetpacs.archive.retrieve import InstanceRef
from vetpacs.measurements.schemas import MeasurementRead

GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
LAYER = "MEASUREMENTS"
UNIT_TEXT = {
    "mm": "mm",
    "mm2": "mm²",
    "detector_mm": "detector mm",
    "detector_mm2": "detector mm²",
    "px": "px",
    "px2": "px²",
    "deg": "°",
    "vertebrae": "v",
    "ratio": "",
    "count": "px",
    "mm/px": "mm/px",
}
MAIN_VALUES = (
    "length",
    "angle",
    "vhs",
    "vlas",
    "tpa",
    "di",
    "left_angle",
    "right_angle",
    "mean",
    "sd",
    "area",
)


def _is_point(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _graphic(kind: str, pts: list[list[float]]) -> Dataset:
    g = Dataset()
    g.GraphicAnnotationUnits = "PIXEL"
    g.GraphicDimensions = 2
    g.NumberOfGraphicPoints = len(pts)
    g.GraphicData = [float(v) + 0.5 for p in pts for v in p]
    g.GraphicType = kind
    g.GraphicFilled = "N"
    return g


def graphics_for(m: MeasurementRead) -> list[Dataset]:
    """The graphic objects that draw one measurement (C.10.5.1.2)."""
    p = m.points
    if m.tool in ("ellipse_roi", "rectangle_roi") and isinstance(p.get("corners"), list):
        (c1, r1), (c2, r2) = p["corners"][:2]
        c1, c2, r1, r2 = min(c1, c2), max(c1, c2), min(r1, r2), max(r1, r2)
        if m.tool == "rectangle_roi":
            return [_graphic("POLYLINE", [[c1, r1], [c2, r1], [c2, r2], [c1, r2], [c1, r1]])]
        cx, cy = (c1 + c2) / 2, (r1 + r2) / 2
        axes = [[c1, cy], [c2, cy], [cx, r1], [cx, r2]]
        return [_graphic("ELLIPSE", axes if c2 - c1 >= r2 - r1 else axes[2:] + axes[:2])]
    if m.tool == "arrow" and _is_point(p.get("start")) and _is_point(p.get("end")):
        return [_graphic("POLYLINE", [p["start"], p["end"]])]
    if m.tool == "angle":
        return [_graphic("POLYLINE", [p["arm1"], p["vertex"], p["arm2"]])]
    out = []
    for name, value in p.items():
        if _is_point(value):
            out.append(_graphic("POINT", [value]))
        elif isinstance(value, list) and value and all(_is_point(v) for v in value):
            if len(value) == 2 or name == "ladder":
                out.append(_graphic("POLYLINE", value))
            else:
                out.extend(_graphic("POINT", [v]) for v in value)
    return out


def _anchor(m: MeasurementRead) -> list[float] | None:
    for value in m.points.values():
        if _is_point(value):
            return [float(value[0]), float(value[1])]
        if isinstance(value, list) and value and _is_point(value[0]):
            return [float(value[0][0]), float(value[0][1])]
    return None


def caption(m: MeasurementRead) -> str:
    """The text shown beside a measurement: label, then its main values with units."""
    parts = [m.label] if m.label else []
    values = m.value.get("values", {})
    for name in MAIN_VALUES:
        if name in values:
            q = values[name]
            number = f"{q['value']:.1f}" if q["unit"] not in ("ratio",) else f"{q['value']:.2f}"
            parts.append(f"{name.replace('_', ' ')} {number} {UNIT_TEXT.get(q['unit'], q['unit'])}".strip())
    return "; ".join(parts) or m.tool


def build_presentation_state(
    source: Dataset,
    measurements: list[MeasurementRead],
    instances: dict[str, InstanceRef],
    sizes: dict[str, tuple[int, int]],
    *,
    creator: str,
    patient_study: dict[str, Any],
) -> bytes:
    """The Part 10 bytes of a GSPS drawing ``measurements`` on their images.

    ``sizes`` maps a SOP Instance UID to (Rows, Columns) for the Displayed Area; ``patient_study``
    holds the patient and study attributes copied from the source images.
    """
    now = datetime.now()
    ds = Dataset()
    for keyword, value in patient_study.items():
        setattr(ds, keyword, value)
    ds.SOPClassUID = GSPS
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "PR"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 9002
    ds.SeriesDescription = "VetPACS measurement graphics"
    ds.InstanceNumber = 1
    ds.Manufacturer = "VetPACS"
    ds.SoftwareVersions = __version__
    ds.ContentLabel = LAYER
    ds.ContentDescription = "Measurements and annotations"
    ds.PresentationCreationDate = now.strftime("%Y%m%d")
    ds.PresentationCreationTime = now.strftime("%H%M%S")
    ds.ContentCreatorName = creator
    ds.SpecificCharacterSet = "ISO_IR 192"

    used = sorted({m.sop_instance_uid for m in measurements})
    by_series: dict[str, list[Dataset]] = {}
    for uid in used:
        ref = Dataset()
        ref.ReferencedSOPClassUID = instances[uid].sop_class_uid
        ref.ReferencedSOPInstanceUID = uid
        by_series.setdefault(instances[uid].series_instance_uid, []).append(ref)
    series = []
    for series_uid, refs in by_series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedImageSequence = DicomSequence(refs)
        series.append(item)
    ds.ReferencedSeriesSequence = DicomSequence(series)

    areas = []
    for uid in used:
        rows, cols = sizes.get(uid, (0, 0))
        if not rows or not cols:
            continue
        area = Dataset()
        ref = Dataset()
        ref.ReferencedSOPClassUID = instances[uid].sop_class_uid
        ref.ReferencedSOPInstanceUID = uid
        area.ReferencedImageSequence = DicomSequence([ref])
        area.DisplayedAreaTopLeftHandCorner = [1, 1]
        area.DisplayedAreaBottomRightHandCorner = [cols, rows]
        area.PresentationSizeMode = "SCALE TO FIT"
        area.PresentationPixelAspectRatio = [1, 1]
        areas.append(area)
    ds.DisplayedAreaSelectionSequence = DicomSequence(areas)

    annotations = []
    for m in measurements:
        ann = Dataset()
        ref = Dataset()
        ref.ReferencedSOPClassUID = instances[m.sop_instance_uid].sop_class_uid
        ref.ReferencedSOPInstanceUID = m.sop_instance_uid
        if m.frame_number > 1:
            ref.ReferencedFrameNumber = m.frame_number
        ann.ReferencedImageSequence = DicomSequence([ref])
        ann.GraphicLayer = LAYER
        graphics = graphics_for(m)
        if graphics:
            ann.GraphicObjectSequence = DicomSequence(graphics)
        anchor = _anchor(m)
        text_value = caption(m) if m.tool != "text" else (m.label or str(m.points.get("text", "")))
        if anchor is not None and text_value:
            text = Dataset()
            text.UnformattedTextValue = text_value[:1024]
            text.AnchorPointAnnotationUnits = "PIXEL"
            text.AnchorPoint = [anchor[0] + 0.5, anchor[1] + 0.5]
            text.AnchorPointVisibility = "N"
            ann.TextObjectSequence = DicomSequence([text])
        annotations.append(ann)
    ds.GraphicAnnotationSequence = DicomSequence(annotations)
    layer = Dataset()
    layer.GraphicLayer = LAYER
    layer.GraphicLayerOrder = 1
    layer.GraphicLayerDescription = "VetPACS measurements"
    ds.GraphicLayerSequence = DicomSequence([layer])
    ds.ImageRotation = 0
    ds.ImageHorizontalFlip = "N"
    ds.PresentationLUTShape = (
        "INVERSE" if source.get("PhotometricInterpretation") == "MONOCHROME1" else "IDENTITY"
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
