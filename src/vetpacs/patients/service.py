"""Owners and animals: create, update, read, search, owner links, the DICOM patient identity, merge.

Every write takes a keyword-only ``actor`` and runs in one transaction with its audit row and its
outbox event. An animal is the DICOM patient: Patient Name ``OWNERFAMILY^AnimalName`` (the
veterinary convention), Patient ID and Issuer of Patient ID (the clinic), and the veterinary
attributes of CP-643 (PS3.3 C.7.1.1 Patient module, C.7.2.2 Patient Study module).

Search is case-insensitive and index-friendly: names match by prefix on ``lower(...)`` expression
indexes (migration 0004), identifiers match exactly on indexed columns, and a page of animals is
completed with one query for its species and breeds and one for its owners (no N+1).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.patients.models import Animal, AnimalOwner, FormerPatientId, Owner
from vetpacs.patients.schemas import (
    AnimalCreate,
    AnimalOwnerRead,
    AnimalPage,
    AnimalQuery,
    AnimalRead,
    AnimalUpdate,
    OwnerCreate,
    OwnerLink,
    OwnerPage,
    OwnerRead,
    OwnerUpdate,
)
from vetpacs.patients.vocabulary import (
    BREEDS,
    SPECIES,
    breed_by_code,
    breed_read,
    species_by_code,
    species_read,
)

OWNERS: Table = cast(Table, Owner.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
LINKS: Table = cast(Table, AnimalOwner.__table__)
FORMER_IDS: Table = cast(Table, FormerPatientId.__table__)

DEFAULT_PATIENT_ID_PREFIX = "VP"
DEFAULT_ISSUER = "VETPACS"
_TOP = "\U0010ffff"  # sorts after every character: prefix ranges on SQLite


# --------------------------------------------------------------------------- helpers
def _prefix(conn: Connection, column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """Case-insensitive prefix match on ``lower(column)`` that its expression index can serve."""
    low = text.strip().lower()
    expr = func.lower(column)
    if conn.dialect.name == "sqlite":  # binary collation: a half-open range is exactly "starts with"
        return and_(expr >= low, expr < low + _TOP)
    escaped = low.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return expr.like(escaped + "%", escape="\\")  # text_pattern_ops index on PostgreSQL


def patient_name(owner_family: str, animal_name: str) -> str:
    """DICOM Patient Name for an animal: ``OWNERFAMILY^AnimalName`` (PN, veterinary convention)."""
    return f"{owner_family.strip().upper()}^{animal_name.strip()}"


def _owner_read(row: Row[Any]) -> OwnerRead:
    return OwnerRead.model_validate(row._asdict())


def _owner_row(conn: Connection, owner_id: int) -> Row[Any]:
    row = conn.execute(select(OWNERS).where(OWNERS.c.id == owner_id)).first()
    if row is None:
        raise NotFound(f"no owner with id {owner_id}")
    return row


def _animal_row(conn: Connection, animal_id: int) -> Row[Any]:
    row = conn.execute(select(ANIMALS).where(ANIMALS.c.id == animal_id)).first()
    if row is None:
        raise NotFound(f"no animal with id {animal_id}")
    return row


def _live_animal_row(conn: Connection, animal_id: int) -> Row[Any]:
    row = _animal_row(conn, animal_id)
    if row.merged_into_id is not None:
        raise Conflict(f"animal {animal_id} was merged into animal {row.merged_into_id}; change that one")
    return row


def _animal_reads(conn: Connection, rows: Sequence[Row[Any]]) -> list[AnimalRead]:
    """AnimalRead for each row: one query for species and breeds, one for owners."""
    if not rows:
        return []
    species_ids = {r.species_id for r in rows if r.species_id is not None}
    breed_ids = {r.breed_id for r in rows if r.breed_id is not None}
    species = (
        {s.id: species_read(s) for s in conn.execute(select(SPECIES).where(SPECIES.c.id.in_(species_ids)))}
        if species_ids
        else {}
    )
    breeds = (
        {b.id: breed_read(b) for b in conn.execute(select(BREEDS).where(BREEDS.c.id.in_(breed_ids)))}
        if breed_ids
        else {}
    )
    owners: dict[int, list[AnimalOwnerRead]] = {r.id: [] for r in rows}
    owner_rows = conn.execute(
        select(
            LINKS.c.animal_id,
            LINKS.c.owner_id,
            LINKS.c.role,
            LINKS.c.is_primary,
            OWNERS.c.family_name,
            OWNERS.c.given_name,
        )
        .join(OWNERS, OWNERS.c.id == LINKS.c.owner_id)
        .where(LINKS.c.animal_id.in_(list(owners)))
        .order_by(LINKS.c.animal_id, LINKS.c.is_primary.desc(), LINKS.c.owner_id)
    )
    for o in owner_rows:
        owners[o.animal_id].append(
            AnimalOwnerRead(
                owner_id=o.owner_id,
                family_name=o.family_name,
                given_name=o.given_name,
                role=o.role,
                is_primary=o.is_primary,
            )
        )
    out = []
    for r in rows:
        linked = owners[r.id]
        family = linked[0].family_name if linked and linked[0].is_primary else ""
        values = r._asdict()
        values.update(
            patient_name=patient_name(family, r.name),
            species=species.get(r.species_id) if r.species_id is not None else None,
            breed=breeds.get(r.breed_id) if r.breed_id is not None else None,
            owners=linked,
        )
        out.append(AnimalRead.model_validate(values))
    return out


def _animal_read(conn: Connection, animal_id: int) -> AnimalRead:
    return _animal_reads(conn, [_animal_row(conn, animal_id)])[0]


def _write(
    conn: Connection,
    actor: Actor,
    action: str,
    kind: str,
    object_id: int,
    payload: dict[str, Any],
) -> None:
    """The audit row and the outbox event of one change, in the caller's transaction."""
    record_in(conn, actor, action, object_type=kind, object_id=str(object_id), detail=payload)
    events.emit(
        conn, action, aggregate_type=kind, aggregate_id=object_id, payload=payload, actor=actor.username
    )


