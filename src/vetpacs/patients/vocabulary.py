"""The species and breed vocabulary: list, look up by code, and let admins extend it.

Species are coded from DICOM CID 7454 (SNOMED CT organisms, scheme ``SCT``) and breeds from CID 7480
where the code is in the DICOM standard; everything else uses local codes in the private scheme
``99VETPACS`` (PS3.3 8.2: a ``99`` prefix marks a private coding scheme). The seeded vocabulary is
written by migration 0004.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, Table, insert, select

from vetpacs import events
from vetpacs.auth.audit import Database, record_in
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.patients.models import Breed, Species
from vetpacs.patients.schemas import BreedCreate, BreedRead, SpeciesCreate, SpeciesRead

SPECIES: Table = cast(Table, Species.__table__)
BREEDS: Table = cast(Table, Breed.__table__)
LOCAL_SCHEME = "99VETPACS"


def species_read(row: Row[Any]) -> SpeciesRead:
    """A species row as the API shows it."""
    return SpeciesRead(
        id=row.id,
        code=row.code,
        coding_scheme=row.coding_scheme,
        name=row.name,
        common_name=row.common_name,
        latin_name=row.latin_name,
        active=row.active,
    )


def breed_read(row: Row[Any]) -> BreedRead:
    """A breed row as the API shows it."""
    return BreedRead(
        id=row.id,
        species_id=row.species_id,
        code=row.code,
        coding_scheme=row.coding_scheme,
        name=row.name,
        active=row.active,
    )


def species_by_code(conn: Connection, code: str) -> Row[Any]:
    """The species with this code (SNOMED CT preferred when two schemes share it); else Invalid."""
    rows = list(conn.execute(select(SPECIES).where(SPECIES.c.code == code.strip())))
    if not rows:
        raise Invalid(
            f"unknown species code {code!r}: GET /api/v1/species lists the vocabulary "
            "(an admin can add a species)"
        )
    rows.sort(key=lambda r: (r.coding_scheme != "SCT", r.id))
    return rows[0]


def breed_by_code(conn: Connection, species: Row[Any], code: str) -> Row[Any]:
    """The breed of ``species`` with this code; else Invalid."""
    rows = list(
        conn.execute(select(BREEDS).where(BREEDS.c.species_id == species.id, BREEDS.c.code == code.strip()))
    )
    if not rows:
        raise Invalid(
            f"unknown breed code {code!r} for species {species.name} ({species.code}): "
            f"GET /api/v1/species/{species.id}/breeds lists its breeds"
        )
    rows.sort(key=lambda r: (r.coding_scheme != "SCT", r.id))
    return rows[0]


def _species_row(conn: Connection, species_id: int) -> Row[Any]:
    row = conn.execute(select(SPECIES).where(SPECIES.c.id == species_id)).first()
    if row is None:
        raise NotFound(f"no species with id {species_id}")
    return row


def list_species(db: Database, *, include_inactive: bool = False) -> list[SpeciesRead]:
    """Every species of the vocabulary, by name."""
    query = select(SPECIES).order_by(SPECIES.c.name, SPECIES.c.id)
    if not include_inactive:
        query = query.where(SPECIES.c.active.is_(True))
    with db.engine.connect() as conn:
        return [species_read(r) for r in conn.execute(query)]


def list_breeds(db: Database, species_id: int, *, include_inactive: bool = False) -> list[BreedRead]:
    """The breeds of one species, by name (NotFound for an unknown species)."""
    query = select(BREEDS).where(BREEDS.c.species_id == species_id).order_by(BREEDS.c.name, BREEDS.c.id)
    if not include_inactive:
        query = query.where(BREEDS.c.active.is_(True))
    with db.engine.connect() as conn:
        _species_row(conn, species_id)
        return [breed_read(r) for r in conn.execute(query)]


def add_species(db: Database, body: SpeciesCreate, *, actor: Actor) -> SpeciesRead:
    """Add a species to the vocabulary (audit and event ``species.created``); a taken code is Conflict."""
    with db.write_transaction() as conn:
        taken = conn.execute(
            select(SPECIES.c.id).where(
                SPECIES.c.coding_scheme == body.coding_scheme, SPECIES.c.code == body.code
            )
        ).first()
        if taken is not None:
            raise Conflict(f"species code {body.coding_scheme} {body.code} already exists (id {taken.id})")
        result = conn.execute(insert(SPECIES).values(**body.model_dump(), active=True))
        species_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = _species_row(conn, species_id)
        record_in(
            conn,
            actor,
            "species.created",
            object_type="species",
            object_id=str(species_id),
            detail=body.model_dump(),
        )
        events.emit(
            conn,
            "species.created",
            aggregate_type="species",
            aggregate_id=species_id,
            payload=body.model_dump(),
            actor=actor.username,
        )
    return species_read(row)


def add_breed(db: Database, species_id: int, body: BreedCreate, *, actor: Actor) -> BreedRead:
    """Add a breed to a species (audit and event ``breed.created``); a taken code is Conflict."""
    with db.write_transaction() as conn:
        species = _species_row(conn, species_id)
        taken = conn.execute(
            select(BREEDS.c.id).where(
                BREEDS.c.species_id == species.id,
                BREEDS.c.coding_scheme == body.coding_scheme,
                BREEDS.c.code == body.code,
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"breed code {body.coding_scheme} {body.code} already exists for {species.name} "
                f"(id {taken.id})"
            )
        result = conn.execute(insert(BREEDS).values(**body.model_dump(), species_id=species.id, active=True))
        breed_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = conn.execute(select(BREEDS).where(BREEDS.c.id == breed_id)).one()
        payload = {**body.model_dump(), "species_id": species.id}
        record_in(conn, actor, "breed.created", object_type="breed", object_id=str(breed_id), detail=payload)
        events.emit(
            conn,
            "breed.created",
            aggregate_type="breed",
            aggregate_id=breed_id,
            payload=payload,
            actor=actor.username,
        )
    return breed_read(row)
