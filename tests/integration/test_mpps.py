"""MPPS SCP (PS3.4 F.7) against a live server with a pynetdicom MPPS SCU: N-CREATE, N-SET, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from dicom_support import AET, HOST, module_server, sql  # type: ignore[import-not-found]
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

MPPS = "1.2.840.10008.3.1.2.3.3"
DOG = "448771007"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("mpps")) as server:
        server.cli("catalog", "seed")
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


@pytest.fixture
def order(api: httpx.Client) -> dict[str, Any]:
    animal = api.post("/animals", json={"name": "Luna", "species_code": DOG})
    assert animal.status_code == 201, animal.text
    response = api.post("/orders", json={"animal_id": animal.json()["id"], "procedure_codes": ["DX-THX2"]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def assoc(srv: LiveServer) -> Iterator[Any]:
    ae = AE(ae_title="MPPSSCU")
    ae.add_requested_context(MPPS)
    association = ae.associate(HOST, srv.dicom_port, ae_title=AET)
    assert association.is_established
    yield association
    association.release()


def in_progress(accession: str, study_uid: str = "") -> Dataset:
    ds = Dataset()
    ref = Dataset()
    ref.AccessionNumber = accession
    ref.StudyInstanceUID = study_uid
    ref.RequestedProcedureID = ""
    ref.ScheduledProcedureStepID = ""
    ds.ScheduledStepAttributesSequence = Sequence([ref])
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = "MPPSSCU"
    ds.PerformedProcedureStepStartDate = datetime.now().strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = datetime.now().strftime("%H%M%S")
    ds.Modality = "DX"
    ds.PerformedSeriesSequence = Sequence([])
    return ds


def final(status: str, *series_uids: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = datetime.now().strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = datetime.now().strftime("%H%M%S")
    items = []
    for uid in series_uids:
        item = Dataset()
        item.SeriesInstanceUID = uid
        image = Dataset()
        image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
        image.ReferencedSOPInstanceUID = generate_uid()
        item.ReferencedImageSequence = Sequence([image])
        items.append(item)
    ds.PerformedSeriesSequence = Sequence(items)
    return ds


def test_in_progress_then_completed_moves_the_order(
    api: httpx.Client, assoc: Any, order: dict[str, Any], srv: LiveServer
) -> None:
    uid = generate_uid()
    status, _ = assoc.send_n_create(in_progress(order["accession_number"]), MPPS, uid)
    assert status.Status == 0x0000
    assert api.get(f"/orders/{order['id']}").json()["status"] == "in_progress"
    series = generate_uid()
    status, _ = assoc.send_n_set(final("COMPLETED", series), MPPS, uid)
    assert status.Status == 0x0000
    assert api.get(f"/orders/{order['id']}").json()["status"] == "completed"
    row = sql(
        srv,
        "SELECT status, order_id, performed_series_json FROM performed_steps WHERE sop_instance_uid = :u",
        u=uid,
    )
    assert row[0][0] == "COMPLETED" and row[0][1] == order["id"] and series in row[0][2]
    # nothing may change after COMPLETED
    status, _ = assoc.send_n_set(final("DISCONTINUED"), MPPS, uid)
    assert status.Status == 0x0110
    assert "COMPLETED" in str(status.get("ErrorComment", ""))
    events = {
        r[0] for r in sql(srv, "SELECT type FROM outbox_events WHERE aggregate_id = :o", o=str(order["id"]))
    }
    assert {"mpps.created", "mpps.completed", "order.status_changed"} <= events
    actions = {r[0] for r in sql(srv, "SELECT action FROM audit_log WHERE object_id = :u", u=uid)}
    assert actions == {"mpps.created", "mpps.completed"}


def test_discontinued(api: httpx.Client, assoc: Any, order: dict[str, Any]) -> None:
    uid = generate_uid()
    assert assoc.send_n_create(in_progress("", order["study_instance_uid"]), MPPS, uid)[0].Status == 0
    assert assoc.send_n_set(final("DISCONTINUED"), MPPS, uid)[0].Status == 0
    assert api.get(f"/orders/{order['id']}").json()["status"] == "discontinued"


def test_errors(assoc: Any, order: dict[str, Any], srv: LiveServer) -> None:
    # N-SET of an unknown instance: No such object instance
    status, _ = assoc.send_n_set(final("COMPLETED"), MPPS, generate_uid())
    assert status.Status == 0x0112
    # N-CREATE for a step nobody scheduled: refused, nothing written
    before = len(sql(srv, "SELECT id FROM performed_steps"))
    status, _ = assoc.send_n_create(in_progress("NOSUCH-ACC"), MPPS, generate_uid())
    assert status.Status == 0x0110
    assert len(sql(srv, "SELECT id FROM performed_steps")) == before
    # N-CREATE must start IN PROGRESS
    bad = in_progress(order["accession_number"])
    bad.PerformedProcedureStepStatus = "COMPLETED"
    status, _ = assoc.send_n_create(bad, MPPS, generate_uid())
    assert status.Status == 0x0106
    # the same instance twice: duplicate
    uid = generate_uid()
    assert assoc.send_n_create(in_progress(order["accession_number"]), MPPS, uid)[0].Status == 0
    assert assoc.send_n_create(in_progress(order["accession_number"]), MPPS, uid)[0].Status == 0x0111