# --------------------------------------------------------------------------- owners
def _check_owner_external_id(conn: Connection, external_id: str, owner_id: int | None = None) -> None:
    if not external_id:
        return
    query = select(OWNERS.c.id).where(OWNERS.c.external_id == external_id)
    if owner_id is not None:
        query = query.where(OWNERS.c.id != owner_id)
    taken = conn.execute(query).first()
    if taken is not None:
        raise Conflict(f"owner external id {external_id!r} is already used by owner {taken.id}")


def insert_owner(conn: Connection, body: OwnerCreate, *, actor: Actor) -> OwnerRead:
    """Register an owner inside the caller's transaction (audit and event ``owner.created``).

    A taken PMS external id is Conflict. :func:`create_owner` is this in its own transaction.
    """
    now = utcnow()
    values = body.model_dump()
    values["family_name"] = values["family_name"].strip()
    _check_owner_external_id(conn, body.external_id)
    result = conn.execute(insert(OWNERS).values(**values, active=True, created_at=now, updated_at=now))
    owner_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    row = _owner_row(conn, owner_id)
    _write(
        conn,
        actor,
        "owner.created",
        "owner",
        owner_id,
        {"family_name": row.family_name, "external_id": row.external_id},
    )
    return _owner_read(row)


def create_owner(db: Database, body: OwnerCreate, *, actor: Actor) -> OwnerRead:
    """Register an owner (audit and event ``owner.created``); a taken PMS external id is Conflict."""
    with db.write_transaction() as conn:
        return insert_owner(conn, body, actor=actor)


