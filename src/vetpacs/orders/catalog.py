"""The procedure catalog and the stations (modalities in rooms): CRUD and a seed for a mixed practice.

Every write takes a keyword-only ``actor`` and runs in one transaction with its audit row and its
outbox event (``procedure.created``, ``procedure.updated``, ``station.created``, ``station.updated``).
Nothing here is forced into a database: ``vetpacs demo`` and ``vetpacs catalog seed`` call
:func:`seed_catalog` (and :func:`seed_stations`) on request.
"""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.auth.audit import Database, record_in
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, NotFound
from vetpacs.orders.models import Procedure, Station
from vetpacs.orders.schemas import (
    OpeningHours,
    ProcedureCreate,
    ProcedureRead,
    ProcedureUpdate,
    StationCreate,
    StationRead,
    StationUpdate,
    normalize_opening_hours,
)

PROCEDURES: Table = cast(Table, Procedure.__table__)
STATIONS: Table = cast(Table, Station.__table__)

DOG, CAT, HORSE = "448771007", "448169003", "388445009"  # SNOMED CT organisms (docs DOMAIN facts)

SEED_PROCEDURES: tuple[ProcedureCreate, ...] = (
    ProcedureCreate(
        code="DX-THX2",
        name="Thorax, 2 views",
        modality="DX",
        body_region="CHEST",
        default_views=["R-L lateral", "VD"],
        duration_minutes=15,
        fee_code="RAD-THX2",
    ),
    ProcedureCreate(
        code="DX-THX3",
        name="Thorax, 3 views (metastasis check)",
        modality="DX",
        body_region="CHEST",
        default_views=["R-L lateral", "L-R lateral", "VD"],
        duration_minutes=20,
        fee_code="RAD-THX3",
    ),
    ProcedureCreate(
        code="DX-ABD",
        name="Abdomen, 2 views",
        modality="DX",
        body_region="ABDOMEN",
        default_views=["R-L lateral", "VD"],
        duration_minutes=15,
        fee_code="RAD-ABD",
    ),
    ProcedureCreate(
        code="DX-HIPS",
        name="Hips/pelvis, HD scoring (Norberg)",
        modality="DX",
        body_region="PELVIS",
        default_views=["VD hip-extended", "Frog-leg VD"],
        species_codes=[DOG],
        duration_minutes=30,
        fee_code="RAD-HD",
    ),
    ProcedureCreate(
        code="DX-STIFLE",
        name="Stifle, TPLO planning",
        modality="DX",
        body_region="KNEE",
        default_views=["Mediolateral", "CrCd"],
        species_codes=[DOG],
        duration_minutes=20,
        fee_code="RAD-STIFLE",
    ),
    ProcedureCreate(
        code="DX-SPINE",
        name="Spine, 2 views",
        modality="DX",
        body_region="SPINE",
        default_views=["Lateral", "VD"],
        duration_minutes=20,
        fee_code="RAD-SPINE",
    ),
    ProcedureCreate(
        code="IO-FULL",
        name="Dental full mouth",
        modality="IO",
        body_region="JAW",
        default_views=["Maxilla", "Mandible", "Full mouth series"],
        species_codes=[DOG, CAT],
        duration_minutes=30,
        fee_code="DENT-FULL",
    ),
    ProcedureCreate(
        code="US-ABD",
        name="Abdominal ultrasound",
        modality="US",
        body_region="ABDOMEN",
        duration_minutes=30,
        fee_code="US-ABD",
    ),
    ProcedureCreate(
        code="US-ECHO",
        name="Echocardiography",
        modality="US",
        body_region="HEART",
        duration_minutes=45,
        fee_code="US-ECHO",
    ),
    ProcedureCreate(
        code="CT-HEAD",
        name="CT head",
        modality="CT",
        body_region="HEAD",
        duration_minutes=30,
        fee_code="CT-HEAD",
    ),
    ProcedureCreate(
        code="CT-THX",
        name="CT thorax",
        modality="CT",
        body_region="CHEST",
        duration_minutes=30,
        fee_code="CT-THX",
    ),
    ProcedureCreate(
        code="CT-ABD",
        name="CT abdomen",
        modality="CT",
        body_region="ABDOMEN",
        duration_minutes=30,
        fee_code="CT-ABD",
    ),
    ProcedureCreate(
        code="MR-BRAIN",
        name="MR brain",
        modality="MR",
        body_region="BRAIN",
        duration_minutes=60,
        fee_code="MR-BRAIN",
    ),
    ProcedureCreate(
        code="MR-SPINE",
        name="MR spine",
        modality="MR",
        body_region="SPINE",
        duration_minutes=60,
        fee_code="MR-SPINE",
    ),
    ProcedureCreate(
        code="DX-EQ-DLIMB",
        name="Equine distal limb",
        modality="DX",
        body_region="EXTREMITY",
        default_views=["Lateromedial", "Dorsopalmar", "DLPMO", "DMPLO"],
        species_codes=[HORSE],
        duration_minutes=30,
        fee_code="RAD-EQ-LIMB",
    ),
)
"""A small catalog for a mixed practice (codes in the local scheme 99VETPACS)."""

