"""The DICOM rendering of a signed report: an Encapsulated PDF instance (PS3.3 A.45.1, SOP class
1.2.840.10008.5.1.4.1.1.104.1) in the reported study, stored by the service through the one ingest
path."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from vetpacs import __version__
from vetpacs.archive.context import Archive
from vetpacs.archive.retrieve import read_dataset, stored_instances
from vetpacs.errors import NotFound
from vetpacs.measurements.sr import patient_study_attributes

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_SERIES_NUMBER = 9100


def encapsulated_pdf(source: Dataset, pdf: bytes, *, title: str, signed_at: datetime, version: int) -> bytes:
    """Part 10 bytes of an Encapsulated PDF instance (PS3.3 A.45.1) in the study of ``source``.

    Patient and Study modules are copied from ``source`` (a stored instance of the study, with its
    corrections); a new series (Modality ``DOC``), SC Equipment (Conversion Type ``SD``),
    Encapsulated Document module (MIME Type ``application/pdf``, Document Title, the length) and
    SOP Common. ``signed_at`` is naive UTC; Content Date/Time are clinic local time.
    """
    local = signed_at.replace(tzinfo=UTC).astimezone()
    ds = Dataset()
    for keyword, value in patient_study_attributes(source).items():
        setattr(ds, keyword, value)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = "VetPACS report"
    ds.SeriesDate = ds.ContentDate = local.strftime("%Y%m%d")
    ds.SeriesTime = ds.ContentTime = local.strftime("%H%M%S")
    ds.InstanceNumber = version
    ds.ConversionType = "SD"  # scanned document: the type used for rendered reports
    ds.Manufacturer = "VetPACS"
    ds.SoftwareVersions = __version__
    ds.AcquisitionDateTime = local.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64] or "Imaging report"
    concept = Dataset()
    concept.CodeValue = "18748-4"
    concept.CodingSchemeDesignator = "LN"
    concept.CodeMeaning = "Diagnostic imaging study"
    ds.ConceptNameCodeSequence = DicomSequence([concept])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def source_instance(archive: Archive, study_uid: str) -> Dataset:
    """A stored instance of the study (not one of our PDFs), whose Patient and Study modules the
    PDF copies; NotFound when the study holds none."""
    for stored in stored_instances(archive, study_uid=study_uid):
        if stored.ref.sop_class_uid != ENCAPSULATED_PDF:
            return read_dataset(archive, stored.ref)
    raise NotFound(f"study {study_uid} has no stored image to report on")