def update_owner(db: Database, owner_id: int, body: OwnerUpdate, *, actor: Actor) -> OwnerRead:
    """Change an owner's details (audit and event ``owner.updated`` with the changed fields)."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None}
    with db.write_transaction() as conn:
        before = _owner_row(conn, owner_id)
        if "external_id" in changes:
            _check_owner_external_id(conn, changes["external_id"], owner_id)
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if changed:
            conn.execute(update(OWNERS).where(OWNERS.c.id == owner_id).values(**changed, updated_at=utcnow()))
            _write(conn, actor, "owner.updated", "owner", owner_id, {"changed": sorted(changed)})
        row = _owner_row(conn, owner_id)
    return _owner_read(row)


def get_owner(db: Database, owner_id: int) -> OwnerRead:
    """One owner (NotFound when absent)."""
    with db.engine.connect() as conn:
        return _owner_read(_owner_row(conn, owner_id))


def list_owners(db: Database, *, q: str = "", limit: int = 50, offset: int = 0) -> OwnerPage:
    """Owners by family name; ``q`` matches a family name prefix, an external id, phone or email."""
    with db.engine.connect() as conn:
        where: list[ColumnElement[bool]] = []
        if q.strip():
            text = q.strip()
            where.append(
                or_(
                    _prefix(conn, OWNERS.c.family_name, text),
                    OWNERS.c.external_id == text,
                    OWNERS.c.phone == text,
                    func.lower(OWNERS.c.email) == text.lower(),
                )
            )
        total = conn.execute(select(func.count()).select_from(OWNERS).where(*where)).scalar_one()
        rows = conn.execute(
            select(OWNERS)
            .where(*where)
            .order_by(func.lower(OWNERS.c.family_name), OWNERS.c.given_name, OWNERS.c.id)
            .limit(limit)
            .offset(offset)
        ).all()
    return OwnerPage(items=[_owner_read(r) for r in rows], total=total, limit=limit, offset=offset)


# --------------------------------------------------------------------------- animals
def _check_animal_unique(conn: Connection, values: dict[str, Any], animal_id: int | None = None) -> None:
    """Conflict when a patient id, a microchip or a PMS id already belongs to another live animal."""
    for column, label in (
        ("patient_id", "patient id"),
        ("microchip", "microchip"),
        ("external_id", "external id"),
    ):
        value = values.get(column)
        if not value:
            continue
        query = select(ANIMALS.c.id).where(ANIMALS.c[column] == value)
        if column != "patient_id":  # a merged record keeps its chip and PMS id, hidden
            query = query.where(ANIMALS.c.merged_into_id.is_(None))
        if animal_id is not None:
            query = query.where(ANIMALS.c.id != animal_id)
        taken = conn.execute(query).first()
        if taken is not None:
            raise Conflict(f"{label} {value!r} is already used by animal {taken.id}")


def _coded(conn: Connection, values: dict[str, Any], species_id: int | None) -> None:
    """Resolve ``species_code``/``breed_code`` in ``values`` to ids (Invalid when unknown)."""
    species_code = values.pop("species_code", None)
    breed_code = values.pop("breed_code", None)
    species_row = None
    if species_code is not None:
        species_row = species_by_code(conn, species_code) if species_code.strip() else None
        values["species_id"] = species_row.id if species_row is not None else None
        if species_row is None or species_row.id != species_id:
            values.setdefault("breed_id", None)  # a breed belongs to the old species
    elif species_id is not None:
        species_row = conn.execute(select(SPECIES).where(SPECIES.c.id == species_id)).first()
    if breed_code is not None:
        if not breed_code.strip():
            values["breed_id"] = None
        elif species_row is None:
            raise Invalid("a breed code needs a species code (breeds are coded per species)")
        else:
            values["breed_id"] = breed_by_code(conn, species_row, breed_code).id


def _owner_links(conn: Connection, links: list[OwnerLink]) -> list[OwnerLink]:
    """Check owner links of a new animal: owners exist, at most one primary (the first by default)."""
    if not links:
        return []
    ids = [link.owner_id for link in links]
    if len(set(ids)) != len(ids):
        raise Invalid("an owner is listed twice")
    found = {r.id for r in conn.execute(select(OWNERS.c.id).where(OWNERS.c.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"no owner with id {missing[0]}")
    primaries = [link for link in links if link.is_primary]
    if len(primaries) > 1:
        raise Invalid("an animal has one primary owner; several were marked primary")
    primary = primaries[0].owner_id if primaries else links[0].owner_id
    return [link.model_copy(update={"is_primary": link.owner_id == primary}) for link in links]


def insert_animal(
    conn: Connection,
    body: AnimalCreate,
    *,
    actor: Actor,
    patient_id_prefix: str = DEFAULT_PATIENT_ID_PREFIX,
    issuer_of_patient_id: str = DEFAULT_ISSUER,
) -> AnimalRead:
    """Register an animal inside the caller's transaction (audit and event ``animal.created``).

    Without ``patient_id`` the Patient ID is ``patient_id_prefix`` + the zero-padded record id
    (``VP000042``). Unknown species or breed codes are Invalid; a taken patient id, microchip or PMS
    id is Conflict. :func:`create_animal` is this in its own transaction.
    """
    values = body.model_dump(exclude={"owners", "patient_id"})
    values["name"] = values["name"].strip()
    values["microchip"] = values["microchip"].replace(" ", "")
    given_id = body.patient_id.strip() if body.patient_id else ""
    now = utcnow()
    _coded(conn, values, None)
    links = _owner_links(conn, body.owners)
    _check_animal_unique(conn, {**values, "patient_id": given_id})
    try:
        result = conn.execute(
            insert(ANIMALS).values(
                **values,
                patient_id=given_id or f"~{uuid.uuid4().hex}",
                issuer_of_patient_id=issuer_of_patient_id,
                created_at=now,
                updated_at=now,
            )
        )
    except IntegrityError as exc:  # a concurrent writer took the patient id (PostgreSQL)
        raise Conflict(f"patient id {given_id!r} is already used") from exc  # the caller rolls back
    animal_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if not given_id:
        conn.execute(
            update(ANIMALS)
            .where(ANIMALS.c.id == animal_id)
            .values(patient_id=_free_patient_id(conn, patient_id_prefix, animal_id))
        )
    for link in links:
        conn.execute(insert(LINKS).values(animal_id=animal_id, **link.model_dump()))
    read = _animal_read(conn, animal_id)
    _write(
        conn,
        actor,
        "animal.created",
        "animal",
        animal_id,
        {"patient_id": read.patient_id, "name": read.name, "owners": [o.owner_id for o in read.owners]},
    )
    return read


def create_animal(
    db: Database,
    body: AnimalCreate,
    *,
    actor: Actor,
    patient_id_prefix: str = DEFAULT_PATIENT_ID_PREFIX,
    issuer_of_patient_id: str = DEFAULT_ISSUER,
) -> AnimalRead:
    """Register an animal in its own transaction: :func:`insert_animal`."""
    with db.write_transaction() as conn:
        return insert_animal(
            conn,
            body,
            actor=actor,
            patient_id_prefix=patient_id_prefix,
            issuer_of_patient_id=issuer_of_patient_id,
        )


def _free_patient_id(conn: Connection, prefix: str, animal_id: int) -> str:
    """``prefix`` + zero-padded id; a suffix when someone registered that id by hand."""
    base = f"{prefix}{animal_id:06d}"
    candidate, n = base, 1
    while conn.execute(select(ANIMALS.c.id).where(ANIMALS.c.patient_id == candidate)).first() is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def update_animal(db: Database, animal_id: int, body: AnimalUpdate, *, actor: Actor) -> AnimalRead:
    """Change an animal (audit and event ``animal.updated``); a merged record is Conflict."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "weight_kg"}
    if "microchip" in changes:
        changes["microchip"] = changes["microchip"].replace(" ", "")
    with db.write_transaction() as conn:
        before = _live_animal_row(conn, animal_id)
        _coded(conn, changes, before.species_id)
        _check_animal_unique(conn, changes, animal_id)
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if changed:
            conn.execute(
                update(ANIMALS).where(ANIMALS.c.id == animal_id).values(**changed, updated_at=utcnow())
            )
            _write(conn, actor, "animal.updated", "animal", animal_id, {"changed": sorted(changed)})
        return _animal_read(conn, animal_id)


