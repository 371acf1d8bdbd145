"""HL7 v2 over MLLP against a live ``vetpacs serve``: real messages sent with ``mllp_send`` (python-hl7).

ADT and ORM for a dog -> the step is in ``findscu -W`` with species and breed; ADT^A40 moves a
stored study to the surviving animal (C-FIND shows it under the survivor); garbage bytes, a
truncated frame and an oversize message get logged (or an AR) and the listener keeps serving.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from dicom_support import (  # type: ignore[import-not-found]
    AET,
    HOST,
    dataset_part,
    dcmtk,
    findscu,
    module_server,
    stored_bytes,
)
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import LiveServer, free_port, require_tool  # type: ignore[import-not-found]
from vetpacs.integration.hl7.mllp import frame, read_frame

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]

DATA = Path(__file__).parent.parent / "data" / "hl7"
MLLP_SEND = str(Path(sys.executable).parent / "mllp_send")
DOG = "448771007"
DX = "1.2.840.10008.5.1.4.1.1.1.1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = free_port()
    with module_server(
        tmp_path_factory.mktemp("hl7"), VETPACS_HL7_PORT=str(port), VETPACS_HL7_MAX_MESSAGE_BYTES="100000"
    ) as server:
        server.cli("catalog", "seed")
        server.hl7_port = port  # type: ignore[attr-defined]
        yield server


def hl7_port(srv: LiveServer) -> int:
    return int(srv.hl7_port)  # type: ignore[attr-defined]


def mllp_send(srv: LiveServer, path: Path) -> str:
    """Send a message file with python-hl7's ``mllp_send --loose``; its stdout (the ACKs)."""
    proc = subprocess.run(
        [MLLP_SEND, "--loose", "-p", str(hl7_port(srv)), "-f", str(path), HOST],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_orm_for_a_dog_appears_in_the_worklist(srv: LiveServer, tmp_path: Path) -> None:
    out = mllp_send(srv, DATA / "adt_a04_dog.hl7")
    assert "MSA|AA|ADT0001" in out
    out = mllp_send(srv, DATA / "orm_o01_dog.hl7")
    assert "MSA|AA|ORM0001" in out
    assert mllp_send(srv, DATA / "orm_o01_dog.hl7") == out  # a repeat: the stored ACK, nothing applied twice

    out_dir = tmp_path / "mwl"
    out_dir.mkdir()
    keys = [
        "AccessionNumber=H7ACC1",
        "PatientName",
        "PatientID",
        "PatientSpeciesDescription",
        "PatientSpeciesCodeSequence",
        "PatientBreedDescription",
        "PatientBreedCodeSequence",
        "PatientSexNeutered",
        "ResponsiblePerson",
        "PatientWeight",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "ScheduledProcedureStepSequence[0].Modality",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    ]
    args = ["-W", "-aet", "HL7TEST", "-aec", AET, "-X", "-od", str(out_dir)]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("findscu", *args, HOST, str(srv.dicom_port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (answer,) = [dcmread(p) for p in sorted(out_dir.glob("rsp*.dcm"))]
    assert answer.PatientID == "PMS4711"
    assert str(answer.PatientName) == "SMITH^Rex"
    assert answer.PatientSpeciesCodeSequence[0].CodeValue == DOG
    assert answer.PatientSpeciesDescription
    assert "Labrador" in str(answer.PatientBreedDescription)
    assert answer.PatientSexNeutered == "ALTERED"
    assert str(answer.ResponsiblePerson) == "SMITH^Anna"
    assert float(answer.PatientWeight) == 31.5
    assert answer.StudyInstanceUID == "1.2.826.0.1.3680043.10.543.4711"
    assert answer.RequestedProcedureID == "RP4711"
    step = answer.ScheduledProcedureStepSequence[0]
    assert step.Modality == "DX" and step.ScheduledProcedureStepID == "SPS4711"

    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        page = api.get("/hl7/messages", params={"type": "ORM", "accession": "H7ACC1"}).json()
        assert page["total"] == 1
        (item,) = page["items"]
        assert item["status"] == "applied" and item["ack_code"] == "AA" and item["patient_id"] == "PMS4711"
        detail = api.get(f"/hl7/messages/{item['id']}").json()
        assert detail["raw"].startswith("MSH|^~\\&|PMS|CLINIC") and "MSA|AA|ORM0001" in detail["ack_raw"]
        assert api.get("/hl7/messages/999999").status_code == 404
    assert httpx.get(srv.http_url + "/api/v1/hl7/messages", timeout=30).status_code == 401


def dx_file(path: Path, *, patient_id: str, study_uid: str) -> Path:
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientID = patient_id
    ds.PatientName = "SMITH^Rexx"
    ds.StudyDate = datetime.now().strftime("%Y%m%d")
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


def test_a40_moves_studies_to_the_survivor(srv: LiveServer, tmp_path: Path) -> None:
    mllp_send(srv, DATA / "adt_a04_dog.hl7")  # the survivor PMS4711 (a repeat when run after the ORM test)
    dup = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300102113000||ADT^A04^ADT_A01|ADT0099|P|2.5.1\n"
        "PID|1||PMS9999^^^PMS^PI||SMITH^Rexx||20190304|M\n"
    )
    assert "MSA|AA|ADT0099" in mllp_send(srv, write(tmp_path, "dup.hl7", dup))
    study_uid = generate_uid()
    image = dx_file(tmp_path / "dx.dcm", patient_id="PMS9999", study_uid=study_uid)
    proc = dcmtk("storescu", "-aet", "HL7TEST", "-aec", AET, HOST, str(srv.dicom_port), str(image))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid}", "PatientID", "PatientName"]
    (before,) = findscu(srv, "-S", keys, tmp_path / "before")
    assert before.PatientID == "PMS9999"

    out = mllp_send(srv, DATA / "adt_a40_merge.hl7")
    assert "MSA|AA|ADT0040" in out
    (after,) = findscu(srv, "-S", keys, tmp_path / "after")
    assert after.PatientID == "PMS4711"
    assert str(after.PatientName) == "SMITH^Rex"


def test_a47_changes_the_patient_id_of_stored_studies(srv: LiveServer, tmp_path: Path) -> None:
    reg = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300102140000||ADT^A04^ADT_A01|ADT4701|P|2.5.1\n"
        "PID|1||PMS4701^^^PMS^PI||JONES^Bella||20200101|F^Y\n"
    )
    assert "MSA|AA|ADT4701" in mllp_send(srv, write(tmp_path, "reg.hl7", reg))
    study_uid = generate_uid()
    image = dx_file(tmp_path / "dx.dcm", patient_id="PMS4701", study_uid=study_uid)
    proc = dcmtk("storescu", "-aet", "HL7TEST", "-aec", AET, HOST, str(srv.dicom_port), str(image))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid}", "PatientID", "PatientName"]
    (before,) = findscu(srv, "-S", keys, tmp_path / "before")
    assert before.PatientID == "PMS4701"

    change = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300102141000||ADT^A47^ADT_A30|ADT4702|P|2.5.1\n"
        "EVN|A47|20300102141000\n"
        "PID|1||PMS4799^^^PMS^PI||JONES^Bella\n"
        "MRG|PMS4701^^^PMS^PI\n"
    )
    out = mllp_send(srv, write(tmp_path, "a47.hl7", change))
    assert "MSA|AA|ADT4702" in out and "1 stud(ies) corrected" in out

    (after,) = findscu(srv, "-S", keys, tmp_path / "after")
    assert after.PatientID == "PMS4799"
    assert str(after.PatientName) == "JONES^Bella"
    by_patient = ["QueryRetrieveLevel=PATIENT", "PatientID=PMS4701", "PatientName"]
    assert findscu(srv, "-P", by_patient, tmp_path / "old") == []  # nothing answers the old id any more
    with httpx.Client(base_url=srv.http_url + "/dicom-web", headers=srv.auth_headers(), timeout=30) as web:
        found = web.get("/studies", params={"PatientID": "PMS4799", "StudyInstanceUID": study_uid})
        assert found.status_code == 200 and found.json()[0]["00100020"]["Value"] == ["PMS4799"]
        old = web.get("/studies", params={"PatientID": "PMS4701"})
        assert old.status_code == 204 or old.json() == []
        meta = web.get(f"/studies/{study_uid}/metadata").json()
        assert meta[0]["00100020"]["Value"] == ["PMS4799"]
        served = web.get(
            f"/studies/{study_uid}", headers={"Accept": 'multipart/related; type="application/dicom"'}
        )
        assert served.status_code == 200 and b"PMS4799" in served.content and b"PMS4701" not in served.content
    # the archive keeps the data set exactly as received
    kept = stored_bytes(srv, dcmread(image).SOPInstanceUID)
    assert dataset_part(kept) == dataset_part(image.read_bytes())
    assert dcmread(BytesIO(kept)).PatientID == "PMS4701"

    # the new id already belongs to another animal: AE, and the studies keep answering PMS4799
    taken = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300102142000||ADT^A47^ADT_A30|ADT4703|P|2.5.1\n"
        "PID|1||PMS4711^^^PMS^PI\n"
        "MRG|PMS4799^^^PMS^PI\n"
    )
    mllp_send(srv, DATA / "adt_a04_dog.hl7")  # PMS4711 exists
    out = mllp_send(srv, write(tmp_path, "taken.hl7", taken))
    assert "MSA|AE|ADT4703" in out and "already used" in out
    (still,) = findscu(srv, "-S", keys, tmp_path / "still")
    assert still.PatientID == "PMS4799"


