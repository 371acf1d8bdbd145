"""Generated test images: tiny DX instances for the ingest, order, billing and search tests; images
with known geometry and vector comparison for the measurement tests."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX = "1.2.840.10008.5.1.4.1.1.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def tiny_image(sop_class: str = DX, **attributes: Any) -> bytes:
    """Part 10 bytes of a 2 x 2, 8-bit MONOCHROME2 DX instance with new SOP and series UIDs.

    ``attributes`` (DICOM keywords: ``StudyInstanceUID``, ``PatientID``...) are set last, so they
    may replace any default (``Modality``, the UIDs...).
    """
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = b"\x00\x01\x02\x03"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def make_image(
    *,
    study_uid: str,
    modality: str = "DX",
    size: int = 64,
    pixel_spacing: list[float] | None = None,
    imager_pixel_spacing: list[float] | None = None,
    fill: int = 1000,
    intercept: float | None = None,
) -> tuple[bytes, str]:
    """Part 10 bytes of a size x size 16-bit image whose pixel (c, r) = fill + c + 10 * r; and its SOP UID."""
    ds = Dataset()
    ds.SOPClassUID = CT if modality == "CT" else DX
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = "Rex^Measure"
    ds.PatientID = "MEAS-1"
    ds.PatientSpeciesDescription = "Canine"
    ds.StudyDate = "20261129"
    ds.StudyTime = "101010"
    ds.AccessionNumber = "ACC-MEAS"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if pixel_spacing:
        ds.PixelSpacing = pixel_spacing
    if imager_pixel_spacing:
        ds.ImagerPixelSpacing = imager_pixel_spacing
    if intercept is not None:
        ds.RescaleIntercept = intercept
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    pixels = (fill + cols + 10 * rows).astype("<u2")
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = pixels.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue(), str(ds.SOPInstanceUID)


def assert_close(actual: Any, expected: Any, tol: float, where: str = "") -> None:
    """Compare a result with a vector's ``expected`` as docs/measurements.md says (subset, within tol)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            assert_close(actual[key], value, tol, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, tol, f"{where}[{i}]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    else:
        assert abs(actual - expected) <= tol, f"{where}: {actual} != {expected} (tol {tol})"