_WEEKDAYS_8_18: OpeningHours = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SEED_STATIONS: tuple[StationCreate, ...] = (
    StationCreate(
        name="X-ray room 1",
        ae_title="DXROOM1",
        station_name="DX1",
        modality="DX",
        location="Room 1",
        opening_hours={**_WEEKDAYS_8_18, "sat": [["09:00", "13:00"]]},
    ),
    StationCreate(
        name="Ultrasound",
        ae_title="USROOM2",
        station_name="US1",
        modality="US",
        location="Room 2",
        opening_hours=_WEEKDAYS_8_18,
    ),
    StationCreate(
        name="Dental X-ray",
        ae_title="DENTAL1",
        station_name="IO1",
        modality="IO",
        location="Dental suite",
        opening_hours=_WEEKDAYS_8_18,
    ),
    StationCreate(
        name="CT",
        ae_title="CTSCAN1",
        station_name="CT1",
        modality="CT",
        location="CT room",
        opening_hours=_WEEKDAYS_8_18,
    ),
    StationCreate(
        name="MR",
        ae_title="MRSCAN1",
        station_name="MR1",
        modality="MR",
        location="MR suite",
        opening_hours=_WEEKDAYS_8_18,
    ),
)
"""One station per modality for the demo (opening hours in local clinic time)."""


# --------------------------------------------------------------------------- procedures
def _split(value: str) -> list[str]:
    return [v for v in value.split("\\") if v] if value else []


def procedure_read(row: Row[Any]) -> ProcedureRead:
    """A ``procedures`` row as a :class:`ProcedureRead`."""
    return ProcedureRead(
        id=row.id,
        code=row.code,
        coding_scheme=row.coding_scheme,
        name=row.name,
        modality=row.modality,
        body_region=row.body_region,
        default_views=_split(row.default_views),
        species_codes=_split(row.species_codes),
        duration_minutes=row.duration_minutes,
        fee_code=row.fee_code,
        active=row.active,
    )


def _procedure_values(data: ProcedureCreate | ProcedureUpdate) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=isinstance(data, ProcedureUpdate))
    if isinstance(data, ProcedureUpdate):
        values = {k: v for k, v in values.items() if v is not None}
    for key in ("default_views", "species_codes"):
        if key in values:
            values[key] = "\\".join(values[key])
    return values


def list_procedures(
    db: Database, *, modality: str | None = None, species_code: str | None = None, active: bool | None = True
) -> list[ProcedureRead]:
    """Catalog entries by code; ``species_code`` keeps those for that species (or for every species)."""
    stmt = select(PROCEDURES).order_by(PROCEDURES.c.code)
    if modality:
        stmt = stmt.where(PROCEDURES.c.modality == modality.upper())
    if active is not None:
        stmt = stmt.where(PROCEDURES.c.active == active)
    with db.engine.connect() as conn:
        rows = [procedure_read(r) for r in conn.execute(stmt)]
    if species_code:
        rows = [p for p in rows if not p.species_codes or species_code in p.species_codes]
    return rows


