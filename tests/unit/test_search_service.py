"""The clinic search and the animal timeline over a real index (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import text

from measurement_images import tiny_image  # type: ignore[import-not-found]
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.auth.roles import SYSTEM
from vetpacs.errors import Invalid, NotFound
from vetpacs.orders.catalog import create_procedure
from vetpacs.orders.linking import LINKER
from vetpacs.orders.schemas import OrderCreate, ProcedureCreate
from vetpacs.orders.service import create_order
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink
from vetpacs.patients.service import create_animal, create_owner
from vetpacs.search.service import ClinicSearch, search
from vetpacs.search.timeline import animal_timeline

SC = "1.2.840.10008.5.1.4.1.1.1.1"
ORIGIN = Origin(OriginKind.DICOM, ae_title="DX1", address="127.0.0.1:1")


def image(
    *,
    study_uid: str,
    name: str,
    pid: str,
    accession: str = "",
    species: str = "",
    modality: str = "DX",
    body_part: str = "THORAX",
    study_date: str = "20250101",
    study_time: str = "100000",
) -> bytes:
    return tiny_image(
        SC,
        StudyInstanceUID=study_uid,
        Modality=modality,
        BodyPartExamined=body_part,
        PatientName=name,
        PatientID=pid,
        PatientSpeciesDescription=species,
        AccessionNumber=accession,
        StudyDate=study_date,
        StudyTime=study_time,
        StudyDescription=f"{modality} {body_part}",
    )


def store(archive: Archive, data: bytes) -> None:
    store_instance(archive, data, origin=ORIGIN)
    assert LINKER.flush()


@pytest.fixture
def world(archive: Archive) -> dict[str, Any]:
    """Rex (dog, Smith), Bella (cat, Jones); Rex has an order with images and a study by Patient ID,
    Bella a study by Patient ID, and one study belongs to nobody."""
    smith = create_owner(
        archive, OwnerCreate(family_name="Smith", given_name="Anna", phone="0612345678"), actor=SYSTEM
    )
    jones = create_owner(archive, OwnerCreate(family_name="Jones", given_name="Bob"), actor=SYSTEM)
    rex = create_animal(
        archive,
        AnimalCreate(
            name="Rex",
            species_code="448771007",
            breed_code="62137007",  # Labrador Retriever
            sex="M",
            microchip="985112003456789",
            external_id="PMS-77",
            owners=[OwnerLink(owner_id=smith.id)],
        ),
        actor=SYSTEM,
    )
    bella = create_animal(
        archive,
        AnimalCreate(name="Bella", species_code="448169003", sex="F", owners=[OwnerLink(owner_id=jones.id)]),
        actor=SYSTEM,
    )
    create_procedure(
        archive,
        ProcedureCreate(code="THX", name="Thorax", modality="DX", body_region="THORAX"),
        actor=SYSTEM,
    )
    order = create_order(archive, OrderCreate(animal_id=rex.id, procedure_codes=["THX"]), actor=SYSTEM)
    uids = {k: generate_uid() for k in ("ordered", "rex_old", "bella", "stray", "stray2")}
    store(
        archive,
        image(
            study_uid=uids["ordered"],
            name="SMITH^Rex",
            pid=rex.patient_id,
            accession=order.accession_number,
            species="Canine",
            study_date="20250301",
            study_time="093000",
        ),
    )
    store(
        archive,
        image(
            study_uid=uids["rex_old"],
            name="SMITH^Rex",
            pid=rex.patient_id,
            modality="US",
            body_part="ABDOMEN",
            study_date="20230615",
        ),
    )
    store(
        archive,
        image(
            study_uid=uids["bella"],
            name="JONES^Bella",
            pid=bella.patient_id,
            species="Feline",
            study_date="20240110",
        ),
    )
    store(
        archive,
        image(
            study_uid=uids["stray"],
            name="DOE^Max",
            pid="EXT-1",
            accession="ACC999",
            species="Canine",
            modality="CT",
            body_part="SKULL",
            study_date="20250301",
            study_time="120000",
        ),
    )
    store(archive, image(study_uid=uids["stray2"], name="DOE^Max", pid="EXT-1", study_date=""))
    return {"rex": rex, "bella": bella, "order": order, "uids": uids, "smith": smith}


def run(archive: Archive, **kw: Any) -> Any:
    return search(archive, ClinicSearch(**kw))


def study_uids(result: Any) -> list[str]:
    return [s.study_uid for s in result.studies.items]


def test_empty_search_lists_every_study_newest_first_and_no_animals(
    archive: Archive, world: dict[str, Any]
) -> None:
    u = world["uids"]
    result = run(archive)
    assert result.animals == []
    assert result.studies.total == 5
    # same date: the later time first; a study without a date last
    assert study_uids(result) == [u["stray"], u["ordered"], u["bella"], u["rex_old"], u["stray2"]]
    assert result.took_ms >= 0


def test_study_hits_carry_animal_order_and_status(archive: Archive, world: dict[str, Any]) -> None:
    u, rex, order = world["uids"], world["rex"], world["order"]
    hits = {s.study_uid: s for s in run(archive).studies.items}
    ordered = hits[u["ordered"]]
    assert ordered.animal_id == rex.id
    assert ordered.order_id == order.id
    assert ordered.status == "images_received"
    assert ordered.animal_name == "Rex"
    assert ordered.species == "Canine"
    assert ordered.breed == "Labrador Retriever"
    assert ordered.owner == "SMITH, Anna"
    assert ordered.study_date == "2025-03-01"
    assert ordered.modalities == ["DX"]
    assert ordered.body_parts == ["THORAX"]
    assert (ordered.series, ordered.instances) == (1, 1)
    old = hits[u["rex_old"]]
    assert (old.animal_id, old.order_id, old.status) == (rex.id, None, "linked")
    stray = hits[u["stray"]]
    assert (stray.animal_id, stray.order_id, stray.status) == (None, None, "unmatched")
    assert (stray.animal_name, stray.owner, stray.patient_id) == ("Max", "DOE", "EXT-1")
    assert hits[u["stray2"]].study_date is None


@pytest.mark.parametrize(
    "q",
    ["re", "REX", "smi", "ann", "0612345678", "985112003456789", "PMS-77", "patient_id"],
)
def test_box_finds_rex_and_his_studies(archive: Archive, world: dict[str, Any], q: str) -> None:
    rex, u = world["rex"], world["uids"]
    if q == "patient_id":
        q = rex.patient_id.lower()  # case-insensitive
    result = run(archive, q=q)
    assert [a.id for a in result.animals] == [rex.id]
    hit = result.animals[0]
    assert hit.owners == ["SMITH, Anna"]
    assert (hit.study_count, hit.last_study_date) == (2, "2025-03-01")
    assert (hit.species, hit.breed, hit.microchip) == ("Canine", "Labrador Retriever", "985112003456789")
    assert study_uids(result) == [u["ordered"], u["rex_old"]]


def test_box_matches_accession_and_unlinked_studies(archive: Archive, world: dict[str, Any]) -> None:
    u, order = world["uids"], world["order"]
    result = run(archive, q=order.accession_number.lower())
    assert study_uids(result) == [u["ordered"]]
    assert result.animals == []
    assert study_uids(run(archive, q="acc999")) == [u["stray"]]
    assert study_uids(run(archive, q="doe")) == [u["stray"], u["stray2"]]  # the owner part of the name
    assert study_uids(run(archive, q="ext-1")) == [u["stray"], u["stray2"]]
    nothing = run(archive, q="zzz")
    assert (nothing.animals, nothing.studies.total, nothing.studies.items) == ([], 0, [])


def test_species_and_breed_filters(archive: Archive, world: dict[str, Any]) -> None:
    u, rex, bella = world["uids"], world["rex"], world["bella"]
    for species in ("dog", "Canine", "448771007"):
        result = run(archive, species=species)
        assert [a.id for a in result.animals] == [rex.id]
        # Rex's studies (one carries no species in its header) and the stray dog
        assert set(study_uids(result)) == {u["ordered"], u["rex_old"], u["stray"]}
    cats = run(archive, species="cat")
    assert [a.id for a in cats.animals] == [bella.id]
    assert study_uids(cats) == [u["bella"]]
    for breed in ("Labrador Retriever", "62137007"):
        result = run(archive, breed=breed)
        assert [a.id for a in result.animals] == [rex.id]
        assert study_uids(result) == [u["ordered"], u["rex_old"]]


def test_modality_body_region_and_dates(archive: Archive, world: dict[str, Any]) -> None:
    u = world["uids"]
    assert study_uids(run(archive, modality="us")) == [u["rex_old"]]
    assert study_uids(run(archive, modality="CT", body_region="skull")) == [u["stray"]]
    assert study_uids(run(archive, body_region="THORAX", species="dog")) == [u["ordered"]]
    inclusive = run(archive, date_from=date(2024, 1, 10), date_to=date(2025, 3, 1))
    assert study_uids(inclusive) == [u["stray"], u["ordered"], u["bella"]]
    assert study_uids(run(archive, date_to=date(2023, 12, 31))) == [u["rex_old"]]
    assert study_uids(run(archive, q="rex", date_from=date(2025, 1, 1))) == [u["ordered"]]


def test_status_filter(archive: Archive, world: dict[str, Any]) -> None:
    u = world["uids"]
    assert study_uids(run(archive, status="unmatched")) == [u["stray"], u["stray2"]]
    assert study_uids(run(archive, status="linked")) == [u["ordered"], u["bella"], u["rex_old"]]
    assert study_uids(run(archive, status="images_received")) == [u["ordered"]]
    assert run(archive, status="scheduled").studies.total == 0


def test_pagination_is_deterministic(archive: Archive, world: dict[str, Any]) -> None:
    everything = study_uids(run(archive))
    pages = [run(archive, limit=2, offset=o) for o in (0, 2, 4)]
    assert [p.studies.total for p in pages] == [5, 5, 5]
    assert [uid for p in pages for uid in study_uids(p)] == everything
    assert len(run(archive, q="r", limit=1).animals) == 1


def test_invalid_values(archive: Archive) -> None:
    with pytest.raises(Invalid):
        run(archive, status="lost")
    with pytest.raises(Invalid):
        run(archive, date_from=date(2025, 2, 1), date_to=date(2025, 1, 1))
    with pytest.raises(ValueError):
        ClinicSearch(limit=201)


def test_timeline(archive: Archive, world: dict[str, Any]) -> None:
    u, rex, order = world["uids"], world["rex"], world["order"]
    timeline = animal_timeline(archive, rex.id)
    kinds = [(i.kind, i.study.study_uid if i.kind == "study" else i.order.id) for i in timeline.items]
    # the order was created today (after both studies' dates): newest first
    assert kinds == [("order", order.id), ("study", u["ordered"]), ("study", u["rex_old"])]
    assert timeline.items[1].at == datetime(2025, 3, 1, 9, 30)
    assert timeline.items[0].order.steps[0].procedure_code == "THX"  # type: ignore[union-attr]
    assert [i.kind for i in animal_timeline(archive, world["bella"].id).items] == ["study"]
    with pytest.raises(NotFound):
        animal_timeline(archive, 999999)


def test_prefix_searches_use_indexes(archive: Archive, world: dict[str, Any]) -> None:
    """EXPLAIN: the box's prefix and identifier matches are index searches, not table scans."""
    if archive.engine.dialect.name != "sqlite":
        pytest.skip("SQLite query plans")
    from sqlalchemy import func, select

    from vetpacs.search.service import STUDIES, study_filters

    with archive.engine.connect() as conn:
        for kw in ({"q": "smi"}, {"q": "ACC999"}, {"date_from": date(2025, 1, 1)}):
            stmt = select(func.count()).select_from(STUDIES).where(*study_filters(conn, ClinicSearch(**kw)))
            sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "SCAN studies" not in plan, (kw, plan)
