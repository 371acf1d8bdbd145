"""Reconciliation against a live ``vetpacs serve``: create-and-link is one transaction, and a study
linked to another animal leaves the archive (C-MOVE, WADO-URI) with the corrected identity while the
stored bytes stay as received.

Real clients only: ``storescu``, ``findscu`` and ``movescu`` (DCMTK), a pynetdicom storage SCP as
the C-MOVE destination, httpx for the REST API, FHIR and WADO-URI.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import (  # type: ignore[import-not-found]
    AET,
    HOST,
    Receiver,
    created,
    dataset_part,
    dcmtk,
    findscu,
    module_server,
    sql,
    stored_bytes,
)
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

DOG = "448771007"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
SENDER = "RECONDX1"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Billing off: its worker posts charges (audit row, outbox event) at any moment after an order is
    # linked, and these tests count the rows a reconciliation writes.
    with module_server(
        tmp_path_factory.mktemp("reconciliation"), VETPACS_BILLING_AUTO_CHARGE="false"
    ) as server:
        server.cli("catalog", "seed")
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


def image(path: Path, *, study_uid: str, **attributes: Any) -> Path:
    """A small DX image with the given header attributes (a unit where the user typed the patient)."""
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.StudyDate = datetime.now().strftime("%Y%m%d")
    ds.StudyTime = "093000"
    for kw, value in attributes.items():
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


def storescu(srv: LiveServer, *files: Path) -> None:
    proc = dcmtk("storescu", "-aet", SENDER, "-aec", AET, HOST, str(srv.dicom_port), *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def queued_item(api: httpx.Client, study_uid: str, timeout: float = 15) -> dict[str, Any]:
    """The open reconciliation item of a study (linking runs on a background thread: wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        for item in api.get("/reconciliation").json():
            if item["study_instance_uid"] == study_uid:
                return dict(item)
        assert time.monotonic() < deadline, f"study {study_uid} never reached the reconciliation queue"
        time.sleep(0.05)


COUNTED = (
    "owners",
    "animals",
    "animal_owners",
    "orders",
    "scheduled_steps",
    "order_studies",
    "outbox_events",
)


def counts(srv: LiveServer) -> dict[str, int]:
    """Row counts of every table create-and-link writes to, with its audit rows and outbox events.

    Audit rows written in a change's own transaction only: the DICOM listener's association audit
    (``instances.stored``, ``dicom.searched``...) is buffered and may land at any time.
    """
    out = {t: int(sql(srv, f"SELECT COUNT(*) FROM {t}")[0][0]) for t in COUNTED}
    out["audit_log"] = int(sql(srv, "SELECT COUNT(*) FROM audit_log WHERE via <> 'dicom'")[0][0])
    return out


def problem(response: httpx.Response, status: int, contains: str) -> None:
    assert response.status_code == status, response.text
    assert contains in response.text, response.text


# --------------------------------------------------------------------------- create-and-link
def test_create_and_link_is_all_or_nothing(srv: LiveServer, api: httpx.Client, tmp_path: Path) -> None:
    study_uid = generate_uid()
    storescu(
        srv,
        image(
            tmp_path / "walkin.dcm",
            study_uid=study_uid,
            PatientName="Baker^Luna",
            PatientID="WALKIN-9",
            PatientSpeciesDescription="Feline",
            PatientSex="F",
            AccessionNumber="XW0001",
        ),
    )
    item = queued_item(api, study_uid)
    assert item["reason"] == "no-order"

    # an order elsewhere holds the accession number we will try to reuse
    owner = created(api.post("/owners", json={"family_name": "Other"}))
    other = created(api.post("/animals", json={"name": "Max", "owners": [{"owner_id": owner["id"]}]}))
    created(
        api.post(
            "/orders",
            json={"animal_id": other["id"], "procedure_codes": ["DX-ABD"], "accession_number": "TAKEN-1"},
        )
    )
    before = counts(srv)
    url = f"/reconciliation/{item['id']}/create-and-link"

    # 1. the order part fails (unknown procedure) after the owner and the animal would be written
    problem(api.post(url, json={"procedure_code": "NO-SUCH-CODE"}), 400, "NO-SUCH-CODE")
    assert counts(srv) == before
    # 2. the accession number is in use: refused by the order part, again nothing half-written
    problem(api.post(url, json={"procedure_code": "DX-THX2", "accession_number": "TAKEN-1"}), 409, "TAKEN-1")
    assert counts(srv) == before
    # 3. an accession number without an order to give it to
    problem(api.post(url, json={"accession_number": "XW0001"}), 400, "procedure code")
    assert counts(srv) == before
    still = api.get(f"/reconciliation/{item['id']}").json()
    assert still["status"] == "open" and still["order_id"] is None and still["animal_id"] is None
    assert api.get("/animals", params={"q": "Luna"}).json()["total"] == 0
    (cfind,) = findscu(
        srv, "-S", ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid}", "PatientName", "PatientID"],
        tmp_path / "cfind-before",
    )  # fmt: skip
    assert str(cfind.PatientName) == "Baker^Luna" and cfind.PatientID == "WALKIN-9"

    # 4. the real thing: the owner, the animal, the order (with the study's own accession) and the link
    done = api.post(url, json={"procedure_code": "DX-THX2", "accession_number": "XW0001"})
    assert done.status_code == 200, done.text
    linked = done.json()
    assert linked["status"] == "linked" and linked["order_id"] and linked["animal_id"]
    after = counts(srv)
    for table, more in (
        ("owners", 1),
        ("animals", 1),
        ("animal_owners", 1),
        ("orders", 1),
        ("order_studies", 1),
    ):
        assert after[table] == before[table] + more, table
    animal = api.get(f"/animals/{linked['animal_id']}").json()
    assert animal["name"] == "Luna" and animal["species_text"] == "Feline" and animal["sex"] == "F"
    assert [o["family_name"] for o in animal["owners"]] == ["Baker"]
    assert animal["patient_id"] != "WALKIN-9" and animal["issuer_of_patient_id"]
    order = api.get(f"/orders/{linked['order_id']}").json()
    assert order["animal_id"] == animal["id"] and order["accession_number"] == "XW0001"
    assert order["status"] == "images_received"
    assert sql(
        srv, "SELECT matched_by, linked_by FROM order_studies WHERE study_instance_uid = :u", u=study_uid
    ) == [("manual", "admin")]
    actions = {r[0] for r in sql(srv, "SELECT action FROM audit_log WHERE via <> 'dicom'")}
    assert {
        "owner.created",
        "animal.created",
        "order.created",
        "study.corrected",
        "reconciliation.linked",
    } <= actions

    # C-FIND now answers with the new identity
    (cfind,) = findscu(
        srv,
        "-S",
        [
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={study_uid}",
            "PatientName",
            "PatientID",
            "IssuerOfPatientID",
            "PatientSpeciesDescription",
            "AccessionNumber",
        ],
        tmp_path / "cfind-after",
    )
    assert str(cfind.PatientName) == "BAKER^Luna"
    assert cfind.PatientID == animal["patient_id"]
    assert cfind.IssuerOfPatientID == animal["issuer_of_patient_id"]
    assert cfind.PatientSpeciesDescription == "Feline"
    assert cfind.AccessionNumber == "XW0001"
    # and the item is closed: a second create-and-link is refused without writing
    again = counts(srv)
    problem(api.post(url, json={}), 409, "already linked")
    assert counts(srv) == again


