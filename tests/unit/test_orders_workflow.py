"""Worklist, MPPS, linking on ingest, corrections and reconciliation on a real index (in process)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from sqlalchemy import text

from measurement_images import tiny_image  # type: ignore[import-not-found]
from vetpacs.archive import retrieve
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.corrections import correct_study
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.query import Level, Query, run_query
from vetpacs.auth.roles import SYSTEM
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders import mpps, reconciliation, worklist
from vetpacs.orders.catalog import create_procedure, create_station
from vetpacs.orders.linking import LINKER
from vetpacs.orders.schemas import OrderCreate, ProcedureCreate, ScheduleRequest, StationCreate
from vetpacs.orders.service import create_order, get_order
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink, SpeciesCreate
from vetpacs.patients.service import create_animal, create_owner, dicom_patient_attributes
from vetpacs.patients.vocabulary import add_species, list_species

SC = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
ORIGIN = Origin(OriginKind.DICOM, ae_title="DX1", address="127.0.0.1:1")


def dog_code(archive: Archive) -> str:
    for s in list_species(archive):
        if s.code == "448771007":
            return s.code
    add_species(
        archive,
        SpeciesCreate(
            code="448771007",
            coding_scheme="SCT",
            name="Canine",
            common_name="dog",
            latin_name="Canis lupus familiaris",
        ),
        actor=SYSTEM,
    )
    return "448771007"


@pytest.fixture
def world(archive: Archive) -> dict[str, Any]:
    """One owner, one dog, one station, one procedure and one order scheduled today at 10:00."""
    code = dog_code(archive)
    owner = create_owner(archive, OwnerCreate(family_name="Smith", given_name="Anna"), actor=SYSTEM)
    animal = create_animal(
        archive,
        AnimalCreate(
            name="Rex",
            species_code=code,
            sex="M",
            neuter_status="ALTERED",
            birth_date="20180301",
            weight_kg=31.5,
            microchip="985112003456789",
            owners=[OwnerLink(owner_id=owner.id)],
        ),
        actor=SYSTEM,
    )
    station = create_station(
        archive,
        StationCreate(name="DR room", ae_title="DXROOM1", station_name="DX1", modality="DX"),
        actor=SYSTEM,
    )
    create_procedure(
        archive,
        ProcedureCreate(code="THX2", name="Thorax two views", modality="DX", body_region="CHEST"),
        actor=SYSTEM,
    )
    start = datetime.now().replace(hour=10, minute=0, second=0, microsecond=0)
    order = create_order(
        archive,
        OrderCreate(
            animal_id=animal.id,
            procedure_codes=["THX2"],
            requesting_vet="Vet^Jane",
            clinical_question="cough for two weeks",
            schedule=ScheduleRequest(station_id=station.id, start=start),
        ),
        actor=SYSTEM,
    )
    return {"owner": owner, "animal": animal, "station": station, "order": order, "start": start}


def mwl_query(**sps: str) -> Dataset:
    q = Dataset()
    for kw in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientSpeciesDescription",
        "PatientBreedDescription",
        "PatientSexNeutered",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
        "ResponsibleOrganization",
        "PatientWeight",
        "AccessionNumber",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "RequestedProcedureDescription",
        "RequestedProcedurePriority",
        "ReasonForTheRequestedProcedure",
        "RequestingPhysician",
    ):
        setattr(q, kw, "")
    for kw in ("PatientSpeciesCodeSequence", "OtherPatientIDsSequence", "RequestedProcedureCodeSequence"):
        setattr(q, kw, Sequence([]))
    item = Dataset()
    for kw in (
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledProcedureStepID",
        "ScheduledProcedureStepStatus",
        "ScheduledStationName",
    ):
        setattr(item, kw, sps.get(kw, ""))
    item.ScheduledProtocolCodeSequence = Sequence([])
    q.ScheduledProcedureStepSequence = Sequence([item])
    return q


def test_worklist_answers_with_the_veterinary_identity(archive: Archive, world: dict[str, Any]) -> None:
    today = world["start"].strftime("%Y%m%d")
    answers = list(
        worklist.find_worklist(
            archive.engine,
            mwl_query(ScheduledStationAETitle="DXROOM1", ScheduledProcedureStepStartDate=today),
        )
    )
    assert len(answers) == 1
    ds = answers[0]
    assert str(ds.PatientName) == "SMITH^Rex"
    assert ds.AccessionNumber == world["order"].accession_number
    assert ds.PatientSpeciesCodeSequence[0].CodeValue == "448771007"
    assert ds.ResponsiblePersonRole == "OWNER"
    assert ds.OtherPatientIDsSequence[0].PatientID == "985112003456789"
    assert ds.RequestedProcedureCodeSequence[0].CodeValue == "THX2"
    sps = ds.ScheduledProcedureStepSequence[0]
    assert sps.ScheduledStationAETitle == "DXROOM1"
    assert sps.ScheduledProcedureStepStartTime == "100000"
    assert sps.ScheduledProcedureStepStatus == "SCHEDULED"
    # the patient part is the patients service's identity of the animal
    with archive.engine.connect() as conn:
        ident = dicom_patient_attributes(conn, world["animal"].id)
    for kw in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientSexNeutered",
        "PatientWeight",
        "PatientSpeciesDescription",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
    ):
        assert str(ds[kw].value) == str(ident[kw].value), kw
    assert ds.PatientSpeciesCodeSequence[0].CodeMeaning == ident.PatientSpeciesCodeSequence[0].CodeMeaning


def test_worklist_filters(archive: Archive, world: dict[str, Any]) -> None:
    day = world["start"].strftime("%Y%m%d")
    tomorrow = (world["start"] + timedelta(days=1)).strftime("%Y%m%d")

    def n(**sps: str) -> int:
        return len(list(worklist.find_worklist(archive.engine, mwl_query(**sps))))

    assert n(ScheduledStationAETitle="OTHER") == 0
    assert n(Modality="US") == 0
    assert n(ScheduledProcedureStepStartDate=tomorrow) == 0
    assert n(ScheduledProcedureStepStartDate=f"{day}-{tomorrow}") == 1
    assert n(ScheduledProcedureStepStartDate=day, ScheduledProcedureStepStartTime="0900-0959") == 0
    assert n(ScheduledProcedureStepStartDate=day, ScheduledProcedureStepStartTime="0900-1000") == 1
    assert n(ScheduledProcedureStepStartTime="1000-") == 1
    q = mwl_query()
    q.PatientName = "smith^*"
    assert len(list(worklist.find_worklist(archive.engine, q))) == 0
    assert len(list(worklist.find_worklist(archive.engine, q, case_insensitive=True))) == 1
    for bad in ("2025-01-01", "20251301", "20250102-20250101"):
        with pytest.raises(Invalid):
            list(worklist.find_worklist(archive.engine, mwl_query(ScheduledProcedureStepStartDate=bad)))


def image(
    study_uid: str, *, accession: str = "", name: str = "SMITH^Rex", pid: str = "", species: str = "Canine"
) -> bytes:
    return tiny_image(
        SC,
        StudyInstanceUID=study_uid,
        PatientName=name,
        PatientID=pid,
        PatientSpeciesDescription=species,
        AccessionNumber=accession,
        StudyDate=datetime.now().strftime("%Y%m%d"),
    )


def store(archive: Archive, data: bytes) -> None:
    """Store an instance and wait for the background linker."""
    store_instance(archive, data, origin=ORIGIN)
    assert LINKER.flush()


def test_mpps_then_images_link_themselves(archive: Archive, world: dict[str, Any]) -> None:
    order = world["order"]
    attrs = Dataset()
    attrs.PerformedProcedureStepStatus = "IN PROGRESS"
    ref = Dataset()
    ref.AccessionNumber = order.accession_number
    ref.StudyInstanceUID = order.study_instance_uid
    attrs.ScheduledStepAttributesSequence = Sequence([ref])
    uid = generate_uid()
    mpps.create_mpps(archive, uid, attrs, actor=SYSTEM)
    assert get_order(archive, order.id).status == "in_progress"
    with pytest.raises(Conflict):
        mpps.create_mpps(archive, uid, attrs, actor=SYSTEM)
    done = Dataset()
    done.PerformedProcedureStepStatus = "COMPLETED"
    series = Dataset()
    series.SeriesInstanceUID = generate_uid()
    series.ReferencedImageSequence = Sequence([])
    done.PerformedSeriesSequence = Sequence([series])
    assert mpps.set_mpps(archive, uid, done, actor=SYSTEM) == "COMPLETED"
    assert get_order(archive, order.id).status == "completed"
    assert (
        mpps.get_mpps(archive, uid)["performed_series"][0]["series_instance_uid"] == series.SeriesInstanceUID
    )
    with pytest.raises(Conflict):
        mpps.set_mpps(archive, uid, done, actor=SYSTEM)
    with pytest.raises(NotFound):
        mpps.set_mpps(archive, generate_uid(), done, actor=SYSTEM)
    unknown = Dataset()
    unknown.PerformedProcedureStepStatus = "IN PROGRESS"
    bad_ref = Dataset()
    bad_ref.AccessionNumber = "NOSUCH"
    unknown.ScheduledStepAttributesSequence = Sequence([bad_ref])
    with pytest.raises(NotFound):
        mpps.create_mpps(archive, generate_uid(), unknown, actor=SYSTEM)

    store(
        archive,
        image(order.study_instance_uid, accession=order.accession_number, pid=world["animal"].patient_id),
    )
    assert get_order(archive, order.id).status == "images_received"
    with archive.engine.connect() as conn:
        links = conn.execute(text("SELECT matched_by FROM order_studies")).all()
        events = [
            r[0] for r in conn.execute(text("SELECT type FROM outbox_events WHERE type LIKE 'study.%'"))
        ]
    assert links == [("accession",)]
    assert sorted(events) == ["study.linked", "study.received"]


def test_unmatched_and_conflicting_studies_are_queued_and_a_link_corrects_them(
    archive: Archive, world: dict[str, Any]
) -> None:
    order = world["order"]
    stray = generate_uid()
    store(archive, image(stray, name="JONES^Bella", pid="X1", species="Feline"))
    # same accession, other species: conflict
    clash = generate_uid()
    store(archive, image(clash, accession=order.accession_number, species="Feline"))
    items = {i.study_instance_uid: i for i in reconciliation.list_items(archive)}
    assert items[stray].reason == "no-order"
    assert items[clash].reason == "species-mismatch"
    assert items[clash].order_id == order.id
    assert items[clash].candidates[0].order_id == order.id  # same accession prefix, same day
    assert "scheduled the same day" in items[stray].candidates[0].why
    assert get_order(archive, order.id).status == "scheduled"

    item = items[stray]
    linked = reconciliation.link_study(archive, item.id, order_id=order.id, actor=SYSTEM)
    assert linked.status == "linked"
    assert get_order(archive, order.id).status == "images_received"
    q = Query(
        level=Level.STUDY,
        match={0x0020000D: stray},
        return_tags=[0x00100010, 0x00100020, 0x00102201, 0x00101002],
    )
    (answer,) = list(run_query(archive, q))
    assert str(answer.PatientName) == "SMITH^Rex"
    assert answer.PatientID == world["animal"].patient_id
    assert answer.OtherPatientIDsSequence[0].PatientID == "985112003456789"
    # the stored bytes are as received; what is sent is corrected
    (ref,) = retrieve.stored_instances(archive, study_uid=stray)
    assert b"JONES^Bella" in retrieve.read_bytes(archive, ref.ref)
    sent = dcmread(BytesIO(retrieve.read_served_bytes(archive, ref.ref)))
    assert str(sent.PatientName) == "SMITH^Rex"
    assert sent.PixelData == b"\x00\x01\x02\x03"
    with pytest.raises(Conflict):
        reconciliation.link_study(archive, item.id, order_id=order.id, actor=SYSTEM)
    # undo: back to the stored identity
    reconciliation.undo(archive, item.id, actor=SYSTEM)
    (answer,) = list(run_query(archive, q))
    assert str(answer.PatientName) == "JONES^Bella"
    (ref,) = retrieve.stored_instances(archive, study_uid=stray)
    assert ref.ref.overlay_json == ""
    rejected = reconciliation.reject_item(archive, item.id, actor=SYSTEM, reason="test image")
    assert rejected.status == "rejected"
    with archive.engine.connect() as conn:
        audit = {r[0] for r in conn.execute(text("SELECT action FROM audit_log"))}
    assert {
        "study.corrected",
        "reconciliation.linked",
        "reconciliation.undone",
        "reconciliation.rejected",
    } <= audit


def test_correct_study_refuses_other_attributes(archive: Archive, world: dict[str, Any]) -> None:
    uid = generate_uid()
    store(archive, image(uid))
    bad = Dataset()
    bad.StudyDescription = "nope"
    with pytest.raises(Invalid):
        correct_study(archive, uid, bad, actor=SYSTEM, reason="test")
    with pytest.raises(NotFound):
        correct_study(archive, generate_uid(), Dataset(), actor=SYSTEM, reason="test")
    good = Dataset()
    good.PatientName = "BROWN^Max"
    good.PatientID = "P-NEW"
    correct_study(archive, uid, good, actor=SYSTEM, reason="typo")
    with archive.engine.connect() as conn:
        row = conn.execute(
            text("SELECT patient_id, overlay_json FROM studies WHERE study_instance_uid = :u"), {"u": uid}
        ).one()
        pats = {r[0] for r in conn.execute(text("SELECT patient_id FROM patients"))}
    assert row[0] == "P-NEW"
    assert json.loads(row[1])["00100010"]["Value"][0]["Alphabetic"] == "BROWN^Max"
    assert "P-NEW" in pats