def get_animal(db: Database, animal_id: int) -> AnimalRead:
    """One animal (a merged one too: it shows ``merged_into_id``)."""
    with db.engine.connect() as conn:
        return _animal_read(conn, animal_id)


def get_animal_by_patient_id(db: Database, patient_id: str) -> AnimalRead:
    """The animal with this DICOM Patient ID (NotFound when none)."""
    with db.engine.connect() as conn:
        row = conn.execute(select(ANIMALS).where(ANIMALS.c.patient_id == patient_id)).first()
        if row is None:
            raise NotFound(f"no animal with patient id {patient_id!r}")
        return _animal_reads(conn, [row])[0]


def _ids_owned_by(conn: Connection, owner: str, *, by_id: bool = True) -> Select[Any]:
    """Animal ids of owners whose family name starts with ``owner`` (or of owner id ``owner``)."""
    text = owner.strip()
    query = select(LINKS.c.animal_id).join(OWNERS, OWNERS.c.id == LINKS.c.owner_id)
    if by_id and text.isdigit():
        return query.where(LINKS.c.owner_id == int(text))
    return query.where(_prefix(conn, OWNERS.c.family_name, text))


def _search_filters(conn: Connection, query: AnimalQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [ANIMALS.c.merged_into_id.is_(None)]
    if query.q.strip():
        text = query.q.strip()
        matching = union(
            select(ANIMALS.c.id).where(_prefix(conn, ANIMALS.c.name, text)),
            _ids_owned_by(conn, text, by_id=False),
            select(LINKS.c.animal_id)
            .join(OWNERS, OWNERS.c.id == LINKS.c.owner_id)
            .where(or_(_prefix(conn, OWNERS.c.given_name, text), OWNERS.c.phone == text)),
            select(ANIMALS.c.id).where(ANIMALS.c.patient_id.in_({text, text.upper()})),
            select(ANIMALS.c.id).where(ANIMALS.c.microchip == text.replace(" ", "")),
            select(ANIMALS.c.id).where(ANIMALS.c.external_id == text),
        )
        where.append(ANIMALS.c.id.in_(matching.scalar_subquery()))
    if query.species.strip():
        text = query.species.strip()
        species_ids = [
            r.id
            for r in conn.execute(
                select(SPECIES.c.id).where(
                    or_(
                        SPECIES.c.code == text,
                        func.lower(SPECIES.c.name) == text.lower(),
                        func.lower(SPECIES.c.common_name) == text.lower(),
                    )
                )
            )
        ]
        where.append(
            or_(ANIMALS.c.species_id.in_(species_ids), func.lower(ANIMALS.c.species_text) == text.lower())
        )
    if query.breed.strip():
        text = query.breed.strip()
        breed_ids = [
            r.id
            for r in conn.execute(
                select(BREEDS.c.id).where(or_(BREEDS.c.code == text, _prefix(conn, BREEDS.c.name, text)))
            )
        ]
        where.append(or_(ANIMALS.c.breed_id.in_(breed_ids), _prefix(conn, ANIMALS.c.breed_text, text)))
    if query.owner.strip():
        where.append(ANIMALS.c.id.in_(_ids_owned_by(conn, query.owner).scalar_subquery()))
    if query.microchip.strip():
        where.append(ANIMALS.c.microchip == query.microchip.replace(" ", ""))
    if query.external_id.strip():
        where.append(ANIMALS.c.external_id == query.external_id.strip())
    if query.patient_id.strip():
        where.append(ANIMALS.c.patient_id == query.patient_id.strip())
    return where


def matching_animal_ids(conn: Connection, query: AnimalQuery) -> Select[Any]:
    """SELECT of the ids of the live animals matching ``query`` (the rules of :func:`search_animals`),
    for other searches to build on (the clinic search matches studies of these animals)."""
    return select(ANIMALS.c.id).where(*_search_filters(conn, query))


def search_animals(db: Database, query: AnimalQuery) -> AnimalPage:
    """Animals matching every criterion of ``query`` (merged records hidden), by name, one page."""
    with db.engine.connect() as conn:
        where = _search_filters(conn, query)
        total = conn.execute(select(func.count()).select_from(ANIMALS).where(*where)).scalar_one()
        rows = conn.execute(
            select(ANIMALS)
            .where(*where)
            .order_by(func.lower(ANIMALS.c.name), ANIMALS.c.id)
            .limit(query.limit)
            .offset(query.offset)
        ).all()
        items = _animal_reads(conn, rows)
    return AnimalPage(items=items, total=total, limit=query.limit, offset=query.offset)


# --------------------------------------------------------------------------- owner links
def link_owner_in(conn: Connection, animal_id: int, link: OwnerLink, *, actor: Actor) -> AnimalRead:
    """Link an owner to an animal, or change the link, inside the caller's transaction (one primary
    owner: the Responsible Person). A merged animal is Conflict, a missing one or owner NotFound."""
    _live_animal_row(conn, animal_id)
    _owner_row(conn, link.owner_id)
    current = {r.owner_id: r for r in conn.execute(select(LINKS).where(LINKS.c.animal_id == animal_id))}
    others_primary = any(r.is_primary for oid, r in current.items() if oid != link.owner_id)
    primary = link.is_primary or not others_primary
    if primary:
        conn.execute(update(LINKS).where(LINKS.c.animal_id == animal_id).values(is_primary=False))
    values = {"role": link.role.strip().upper() or "OWNER", "is_primary": primary}
    if link.owner_id in current:
        conn.execute(
            update(LINKS)
            .where(LINKS.c.animal_id == animal_id, LINKS.c.owner_id == link.owner_id)
            .values(**values)
        )
    else:
        conn.execute(insert(LINKS).values(animal_id=animal_id, owner_id=link.owner_id, **values))
    conn.execute(update(ANIMALS).where(ANIMALS.c.id == animal_id).values(updated_at=utcnow()))
    _write(conn, actor, "animal.owner_linked", "animal", animal_id, {"owner_id": link.owner_id, **values})
    return _animal_read(conn, animal_id)


def link_owner(db: Database, animal_id: int, link: OwnerLink, *, actor: Actor) -> AnimalRead:
    """Link an owner to an animal, or change the link, in its own transaction: :func:`link_owner_in`."""
    with db.write_transaction() as conn:
        return link_owner_in(conn, animal_id, link, actor=actor)


def unlink_owner(db: Database, animal_id: int, owner_id: int, *, actor: Actor) -> AnimalRead:
    """Remove an owner from an animal; when it was the primary one, the next owner becomes primary."""
    with db.write_transaction() as conn:
        _live_animal_row(conn, animal_id)
        mine = (LINKS.c.animal_id == animal_id) & (LINKS.c.owner_id == owner_id)
        row = conn.execute(select(LINKS).where(mine)).first()
        if row is None:
            raise NotFound(f"owner {owner_id} is not an owner of animal {animal_id}")
        conn.execute(delete(LINKS).where(mine))
        if row.is_primary:
            _promote_primary(conn, animal_id)
        conn.execute(update(ANIMALS).where(ANIMALS.c.id == animal_id).values(updated_at=utcnow()))
        _write(conn, actor, "animal.owner_unlinked", "animal", animal_id, {"owner_id": owner_id})
        return _animal_read(conn, animal_id)


def _promote_primary(conn: Connection, animal_id: int) -> None:
    nxt = conn.execute(
        select(LINKS.c.owner_id).where(LINKS.c.animal_id == animal_id).order_by(LINKS.c.owner_id).limit(1)
    ).first()
    if nxt is not None:
        conn.execute(
            update(LINKS)
            .where(LINKS.c.animal_id == animal_id, LINKS.c.owner_id == nxt.owner_id)
            .values(is_primary=True)
        )


# --------------------------------------------------------------------------- DICOM identity
def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning[:64]
    return item


def _ds_number(value: float) -> str:
    """A DS value (at most 16 characters): 34.2, 585, 0.125."""
    return f"{value:.3f}".rstrip("0").rstrip(".")[:16]


def record_former_id_in(conn: Connection, animal_id: int, patient_id: str, issuer: str, reason: str) -> None:
    """Remember that ``animal_id`` was known as ``patient_id`` (caller's transaction; ``reason``
    ``changed`` or ``merged``). The former IDs of an animal merged away move with it."""
    conn.execute(
        insert(FORMER_IDS).values(
            animal_id=animal_id,
            patient_id=patient_id,
            issuer_of_patient_id=issuer,
            reason=reason,
            created_at=utcnow(),
        )
    )


def former_patient_ids(conn: Connection, animal_id: int) -> set[str]:
    """Every Patient ID the animal was known by: changed ones (ADT^A47) and those of the animals
    merged into it (ADT^A40), its current one excluded."""
    changed = conn.execute(select(FORMER_IDS.c.patient_id).where(FORMER_IDS.c.animal_id == animal_id))
    merged = conn.execute(select(ANIMALS.c.patient_id).where(ANIMALS.c.merged_into_id == animal_id))
    current = conn.execute(select(ANIMALS.c.patient_id).where(ANIMALS.c.id == animal_id)).scalar()
    return ({r[0] for r in changed} | {r[0] for r in merged}) - {current}


def resolve_merged(conn: Connection, animal_id: int) -> Row[Any]:
    """The animal row, following ``merged_into_id`` to the surviving record."""
    row = _animal_row(conn, animal_id)
    seen = {row.id}
    while row.merged_into_id is not None and row.merged_into_id not in seen:
        seen.add(row.merged_into_id)
        row = _animal_row(conn, row.merged_into_id)
    return row


def dicom_patient_attributes(conn: Connection, animal_id: int) -> Dataset:
    """The animal's DICOM patient identity (Patient module and CP-643 veterinary attributes).

    PatientName ``OWNERFAMILY^AnimalName``, PatientID, IssuerOfPatientID, PatientBirthDate,
    PatientSex, PatientSexNeutered, PatientWeight (kg), PatientSpeciesDescription and
    PatientSpeciesCodeSequence (CID 7454), PatientBreedDescription and PatientBreedCodeSequence
    (CID 7480; empty when not coded), BreedRegistrationSequence (empty), ResponsiblePerson
    (``FAMILY^Given`` of the primary owner) and ResponsiblePersonRole, ResponsibleOrganization and
    OtherPatientIDsSequence with the microchip (TypeOfPatientID RFID, issuer MICROCHIP). Empty type 2
    attributes are present with no value. A merged animal answers with its survivor's identity.
    """
    row = resolve_merged(conn, animal_id)
    species = (
        conn.execute(select(SPECIES).where(SPECIES.c.id == row.species_id)).first()
        if row.species_id is not None
        else None
    )
    breed = (
        conn.execute(select(BREEDS).where(BREEDS.c.id == row.breed_id)).first()
        if row.breed_id is not None
        else None
    )
    owner = conn.execute(
        select(OWNERS.c.family_name, OWNERS.c.given_name, LINKS.c.role)
        .join(LINKS, LINKS.c.owner_id == OWNERS.c.id)
        .where(LINKS.c.animal_id == row.id)
        .order_by(LINKS.c.is_primary.desc(), LINKS.c.owner_id)
        .limit(1)
    ).first()
    family = owner.family_name.strip().upper() if owner is not None else ""
    ds = Dataset()
    ds.PatientName = patient_name(family, row.name)
    ds.PatientID = row.patient_id
    ds.IssuerOfPatientID = row.issuer_of_patient_id
    ds.PatientBirthDate = row.birth_date
    ds.PatientSex = row.sex
    ds.PatientSexNeutered = row.neuter_status
    ds.PatientWeight = _ds_number(row.weight_kg) if row.weight_kg is not None else None
    ds.PatientSpeciesDescription = species.name if species is not None else row.species_text
    ds.PatientSpeciesCodeSequence = DicomSequence(
        [_code_item(species.code, species.coding_scheme, species.latin_name or species.name)]
        if species is not None
        else []
    )
    ds.PatientBreedDescription = row.breed_text or (breed.name if breed is not None else "")
    ds.PatientBreedCodeSequence = DicomSequence(
        [_code_item(breed.code, breed.coding_scheme, breed.name)] if breed is not None else []
    )
    ds.BreedRegistrationSequence = DicomSequence([])
    if owner is not None:
        ds.ResponsiblePerson = f"{family}^{owner.given_name.strip()}" if owner.given_name.strip() else family
        ds.ResponsiblePersonRole = owner.role or "OWNER"
    else:
        ds.ResponsiblePerson = ""
    ds.ResponsibleOrganization = row.responsible_organization
    chips = []
    if row.microchip:
        chip = Dataset()
        chip.PatientID = row.microchip
        chip.IssuerOfPatientID = "MICROCHIP"
        chip.TypeOfPatientID = "RFID"
        chips.append(chip)
    ds.OtherPatientIDsSequence = DicomSequence(chips)
    return ds


def animal_ids_with_patient_ids(conn: Connection, patient_ids: Iterable[str]) -> dict[str, int]:
    """Live animal id by Patient ID for the given ids (for linking and reconciliation)."""
    wanted = list(set(patient_ids))
    if not wanted:
        return {}
    rows = conn.execute(select(ANIMALS.c.id, ANIMALS.c.patient_id).where(ANIMALS.c.patient_id.in_(wanted)))
    return {r.patient_id: r.id for r in rows}