def get_procedure(db: Database, procedure_id: int) -> ProcedureRead:
    """One catalog entry by id; NotFound otherwise."""
    with db.engine.connect() as conn:
        row = conn.execute(select(PROCEDURES).where(PROCEDURES.c.id == procedure_id)).first()
    if row is None:
        raise NotFound(f"no procedure with id {procedure_id}")
    return procedure_read(row)


def _insert_procedure(conn: Connection, data: ProcedureCreate, actor: Actor) -> ProcedureRead:
    if conn.execute(select(PROCEDURES.c.id).where(PROCEDURES.c.code == data.code)).first():
        raise Conflict(f"a procedure with code {data.code!r} already exists")
    pk = conn.execute(insert(PROCEDURES).values(_procedure_values(data))).inserted_primary_key[0]  # type: ignore[index]
    read = procedure_read(conn.execute(select(PROCEDURES).where(PROCEDURES.c.id == pk)).one())
    record_in(
        conn,
        actor,
        "procedure.created",
        object_type="procedure",
        object_id=data.code,
        detail=read.model_dump(),
    )
    events.emit(
        conn,
        "procedure.created",
        aggregate_type="procedure",
        aggregate_id=pk,
        payload=read.model_dump(),
        actor=actor.username,
    )
    return read


def create_procedure(db: Database, data: ProcedureCreate, *, actor: Actor) -> ProcedureRead:
    """Add a catalog entry; Conflict when the code exists."""
    try:
        with db.write_transaction() as conn:
            return _insert_procedure(conn, data, actor)
    except IntegrityError as exc:
        raise Conflict(f"a procedure with code {data.code!r} already exists") from exc


def update_procedure(
    db: Database, procedure_id: int, data: ProcedureUpdate, *, actor: Actor
) -> ProcedureRead:
    """Change a catalog entry (existing orders keep their steps as booked)."""
    values = _procedure_values(data)
    with db.write_transaction() as conn:
        row = conn.execute(select(PROCEDURES).where(PROCEDURES.c.id == procedure_id)).first()
        if row is None:
            raise NotFound(f"no procedure with id {procedure_id}")
        if values:
            conn.execute(update(PROCEDURES).where(PROCEDURES.c.id == procedure_id).values(values))
        read = procedure_read(conn.execute(select(PROCEDURES).where(PROCEDURES.c.id == procedure_id)).one())
        changed = {k: getattr(read, k) for k in values}
        record_in(
            conn, actor, "procedure.updated", object_type="procedure", object_id=row.code, detail=changed
        )
        events.emit(
            conn,
            "procedure.updated",
            aggregate_type="procedure",
            aggregate_id=procedure_id,
            payload=read.model_dump(),
            actor=actor.username,
        )
    return read


def seed_catalog(db: Database, *, actor: Actor) -> list[ProcedureRead]:
    """Add the procedures of :data:`SEED_PROCEDURES` whose code is not in the catalog yet.

    Returns the ones added (none on a second run); existing entries are left untouched.
    """
    added: list[ProcedureRead] = []
    with db.write_transaction() as conn:
        have = set(conn.execute(select(PROCEDURES.c.code)).scalars())
        for proc in SEED_PROCEDURES:
            if proc.code not in have:
                added.append(_insert_procedure(conn, proc, actor))
    return added


# --------------------------------------------------------------------------- stations
def station_read(row: Row[Any]) -> StationRead:
    """A ``stations`` row as a :class:`StationRead`."""
    return StationRead(
        id=row.id,
        name=row.name,
        ae_title=row.ae_title,
        station_name=row.station_name,
        modality=row.modality,
        location=row.location,
        opening_hours=opening_hours_of(row.opening_hours),
        active=row.active,
    )


def opening_hours_of(raw: str) -> OpeningHours:
    """The stored opening hours JSON, normalised (a broken value counts as always open)."""
    try:
        return normalize_opening_hours(raw)
    except ValueError:
        return {}


def _station_values(data: StationCreate | StationUpdate) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=isinstance(data, StationUpdate))
    if isinstance(data, StationUpdate):
        values = {k: v for k, v in values.items() if v is not None}
    if "opening_hours" in values:
        values["opening_hours"] = json.dumps(values["opening_hours"]) if values["opening_hours"] else ""
    return values


