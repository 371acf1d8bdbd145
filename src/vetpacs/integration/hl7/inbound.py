"""Apply inbound HL7 v2 messages (ADT, ORM, OMI) to animals, owners and orders; answer with an ACK.

Implements, for HL7 v2.3.1 to v2.5.1:
- chapter 3 (Patient Administration): ADT^A01/A04/A05/A08/A28/A31 register or update an animal and
  its owner (3.3.1, 3.3.4, 3.3.8), ADT^A40 merge patient (3.3.40, IHE PIR), ADT^A47 change patient
  identifier (3.3.47);
- chapter 4 (Order Entry): ORM^O01 (v2.3.1 4.4.1; IHE SWF flavour with OBR-18/19/20/24 and ZDS) and
  OMI^O23 (v2.5.1 4.4.10, the IPC segment) create (ORC-1 NW), change (XO: re-book) and cancel (CA,
  OC, DC) orders;
- chapter 2: original-mode acknowledgment (2.9.2) with MSA and ERR; a repeated MSH-10 from the same
  MSH-3/MSH-4 is answered with the stored ACK and not applied twice.

Each message is applied in ONE index transaction, together with its audit rows, outbox events and
its ``hl7_messages`` row; the ACK is returned only after that commit. Veterinary conventions (see
docs/integration/hl7.md): PID-5 ``OWNER^Animal``, PID-8.2 neuter Y/N, PID-35/36 coded species and
breed, owner in NK1 or PID-9, microchip as a PID-3 repetition with identifier type RFID/MC or
assigning authority MICROCHIP, weight in OBX.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import hl7
from pydantic import ValidationError
from sqlalchemy import Connection, Row, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.auth.roles import Actor, Role
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.integration.hl7 import parse as p
from vetpacs.integration.hl7.parse import Header, Hl7Error
from vetpacs.integration.models import Hl7Message
from vetpacs.orders.catalog import PROCEDURES
from vetpacs.orders.lifecycle import ORDERS, STEPS, advance_order
from vetpacs.orders.models import OrderStatus, Priority, Station
from vetpacs.orders.scheduling import book_step
from vetpacs.orders.schemas import OrderCreate
from vetpacs.orders.service import IdentifierTaken, insert_order
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

log = logging.getLogger("vetpacs.hl7")

MESSAGES: Table = cast(Table, Hl7Message.__table__)
STATIONS: Table = cast(Table, Station.__table__)

ADT_REGISTER = ("A01", "A04", "A05", "A08", "A28", "A31")
MICROCHIP_TYPES = ("RFID", "MC", "MICROCHIP", "CHIP")
WEIGHT_CODES = ("29463-7", "3141-9", "8335-2", "WEIGHT", "WT", "BW")
PRIORITIES = {
    "S": Priority.STAT,
    "A": Priority.URGENT,
    "P": Priority.ROUTINE,
    "R": Priority.ROUTINE,
    "T": Priority.URGENT,
    "STAT": Priority.STAT,
    "ASAP": Priority.URGENT,
    "ROUTINE": Priority.ROUTINE,
}
# where a pydantic field of ours comes from, for the ERR segment
FIELD_LOCATIONS = {
    "name": "PID^1^5^2",
    "patient_id": "PID^1^3",
    "external_id": "PID^1^3",
    "microchip": "PID^1^3",
    "birth_date": "PID^1^7",
    "sex": "PID^1^8",
    "weight_kg": "OBX^1^5",
    "family_name": "NK1^1^2",
    "given_name": "NK1^1^2^2",
    "phone": "NK1^1^5",
    "address_line": "NK1^1^4",
    "city": "NK1^1^4^3",
    "postal_code": "NK1^1^4^5",
    "country": "NK1^1^4^6",
    "accession_number": "OBR^1^18",
    "priority": "OBR^1^27",
    "clinical_question": "OBR^1^31",
}

# where an order's identifiers come from: ORM^O01 (OBR, ZDS) and OMI^O23 (IPC)
ORDER_LOCATIONS_ORM = {
    **FIELD_LOCATIONS,
    "study_instance_uid": "ZDS^1^1",
    "requested_procedure_id": "OBR^1^19",
    "step_id": "OBR^1^20",
}
ORDER_LOCATIONS_OMI = {
    **FIELD_LOCATIONS,
    "accession_number": "IPC^1^1",
    "study_instance_uid": "IPC^1^3",
    "requested_procedure_id": "IPC^1^2",
    "step_id": "IPC^1^4",
}


@dataclass(frozen=True)
class Outcome:
    """What a message did (for its log row and the ACK text)."""

    patient_id: str = ""
    accession_number: str = ""
    text: str = ""


class _InTransaction(Archive):
    """The archive seen from inside one open transaction: domain services join it.

    Service functions open ``write_transaction()``; here that yields the message's connection, so
    registering the owner, the animal, the link and the order commit (or roll back) together.
    """

    def __init__(self, archive: Archive, conn: Connection) -> None:  # no dataclass __init__: no lock file
        self.engine = archive.engine
        self.store = archive.store
        self.duplicate_policy = archive.duplicate_policy
        self.case_insensitive_names = archive.case_insensitive_names
        self.study_hooks = archive.study_hooks
        self.write_engine = archive.write_engine
        self._thread_lock = archive._thread_lock
        self._lock_fd = None
        self._conn = conn

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """The message's own connection (commit and rollback belong to the caller)."""
        yield self._conn


