"""Owners, animals, vocabulary, search, owner links, DICOM identity and merge on a real index."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from sqlalchemy import event, func, insert, select, text

from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import StoreStatus, store_instance
from vetpacs.archive.models import Study
from vetpacs.auth import SYSTEM
from vetpacs.auth.models import AuditEvent
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.events import OutboxEvent
from vetpacs.orders.models import Order, ReconciliationItem
from vetpacs.patients import service as svc
from vetpacs.patients import vocabulary as voc
from vetpacs.patients.demo import register_demo_patients
from vetpacs.patients.merge import merge_animals
from vetpacs.patients.schemas import (
    AnimalCreate,
    AnimalQuery,
    AnimalUpdate,
    BreedCreate,
    OwnerCreate,
    OwnerLink,
    OwnerUpdate,
    SpeciesCreate,
)

DOG, CAT, HORSE = "448771007", "448169003", "35354009"
LABRADOR = "62137007"
SAME = (
    "PatientName",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientSexNeutered",
    "PatientSpeciesDescription",
    "PatientBreedDescription",
    "ResponsiblePerson",
)


# --------------------------------------------------------------------------- helpers
def count(archive: Archive, model: Any, *where: Any) -> int:
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__).where(*where)).scalar_one())


def outbox(archive: Archive, event_type: str) -> list[dict[str, Any]]:
    table = OutboxEvent.__table__
    with archive.engine.connect() as conn:
        rows = conn.execute(select(table.c.payload_json).where(table.c.type == event_type)).all()
    return [json.loads(r.payload_json) for r in rows]


def audit_actions(archive: Archive) -> list[str]:
    table = AuditEvent.__table__
    with archive.engine.connect() as conn:
        return [r.action for r in conn.execute(select(table.c.action).order_by(table.c.id))]


def owner(archive: Archive, family: str = "Baker", given: str = "Emma", **extra: Any) -> int:
    return svc.create_owner(
        archive, OwnerCreate(family_name=family, given_name=given, **extra), actor=SYSTEM
    ).id


def animal(archive: Archive, name: str = "Max", **fields: Any) -> Any:
    return svc.create_animal(archive, AnimalCreate(name=name, **fields), actor=SYSTEM)


@contextmanager
def statements(archive: Archive) -> Iterator[list[str]]:
    """Collect the SQL statements run on the archive's engine."""
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    event.listen(archive.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(archive.engine, "before_cursor_execute", listener)


# --------------------------------------------------------------------------- vocabulary
def test_seeded_vocabulary_has_verified_snomed_codes_and_local_codes(archive: Archive) -> None:
    species = {s.code: s for s in voc.list_species(archive)}
    assert species[DOG].coding_scheme == "SCT" and species[DOG].name == "Canine"
    assert species[CAT].latin_name == "Felis catus"
    assert species[HORSE].latin_name == "Equus caballus"  # CID 7454; 388445009 is the genus Equus
    assert "388445009" not in species
    assert {"34618005", "36571002", "449310008"} <= set(species)  # cattle, rabbit, ferret
    local = [s for s in species.values() if s.coding_scheme == "99VETPACS"]
    assert {"Budgerigar", "Bearded dragon", "Ball python"} <= {s.name for s in local}
    assert all(len(s.code) <= 16 for s in species.values())  # Code Value is SH
    dog_breeds = {b.name: b for b in voc.list_breeds(archive, species[DOG].id)}
    assert (
        dog_breeds["Labrador Retriever"].code == LABRADOR
        and dog_breeds["Labrador Retriever"].coding_scheme == "SCT"
    )
    assert dog_breeds["Jack Russell Terrier"].coding_scheme == "99VETPACS"
    rabbit = {b.name for b in voc.list_breeds(archive, species["36571002"].id)}
    assert "Dwarf Lop" in rabbit


def test_admins_extend_the_vocabulary_with_audit_and_event(archive: Archive) -> None:
    alpaca = voc.add_species(
        archive, SpeciesCreate(code="SP-ALPACA", name="Alpaca", latin_name="Vicugna pacos"), actor=SYSTEM
    )
    assert alpaca.coding_scheme == "99VETPACS"
    breed = voc.add_breed(archive, alpaca.id, BreedCreate(code="ALP-HUACAYA", name="Huacaya"), actor=SYSTEM)
    assert [b.name for b in voc.list_breeds(archive, alpaca.id)] == ["Huacaya"]
    assert breed.species_id == alpaca.id
    with pytest.raises(Conflict):
        voc.add_species(archive, SpeciesCreate(code="SP-ALPACA", name="Alpaca again"), actor=SYSTEM)
    with pytest.raises(Conflict):
        voc.add_breed(archive, alpaca.id, BreedCreate(code="ALP-HUACAYA", name="Huacaya"), actor=SYSTEM)
    with pytest.raises(NotFound):
        voc.list_breeds(archive, 99999)
    assert {"species.created", "breed.created"} <= set(audit_actions(archive))
    assert outbox(archive, "species.created")[0]["code"] == "SP-ALPACA"
    # an animal can use the new code right away
    a = animal(archive, "Pedro", species_code="SP-ALPACA", breed_code="ALP-HUACAYA")
    assert a.species is not None and a.species.name == "Alpaca"
    assert a.breed is not None and a.breed.name == "Huacaya"


# --------------------------------------------------------------------------- owners
def test_owner_create_update_get_list(archive: Archive) -> None:
    baker = owner(archive, external_id="C-1", phone="+44 1234")
    owner(archive, "baxter", "Tom")
    owner(archive, "Zimmer", "Jo")
    assert svc.get_owner(archive, baker).family_name == "Baker"
    page = svc.list_owners(archive, q="BA")
    assert page.total == 2 and [o.family_name for o in page.items] == ["Baker", "baxter"]
    assert svc.list_owners(archive, q="C-1").items[0].id == baker
    assert svc.list_owners(archive, limit=1, offset=2).items[0].family_name == "Zimmer"
    updated = svc.update_owner(
        archive, baker, OwnerUpdate(city="Leeds", family_name="Baker-Smith"), actor=SYSTEM
    )
    assert (updated.city, updated.family_name, updated.given_name) == ("Leeds", "Baker-Smith", "Emma")
    with pytest.raises(Conflict, match="C-1"):
        owner(archive, "Other", external_id="C-1")
    with pytest.raises(NotFound):
        svc.get_owner(archive, 4242)
    assert outbox(archive, "owner.updated")[0]["changed"] == ["city", "family_name"]


# --------------------------------------------------------------------------- animals
def test_create_animal_generates_patient_id_and_issuer(archive: Archive) -> None:
    baker = owner(archive)
    max_ = animal(
        archive,
        species_code=DOG,
        breed_code=LABRADOR,
        sex="M",
        neuter_status="ALTERED",
        birth_date="2017-04-12",
        weight_kg=34.2,
        microchip="276 098 106 543 210",
        owners=[OwnerLink(owner_id=baker)],
    )
    assert max_.patient_id == f"VP{max_.id:06d}" and max_.issuer_of_patient_id == "VETPACS"
    assert max_.patient_name == "BAKER^Max"
    assert max_.birth_date == "20170412" and max_.microchip == "276098106543210"
    assert [o.is_primary for o in max_.owners] == [True]
    other = svc.create_animal(
        archive,
        AnimalCreate(name="Rex"),
        actor=SYSTEM,
        patient_id_prefix="CLN",
        issuer_of_patient_id="CLINIC-B",
    )
    assert other.patient_id == f"CLN{other.id:06d}" and other.issuer_of_patient_id == "CLINIC-B"
    assert other.patient_name == "^Rex"
    assert outbox(archive, "animal.created")[0]["patient_id"] == max_.patient_id
    assert audit_actions(archive).count("animal.created") == 2


def test_a_hand_given_patient_id_does_not_block_generation(archive: Archive) -> None:
    first = animal(archive, "A", patient_id="VP000002")  # id 1, but takes the id #2 would get
    second = animal(archive, "B")
    assert first.patient_id == "VP000002"
    assert second.id == 2 and second.patient_id == "VP000002-2"


def test_bad_input_is_refused_and_nothing_is_written(archive: Archive) -> None:
    baker = owner(archive)
    animal(archive, patient_id="P1", microchip="111", external_id="PMS-1")
    before = count(archive, svc.Animal)
    with pytest.raises(Invalid, match=r"unknown species code '999'.*GET /api/v1/species"):
        animal(archive, "Rex", species_code="999")
    with pytest.raises(Invalid, match="unknown breed code"):
        animal(archive, "Rex", species_code=DOG, breed_code="15020009")  # a cat breed
    with pytest.raises(Invalid, match="needs a species"):
        animal(archive, "Rex", breed_code=LABRADOR)
    with pytest.raises(Invalid, match="no owner with id 77"):
        animal(archive, "Rex", owners=[OwnerLink(owner_id=77)])
    with pytest.raises(Invalid, match="one primary owner"):
        other = owner(archive, "Other")
        animal(archive, "Rex", owners=[OwnerLink(owner_id=baker), OwnerLink(owner_id=other)])
    with pytest.raises(Conflict, match="patient id 'P1'"):
        animal(archive, "Rex", patient_id="P1")
    with pytest.raises(Conflict, match="microchip"):
        animal(archive, "Rex", microchip="111")
    with pytest.raises(Conflict, match="external id"):
        animal(archive, "Rex", external_id="PMS-1")
    with pytest.raises(ValueError, match="birth_date"):
        AnimalCreate(name="Rex", birth_date="2021-02-30")
    assert count(archive, svc.Animal) == before
    assert audit_actions(archive).count("animal.created") == 1


def test_update_animal(archive: Archive) -> None:
    a = animal(archive, species_code=DOG, breed_code=LABRADOR, weight_kg=30)
    changed = svc.update_animal(archive, a.id, AnimalUpdate(weight_kg=31.5, colour="black"), actor=SYSTEM)
    assert (changed.weight_kg, changed.colour, changed.breed and changed.breed.code) == (
        31.5,
        "black",
        LABRADOR,
    )
    cat = svc.update_animal(archive, a.id, AnimalUpdate(species_code=CAT), actor=SYSTEM)
    assert cat.species is not None and cat.species.code == CAT and cat.breed is None  # the breed was a dog's
    cleared = svc.update_animal(
        archive, a.id, AnimalUpdate(species_code="", species_text="Unknown"), actor=SYSTEM
    )
    assert cleared.species is None and cleared.species_text == "Unknown"
    with pytest.raises(Invalid):
        svc.update_animal(archive, a.id, AnimalUpdate(species_code="nope"), actor=SYSTEM)
    with pytest.raises(NotFound):
        svc.update_animal(archive, 999, AnimalUpdate(name="x"), actor=SYSTEM)
    assert outbox(archive, "animal.updated")[0]["changed"] == ["colour", "weight_kg"]


# --------------------------------------------------------------------------- search
def test_search_by_every_criterion_case_insensitive_and_paginated(archive: Archive) -> None:
    baker, kowalski = owner(archive), owner(archive, "Kowalski", "Anna")
    animal(
        archive,
        "Max",
        species_code=DOG,
        breed_code=LABRADOR,
        owners=[OwnerLink(owner_id=baker)],
        microchip="276098106543210",
        external_id="PMS-7",
    )
    animal(archive, "Luna", species_code=CAT, owners=[OwnerLink(owner_id=baker)])
    animal(
        archive, "Ruby", species_code=DOG, breed_text="Labrador cross", owners=[OwnerLink(owner_id=kowalski)]
    )
    animal(archive, "maxine", species_text="Tortoise")

    def names(**criteria: Any) -> list[str]:
        return [a.name for a in svc.search_animals(archive, AnimalQuery(**criteria)).items]

    assert names(q="MAX") == ["Max", "maxine"]
    assert names(q="bak") == ["Luna", "Max"]  # owner family name
    assert names(q="276098106543210") == ["Max"]
    assert names(q="PMS-7") == ["Max"]
    assert names(q="vp000002") == ["Luna"]  # patient id, any case
    assert names(species=DOG) == ["Max", "Ruby"]
    assert names(species="feline") == ["Luna"] and names(species="dog") == ["Max", "Ruby"]
    assert names(species="tortoise") == ["maxine"]
    assert names(breed="labrador") == ["Max", "Ruby"]  # coded breed and free text
    assert names(breed=LABRADOR) == ["Max"]  # by code: only the coded one
    assert names(owner="KOW") == ["Ruby"] and names(owner=str(baker)) == ["Luna", "Max"]
    assert names(microchip="276098106543210", species=DOG) == ["Max"]
    assert names(q="max", species=CAT) == []
    page = svc.search_animals(archive, AnimalQuery(limit=2, offset=1))
    assert page.total == 4 and [a.name for a in page.items] == ["Max", "maxine"]
    assert names(q="100%_") == []  # LIKE wildcards are literal


def test_search_costs_a_fixed_number_of_queries(archive: Archive) -> None:
    owners = [owner(archive, f"Owner{i}") for i in range(3)]
    for i in range(30):
        animal(
            archive,
            f"Pet{i:02d}",
            species_code=DOG,
            breed_code=LABRADOR,
            owners=[OwnerLink(owner_id=owners[i % 3])],
        )
    with statements(archive) as small:
        svc.search_animals(archive, AnimalQuery(q="pet", limit=2))
    with statements(archive) as large:
        page = svc.search_animals(archive, AnimalQuery(q="pet", limit=30))
    assert len(page.items) == 30 and all(a.owners and a.species and a.breed for a in page.items)
    assert len(large) == len(small) <= 6


@pytest.mark.slow
def test_search_is_fast_on_100k_animals(archive: Archive) -> None:
    baker = owner(archive)
    now = datetime(2026, 1, 1)
    with archive.write_transaction() as conn:
        conn.execute(
            insert(svc.ANIMALS),
            [
                {
                    "patient_id": f"B{i:07d}",
                    "name": f"Pet{i:06d}",
                    "microchip": f"9{i:014d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(100_000)
            ],
        )
        conn.execute(
            insert(svc.LINKS).values(animal_id=50_000, owner_id=baker, role="OWNER", is_primary=True)
        )
        conn.execute(text("ANALYZE") if archive.engine.dialect.name == "sqlite" else text("ANALYZE animals"))
    timings = {}
    for label, query in {
        "name prefix": AnimalQuery(q="pet04999"),
        "owner": AnimalQuery(q="baker"),
        "microchip": AnimalQuery(microchip=f"9{77_777:014d}"),
        "first page": AnimalQuery(limit=50),
    }.items():
        started = time.perf_counter()
        page = svc.search_animals(archive, query)
        timings[label] = time.perf_counter() - started
        assert page.items, label
    assert svc.search_animals(archive, AnimalQuery(q="pet04999")).total == 10
    assert svc.search_animals(archive, AnimalQuery(q="baker")).items[0].id == 50_000
    slow = {k: v for k, v in timings.items() if k != "first page" and v > 0.25}
    assert not slow, timings
    if archive.engine.dialect.name == "sqlite":
        with archive.engine.connect() as conn:
            plan = conn.execute(
                text("EXPLAIN QUERY PLAN SELECT id FROM animals WHERE lower(name) >= 'pet'")
            ).all()
        assert "ix_animals_name_lower" in str(plan)


# --------------------------------------------------------------------------- owner links
def test_link_and_unlink_owners_keep_one_primary(archive: Archive) -> None:
    baker, kowalski = owner(archive), owner(archive, "Kowalski", "Anna")
    a = animal(archive, owners=[OwnerLink(owner_id=baker)])
    a = svc.link_owner(archive, a.id, OwnerLink(owner_id=kowalski, is_primary=False), actor=SYSTEM)
    assert [(o.family_name, o.is_primary) for o in a.owners] == [("Baker", True), ("Kowalski", False)]
    a = svc.link_owner(archive, a.id, OwnerLink(owner_id=kowalski), actor=SYSTEM)
    assert [(o.family_name, o.is_primary) for o in a.owners] == [("Kowalski", True), ("Baker", False)]
    assert a.patient_name == "KOWALSKI^Max"
    a = svc.unlink_owner(archive, a.id, kowalski, actor=SYSTEM)
    assert [(o.family_name, o.is_primary) for o in a.owners] == [("Baker", True)]
    with pytest.raises(NotFound):
        svc.unlink_owner(archive, a.id, kowalski, actor=SYSTEM)
    with pytest.raises(NotFound):
        svc.link_owner(archive, a.id, OwnerLink(owner_id=999), actor=SYSTEM)
    lone = animal(archive, "Solo")
    lone = svc.link_owner(archive, lone.id, OwnerLink(owner_id=baker, is_primary=False), actor=SYSTEM)
    assert lone.owners[0].is_primary  # the only owner is the primary one
    assert {"animal.owner_linked", "animal.owner_unlinked"} <= set(audit_actions(archive))


# --------------------------------------------------------------------------- DICOM identity
def test_dicom_patient_attributes(archive: Archive) -> None:
    baker = owner(archive)
    a = animal(
        archive,
        species_code=DOG,
        breed_code=LABRADOR,
        sex="M",
        neuter_status="ALTERED",
        birth_date="20170412",
        weight_kg=34.2,
        microchip="276098106543210",
        responsible_organization="Leeds Dogs Trust",
        owners=[OwnerLink(owner_id=baker)],
    )
    with archive.engine.connect() as conn:
        ds = svc.dicom_patient_attributes(conn, a.id)
    assert str(ds.PatientName) == "BAKER^Max"
    assert (ds.PatientID, ds.IssuerOfPatientID) == (a.patient_id, "VETPACS")
    assert (ds.PatientBirthDate, ds.PatientSex, ds.PatientSexNeutered) == ("20170412", "M", "ALTERED")
    assert float(ds.PatientWeight) == 34.2
    assert ds.PatientSpeciesDescription == "Canine"
    sp = ds.PatientSpeciesCodeSequence[0]
    assert (sp.CodeValue, sp.CodingSchemeDesignator, sp.CodeMeaning) == (DOG, "SCT", "Canis lupus familiaris")
    assert ds.PatientBreedDescription == "Labrador Retriever"
    assert (
        ds.PatientBreedCodeSequence[0].CodeValue,
        ds.PatientBreedCodeSequence[0].CodingSchemeDesignator,
    ) == (
        LABRADOR,
        "SCT",
    )
    assert len(ds.BreedRegistrationSequence) == 0
    assert (str(ds.ResponsiblePerson), ds.ResponsiblePersonRole) == ("BAKER^Emma", "OWNER")
    assert ds.ResponsibleOrganization == "Leeds Dogs Trust"
    chip = ds.OtherPatientIDsSequence[0]
    assert (chip.PatientID, chip.TypeOfPatientID, chip.IssuerOfPatientID) == (
        "276098106543210",
        "RFID",
        "MICROCHIP",
    )

    plain = animal(archive, "Stray", species_text="Hedgehog", breed_text="unknown")
    with archive.engine.connect() as conn:
        ds = svc.dicom_patient_attributes(conn, plain.id)
        with pytest.raises(NotFound):
            svc.dicom_patient_attributes(conn, 4242)
    assert str(ds.PatientName) == "^Stray" and ds.PatientSpeciesDescription == "Hedgehog"
    assert len(ds.PatientSpeciesCodeSequence) == 0 and len(ds.PatientBreedCodeSequence) == 0
    assert ds.PatientBreedDescription == "unknown" and ds.PatientWeight is None
    assert str(ds.ResponsiblePerson) == "" and "ResponsiblePersonRole" not in ds
    assert len(ds.OtherPatientIDsSequence) == 0


# --------------------------------------------------------------------------- merge
def _order(archive: Archive, animal_id: int, accession: str) -> int:
    now = datetime(2026, 1, 1)
    with archive.write_transaction() as conn:
        result = conn.execute(
            insert(Order.__table__).values(
                accession_number=accession,
                animal_id=animal_id,
                study_instance_uid=f"2.25.{abs(hash(accession))}",
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


def _recon_item(archive: Archive, animal_id: int, uid: str) -> None:
    with archive.write_transaction() as conn:
        conn.execute(
            insert(ReconciliationItem.__table__).values(
                study_instance_uid=uid,
                reason="name-mismatch",
                animal_id=animal_id,
                created_at=datetime(2026, 1, 1),
            )
        )


def test_merge_moves_orders_items_and_owners_and_hides_the_merged_record(archive: Archive) -> None:
    baker, kowalski = owner(archive), owner(archive, "Kowalski", "Anna")
    survivor = animal(archive, "Max", species_code=DOG, owners=[OwnerLink(owner_id=baker)])
    dup = animal(archive, "Maxi", species_code=DOG, microchip="123", owners=[OwnerLink(owner_id=kowalski)])
    _order(archive, dup.id, "A1")
    _order(archive, dup.id, "A2")
    _recon_item(archive, dup.id, "2.25.1")

    result = merge_animals(archive, survivor.id, dup.id, actor=SYSTEM)
    assert (result.orders_moved, result.reconciliation_items_moved, result.owners_added) == (2, 1, 1)
    assert result.studies_corrected == []
    assert [(o.family_name, o.is_primary) for o in result.survivor.owners] == [
        ("Baker", True),
        ("Kowalski", False),
    ]
    assert count(archive, Order, Order.__table__.c.animal_id == survivor.id) == 2
    assert count(archive, ReconciliationItem, ReconciliationItem.__table__.c.animal_id == survivor.id) == 1
    merged = svc.get_animal(archive, dup.id)
    assert merged.merged_into_id == survivor.id and merged.owners == []
    assert [a.id for a in svc.search_animals(archive, AnimalQuery(q="max")).items] == [survivor.id]
    assert svc.search_animals(archive, AnimalQuery(microchip="123")).total == 0
    with archive.engine.connect() as conn:  # a merged animal answers with its survivor's identity
        assert svc.dicom_patient_attributes(conn, dup.id).PatientID == survivor.patient_id
    assert "animals.merged" in audit_actions(archive)
    event_payload = outbox(archive, "animals.merged")[0]
    assert (event_payload["survivor_id"], event_payload["merged_id"]) == (survivor.id, dup.id)
    # the merged record is frozen; merging it again into the same survivor is harmless
    with pytest.raises(Conflict):
        svc.update_animal(archive, dup.id, AnimalUpdate(name="x"), actor=SYSTEM)
    assert merge_animals(archive, survivor.id, dup.id, actor=SYSTEM).orders_moved == 0
    third = animal(archive, "Other")
    with pytest.raises(Conflict):
        merge_animals(archive, third.id, dup.id, actor=SYSTEM)  # already merged elsewhere
    with pytest.raises(Conflict):
        merge_animals(archive, dup.id, third.id, actor=SYSTEM)  # survivor was merged
    with pytest.raises(Invalid):
        merge_animals(archive, third.id, third.id, actor=SYSTEM)
    with pytest.raises(NotFound):
        merge_animals(archive, third.id, 4242, actor=SYSTEM)


def test_merge_corrects_the_archive_index_to_the_survivor(archive: Archive, demo_files: list[Path]) -> None:
    register_demo_patients(archive, actor=SYSTEM)
    max_files = [f for f in demo_files if dcmread(f, stop_before_pixels=True).PatientID == "VP000101"]
    assert max_files
    origin = Origin(OriginKind.IMPORT, user="tester")
    for f in max_files:
        assert store_instance(archive, f.read_bytes(), origin=origin).status is StoreStatus.STORED
    demo_max = svc.get_animal_by_patient_id(archive, "VP000101")
    baker = demo_max.owners[0].owner_id
    survivor = animal(archive, "Maximilian", species_code=DOG, owners=[OwnerLink(owner_id=baker)])

    result = merge_animals(archive, survivor.id, demo_max.id, actor=SYSTEM)
    studies = Study.__table__
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(studies.c.study_instance_uid, studies.c.patient_id, studies.c.patient_name)
        ).all()
    assert sorted(result.studies_corrected) == sorted(r.study_instance_uid for r in rows)
    assert {(r.patient_id, r.patient_name) for r in rows} == {(survivor.patient_id, "BAKER^Maximilian")}
    assert len(outbox(archive, "study.corrected")) == len(rows)
    # the stored bytes are kept as received
    assert all(dcmread(f, stop_before_pixels=True).PatientID == "VP000101" for f in max_files)


def test_demo_patients_match_the_demo_studies(archive: Archive, demo_files: list[Path]) -> None:
    added = register_demo_patients(archive, actor=SYSTEM)
    assert (added.owners, added.animals) == (5, 6)
    assert register_demo_patients(archive, actor=SYSTEM).animals == 0
    seen = set()
    for f in demo_files:
        ds = dcmread(f, stop_before_pixels=True)
        if ds.PatientID in seen:
            continue
        seen.add(ds.PatientID)
        a = svc.get_animal_by_patient_id(archive, ds.PatientID)
        with archive.engine.connect() as conn:
            ours = svc.dicom_patient_attributes(conn, a.id)
        for keyword in SAME:
            assert str(ours.get(keyword)) == str(ds.get(keyword)), (ds.PatientID, keyword)
        assert float(ours.PatientWeight) == float(ds.PatientWeight)
        assert ours.PatientSpeciesCodeSequence[0].CodeValue == ds.PatientSpeciesCodeSequence[0].CodeValue
        assert ours.OtherPatientIDsSequence[0].PatientID == ds.OtherPatientIDsSequence[0].PatientID
    assert len(seen) == 6
