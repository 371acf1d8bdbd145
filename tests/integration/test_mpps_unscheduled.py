"""Unscheduled MPPS (IHE RAD TF-2 4.7.4.1.2.2, "unscheduled case") against a live ``vetpacs serve``,
with pynetdicom as the modality: the user typed the patient in, so N-CREATE names no scheduled step.

Stored as an unscheduled performed step linked to no order, answered with Success; N-SET COMPLETED
and DISCONTINUED close it; no order moves. A reference that names a step, requested procedure or
accession nobody scheduled is still refused (0110, nothing written).
"""

from __future__ import annotations

import json
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
DX = "1.2.840.10008.5.1.4.1.1.1.1"
ABSENT, EMPTY, STUDY_ONLY, EMPTY_VALUES = "absent", "empty", "study-only", "empty-values"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("mpps-unscheduled")) as server:
        server.cli("catalog", "seed")
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def order(api: httpx.Client) -> dict[str, Any]:
    """An order that exists while the unscheduled procedures happen: it must not move."""
    animal = api.post("/animals", json={"name": "Waiting"})
    assert animal.status_code == 201, animal.text
    response = api.post("/orders", json={"animal_id": animal.json()["id"], "procedure_codes": ["DX-THX2"]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def assoc(srv: LiveServer) -> Iterator[Any]:
    ae = AE(ae_title="WALKINDX")
    ae.add_requested_context(MPPS)
    association = ae.associate(HOST, srv.dicom_port, ae_title=AET)
    assert association.is_established
    yield association
    association.release()


def unscheduled(form: str, study_uid: str) -> Dataset:
    """N-CREATE attributes of a procedure the user started by typing the patient in."""
    ds = Dataset()
    if form == EMPTY:
        ds.ScheduledStepAttributesSequence = Sequence([])
    elif form in (STUDY_ONLY, EMPTY_VALUES):
        ref = Dataset()
        ref.StudyInstanceUID = study_uid if form == STUDY_ONLY else ""
        ref.AccessionNumber = ""
        ref.RequestedProcedureID = ""
        ref.ScheduledProcedureStepID = ""
        ref.RequestedProcedureDescription = ""
        ref.ScheduledProcedureStepDescription = ""
        ref.ReferencedStudySequence = Sequence([])
        ds.ScheduledStepAttributesSequence = Sequence([ref])
    ds.PatientName = "WALKER^Biscuit"
    ds.PatientID = "TYPED-77"
    ds.PatientBirthDate = ""
    ds.PatientSex = "M"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepID = "PPS-" + form
    ds.PerformedStationAETitle = "WALKINDX"
    ds.PerformedProcedureStepStartDate = datetime.now().strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = datetime.now().strftime("%H%M%S")
    ds.PerformedProcedureStepDescription = "Thorax"
    ds.Modality = "DX"
    ds.StudyID = "1"
    ds.PerformedSeriesSequence = Sequence([])
    return ds


def ended(status: str, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = datetime.now().strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = datetime.now().strftime("%H%M%S")
    item = Dataset()
    item.SeriesInstanceUID = series_uid
    item.SeriesDescription = "Thorax LAT"
    item.PerformingPhysicianName = ""
    item.ProtocolName = "Thorax"
    item.OperatorsName = ""
    item.RetrieveAETitle = ""
    image = Dataset()
    image.ReferencedSOPClassUID = DX
    image.ReferencedSOPInstanceUID = generate_uid()
    item.ReferencedImageSequence = Sequence([image])
    ds.PerformedSeriesSequence = Sequence([item])
    return ds


def performed(srv: LiveServer, uid: str) -> tuple[Any, ...]:
    rows = sql(
        srv,
        "SELECT status, order_id, scheduled_step_id, station_ae_title, performed_series_json, ended_at "
        "FROM performed_steps WHERE sop_instance_uid = :u",
        u=uid,
    )
    assert len(rows) == 1, rows
    return rows[0]


FORMS = [
    (ABSENT, "COMPLETED"),
    (EMPTY, "DISCONTINUED"),
    (STUDY_ONLY, "COMPLETED"),
    (EMPTY_VALUES, "COMPLETED"),
]


@pytest.mark.parametrize(("form", "end"), FORMS)
def test_unscheduled_procedure_is_stored_and_closed(
    srv: LiveServer, api: httpx.Client, assoc: Any, order: dict[str, Any], form: str, end: str
) -> None:
    transitions = len(api.get(f"/orders/{order['id']}").json()["transitions"])
    uid, study_uid, series_uid = generate_uid(), generate_uid(), generate_uid()
    status, answer = assoc.send_n_create(unscheduled(form, study_uid), MPPS, uid)
    assert status.Status == 0x0000, status
    assert answer is not None and answer.PerformedProcedureStepStatus == "IN PROGRESS"
    state, order_id, step_id, station, series_json, ended_at = performed(srv, uid)
    assert (state, order_id, step_id, station) == ("IN PROGRESS", None, None, "WALKINDX")
    (payload,) = sql(
        srv, "SELECT payload_json FROM outbox_events WHERE type = 'mpps.created' AND aggregate_id = :u", u=uid
    )
    created = json.loads(payload[0])
    assert created["unscheduled"] is True and created["order_id"] is None
    assert created["patient_id"] == "TYPED-77" and created["patient_name"] == "WALKER^Biscuit"
    assert created["study_instance_uid"] == (study_uid if form == STUDY_ONLY else "")

    status, _ = assoc.send_n_set(ended(end, series_uid), MPPS, uid)
    assert status.Status == 0x0000, status
    state, order_id, step_id, _, series_json, ended_at = performed(srv, uid)
    assert (state, order_id, step_id) == (end, None, None)
    assert [s["series_instance_uid"] for s in json.loads(series_json)] == [series_uid] and ended_at
    (payload,) = sql(srv, "SELECT payload_json FROM outbox_events WHERE type = :t AND aggregate_id = :u",
                     t="mpps." + end.lower(), u=uid)  # fmt: skip
    assert json.loads(payload[0])["unscheduled"] is True
    # a closed step takes no further N-SET
    assert assoc.send_n_set(ended("COMPLETED", series_uid), MPPS, uid)[0].Status == 0x0110
    # no order moved
    after = api.get(f"/orders/{order['id']}").json()
    assert after["status"] == "ordered" and len(after["transitions"]) == transitions


def test_study_uid_of_an_order_still_links(
    srv: LiveServer, api: httpx.Client, assoc: Any, order: dict[str, Any]
) -> None:
    """With only a Study Instance UID that the worklist gave (an order's), the step is the order's."""
    uid = generate_uid()
    status, _ = assoc.send_n_create(unscheduled(STUDY_ONLY, order["study_instance_uid"]), MPPS, uid)
    assert status.Status == 0x0000
    state, order_id, step_id, *_ = performed(srv, uid)
    assert (state, order_id) == ("IN PROGRESS", order["id"]) and step_id == order["steps"][0]["id"]
    assert api.get(f"/orders/{order['id']}").json()["status"] == "in_progress"


def test_a_reference_to_nothing_scheduled_is_refused(srv: LiveServer, assoc: Any) -> None:
    before = sql(srv, "SELECT COUNT(*) FROM performed_steps")[0][0]
    for field, value in (("AccessionNumber", "NOBODY-1"), ("ScheduledProcedureStepID", "SPS999.1"),
                         ("RequestedProcedureID", "RP999.1")):  # fmt: skip
        ds = unscheduled(STUDY_ONLY, generate_uid())
        setattr(ds.ScheduledStepAttributesSequence[0], field, value)
        status, _ = assoc.send_n_create(ds, MPPS, generate_uid())
        assert status.Status == 0x0110, field
        assert value in status.ErrorComment
    assert sql(srv, "SELECT COUNT(*) FROM performed_steps")[0][0] == before
