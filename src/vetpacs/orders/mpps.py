"""Modality Performed Procedure Step SOP class (PS3.4 F.7): N-CREATE and N-SET move the order.

N-CREATE (status IN PROGRESS) stores a PerformedStep that references its scheduled step, found
through the Scheduled Step Attributes Sequence (Scheduled Procedure Step ID, else Requested
Procedure ID with Accession Number, else Accession Number, else Study Instance UID), and moves the
step and its order to in progress. An unscheduled procedure (no step, requested procedure or
accession named) is stored linked to no order; its images are reconciled as they arrive. N-SET
changes the attributes while IN PROGRESS and, with COMPLETED or DISCONTINUED, moves them on; the
Performed Series Sequence is recorded against the order. Each call is one transaction with its
audit rows and outbox events (``mpps.created``, ``mpps.updated``, ``mpps.completed``,
``mpps.discontinued``).
"""

from __future__ import annotations

import json
from typing import Any, cast

from pydicom.dataset import Dataset
from sqlalchemy import Connection, Table, insert, select, update

from vetpacs import events
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.models import Order, OrderStatus, PerformedStep, ScheduledStep, StepStatus
from vetpacs.orders.service import advance_order, set_step_status

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"

PERFORMED: Table = cast(Table, PerformedStep.__table__)
STEPS: Table = cast(Table, ScheduledStep.__table__)
ORDERS: Table = cast(Table, Order.__table__)

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
FINAL = {
    COMPLETED: (StepStatus.COMPLETED, OrderStatus.COMPLETED),
    DISCONTINUED: (StepStatus.DISCONTINUED, OrderStatus.DISCONTINUED),
}
# Attributes an N-SET may not change (PS3.4 F.7.2.2, Table F.7.2-1: not in the N-SET column)
NOT_SETTABLE = {
    0x00400270,  # Scheduled Step Attributes Sequence
    0x00100010,  # Patient's Name
    0x00100020,  # Patient ID
    0x00400253,  # Performed Procedure Step ID
    0x00400241,  # Performed Station AE Title
    0x00400244,  # Performed Procedure Step Start Date
    0x00400245,  # Performed Procedure Step Start Time
    0x00080060,  # Modality
    0x0020000D,  # Study Instance UID
}


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword, "")
    except Exception:
        return ""
    return str(value or "").strip()


def find_scheduled_step(conn: Connection, attributes: Dataset) -> tuple[int | None, int | None]:
    """(scheduled step pk, order id) referenced by the Scheduled Step Attributes Sequence.

    ``(None, None)`` for an unscheduled procedure (IHE RAD TF-2 4.7.4.1.2.2, "unscheduled case"):
    the sequence is absent or empty, or its item names no Scheduled Procedure Step ID, Requested
    Procedure ID or Accession Number (a modality where the user typed the patient in sends one item
    with only the Study Instance UID it generated). Such a Study Instance UID still finds the order
    it was pre-assigned to, if any. ``NotFound`` when a step ID, requested procedure ID or accession
    number is given and names no known step or order.
    """
    items = attributes.get("ScheduledStepAttributesSequence") or []
    if not items:
        return None, None
    item = items[0]
    step_id = _text(item, "ScheduledProcedureStepID")
    rp_id = _text(item, "RequestedProcedureID")
    accession = _text(item, "AccessionNumber")
    study_uid = _text(item, "StudyInstanceUID")
    base = select(STEPS.c.id, STEPS.c.order_id).join(ORDERS, STEPS.c.order_id == ORDERS.c.id)
    tries = []
    if step_id:
        tries.append(base.where(STEPS.c.step_id == step_id))
    if rp_id and accession:
        tries.append(
            base.where(STEPS.c.requested_procedure_id == rp_id, ORDERS.c.accession_number == accession)
        )
    if accession:
        tries.append(base.where(ORDERS.c.accession_number == accession).order_by(STEPS.c.id))
    if study_uid:
        tries.append(base.where(ORDERS.c.study_instance_uid == study_uid).order_by(STEPS.c.id))
    for stmt in tries:
        row = conn.execute(stmt.limit(1)).first()
        if row is not None:
            return int(row.id), int(row.order_id)
    if not (step_id or rp_id or accession):
        return None, None  # unscheduled: at most the modality's own Study Instance UID
    named = ", ".join(
        f"{k} {v}" for k, v in (("step", step_id), ("req. procedure", rp_id), ("accession", accession)) if v
    )
    raise NotFound(f"no scheduled {named}")  # short: the Error Comment (LO) keeps 64 characters


