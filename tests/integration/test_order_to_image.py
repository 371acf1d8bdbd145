"""Order to image, end to end against a live ``vetpacs serve`` with real clients.

Owner, animal and order through the REST API -> ``findscu -W`` returns the step with the veterinary
attributes -> pynetdicom MPPS IN PROGRESS / COMPLETED -> ``storescu`` sends images stamped from
the worklist answer -> the study is linked with no human step and the order is images_received.
An image with no order lands in the reconciliation queue; a person's link (REST) fixes what C-FIND
and WADO-RS answer while the stored bytes stay as received.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import AET, HOST, created, dataset_part, dcmtk, findscu, module_server, sql, stored_bytes  # type: ignore[import-not-found]
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from conftest import LiveServer  # type: ignore[import-not-found]
from modality_sim import PATIENT_KEYWORDS  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

DOG = "448771007"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
MPPS = "1.2.840.10008.3.1.2.3.3"
STATION_AET = "E2EDX1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("order-to-image")) as server:
        server.cli("catalog", "seed")
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


def worklist(srv: LiveServer, out: Path, *keys: str) -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    args = ["-W", "-aet", STATION_AET, "-aec", AET, "-X", "-od", str(out)]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("findscu", *args, HOST, str(srv.dicom_port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


MWL_KEYS = [
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientWeight",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
    "PatientBreedDescription",
    "PatientSexNeutered",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "OtherPatientIDsSequence",
    "StudyInstanceUID",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "RequestedProcedureCodeSequence",
    "RequestedProcedurePriority",
    "ReasonForTheRequestedProcedure",
    "RequestingPhysician",
    "BodyPartExamined",
    f"ScheduledProcedureStepSequence[0].ScheduledStationAETitle={STATION_AET}",
    "ScheduledProcedureStepSequence[0].Modality=DX",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=" + datetime.now().strftime("%Y%m%d"),
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
    "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus",
    "ScheduledProcedureStepSequence[0].ScheduledStationName",
]


def image_file(path: Path, stamp: Dataset | None, *, study_uid: str, series_uid: str, **patient: str) -> Path:
    """A small DX image; patient and study attributes copied from a worklist answer (``stamp``)."""
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "DX"
    ds.StudyDate = datetime.now().strftime("%Y%m%d")
    ds.StudyTime = "101500"
    if stamp is not None:
        for kw in [*PATIENT_KEYWORDS, "AccessionNumber", "BodyPartExamined"]:
            if kw in stamp:
                ds[kw] = stamp[kw]
        request = Dataset()
        request.RequestedProcedureID = stamp.RequestedProcedureID
        request.ScheduledProcedureStepID = stamp.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID
        ds.RequestAttributesSequence = Sequence([request])
    for kw, value in patient.items():
        setattr(ds, kw, value)
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(16))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def storescu(srv: LiveServer, files: list[Path]) -> None:
    proc = dcmtk("storescu", "-aet", STATION_AET, "-aec", AET, HOST, str(srv.dicom_port), *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def mpps_client(srv: LiveServer) -> Any:
    ae = AE(ae_title=STATION_AET)
    ae.add_requested_context(MPPS)
    assoc = ae.associate(HOST, srv.dicom_port, ae_title=AET)
    assert assoc.is_established
    return assoc


def test_order_to_image_and_reconciliation(srv: LiveServer, api: httpx.Client, tmp_path: Path) -> None:
    # ---------------------------------------------------------------- register and order (REST)
    owner = created(api.post("/owners", json={"family_name": "Smith", "given_name": "Anna"}))
    animal = created(
        api.post(
            "/animals",
            json={
                "name": "Rex",
                "species_code": DOG,
                "sex": "M",
                "neuter_status": "ALTERED",
                "birth_date": "20180301",
                "weight_kg": 31.5,
                "microchip": "985112003456789",
                "responsible_organization": "Happy Paws Shelter",
                "owners": [{"owner_id": owner["id"]}],
            },
        )
    )
    station = created(
        api.post(
            "/stations",
            json={"name": "E2E DR", "ae_title": STATION_AET, "station_name": "E2E1", "modality": "DX"},
        )
    )
    start = datetime.now().replace(hour=10, minute=0, second=0, microsecond=0)
    order = created(
        api.post(
            "/orders",
            json={
                "animal_id": animal["id"],
                "procedure_codes": ["DX-THX2"],
                "requesting_vet": "Vet^Jane",
                "clinical_question": "Cough for two weeks",
                "priority": "URGENT",
                "schedule": {"station_id": station["id"], "start": start.isoformat()},
            },
        )
    )

    # ---------------------------------------------------------------- the modality asks (findscu -W)
    (answer,) = worklist(srv, tmp_path / "mwl", *MWL_KEYS)
    assert str(answer.PatientName) == "SMITH^Rex"
    assert answer.PatientID == animal["patient_id"]
    assert answer.AccessionNumber == order["accession_number"]
    assert answer.StudyInstanceUID == order["study_instance_uid"]
    assert answer.PatientSpeciesDescription
    assert answer.PatientSpeciesCodeSequence[0].CodeValue == DOG
    assert answer.PatientSexNeutered == "ALTERED"
    assert str(answer.ResponsiblePerson) == "SMITH^Anna"
    assert answer.ResponsiblePersonRole == "OWNER"
    assert answer.ResponsibleOrganization == "Happy Paws Shelter"
    assert float(answer.PatientWeight) == 31.5
    assert answer.PatientBirthDate == "20180301"
    assert answer.OtherPatientIDsSequence[0].PatientID == "985112003456789"
    assert answer.RequestedProcedureCodeSequence[0].CodeValue == "DX-THX2"
    assert answer.RequestedProcedurePriority == "HIGH"
    assert answer.ReasonForTheRequestedProcedure == "Cough for two weeks"
    assert answer.BodyPartExamined
    sps = answer.ScheduledProcedureStepSequence[0]
    assert sps.ScheduledStationAETitle == STATION_AET
    assert sps.ScheduledStationName == "E2E1"
    assert sps.ScheduledProcedureStepStartTime == "100000"
    assert sps.ScheduledProcedureStepStatus == "SCHEDULED"
    assert sps.ScheduledProtocolCodeSequence[0].CodeValue == "DX-THX2"

    # ---------------------------------------------------------------- MPPS IN PROGRESS, COMPLETED
    series_uid = generate_uid()
    mpps_uid = generate_uid()
    create = Dataset()
    ref = Dataset()
    ref.AccessionNumber = answer.AccessionNumber
    ref.StudyInstanceUID = answer.StudyInstanceUID
    ref.RequestedProcedureID = answer.RequestedProcedureID
    ref.ScheduledProcedureStepID = sps.ScheduledProcedureStepID
    create.ScheduledStepAttributesSequence = Sequence([ref])
    create.PatientName = answer.PatientName
    create.PatientID = answer.PatientID
    create.PerformedProcedureStepStatus = "IN PROGRESS"
    create.PerformedStationAETitle = STATION_AET
    create.PerformedProcedureStepStartDate = start.strftime("%Y%m%d")
    create.PerformedProcedureStepStartTime = "101000"
    create.Modality = "DX"
    create.PerformedSeriesSequence = Sequence([])
    assoc = mpps_client(srv)
    try:
        status, _ = assoc.send_n_create(create, MPPS, mpps_uid)
        assert status.Status == 0x0000
        assert api.get(f"/orders/{order['id']}").json()["status"] == "in_progress"
        done = Dataset()
        done.PerformedProcedureStepStatus = "COMPLETED"
        done.PerformedProcedureStepEndDate = start.strftime("%Y%m%d")
        done.PerformedProcedureStepEndTime = "102000"
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.SeriesDescription = "Thorax"
        series.PerformingPhysicianName = ""
        series.ProtocolName = "Thorax"
        series.OperatorsName = ""
        series.RetrieveAETitle = ""
        series.ReferencedImageSequence = Sequence([])
        done.PerformedSeriesSequence = Sequence([series])
        status, _ = assoc.send_n_set(done, MPPS, mpps_uid)
        assert status.Status == 0x0000
    finally:
        assoc.release()
    assert api.get(f"/orders/{order['id']}").json()["status"] == "completed"
    performed = sql(srv, "SELECT status, performed_series_json FROM performed_steps")
    assert performed[0][0] == "COMPLETED" and series_uid in performed[0][1]

    # ---------------------------------------------------------------- images stamped from the worklist
    files = [
        image_file(tmp_path / f"img{i}.dcm", answer, study_uid=answer.StudyInstanceUID, series_uid=series_uid)
        for i in range(3)
    ]
    storescu(srv, files)
    eventually(lambda: api.get(f"/orders/{order['id']}").json()["status"] == "images_received")
    assert sql(srv, "SELECT matched_by, linked_by FROM order_studies") == [("accession", "system")]
    assert api.get("/reconciliation").json() == []

    # ---------------------------------------------------------------- an image with no order
    stray_study = generate_uid()
    stray = image_file(
        tmp_path / "stray.dcm",
        None,
        study_uid=stray_study,
        series_uid=generate_uid(),
        PatientName="JONES^Bella",
        PatientID="WALKIN-7",
        PatientSpeciesDescription="Canine",
    )
    original = stray.read_bytes()
    storescu(srv, [stray])
    eventually(lambda: len(api.get("/reconciliation").json()) == 1)
    queue = api.get("/reconciliation").json()
    assert [(i["study_instance_uid"], i["reason"]) for i in queue] == [(stray_study, "no-order")]
    item = queue[0]
    assert item["patient_name"] == "JONES^Bella" and item["detail"]

    study_keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={stray_study}", "PatientName", "PatientID"]
    (before,) = findscu(srv, "-S", study_keys, tmp_path / "cfind-before")
    assert str(before.PatientName) == "JONES^Bella"

    # a person links it to Rex (REST, orders:write)
    linked = api.post(f"/reconciliation/{item['id']}/link", json={"animal_id": animal["id"]})
    assert linked.status_code == 200, linked.text
    assert linked.json()["status"] == "linked"
    assert api.get("/reconciliation").json() == []

    (after,) = findscu(srv, "-S", [*study_keys, "OtherPatientIDsSequence"], tmp_path / "cfind-after")
    assert str(after.PatientName) == "SMITH^Rex"
    assert after.PatientID == animal["patient_id"]
    assert after.OtherPatientIDsSequence[0].PatientID == "985112003456789"
    web = srv.http_url + "/dicom-web"
    with httpx.Client(headers=srv.auth_headers(), timeout=30) as http:
        meta = http.get(f"{web}/studies/{stray_study}/metadata").json()
        assert meta[0]["00100010"]["Value"][0]["Alphabetic"] == "SMITH^Rex"
        assert meta[0]["00100020"]["Value"] == [animal["patient_id"]]
        qido = http.get(f"{web}/studies", params={"StudyInstanceUID": stray_study}).json()
        assert qido[0]["00100010"]["Value"][0]["Alphabetic"] == "SMITH^Rex"
        # WADO-RS, as stored: the corrected header with the stored pixel data
        response = http.get(
            f"{web}/studies/{stray_study}",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        )
        assert response.status_code == 200
        served = dcmread(BytesIO(_parts(response)[0]))
        assert str(served.PatientName) == "SMITH^Rex"
        assert served.PixelData == bytes(range(16))
    # C-GET sends the corrected header with the stored pixel data
    got_dir = tmp_path / "cget"
    got_dir.mkdir()
    proc = dcmtk(
        "getscu", "-S", "-aet", STATION_AET, "-aec", AET, "-od", str(got_dir),
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={stray_study}", HOST, str(srv.dicom_port),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (fetched,) = [dcmread(p) for p in got_dir.iterdir()]
    assert str(fetched.PatientName) == "SMITH^Rex" and fetched.PixelData == bytes(range(16))
    # the archive keeps the data set exactly as received (file meta is the archive's own)
    kept = stored_bytes(srv, dcmread(BytesIO(original)).SOPInstanceUID)
    assert dataset_part(kept) == dataset_part(original)
    assert b"JONES^Bella" in kept
    audit = sql(
        srv,
        "SELECT action, actor FROM audit_log WHERE action IN ('study.corrected', 'reconciliation.linked')",
    )
    assert {a for a, _ in audit} == {"study.corrected", "reconciliation.linked"}
    events = [r[0] for r in sql(srv, "SELECT type FROM outbox_events WHERE type LIKE 'study.%' ORDER BY id")]
    assert events.count("study.received") == 2  # each study once, when its first series was stored
    events = [e for e in events if e != "study.received"]
    assert events[:2] == ["study.linked", "study.unmatched"] and "study.corrected" in events
    assert json.loads(sql(srv, "SELECT candidates_json FROM reconciliation_items")[0][0]) is not None


def eventually(check: Any, timeout: float = 10) -> None:
    """Linking runs on a background thread after the C-STORE answer: wait for it."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _parts(response: httpx.Response) -> list[bytes]:
    raw = b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    return [part.get_payload(decode=True) for part in message.iter_parts()]  # type: ignore[attr-defined,misc]