@dataclass
class Hl7Listener:
    """Inbound HL7 v2 message handling bound to an archive (what the MLLP server calls)."""

    archive: Archive
    application: str = "VETPACS"  # our MSH-3 in ACKs
    patient_id_prefix: str = "VP"
    issuer_of_patient_id: str = "VETPACS"
    handlers: dict[str, Callable[[_InTransaction, hl7.Message, Header, Actor], Outcome]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        for trigger in ADT_REGISTER:
            self.handlers[f"ADT^{trigger}"] = self._adt_register
        self.handlers["ADT^A40"] = _adt_merge
        self.handlers["ADT^A47"] = _adt_change_id
        self.handlers["ORM^O01"] = self._order
        self.handlers["OMI^O23"] = self._order

    # ------------------------------------------------------------------ entry point
    def handle(self, raw: bytes, remote: str = "") -> bytes:
        """Apply one message (MLLP frame content) and return its ACK, after the effect committed."""
        return handle_message(self, raw, remote_address=remote).encode("utf-8")

    def on_oversize(self, head: bytes, remote: str) -> bytes:
        """AR for a frame over the size limit (logged with its first bytes)."""
        text = p.decode(head)
        header = p.scrape_header(text)
        error = Hl7Error(
            "message too large for this listener (hl7_max_message_bytes)",
            location="MSH^1",
            condition=p.E_INTERNAL,
            ack_code="AR",
        )
        ack = p.build_ack(
            header,
            "AR",
            our_application=self.application,
            control_id=_new_control_id(),
            text=error.text,
            error=error,
        )
        _store(self.archive, header, text, ack, status="rejected", error=error, remote=remote, synthetic=True)
        return ack.encode("utf-8")

    def on_truncated(self, partial: bytes, remote: str, reason: str) -> None:
        """Log a frame cut short (never answered: the sender never finished it)."""
        text = p.decode(partial)
        header = p.scrape_header(text)
        error = Hl7Error(
            f"truncated MLLP frame: {reason}", location="MSH^1", condition=p.E_SEGMENT_SEQUENCE, ack_code="AR"
        )
        _store(self.archive, header, text, "", status="truncated", error=error, remote=remote, synthetic=True)

    # ------------------------------------------------------------------ ADT
    def _adt_register(self, db: _InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
        animal_id = register_from_pid(self, db, msg, actor, create=True)
        pid = _animal_patient_id(db._conn, animal_id)
        return Outcome(patient_id=pid, text=f"animal {pid} registered/updated")

    # ------------------------------------------------------------------ ORM / OMI
    def _order(self, db: _InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
        conn = db._conn
        if not p.count(msg, "ORC"):
            raise Hl7Error("ORC segment missing", location="ORC", condition=p.E_SEGMENT_SEQUENCE)
        if not p.count(msg, "OBR"):
            raise Hl7Error("OBR segment missing", location="OBR", condition=p.E_SEGMENT_SEQUENCE)
        control = p.get(msg, "ORC", 1).upper()
        omi = head.message_type == "OMI"
        accession = (p.get(msg, "IPC", 1) if omi else "") or p.get(msg, "OBR", 18) or p.get(msg, "ORC", 3)
        placer = p.get(msg, "ORC", 2) or p.get(msg, "OBR", 2)
        if control in ("CA", "OC", "DC", "CR"):
            order = _find_order(conn, accession, placer)
            advance_order(
                conn,
                order.id,
                OrderStatus.CANCELLED,
                actor=actor,
                reason=f"HL7 {head.message_type}^{head.trigger} ORC-1 {control}",
            )
            return Outcome(
                patient_id=_animal_patient_id(conn, order.animal_id),
                accession_number=order.accession_number,
                text=f"order {order.accession_number} cancelled",
            )
        if control == "XO":
            order = _find_order(conn, accession, placer)
            self._book(conn, msg, order.id, omi, actor)
            return Outcome(
                patient_id=_animal_patient_id(conn, order.animal_id),
                accession_number=order.accession_number,
                text=f"order {order.accession_number} changed",
            )
        if control != "NW":
            raise Hl7Error(
                f"order control {control or '(empty)'} is not supported (NW, XO, CA)",
                location="ORC^1^1",
                condition=p.E_TABLE_VALUE,
            )
        animal_id = register_from_pid(self, db, msg, actor, create=True)
        code = p.get(msg, "OBR", 4, 1, 1)
        if not code:
            raise Hl7Error(
                "OBR-4 (universal service identifier: procedure code) is empty", location="OBR^1^4"
            )
        proc = conn.execute(select(PROCEDURES).where(PROCEDURES.c.code == code)).first()
        if proc is None:
            raise Hl7Error(
                f"unknown procedure code {code!r} (not in the catalog)",
                location="OBR^1^4",
                condition=p.E_TABLE_VALUE,
            )
        modality = (p.get(msg, "IPC", 5) if omi else "") or p.get(msg, "OBR", 24)
        if modality and modality.upper() != proc.modality.upper():
            raise Hl7Error(
                f"procedure {code} is performed on {proc.modality}, the message says {modality}",
                location="IPC^1^5" if omi and p.get(msg, "IPC", 5) else "OBR^1^24",
                condition=p.E_TABLE_VALUE,
            )
        priority_raw = (
            (p.get(msg, "TQ1", 9) if omi else "") or p.get(msg, "OBR", 27, 1, 6) or p.get(msg, "ORC", 7, 1, 6)
        )
        priority = PRIORITIES.get(priority_raw.upper(), Priority.ROUTINE)
        reason = p.get(msg, "OBR", 31, 1, 2) or p.get(msg, "OBR", 31, 1, 1) or p.get(msg, "OBR", 13)
        vet = " ".join(
            x for x in (p.get(msg, "ORC", 12, 1, 3), p.get(msg, "ORC", 12, 1, 2)) if x
        ) or " ".join(x for x in (p.get(msg, "OBR", 16, 1, 3), p.get(msg, "OBR", 16, 1, 2)) if x)
        # the PMS's Study Instance UID (ZDS-1 / IPC-3), requested procedure id and step id
        study_uid = (p.get(msg, "IPC", 3) if omi else "") or p.get(msg, "ZDS", 1, 1, 1)
        rp_id = (p.get(msg, "IPC", 2) if omi else "") or p.get(msg, "OBR", 19)
        sps_id = (p.get(msg, "IPC", 4) if omi else "") or p.get(msg, "OBR", 20)
        locations = ORDER_LOCATIONS_OMI if omi else ORDER_LOCATIONS_ORM
        data = _model(
            OrderCreate,
            "OBR^1",
            locations=locations,
            animal_id=animal_id,
            procedure_codes=[code],
            priority=priority,
            clinical_question=reason[:4000],
            requesting_vet=vet[:64],
            accession_number=accession or None,
            placer_order_number=placer[:64],
            study_instance_uid=study_uid or None,
            requested_procedure_id=rp_id or None,
            step_id=sps_id or None,
        )
        try:
            order_id = insert_order(conn, data, actor=actor)
        except IdentifierTaken as exc:
            raise Hl7Error(
                str(exc), location=locations.get(exc.field, "OBR^1"), condition=p.E_DUPLICATE_KEY
            ) from exc
        self._book(conn, msg, order_id, omi, actor)
        row = conn.execute(select(ORDERS).where(ORDERS.c.id == order_id)).one()
        return Outcome(
            patient_id=_animal_patient_id(conn, animal_id),
            accession_number=row.accession_number,
            text=f"order {row.accession_number} created",
        )

    def _book(self, conn: Connection, msg: hl7.Message, order_id: int, omi: bool, actor: Actor) -> None:
        """Book the order's steps on the station named by IPC-9 (AE title) at TQ1-7/OBR-27.4/OBR-36."""
        ae = p.get(msg, "IPC", 9) if omi else ""
        if not omi:
            ae = p.get(msg, "OBR", 21)  # some ORM senders put the station AE title in OBR-21
        start_raw = (
            (p.get(msg, "TQ1", 7) if omi else "") or p.get(msg, "OBR", 27, 1, 4) or p.get(msg, "OBR", 36)
        )
        if not ae:
            return
        station = conn.execute(select(STATIONS).where(STATIONS.c.ae_title == ae)).first()
        if station is None:
            if omi:
                raise Hl7Error(
                    f"no station with AE title {ae}", location="IPC^1^9", condition=p.E_TABLE_VALUE
                )
            return  # OBR-21 is a free filler field: only an AE we know is taken as the station
        start = _timestamp(start_raw, "TQ1^1^7" if omi else "OBR^1^27^4") if start_raw else datetime.now()
        steps = conn.execute(select(STEPS.c.id).where(STEPS.c.order_id == order_id).order_by(STEPS.c.id))
        at = start.replace(microsecond=0)
        for (step_pk,) in list(steps):
            at = book_step(conn, step_pk, station.id, at, actor=actor)


# ---------------------------------------------------------------------- ADT helpers
def _adt_merge(db: _InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
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


def _adt_change_id(db: _InTransaction, msg: hl7.Message, head: Header, actor: Actor) -> Outcome:
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


def _animal_patient_id(conn: Connection, animal_id: int) -> str:
    return str(conn.execute(select(ANIMALS.c.patient_id).where(ANIMALS.c.id == animal_id)).scalar_one())


def _timestamp(value: str, location: str) -> datetime:
    """An HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS]]]]], offset ignored) as naive local time."""
    digits = value.split("+")[0].split("-")[0].split(".")[0]
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}
    try:
        return datetime.strptime(digits, formats[len(digits)])
    except (KeyError, ValueError):
        raise Hl7Error(
            f"{value!r} is not an HL7 date/time", location=location, condition=p.E_DATA_TYPE
        ) from None


def _model(cls: Any, where: str, *, locations: dict[str, str] | None = None, **values: Any) -> Any:
    """Build a domain schema; a validation error becomes an AE naming the HL7 field it came from."""
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        raise Hl7Error(
            f"{name or where}: {first['msg']}",
            location=(locations or FIELD_LOCATIONS).get(name, where),
            condition=p.E_DATA_TYPE,
        ) from exc


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


def _apply_owners(db: _InTransaction, animal_id: int, owners: list[_OwnerIn], actor: Actor) -> None:
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
            owner_id = create_owner(db, _model(OwnerCreate, o.where, **fields), actor=actor).id
        else:
            owner_id = row.id
            update_owner(db, owner_id, _model(OwnerUpdate, o.where, **fields), actor=actor)
        if owner_id not in linked or n == 0:
            link_owner(
                db, animal_id, OwnerLink(owner_id=owner_id, is_primary=n == 0, role=o.role), actor=actor
            )
            linked.add(owner_id)


def register_from_pid(
    listener: Hl7Listener, db: _InTransaction, msg: hl7.Message, actor: Actor, *, create: bool
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
        values["birth_date"] = _timestamp(birth, "PID^1^7").strftime("%Y%m%d")
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
        body = _model(AnimalCreate, "PID^1", patient_id=pms_id or None, external_id=pms_id, **values)
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
        update_animal(db, animal_id, _model(AnimalUpdate, "PID^1", **values), actor=actor)
    owners = _owners_of(msg)
    if owners:
        _apply_owners(db, animal_id, owners, actor)
    return animal_id


def _find_order(conn: Connection, accession: str, placer: str) -> Row[Any]:
    row = None
    if accession:
        row = conn.execute(select(ORDERS).where(ORDERS.c.accession_number == accession)).first()
    if row is None and placer:
        row = conn.execute(
            select(ORDERS).where(ORDERS.c.placer_order_number == placer).order_by(ORDERS.c.id.desc())
        ).first()
    if row is None:
        raise Hl7Error(
            f"no order with accession number {accession or '-'} / placer number {placer or '-'}",
            location="OBR^1^18" if accession else "ORC^1^2",
            condition=p.E_UNKNOWN_KEY,
        )
    return row


# ---------------------------------------------------------------------- the message log
def _new_control_id() -> str:
    return f"VP{uuid.uuid4().hex[:18]}"


def _store(
    archive: Archive | Connection,
    head: Header,
    raw: str,
    ack: str,
    *,
    status: str,
    error: Hl7Error | None = None,
    outcome: Outcome | None = None,
    remote: str = "",
    synthetic: bool = False,
    ack_code: str = "",
) -> None:
    """Write (or, for a retried internal failure, rewrite) the ``hl7_messages`` row of one message."""
    control_id = head.control_id[:64]
    if synthetic or not control_id:
        control_id = f"~{uuid.uuid4().hex[:20]}"  # no usable MSH-10: a unique placeholder key
    values = {
        "direction": "in",
        "sending_application": head.sending_application[:64],
        "sending_facility": head.sending_facility[:64],
        "control_id": control_id,
        "message_type": (f"{head.message_type}^{head.trigger}" if head.trigger else head.message_type)[:16],
        "version": head.version[:8],
        "status": status,
        "ack_code": ack_code or (error.ack_code if error else ("AA" if ack else "")),
        "error": (
            f"{error.location}: {error.text}" if error and error.location else error.text if error else ""
        ),
        "patient_id": (outcome.patient_id if outcome else "")[:64],
        "accession_number": (outcome.accession_number if outcome else "")[:16],
        "raw": raw,
        "ack_raw": ack,
        "remote_address": remote[:64],
        "created_at": utcnow(),
    }

    def write(conn: Connection) -> None:
        key = (
            (MESSAGES.c.direction == "in")
            & (MESSAGES.c.sending_application == values["sending_application"])
            & (MESSAGES.c.sending_facility == values["sending_facility"])
            & (MESSAGES.c.control_id == control_id)
        )
        if conn.execute(select(MESSAGES.c.id).where(key)).first() is not None:
            conn.execute(update(MESSAGES).where(key).values(**values))
        else:
            conn.execute(insert(MESSAGES).values(**values))

    if isinstance(archive, Connection):
        write(archive)
    else:
        with archive.write_transaction() as conn:
            write(conn)


def _stored(archive: Archive, head: Header) -> Row[Any] | None:
    with archive.engine.connect() as conn:
        return conn.execute(
            select(MESSAGES).where(
                MESSAGES.c.direction == "in",
                MESSAGES.c.sending_application == head.sending_application[:64],
                MESSAGES.c.sending_facility == head.sending_facility[:64],
                MESSAGES.c.control_id == head.control_id[:64],
            )
        ).first()


def hl7_actor(head: Header, remote: str = "") -> Actor:
    """The acting identity of a message: the sending application (MSH-3), role INTEGRATION, via hl7."""
    name = head.sending_application or "hl7"
    if head.sending_facility:
        name = f"{name}@{head.sending_facility}"
    return Actor(username=name[:64], role=Role.INTEGRATION, address=remote.rsplit(":", 1)[0], via="hl7")


def handle_message(listener: Hl7Listener, raw: bytes, *, remote_address: str = "") -> str:
    """Apply one inbound HL7 v2 message and return the ACK text (HL7 v2.5.1 2.9.2 original mode).

    AR: not HL7, wrong encoding characters, unsupported type/event/version/processing id. AE: the
    content cannot be applied (ERR names the field). AA: applied and committed. A message whose
    MSH-10 was seen before from the same MSH-3/MSH-4 gets its stored ACK again and changes nothing.
    """
    archive = listener.archive
    text = p.decode(raw)
    head = p.scrape_header(text)
    try:
        enc = p.check_encoding(text)
        msg = p.parse(text)
        head = p.header_of(msg, text)
        if len(enc) == 5:
            head = Header(**{**vars(head), "enc": enc})
        _check_header(listener, head)
    except Hl7Error as exc:
        log.warning("HL7 message from %s rejected: %s (%s)", remote_address, exc.text, exc.location)
        ack = p.build_ack(
            head,
            exc.ack_code,
            our_application=listener.application,
            control_id=_new_control_id(),
            text=exc.text,
            error=exc,
        )
        _store_safely(
            archive,
            head,
            text,
            ack,
            status="rejected",
            error=exc,
            remote=remote_address,
            synthetic=not head.control_id or _stored(archive, head) is not None,
        )
        return ack
    previous = _stored(archive, head)
    if previous is not None and previous.status != "failed":
        log.info(
            "HL7 %s from %s: repeated control id %s, answering the stored ACK",
            previous.message_type,
            head.sending_application,
            head.control_id,
        )
        return str(previous.ack_raw)
    handler = listener.handlers[f"{head.message_type}^{head.trigger}"]
    actor = hl7_actor(head, remote_address)
    ack_id = _new_control_id()
    try:
        with archive.write_transaction() as conn:
            outcome = handler(_InTransaction(archive, conn), msg, head, actor)
            ack = p.build_ack(
                head, "AA", our_application=listener.application, control_id=ack_id, text=outcome.text
            )
            _store(
                conn, head, text, ack, status="applied", outcome=outcome, remote=remote_address, ack_code="AA"
            )
        log.info(
            "HL7 %s^%s %s from %s applied: %s",
            head.message_type,
            head.trigger,
            head.control_id,
            head.sending_application,
            outcome.text,
        )
        return ack
    except Hl7Error as exc:
        error = exc
        status = "rejected" if exc.ack_code == "AR" else "error"
    except Invalid as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_DATA_TYPE)
        status = "error"
    except NotFound as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_UNKNOWN_KEY)
        status = "error"
    except Conflict as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_DUPLICATE_KEY)
        status = "error"
    except IntegrityError:
        # a concurrent copy of this very message may have committed first
        previous = _stored(archive, head)
        if previous is not None and previous.status != "failed":
            return str(previous.ack_raw)
        log.exception("HL7 message %s hit a database constraint", head.control_id)
        error = Hl7Error("conflicting concurrent change; send again", condition=p.E_RECORD_LOCKED)
        status = "failed"
    except Exception:
        log.exception("HL7 message %s failed", head.control_id)
        error = Hl7Error("internal error while applying the message; send again", condition=p.E_INTERNAL)
        status = "failed"  # a retry with the same MSH-10 is applied again
    log.warning(
        "HL7 %s^%s %s from %s: %s %s",
        head.message_type,
        head.trigger,
        head.control_id,
        head.sending_application,
        error.location,
        error.text,
    )
    ack = p.build_ack(
        head,
        error.ack_code,
        our_application=listener.application,
        control_id=ack_id,
        text=error.text,
        error=error,
    )
    _store_safely(archive, head, text, ack, status=status, error=error, remote=remote_address)
    return ack


def _store_safely(archive: Archive, head: Header, text: str, ack: str, **kwargs: Any) -> None:
    try:
        _store(archive, head, text, ack, **kwargs)
    except Exception:  # the log must never stop the ACK
        log.exception("could not record HL7 message %s in hl7_messages", head.control_id)


def _check_header(listener: Hl7Listener, head: Header) -> None:
    """MSH-9 type and event, MSH-10, MSH-11 and MSH-12 must be ones we accept (else AR)."""
    if not head.control_id:
        raise Hl7Error("MSH-10 (message control id) is empty", location="MSH^1^10", ack_code="AR")
    if not head.message_type:
        raise Hl7Error("MSH-9 (message type) is empty", location="MSH^1^9", ack_code="AR")
    if head.version not in p.SUPPORTED_VERSIONS:
        raise Hl7Error(
            f"version {head.version or '(empty)'} is not supported (2.3.1 to 2.5.1)",
            location="MSH^1^12",
            condition=p.E_VERSION,
            ack_code="AR",
        )
    if head.processing_id[:1] not in p.PROCESSING_IDS:
        raise Hl7Error(
            f"processing id {head.processing_id} is not supported (P, D, T)",
            location="MSH^1^11",
            condition=p.E_PROCESSING_ID,
            ack_code="AR",
        )
    key = f"{head.message_type}^{head.trigger}"
    if key not in listener.handlers:
        known_types = {k.split("^")[0] for k in listener.handlers}
        if head.message_type in known_types:
            raise Hl7Error(
                f"event {key} is not supported", location="MSH^1^9^2", condition=p.E_EVENT_CODE, ack_code="AR"
            )
        raise Hl7Error(
            f"message type {key} is not supported",
            location="MSH^1^9",
            condition=p.E_MESSAGE_TYPE,
            ack_code="AR",
        )