def _study_uid(attributes: Dataset) -> str:
    items = attributes.get("ScheduledStepAttributesSequence") or []
    return _text(items[0], "StudyInstanceUID") if items else ""


def _series(attributes: Dataset) -> list[dict[str, Any]]:
    out = []
    for item in attributes.get("PerformedSeriesSequence") or []:
        refs = [str(r.get("ReferencedSOPInstanceUID", "")) for r in item.get("ReferencedImageSequence") or []]
        out.append(
            {
                "series_instance_uid": _text(item, "SeriesInstanceUID"),
                "series_description": _text(item, "SeriesDescription"),
                "performing_physician": _text(item, "PerformingPhysicianName"),
                "instances": [r for r in refs if r],
            }
        )
    return out


def _when(ds: Dataset, date_kw: str, time_kw: str) -> str:
    return (_text(ds, date_kw) + _text(ds, time_kw))[:32]


def create_mpps(
    db: Database, sop_instance_uid: str, attributes: Dataset, *, actor: Actor, station_ae_title: str = ""
) -> int:
    """N-CREATE (PS3.4 F.7.2.1): record a performed step IN PROGRESS and move its order; its id.

    Raises ``Invalid`` (status other than IN PROGRESS, no instance UID), ``Conflict`` (the instance
    exists) or ``NotFound`` (the scheduled step it references is unknown). Nothing is written then.
    """
    if not sop_instance_uid:
        raise Invalid("the MPPS N-CREATE has no Affected SOP Instance UID")
    status = _text(attributes, "PerformedProcedureStepStatus")
    if status != IN_PROGRESS:
        raise Invalid(f"Performed Procedure Step Status must be IN PROGRESS at N-CREATE, not {status!r}")
    now = utcnow()
    with db.write_transaction() as conn:
        if conn.execute(
            select(PERFORMED.c.id).where(PERFORMED.c.sop_instance_uid == sop_instance_uid)
        ).first():
            raise Conflict(f"MPPS instance {sop_instance_uid} already exists")
        step_pk, order_id = find_scheduled_step(conn, attributes)
        station = _text(attributes, "PerformedStationAETitle") or station_ae_title
        pk = conn.execute(
            insert(PERFORMED).values(
                sop_instance_uid=sop_instance_uid,
                scheduled_step_id=step_pk,
                order_id=order_id,
                status=IN_PROGRESS,
                station_ae_title=station[:16],
                started_at=_when(
                    attributes, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"
                ),
                ended_at="",
                performed_series_json=json.dumps(_series(attributes)),
                dataset_json=json.dumps(attributes.to_json_dict()),
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        reason = f"MPPS {sop_instance_uid} IN PROGRESS from {station or '?'}"
        if step_pk is not None:
            set_step_status(conn, step_pk, StepStatus.IN_PROGRESS, actor=actor, reason=reason)
        if order_id is not None:
            advance_order(conn, order_id, OrderStatus.IN_PROGRESS, actor=actor, reason=reason)
        detail: dict[str, Any] = {"order_id": order_id, "scheduled_step_id": step_pk, "station": station}
        if step_pk is None and order_id is None:  # what a person needs to reconcile it later
            detail.update(
                unscheduled=True,
                patient_id=_text(attributes, "PatientID"),
                patient_name=_text(attributes, "PatientName"),
                study_instance_uid=_study_uid(attributes),
            )
        record_in(conn, actor, "mpps.created", object_type="mpps", object_id=sop_instance_uid, detail=detail)
        events.emit(
            conn,
            "mpps.created",
            aggregate_type="order" if order_id is not None else "mpps",
            aggregate_id=order_id if order_id is not None else sop_instance_uid,
            payload={"sop_instance_uid": sop_instance_uid, "status": IN_PROGRESS, **detail},
            actor=actor.username,
        )
    return int(pk)


def set_mpps(db: Database, sop_instance_uid: str, modifications: Dataset, *, actor: Actor) -> str:
    """N-SET (PS3.4 F.7.2.2): update a performed step; COMPLETED/DISCONTINUED move the order on.

    Returns the performed step's status after the change. Raises ``NotFound`` for an unknown
    instance, ``Conflict`` once it is COMPLETED or DISCONTINUED (no further change allowed),
    ``Invalid`` for an unknown status or an attribute N-SET may not change.
    """
    status = _text(modifications, "PerformedProcedureStepStatus")
    if status and status not in (IN_PROGRESS, COMPLETED, DISCONTINUED):
        raise Invalid(f"unknown Performed Procedure Step Status {status!r}")
    locked = [f"{int(e.tag):08X}" for e in modifications if int(e.tag) in NOT_SETTABLE]
    if locked:
        raise Invalid(f"N-SET may not change {', '.join(locked)}")
    now = utcnow()
    with db.write_transaction() as conn:
        row = conn.execute(select(PERFORMED).where(PERFORMED.c.sop_instance_uid == sop_instance_uid)).first()
        if row is None:
            raise NotFound(f"no MPPS instance {sop_instance_uid}")
        if row.status != IN_PROGRESS:
            raise Conflict(f"already {row.status}: no further N-SET (MPPS {sop_instance_uid})")
        stored = Dataset.from_json(row.dataset_json or "{}")
        for elem in modifications:
            stored[elem.tag] = elem
        new_status = status or IN_PROGRESS
        values: dict[str, Any] = {
            "status": new_status,
            "dataset_json": json.dumps(stored.to_json_dict()),
            "performed_series_json": json.dumps(_series(stored)),
            "updated_at": now,
        }
        ended = _when(stored, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")
        if ended:
            values["ended_at"] = ended
        conn.execute(update(PERFORMED).where(PERFORMED.c.id == row.id).values(**values))
        series = _series(stored)
        if new_status in FINAL:
            step_status, order_status = FINAL[new_status]
            reason = f"MPPS {sop_instance_uid} {new_status}"
            if row.scheduled_step_id is not None:
                set_step_status(conn, row.scheduled_step_id, step_status, actor=actor, reason=reason)
            if row.order_id is not None:
                advance_order(conn, row.order_id, order_status, actor=actor, reason=reason)
        action = {COMPLETED: "mpps.completed", DISCONTINUED: "mpps.discontinued"}.get(
            new_status, "mpps.updated"
        )
        detail = {
            "order_id": row.order_id,
            "status": new_status,
            "series": [s["series_instance_uid"] for s in series],
            "instances": sum(len(s["instances"]) for s in series),
            "unscheduled": row.scheduled_step_id is None and row.order_id is None,
        }
        record_in(conn, actor, action, object_type="mpps", object_id=sop_instance_uid, detail=detail)
        events.emit(
            conn,
            action,
            aggregate_type="order" if row.order_id is not None else "mpps",
            aggregate_id=row.order_id if row.order_id is not None else sop_instance_uid,
            payload={"sop_instance_uid": sop_instance_uid, **detail, "performed_series": series},
            actor=actor.username,
        )
    return new_status


def get_mpps(db: Database, sop_instance_uid: str) -> dict[str, Any]:
    """A performed step as stored (status, order, series), or ``NotFound``."""
    with db.engine.connect() as conn:
        row = conn.execute(select(PERFORMED).where(PERFORMED.c.sop_instance_uid == sop_instance_uid)).first()
    if row is None:
        raise NotFound(f"no MPPS instance {sop_instance_uid}")
    return {
        "sop_instance_uid": row.sop_instance_uid,
        "status": row.status,
        "order_id": row.order_id,
        "scheduled_step_id": row.scheduled_step_id,
        "unscheduled": row.scheduled_step_id is None and row.order_id is None,
        "station_ae_title": row.station_ae_title,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "performed_series": json.loads(row.performed_series_json or "[]"),
    }


__all__ = ["MPPS_SOP_CLASS", "create_mpps", "find_scheduled_step", "get_mpps", "set_mpps"]
