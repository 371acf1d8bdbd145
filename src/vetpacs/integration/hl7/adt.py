"""ADT messages: register or update an animal and its owners, merge animals, change an identifier.

HL7 v2.5.1 chapter 3: ADT^A01/A04/A05/A08/A28/A31 (3.3.1, 3.3.4, 3.3.8), ADT^A40 merge patient
(3.3.40, IHE PIR) and ADT^A47 change patient identifier (3.3.47). Veterinary conventions (see
docs/integration/hl7.md): PID-5 ``OWNER^Animal``, PID-8.2 neuter Y/N, PID-35/36 coded species and
breed, owner in NK1 or PID-9, microchip as a PID-3 repetition typed RFID/MC or assigned by
MICROCHIP, weight in OBX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hl7
from sqlalchemy import Connection, Row, func, select

from vetpacs.auth.roles import Actor
from vetpacs.errors import Invalid, NotFound
from vetpacs.integration.hl7 import parse as p
from vetpacs.integration.hl7.context import InTransaction, Outcome, Registrar, build_model, parse_timestamp
from vetpacs.integration.hl7.parse import Header, Hl7Error
from vetpacs.patients.merge import change_identifier, merge_animals
from vetpacs.patients.schemas import (
    AnimalCreate,
    AnimalUpdate,
    Neuter,
    OwnerCreate,
    OwnerLink,
    OwnerUpdate,
    Sex,
)
from vetpacs.patients.service import (
    ANIMALS,
    LINKS,
    OWNERS,
    create_animal,
    create_owner,
    link_owner,
    update_animal,
    update_owner,
)
from vetpacs.patients.vocabulary import SPECIES, breed_by_code, species_by_code

ADT_REGISTER = ("A01", "A04", "A05", "A08", "A28", "A31")
MICROCHIP_TYPES = ("RFID", "MC", "MICROCHIP", "CHIP")
WEIGHT_CODES = ("29463-7", "3141-9", "8335-2", "WEIGHT", "WT", "BW")


def adt_register(
    listener: Registrar, db: InTransaction, msg: hl7.Message, head: Header, actor: Actor
) -> Outcome:
    """ADT^A01/A04/A05/A08/A28/A31: register the animal of PID (and its owners), or update it."""
    animal_id = register_from_pid(listener, db, msg, actor, create=True)
    pid = animal_patient_id(db._conn, animal_id)
    return Outcome(patient_id=pid, text=f"animal {pid} registered/updated")


def adt_merge(db: InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
    """ADT^A40: MRG-1 (the merged animal) into PID-3 (the survivor); studies move to the survivor."""
    conn = db._conn
    if not p.count(msg, "MRG"):
        raise Hl7Error("MRG segment missing", location="MRG", condition=p.E_SEGMENT_SEQUENCE)
    survivor = _find_animal(conn, msg, "PID", 3, required=True)
    merged = _find_animal(conn, msg, "MRG", 1, required=True)
    assert survivor is not None and merged is not None
    if survivor.id == merged.id:
        raise Hl7Error("PID-3 and MRG-1 name the same animal", location="MRG^1^1", condition=p.E_UNKNOWN_KEY)
    result = merge_animals(db, survivor.id, merged.id, actor=actor)
    return Outcome(
        patient_id=survivor.patient_id,
        text=f"{merged.patient_id} merged into {survivor.patient_id} "
        f"({len(result.studies_corrected)} stud(ies) moved)",
    )


def adt_change_id(db: InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
    """ADT^A47: the animal known by MRG-1 gets the identifier in PID-3 (PMS id or microchip)."""
    conn = db._conn
    if not p.count(msg, "MRG"):
        raise Hl7Error("MRG segment missing", location="MRG", condition=p.E_SEGMENT_SEQUENCE)
    animal = _find_animal(conn, msg, "MRG", 1, required=True)
    assert animal is not None
    new_id, new_chip = _identifiers(msg, "PID", 3)
    if not new_id and not new_chip:
        raise Hl7Error("PID-3 (the new identifier) is empty", location="PID^1^3")
    result = change_identifier(
        db, animal.id, external_id=new_id or None, microchip=new_chip or None, actor=actor
    )
    now = result.animal.patient_id
    moved = len(result.studies_corrected)
    text = f"identifier of {animal.patient_id} changed" + (f" to {now}" if now != animal.patient_id else "")
    return Outcome(patient_id=now, text=f"{text} ({moved} stud(ies) corrected)")


def _identifiers(msg: hl7.Message, seg: str, fld: int) -> tuple[str, str]:
    """(PMS patient id, microchip) from a CX list: a repetition typed RFID/MC/MICROCHIP is the chip."""
    pid, chip = "", ""
    for rep in range(1, max(1, p.repetitions(msg, seg, fld)) + 1):
        value = p.get(msg, seg, fld, rep, 1)
        if not value:
            continue
        kind = (p.get(msg, seg, fld, rep, 5) + " " + p.get(msg, seg, fld, rep, 4)).upper()
        if any(t in kind.split() for t in MICROCHIP_TYPES):
            chip = chip or value.replace(" ", "")
        else:
            pid = pid or value
    return pid, chip


def _find_animal(
    conn: Connection, msg: hl7.Message, seg: str, fld: int, *, required: bool
) -> Row[Any] | None:
    """The live animal named by a CX list: PMS id (external id, then Patient ID), else microchip."""
    pid, chip = _identifiers(msg, seg, fld)
    where = f"{seg}^1^{fld}"
    if not pid and not chip:
        if required:
            raise Hl7Error(f"{seg}-{fld} (patient identifier) is empty", location=where)
        return None
    row = None
    if pid:
        for column in (ANIMALS.c.external_id, ANIMALS.c.patient_id):
            row = conn.execute(select(ANIMALS).where(column == pid).order_by(ANIMALS.c.id)).first()
            if row is not None:
                break
    if row is None and chip:
        row = conn.execute(select(ANIMALS).where(ANIMALS.c.microchip == chip)).first()
    while row is not None and row.merged_into_id is not None:
        row = conn.execute(select(ANIMALS).where(ANIMALS.c.id == row.merged_into_id)).first()
    if row is None and required:
        raise Hl7Error(f"no animal with identifier {pid or chip}", location=where, condition=p.E_UNKNOWN_KEY)
    return row


def animal_patient_id(conn: Connection, animal_id: int) -> str:
    return str(conn.execute(select(ANIMALS.c.patient_id).where(ANIMALS.c.id == animal_id)).scalar_one())


def _weight_kg(msg: hl7.Message) -> float | None:
    """Body weight from an OBX (LOINC 29463-7/3141-9 or a text naming weight) in kg; lb converted."""
    for n in range(1, p.count(msg, "OBX") + 1):
        ident = " ".join(p.get(msg, "OBX", 3, 1, c, n=n) for c in (1, 2)).upper()
        if not any(code in ident.replace("-", " ").split() or code in ident for code in WEIGHT_CODES):
            continue
        raw = p.get(msg, "OBX", 5, n=n)
        unit = (p.get(msg, "OBX", 6, 1, 1, n=n) or "kg").lower()
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            raise Hl7Error(
                f"weight {raw!r} is not a number", location=f"OBX^{n}^5", condition=p.E_DATA_TYPE
            ) from None
        factors = {"kg": 1.0, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237, "g": 0.001}
        if unit not in factors:
            raise Hl7Error(
                f"weight unit {unit!r} is not kg, g or [lb_av]",
                location=f"OBX^{n}^6",
                condition=p.E_TABLE_VALUE,
            )
        return round(value * factors[unit], 3)
    return None


@dataclass
class _OwnerIn:
    family_name: str
    given_name: str = ""
    phone: str = ""
    address_line: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""
    external_id: str = ""
    role: str = "OWNER"
    where: str = "NK1^1"


def _owners_of(msg: hl7.Message) -> list[_OwnerIn]:
    """Owners: every NK1 (name, relationship, address, phone, NK1-33 id), else PID-9, else PID-5.1."""
    owners: list[_OwnerIn] = []
    for n in range(1, p.count(msg, "NK1") + 1):
        family = p.get(msg, "NK1", 2, 1, 1, n=n)
        if not family:
            continue
        relation = (p.get(msg, "NK1", 3, 1, 1, n=n) or "OWNER").upper()
        role = "OWNER" if relation in ("OWN", "OWNER", "SEL", "RESPONSIBLE") else relation[:16]
        street = " ".join(x for x in (p.get(msg, "NK1", 4, 1, 1, n=n), p.get(msg, "NK1", 4, 1, 2, n=n)) if x)
        owners.append(
            _OwnerIn(
                family_name=family,
                given_name=p.get(msg, "NK1", 2, 1, 2, n=n),
                phone=p.get(msg, "NK1", 5, 1, 1, n=n) or p.get(msg, "NK1", 5, 1, 12, n=n),
                address_line=street,
                city=p.get(msg, "NK1", 4, 1, 3, n=n),
                postal_code=p.get(msg, "NK1", 4, 1, 5, n=n),
                country=p.get(msg, "NK1", 4, 1, 6, n=n)[:2].upper(),
                external_id=p.get(msg, "NK1", 33, 1, 1, n=n),
                role=role,
                where=f"NK1^{n}",
            )
        )
    if not owners and p.get(msg, "PID", 9, 1, 1):
        owners.append(
            _OwnerIn(
                family_name=p.get(msg, "PID", 9, 1, 1),
                given_name=p.get(msg, "PID", 9, 1, 2),
                phone=p.get(msg, "PID", 13, 1, 1),
                address_line=p.get(msg, "PID", 11, 1, 1),
                city=p.get(msg, "PID", 11, 1, 3),
                postal_code=p.get(msg, "PID", 11, 1, 5),
                country=p.get(msg, "PID", 11, 1, 6)[:2].upper(),
                where="PID^1^9",
            )
        )
    if not owners and p.get(msg, "PID", 5, 1, 2) and p.get(msg, "PID", 5, 1, 1):
        owners.append(_OwnerIn(family_name=p.get(msg, "PID", 5, 1, 1), where="PID^1^5^1"))
    return owners


def _apply_owners(db: InTransaction, animal_id: int, owners: list[_OwnerIn], actor: Actor) -> None:
    """Create or update each owner (matched by NK1-33 id, then by name among its owners); link it."""
    conn = db._conn
    linked = {
        r.owner_id for r in conn.execute(select(LINKS.c.owner_id).where(LINKS.c.animal_id == animal_id))
    }
    for n, o in enumerate(owners):
        row = None
        if o.external_id:
            row = conn.execute(select(OWNERS).where(OWNERS.c.external_id == o.external_id)).first()
        if row is None and linked:
            row = conn.execute(
                select(OWNERS).where(
                    OWNERS.c.id.in_(linked),
                    func.lower(OWNERS.c.family_name) == o.family_name.lower(),
                )
            ).first()
        fields = {k: v for k, v in vars(o).items() if k not in ("role", "where") and v}
        if row is None:
            owner_id = create_owner(db, build_model(OwnerCreate, o.where, **fields), actor=actor).id
        else:
            owner_id = row.id
            update_owner(db, owner_id, build_model(OwnerUpdate, o.where, **fields), actor=actor)
        if owner_id not in linked or n == 0:
            link_owner(
                db, animal_id, OwnerLink(owner_id=owner_id, is_primary=n == 0, role=o.role), actor=actor
            )
            linked.add(owner_id)


def register_from_pid(
    listener: Registrar, db: InTransaction, msg: hl7.Message, actor: Actor, *, create: bool
) -> int:
    """Register or update the animal (and owners, weight) described by PID/NK1/OBX; returns its id.

    HL7 v2.5.1 3.4.2 PID with the veterinary conventions: PID-3 ids (microchip typed RFID/MC),
    PID-5 ``OWNER^Animal``, PID-7 birth date, PID-8 sex (.2 neuter Y/N), PID-35/36 species and breed.
    """
    conn = db._conn
    if not p.count(msg, "PID"):
        raise Hl7Error("PID segment missing", location="PID", condition=p.E_SEGMENT_SEQUENCE)
    pms_id, chip = _identifiers(msg, "PID", 3)
    if not pms_id and not chip:
        raise Hl7Error("PID-3 (patient identifier list) is empty", location="PID^1^3")
    existing = _find_animal(conn, msg, "PID", 3, required=False)
    values: dict[str, Any] = {}
    family, given = p.get(msg, "PID", 5, 1, 1), p.get(msg, "PID", 5, 1, 2)
    name = given or family
    if name:
        values["name"] = name
    birth = p.get(msg, "PID", 7)
    if birth:
        values["birth_date"] = parse_timestamp(birth, "PID^1^7").strftime("%Y%m%d")
    sex = p.get(msg, "PID", 8, 1, 1).upper()
    if sex:
        values["sex"] = {"M": Sex.MALE, "F": Sex.FEMALE}.get(sex, Sex.OTHER)
    neuter = p.get(msg, "PID", 8, 1, 2).upper()
    if neuter in ("Y", "N"):
        values["neuter_status"] = Neuter.ALTERED if neuter == "Y" else Neuter.UNALTERED
    if chip:
        values["microchip"] = chip
    species_code = p.get(msg, "PID", 35, 1, 1)
    species_text = p.get(msg, "PID", 35, 1, 2)
    breed_code = p.get(msg, "PID", 36, 1, 1)
    breed_text = p.get(msg, "PID", 36, 1, 2)
    species_row = None
    if species_code:
        try:
            species_row = species_by_code(conn, species_code)
        except Invalid as exc:
            raise Hl7Error(f"PID-35: {exc}", location="PID^1^35", condition=p.E_TABLE_VALUE) from exc
        values["species_code"] = species_code
    elif species_text:
        values["species_text"] = species_text[:64]
    if breed_code:
        if species_row is None and existing is not None and existing.species_id is not None:
            species_row = conn.execute(select(SPECIES).where(SPECIES.c.id == existing.species_id)).first()
            if species_row is not None:
                values["species_code"] = species_row.code
        if species_row is None:
            raise Hl7Error("PID-36 breed needs a PID-35 species", location="PID^1^35", condition=p.E_REQUIRED)
        try:
            breed_by_code(conn, species_row, breed_code)
        except (Invalid, NotFound) as exc:
            raise Hl7Error(f"PID-36: {exc}", location="PID^1^36", condition=p.E_TABLE_VALUE) from exc
        values["breed_code"] = breed_code
    elif breed_text:
        values["breed_text"] = breed_text[:64]
    weight = _weight_kg(msg)
    if weight is not None:
        values["weight_kg"] = weight
    if p.get(msg, "PID", 30).upper() == "Y":
        values["deceased"] = True
    if existing is None:
        if not create:
            raise Hl7Error(
                f"no animal with identifier {pms_id or chip}", location="PID^1^3", condition=p.E_UNKNOWN_KEY
            )
        if "name" not in values:
            raise Hl7Error("PID-5 (patient name: OWNER^Animal) is empty", location="PID^1^5")
        body = build_model(AnimalCreate, "PID^1", patient_id=pms_id or None, external_id=pms_id, **values)
        animal_id = create_animal(
            db,
            body,
            actor=actor,
            patient_id_prefix=listener.patient_id_prefix,
            issuer_of_patient_id=listener.issuer_of_patient_id,
        ).id
    else:
        animal_id = int(existing.id)
        if pms_id and not existing.external_id:
            values["external_id"] = pms_id
        update_animal(db, animal_id, build_model(AnimalUpdate, "PID^1", **values), actor=actor)
    owners = _owners_of(msg)
    if owners:
        _apply_owners(db, animal_id, owners, actor)
    return animal_id
