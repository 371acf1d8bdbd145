"""A simulated X-ray unit for end-to-end tests, built only from clients nobody here wrote.

- ``worklist``: DCMTK ``findscu -W`` asks the server's Modality Worklist for today's steps of a
  station (by its AE title), the answers read back with pydicom.
- ``acquire``: what a DX unit does with one worklist item: MPPS N-CREATE IN PROGRESS (pynetdicom;
  DCMTK has no MPPS client), images stamped from the worklist answer (patient, accession, Study
  Instance UID, Request Attributes), sent with DCMTK ``storescu``, then MPPS N-SET COMPLETED.

The images are small (256x256, 12-bit) but have structure, so a thumbnail or viewer shows a picture.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from conftest import LiveServer, require_tool

HOST = "127.0.0.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
MPPS = "1.2.840.10008.3.1.2.3.3"

PATIENT_KEYWORDS = [
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientWeight",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
    "PatientBreedDescription",
    "PatientBreedCodeSequence",
    "PatientSexNeutered",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "OtherPatientIDsSequence",
]

WORKLIST_KEYS = [
    *PATIENT_KEYWORDS,
    "StudyInstanceUID",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "RequestedProcedureCodeSequence",
    "BodyPartExamined",
]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = require_tool(tool)
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


@dataclass
class XrayUnit:
    """A DX unit known to the server as a station with this AE title."""

    server: LiveServer
    ae_title: str
    modality: str = "DX"

    def worklist(self, out: Path) -> list[Dataset]:
        """Today's scheduled steps for this station (``findscu -W``)."""
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("rsp*.dcm"):
            old.unlink()
        today = datetime.now().strftime("%Y%m%d")
        keys = [
            *WORKLIST_KEYS,
            f"ScheduledProcedureStepSequence[0].ScheduledStationAETitle={self.ae_title}",
            f"ScheduledProcedureStepSequence[0].Modality={self.modality}",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today}",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
        ]
        args = ["-W", "-aet", self.ae_title, "-aec", self.server.ae_title, "-X", "-od", str(out)]
        for key in keys:
            args += ["-k", key]
        proc = _run("findscu", *args, HOST, str(self.server.dicom_port))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]

    def _mpps(self) -> Any:
        ae = AE(ae_title=self.ae_title)
        ae.add_requested_context(MPPS)
        assoc = ae.associate(HOST, self.server.dicom_port, ae_title=self.server.ae_title)
        assert assoc.is_established, "MPPS association refused"
        return assoc

    def acquire(self, item: Dataset, out: Path, *, views: int = 2) -> list[Path]:
        """Perform one worklist item: MPPS IN PROGRESS, ``views`` images by storescu, COMPLETED."""
        out.mkdir(parents=True, exist_ok=True)
        step = item.ScheduledProcedureStepSequence[0]
        series_uid = generate_uid()
        mpps_uid = generate_uid()
        now = datetime.now()

        create = Dataset()
        for kw in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex"]:
            if kw in item:
                create[kw] = item[kw]
        attrs = Dataset()
        attrs.StudyInstanceUID = item.StudyInstanceUID
        attrs.AccessionNumber = item.AccessionNumber
        attrs.RequestedProcedureID = item.RequestedProcedureID
        attrs.ScheduledProcedureStepID = step.ScheduledProcedureStepID
        create.ScheduledStepAttributesSequence = Sequence([attrs])
        create.PerformedProcedureStepID = f"PPS{now:%H%M%S}"
        create.PerformedStationAETitle = self.ae_title
        create.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
        create.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
        create.PerformedProcedureStepStatus = "IN PROGRESS"
        create.Modality = self.modality
        create.PerformedSeriesSequence = Sequence()

        assoc = self._mpps()
        try:
            status, _ = assoc.send_n_create(create, MPPS, mpps_uid)
            assert status is not None and status.Status == 0x0000, status
        finally:
            assoc.release()

        files = [self._image(item, out / f"view{i}.dcm", series_uid, i) for i in range(1, views + 1)]
        proc = _run(
            "storescu",
            "-aet",
            self.ae_title,
            "-aec",
            self.server.ae_title,
            HOST,
            str(self.server.dicom_port),
            *map(str, files),
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

        done = Dataset()
        done.PerformedProcedureStepStatus = "COMPLETED"
        done.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
        done.PerformedProcedureStepEndTime = datetime.now().strftime("%H%M%S")
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.PerformingPhysicianName = ""
        series.ProtocolName = str(step.get("ScheduledProcedureStepDescription", ""))
        series.OperatorsName = "TECH"
        series.ReferencedImageSequence = Sequence([_ref(dcmread(f, stop_before_pixels=True)) for f in files])
        series.ReferencedNonImageCompositeSOPInstanceSequence = Sequence()
        done.PerformedSeriesSequence = Sequence([series])
        assoc = self._mpps()
        try:
            status, _ = assoc.send_n_set(done, MPPS, mpps_uid)
            assert status is not None and status.Status == 0x0000, status
        finally:
            assoc.release()
        return files

    def _image(self, item: Dataset, path: Path, series_uid: str, number: int) -> Path:
        ds = Dataset()
        ds.SOPClassUID = DX
        ds.SOPInstanceUID = generate_uid()
        for kw in [*PATIENT_KEYWORDS, "StudyInstanceUID", "AccessionNumber", "BodyPartExamined"]:
            if kw in item:
                ds[kw] = item[kw]
        ds.SeriesInstanceUID = series_uid
        ds.Modality = self.modality
        ds.SeriesNumber = 1
        ds.InstanceNumber = number
        ds.StudyDate = ds.SeriesDate = datetime.now().strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = datetime.now().strftime("%H%M%S")
        ds.StudyDescription = str(item.get("RequestedProcedureDescription", ""))
        ds.StationName = self.ae_title
        request = Dataset()
        request.RequestedProcedureID = item.RequestedProcedureID
        request.ScheduledProcedureStepID = item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID
        ds.RequestAttributesSequence = Sequence([request])
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PixelSpacing = ds.ImagerPixelSpacing = [0.5, 0.5]
        size = 256
        y, x = np.mgrid[0:size, 0:size]
        body = ((x - size / 2) ** 2 / (0.4 * size) ** 2 + (y - size / 2) ** 2 / (0.3 * size) ** 2) < 1
        pixels = (400 + 2400 * body + 8 * x * number).astype(np.uint16)
        ds.Rows = ds.Columns = size
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelRepresentation = 0
        ds.WindowCenter = 2000
        ds.WindowWidth = 4000
        ds.PixelData = np.clip(pixels, 0, 4095).astype("<u2").tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = DX
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(path, enforce_file_format=True)
        return path


def _ref(ds: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    return ref


def stray_image(path: Path, *, patient_id: str, patient_name: str, accession: str = "") -> Path:
    """A DX image from a unit that did not use the worklist (typed-in patient): no order matches it."""
    item = Dataset()
    item.PatientID = patient_id
    item.PatientName = patient_name
    item.StudyInstanceUID = generate_uid()
    item.AccessionNumber = accession
    item.RequestedProcedureID = ""
    step = Dataset()
    step.ScheduledProcedureStepID = ""
    item.ScheduledProcedureStepSequence = Sequence([step])
    unit = XrayUnit.__new__(XrayUnit)
    unit.ae_title = "PORTABLEDX"
    unit.modality = "DX"
    written = unit._image(item, path, generate_uid(), 1)
    ds = dcmread(written)
    del ds.RequestAttributesSequence
    ds.save_as(written, enforce_file_format=True)
    return written


def send(server: LiveServer, files: list[Path], ae_title: str = "PORTABLEDX") -> None:
    """``storescu`` the files to the server."""
    proc = _run(
        "storescu", "-aet", ae_title, "-aec", server.ae_title, HOST, str(server.dicom_port), *map(str, files)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