def test_fhir_related_person_writes_nothing_when_refused(srv: LiveServer, api: httpx.Client) -> None:
    fhir = httpx.Client(
        base_url=srv.http_url + "/fhir", headers={**srv.auth_headers(), "Accept": FHIR_JSON}, timeout=30
    )
    with fhir:
        keep = created(api.post("/animals", json={"name": "Keeper", "species_code": DOG}))
        gone = created(api.post("/animals", json={"name": "Gone", "species_code": DOG}))
        assert api.post(f"/animals/{keep['id']}/merge", json={"merged_id": gone["id"]}).status_code == 200

        def person(animal_id: int, family: str, pms_id: str = "") -> dict[str, Any]:
            body: dict[str, Any] = {
                "resourceType": "RelatedPerson",
                "patient": {"reference": f"Patient/{animal_id}"},
                "name": [{"family": family}],
            }
            if pms_id:
                body["identifier"] = [{"system": "urn:vetpacs:pms:client", "value": pms_id}]
            return body

        before = counts(srv)
        problem(fhir.post("/RelatedPerson", json=person(gone["id"], "Late")), 409, "merged")
        problem(fhir.post("/RelatedPerson", json=person(999999, "Nobody")), 422, "RelatedPerson.patient")
        assert counts(srv) == before
        first = fhir.post("/RelatedPerson", json=person(keep["id"], "Holmes", "C-1"))
        assert first.status_code == 201, first.text
        assert counts(srv)["owners"] == before["owners"] + 1
        assert counts(srv)["animal_owners"] == before["animal_owners"] + 1
        # the same PMS client id again: refused by the owner part, no link either
        mid = counts(srv)
        problem(fhir.post("/RelatedPerson", json=person(keep["id"], "Holmes", "C-1")), 409, "C-1")
        assert counts(srv) == mid
        owners = api.get(f"/animals/{keep['id']}").json()["owners"]
        assert [(o["family_name"], o["is_primary"]) for o in owners] == [("Holmes", True)]