def test_images_sent_under_the_old_id_after_a47_follow_the_animal(srv: LiveServer, tmp_path: Path) -> None:
    """A modality that fetched its worklist before an ADT^A47 still sends the old Patient ID: the
    study links to its order and is filed under the animal's new identity, not queued as a mismatch."""
    messages = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300103090000||ADT^A04^ADT_A01|ADT4801|P|2.5.1\n"
        "PID|1||PMS4801^^^PMS^PI||JONES^Luna||20210101|F^Y\n",
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300103090100||ORM^O01|ORM4801|P|2.3.1\n"
        "PID|1||PMS4801^^^PMS^PI||JONES^Luna\n"
        "ORC|NW|PL4801\n"
        "OBR|1|PL4801||DX-THX2^Thorax, 2 views^99VETPACS||||||||||||VET^Sarah"
        "||H7ACC48|RP4801|SPS4801||||DX\n",
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300103090200||ADT^A47^ADT_A30|ADT4802|P|2.5.1\n"
        "EVN|A47|20300103090200\n"
        "PID|1||PMS4899^^^PMS^PI||JONES^Luna\n"
        "MRG|PMS4801^^^PMS^PI\n",
    )
    for i, text in enumerate(messages):
        out = mllp_send(srv, write(tmp_path, f"m{i}.hl7", text))
        assert "MSA|AA|" in out, out
    study_uid = generate_uid()
    image = dx_file(tmp_path / "late.dcm", patient_id="PMS4801", study_uid=study_uid)
    ds = dcmread(image)
    ds.PatientName = "JONES^Luna"
    ds.AccessionNumber = "H7ACC48"
    ds.save_as(image, enforce_file_format=True)
    proc = dcmtk("storescu", "-aet", "HL7TEST", "-aec", AET, HOST, str(srv.dicom_port), str(image))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    with httpx.Client(base_url=srv.http_url, headers=srv.auth_headers(), timeout=30) as api:
        deadline = time.monotonic() + 20
        while True:
            (order,) = api.get("/api/v1/orders", params={"accession_number": "H7ACC48"}).json()["items"]
            if order["status"] == "images_received" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert order["status"] == "images_received"
        queued = api.get("/api/v1/reconciliation", params={"status": "open"}).json()
        assert study_uid not in [item["study_instance_uid"] for item in queued]
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid}", "PatientID", "PatientName"]
    (found,) = findscu(srv, "-S", keys, tmp_path / "late")
    assert found.PatientID == "PMS4899"
    assert str(found.PatientName) == "JONES^Luna"
    assert dcmread(BytesIO(stored_bytes(srv, ds.SOPInstanceUID))).PatientID == "PMS4801"  # kept as received


