"""ORM^O01 and OMI^O23: create, re-book and cancel imaging orders (HL7 v2.5.1 chapter 4).

ORM^O01 (v2.3.1 4.4.1; IHE SWF flavour with OBR-18/19/20/24 and ZDS) and OMI^O23 (v2.5.1 4.4.10,
the IPC segment): ORC-1 NW creates the order through the orders service (identifiers the PMS gives
included), XO re-books its steps, CA/OC/DC/CR cancels it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import hl7
from sqlalchemy import Connection, Row, Table, select

from vetpacs.auth.roles import Actor
from vetpacs.integration.hl7 import parse as p
from vetpacs.integration.hl7.adt import animal_patient_id, register_from_pid
from vetpacs.integration.hl7.context import (
    FIELD_LOCATIONS,
    InTransaction,
    Outcome,
    Registrar,
    build_model,
    parse_timestamp,
)
from vetpacs.integration.hl7.parse import Header, Hl7Error
from vetpacs.orders.catalog import PROCEDURES
from vetpacs.orders.lifecycle import ORDERS, STEPS, advance_order
from vetpacs.orders.models import OrderStatus, Priority, Station
from vetpacs.orders.scheduling import book_step
from vetpacs.orders.schemas import OrderCreate
from vetpacs.orders.service import IdentifierTaken, insert_order

STATIONS: Table = cast(Table, Station.__table__)

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


def apply_order(
    listener: Registrar, db: InTransaction, msg: hl7.Message, head: Header, actor: Actor
) -> Outcome:
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
            patient_id=animal_patient_id(conn, order.animal_id),
            accession_number=order.accession_number,
            text=f"order {order.accession_number} cancelled",
        )
    if control == "XO":
        order = _find_order(conn, accession, placer)
        _book(conn, msg, order.id, omi, actor)
        return Outcome(
            patient_id=animal_patient_id(conn, order.animal_id),
            accession_number=order.accession_number,
            text=f"order {order.accession_number} changed",
        )
    if control != "NW":
        raise Hl7Error(
            f"order control {control or '(empty)'} is not supported (NW, XO, CA)",
            location="ORC^1^1",
            condition=p.E_TABLE_VALUE,
        )
    animal_id = register_from_pid(listener, db, msg, actor, create=True)
    code = p.get(msg, "OBR", 4, 1, 1)
    if not code:
        raise Hl7Error("OBR-4 (universal service identifier: procedure code) is empty", location="OBR^1^4")
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
    vet = " ".join(x for x in (p.get(msg, "ORC", 12, 1, 3), p.get(msg, "ORC", 12, 1, 2)) if x) or " ".join(
        x for x in (p.get(msg, "OBR", 16, 1, 3), p.get(msg, "OBR", 16, 1, 2)) if x
    )
    # the PMS's Study Instance UID (ZDS-1 / IPC-3), requested procedure id and step id
    study_uid = (p.get(msg, "IPC", 3) if omi else "") or p.get(msg, "ZDS", 1, 1, 1)
    rp_id = (p.get(msg, "IPC", 2) if omi else "") or p.get(msg, "OBR", 19)
    sps_id = (p.get(msg, "IPC", 4) if omi else "") or p.get(msg, "OBR", 20)
    locations = ORDER_LOCATIONS_OMI if omi else ORDER_LOCATIONS_ORM
    data = build_model(
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
    _book(conn, msg, order_id, omi, actor)
    row = conn.execute(select(ORDERS).where(ORDERS.c.id == order_id)).one()
    return Outcome(
        patient_id=animal_patient_id(conn, animal_id),
        accession_number=row.accession_number,
        text=f"order {row.accession_number} created",
    )


def _book(conn: Connection, msg: hl7.Message, order_id: int, omi: bool, actor: Actor) -> None:
    """Book the order's steps on the station named by IPC-9 (AE title) at TQ1-7/OBR-27.4/OBR-36."""
    ae = p.get(msg, "IPC", 9) if omi else ""
    if not omi:
        ae = p.get(msg, "OBR", 21)  # some ORM senders put the station AE title in OBR-21
    start_raw = (p.get(msg, "TQ1", 7) if omi else "") or p.get(msg, "OBR", 27, 1, 4) or p.get(msg, "OBR", 36)
    if not ae:
        return
    station = conn.execute(select(STATIONS).where(STATIONS.c.ae_title == ae)).first()
    if station is None:
        if omi:
            raise Hl7Error(f"no station with AE title {ae}", location="IPC^1^9", condition=p.E_TABLE_VALUE)
        return  # OBR-21 is a free filler field: only an AE we know is taken as the station
    start = parse_timestamp(start_raw, "TQ1^1^7" if omi else "OBR^1^27^4") if start_raw else datetime.now()
    steps = conn.execute(select(STEPS.c.id).where(STEPS.c.order_id == order_id).order_by(STEPS.c.id))
    at = start.replace(microsecond=0)
    for (step_pk,) in list(steps):
        at = book_step(conn, step_pk, station.id, at, actor=actor)


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