# --------------------------------------------------------------------------- corrected study, retrieved
def test_corrected_study_leaves_by_cmove_and_wado_uri_with_the_new_identity(
    srv: LiveServer, api: httpx.Client, tmp_path: Path
) -> None:
    owner = created(api.post("/owners", json={"family_name": "Fletcher", "given_name": "Jo"}))
    rex = created(
        api.post(
            "/animals",
            json={
                "name": "Rex",
                "species_code": DOG,
                "sex": "M",
                "neuter_status": "ALTERED",
                "birth_date": "20190405",
                "microchip": "985112000000042",
                "owners": [{"owner_id": owner["id"]}],
            },
        )
    )
    study_uid = generate_uid()
    files = [
        image(
            tmp_path / f"wrong{i}.dcm",
            study_uid=study_uid,
            PatientName="SMYTHE^Rexy",
            PatientID="TYPO-1",
            PatientSpeciesDescription="Canine",
            PatientSex="O",
            InstanceNumber=str(i + 1),
        )
        for i in range(2)
    ]
    originals = {dcmread(f).SOPInstanceUID: f.read_bytes() for f in files}
    series_uid = dcmread(files[0]).SeriesInstanceUID
    # both images in one series
    for f in files[1:]:
        ds = dcmread(f)
        ds.SeriesInstanceUID = series_uid
        ds.save_as(f, enforce_file_format=True)
        originals[ds.SOPInstanceUID] = f.read_bytes()
    storescu(srv, *files)
    item = queued_item(api, study_uid)
    linked = api.post(f"/reconciliation/{item['id']}/link", json={"animal_id": rex["id"]})
    assert linked.status_code == 200, linked.text
    identity = api.get(f"/animals/{rex['id']}").json()

    def assert_corrected(ds: Dataset) -> None:
        assert str(ds.PatientName) == "FLETCHER^Rex"
        assert ds.PatientID == identity["patient_id"] != "TYPO-1"
        assert ds.IssuerOfPatientID == identity["issuer_of_patient_id"]
        assert ds.PatientSex == "M" and ds.PatientSexNeutered == "ALTERED"
        assert ds.PatientBirthDate == "20190405"
        assert ds.PatientSpeciesCodeSequence[0].CodeValue == DOG
        assert ds.PatientSpeciesDescription == identity["species"]["name"]
        assert str(ds.ResponsiblePerson) == "FLETCHER^Jo" and ds.ResponsiblePersonRole == "OWNER"
        assert ds.OtherPatientIDsSequence[0].PatientID == "985112000000042"
        assert ds.PixelData == bytes(range(16))  # the stored pixel data
        assert ds.StudyInstanceUID == study_uid and ds.SeriesInstanceUID == series_uid

    # C-MOVE (movescu) to a pynetdicom storage SCP registered through the REST API
    with Receiver(ae_title="RECONDEST") as rcv:
        created(
            api.post(
                "/modalities",
                json={"name": "recon-dest", "ae_title": rcv.ae_title, "host": HOST, "port": rcv.port},
            )
        )
        proc = dcmtk(
            "movescu", "-v", "-S", "-aet", "MOVESCU", "-aec", AET, "-aem", rcv.ae_title,
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
            HOST, str(srv.dicom_port),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Received Final Move Response (Success)" in proc.stdout + proc.stderr
        rcv.wait_for(2)
        got = rcv.by_uid()
    assert set(got) == set(originals)
    for uid, received in got.items():
        served = dcmread(BytesIO(received.dataset_bytes), force=True)
        served.file_meta = FileMetaDataset()
        served.file_meta.TransferSyntaxUID = received.transfer_syntax
        assert_corrected(served)
        assert received.dataset_bytes != dataset_part(originals[uid])  # not the stored header

    # WADO-URI, application/dicom
    with httpx.Client(headers=srv.auth_headers(), timeout=30) as http:
        for uid in originals:
            response = http.get(
                srv.http_url + "/dicom-web/wado",
                params={
                    "requestType": "WADO",
                    "studyUID": study_uid,
                    "seriesUID": series_uid,
                    "objectUID": uid,
                    "contentType": "application/dicom",
                },
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("application/dicom")
            served = dcmread(BytesIO(response.content))
            assert_corrected(served)
            assert served.SOPInstanceUID == uid

    # the archive keeps every data set exactly as received
    for uid, original in originals.items():
        kept = stored_bytes(srv, uid)
        assert dataset_part(kept) == dataset_part(original)
        stored = dcmread(BytesIO(kept))
        assert str(stored.PatientName) == "SMYTHE^Rexy" and stored.PatientID == "TYPO-1"
        (checksum,) = sql(srv, "SELECT checksum FROM instances WHERE sop_instance_uid = :u", u=uid)[0]
        assert checksum == "sha256:" + hashlib.sha256(kept).hexdigest()