def _station_clash(conn: Connection, values: dict[str, Any], exclude: int | None = None) -> None:
    for column in ("name", "ae_title"):
        if column not in values:
            continue
        stmt = select(STATIONS.c.id).where(STATIONS.c[column] == values[column])
        if exclude is not None:
            stmt = stmt.where(STATIONS.c.id != exclude)
        if conn.execute(stmt).first():
            label = "name" if column == "name" else "AE title"
            raise Conflict(f"a station with {label} {values[column]!r} already exists")


def list_stations(
    db: Database, *, modality: str | None = None, active: bool | None = True
) -> list[StationRead]:
    """Stations by name."""
    stmt = select(STATIONS).order_by(STATIONS.c.name)
    if modality:
        stmt = stmt.where(STATIONS.c.modality == modality.upper())
    if active is not None:
        stmt = stmt.where(STATIONS.c.active == active)
    with db.engine.connect() as conn:
        return [station_read(r) for r in conn.execute(stmt)]


def get_station(db: Database, station_id: int) -> StationRead:
    """One station by id; NotFound otherwise."""
    with db.engine.connect() as conn:
        row = conn.execute(select(STATIONS).where(STATIONS.c.id == station_id)).first()
    if row is None:
        raise NotFound(f"no station with id {station_id}")
    return station_read(row)


def _insert_station(conn: Connection, data: StationCreate, actor: Actor) -> StationRead:
    values = _station_values(data)
    _station_clash(conn, values)
    pk = conn.execute(insert(STATIONS).values(values)).inserted_primary_key[0]  # type: ignore[index]
    read = station_read(conn.execute(select(STATIONS).where(STATIONS.c.id == pk)).one())
    record_in(
        conn, actor, "station.created", object_type="station", object_id=str(pk), detail=read.model_dump()
    )
    events.emit(
        conn,
        "station.created",
        aggregate_type="station",
        aggregate_id=pk,
        payload=read.model_dump(),
        actor=actor.username,
    )
    return read


def create_station(db: Database, data: StationCreate, *, actor: Actor) -> StationRead:
    """Add a station; Conflict when its name or AE title is taken."""
    try:
        with db.write_transaction() as conn:
            return _insert_station(conn, data, actor)
    except IntegrityError as exc:
        raise Conflict("a station with this name or AE title already exists") from exc


def update_station(db: Database, station_id: int, data: StationUpdate, *, actor: Actor) -> StationRead:
    """Change a station (steps already booked stay; new bookings follow the new hours)."""
    values = _station_values(data)
    try:
        with db.write_transaction() as conn:
            row = conn.execute(select(STATIONS).where(STATIONS.c.id == station_id)).first()
            if row is None:
                raise NotFound(f"no station with id {station_id}")
            _station_clash(conn, values, exclude=station_id)
            if values:
                conn.execute(update(STATIONS).where(STATIONS.c.id == station_id).values(values))
            read = station_read(conn.execute(select(STATIONS).where(STATIONS.c.id == station_id)).one())
            record_in(
                conn,
                actor,
                "station.updated",
                object_type="station",
                object_id=str(station_id),
                detail={k: getattr(read, k) for k in values},
            )
            events.emit(
                conn,
                "station.updated",
                aggregate_type="station",
                aggregate_id=station_id,
                payload=read.model_dump(),
                actor=actor.username,
            )
    except IntegrityError as exc:
        raise Conflict("a station with this name or AE title already exists") from exc
    return read


def seed_stations(db: Database, *, actor: Actor) -> list[StationRead]:
    """Add the demo stations of :data:`SEED_STATIONS` whose name and AE title are both free."""
    added: list[StationRead] = []
    with db.write_transaction() as conn:
        names = set(conn.execute(select(STATIONS.c.name)).scalars())
        aets = set(conn.execute(select(STATIONS.c.ae_title)).scalars())
        for station in SEED_STATIONS:
            if station.name not in names and station.ae_title not in aets:
                added.append(_insert_station(conn, station, actor))
    return added