def test_bad_input_does_not_stop_the_listener(srv: LiveServer, tmp_path: Path) -> None:
    port = hl7_port(srv)
    # garbage outside any frame, then a frame cut short by closing the connection
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n\x00\xff garbage")
        s.sendall(b"\x0bMSH|^~\\&|PMS|CLINIC|VETPACS|VP|2030||ADT^A04|TRUNC1|P|2.5.1\rPID|1||P")
    # a complete frame of non-HL7 bytes: AR
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(frame(b"\x00\x01 this is not HL7"))
        ack = read_frame(s).decode()
        assert "MSA|AR|" in ack and "ERR|" in ack
        # wrong encoding characters on the same connection: AR, and the connection still serves
        s.sendall(frame(b"MSH|^^^^|PMS|CLINIC|VETPACS|VP|2030||ADT^A04|ENC1|P|2.5.1\rPID|1||P1||A^B"))
        ack = read_frame(s).decode()
        assert "MSA|AR|ENC1" in ack and "MSH^1^2" in ack
    # an unknown message type: AR naming MSH-9
    unknown = "MSH|^~\\&|PMS|CLINIC|VETPACS|VP|2030||ZZZ^Z01|UNK1|P|2.5.1\n"
    out = mllp_send(srv, write(tmp_path, "unknown.hl7", unknown))
    assert "MSA|AR|UNK1" in out and "MSH^1^9" in out
    # an oversize message (limit 100000 bytes here): AR, connection closed
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(
            b"\x0bMSH|^~\\&|PMS|CLINIC|VETPACS|VP|2030||ADT^A04|BIG1|P|2.5.1\r" + b"NTE|1||" + b"x" * 150000
        )
        ack = read_frame(s).decode()
        assert "MSA|AR|BIG1" in ack
    # the listener still serves: a valid message is applied
    ok = (
        "MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20300102130000||ADT^A04|OK1|P|2.4\n"
        "PID|1||PMS5555^^^PMS^PI||DOE^Milo||20210101|F^N\n"
    )
    assert "MSA|AA|OK1" in mllp_send(srv, write(tmp_path, "ok.hl7", ok))
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        statuses = {i["status"] for i in api.get("/hl7/messages", params={"limit": 500}).json()["items"]}
        assert {"truncated", "rejected", "applied"} <= statuses


def test_mllp_over_tls(server_factory: object, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    plain, tls = free_port(), free_port()
    srv: LiveServer = server_factory(  # type: ignore[operator]
        VETPACS_TLS_CERT=str(cert),
        VETPACS_TLS_KEY=str(key),
        VETPACS_DICOM_TLS_PORT="0",
        VETPACS_HL7_PORT=str(plain),
        VETPACS_HL7_TLS_PORT=str(tls),
    )
    srv.start()
    message = b"MSH|^~\\&|PMS|CLINIC|VETPACS|VP|2030||ADT^A04|TLS1|P|2.5.1\rPID|1||PMS7000||DOE^Luna\r"
    context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection((HOST, tls), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        s.sendall(frame(message))
        assert "MSA|AA|TLS1" in read_frame(s).decode()
    with socket.create_connection((HOST, plain), timeout=10) as s:  # the plain port serves too
        s.sendall(frame(message))
        assert "MSA|AA|TLS1" in read_frame(s).decode()  # the same control id: the stored ACK
