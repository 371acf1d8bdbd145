"""The reconciliation queue (IHE PIR for animals): a person links an unmatched study, or rejects it.

Linking a study to an order and/or an animal corrects the archive (``archive.corrections``: the
index and the headers served from then on take the animal's identity from
``patients.service.dicom_patient_attributes``; the stored bytes stay as received), writes the
``order_studies`` link and moves the order to images_received, all in one transaction with audit
rows and the ``study.linked`` event. ``undo`` reverses the last link of an item the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.corrections import correct_study_in, set_overlay_in
from vetpacs.archive.models import Study
from vetpacs.auth.audit import record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.linking import find_candidates, link_in, study_stored_from_row
from vetpacs.orders.models import Order, OrderStudy, ReconciliationItem
from vetpacs.orders.schemas import OrderCreate
from vetpacs.orders.service import ATTEMPTS, insert_order
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink
from vetpacs.patients.service import (
    DEFAULT_ISSUER,
    DEFAULT_PATIENT_ID_PREFIX,
    dicom_patient_attributes,
    insert_animal,
    insert_owner,
)

ITEMS: Table = cast(Table, ReconciliationItem.__table__)
ORDERS: Table = cast(Table, Order.__table__)
LINKS: Table = cast(Table, OrderStudy.__table__)
STUDIES: Table = cast(Table, Study.__table__)


class Candidate(BaseModel):
    """A likely order or animal for an unmatched study."""

    order_id: int | None = None
    animal_id: int
    accession_number: str = ""
    score: int
    why: list[str]


class ReconciliationRead(BaseModel):
    """One item of the reconciliation queue."""

    id: int
    study_instance_uid: str
    reason: str = Field(description="no-order, order-inactive, patient-id-mismatch, species-mismatch...")
    detail: str
    candidates: list[Candidate]
    status: str = Field(description="open, linked or rejected")
    order_id: int | None
    animal_id: int | None
    resolved_by: str
    resolved_at: datetime | None
    created_at: datetime
    patient_id: str = ""
    patient_name: str = ""
    accession_number: str = ""
    study_date: str = ""


class LinkRequest(BaseModel):
    """Link the item's study to an order (its animal follows) and/or an animal."""

    order_id: int | None = None
    animal_id: int | None = None


class CreateAndLinkRequest(BaseModel):
    """Create the animal (and its owner, and optionally an order) from the study's header, then link."""

    procedure_code: str | None = Field(None, description="A catalog code: also create an order for it.")
    accession_number: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The new order's accession number (e.g. the one the study already carries); "
        "generated when absent. Needs procedure_code; one already in use is refused (409).",
    )


class RejectRequest(BaseModel):
    """Why the study is left unlinked (e.g. a test image, another clinic's study)."""

    reason: str = Field("", max_length=500)


def _candidates(conn: Any, row: Any) -> list[dict[str, Any]]:
    """Ranked candidates of an open item, from the study's stored attributes (ranked on read)."""
    if row.status != "open":
        return cast(list[dict[str, Any]], json.loads(row.candidates_json or "[]"))
    study = conn.execute(
        select(STUDIES).where(STUDIES.c.study_instance_uid == row.study_instance_uid)
    ).first()
    if study is None:
        return []
    return find_candidates(conn, study_stored_from_row(study, _QUEUE_ORIGIN))


_QUEUE_ORIGIN = Origin(OriginKind.MIGRATION, detail="reconciliation queue")


def _read(row: Any, study: Any | None, candidates: list[dict[str, Any]] | None = None) -> ReconciliationRead:
    return ReconciliationRead(
        id=row.id,
        study_instance_uid=row.study_instance_uid,
        reason=row.reason,
        detail=row.detail,
        candidates=[Candidate(**c) for c in (candidates if candidates is not None else [])],
        status=row.status,
        order_id=row.order_id,
        animal_id=row.animal_id,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        created_at=row.created_at,
        patient_id=study.patient_id if study is not None else "",
        patient_name=study.patient_name if study is not None else "",
        accession_number=study.accession_number if study is not None else "",
        study_date=study.study_date if study is not None else "",
    )


def _select() -> Any:
    return select(
        ITEMS,
        STUDIES.c.patient_id,
        STUDIES.c.patient_name,
        STUDIES.c.accession_number,
        STUDIES.c.study_date,
    ).select_from(ITEMS.outerjoin(STUDIES, STUDIES.c.study_instance_uid == ITEMS.c.study_instance_uid))


def list_items(
    archive: Archive, *, status: str | None = "open", limit: int = 50, offset: int = 0
) -> list[ReconciliationRead]:
    """Items of the queue (open ones by default), oldest first."""
    stmt = _select().order_by(ITEMS.c.created_at, ITEMS.c.id).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(ITEMS.c.status == status)
    with archive.engine.connect() as conn:
        return [_read(r, r, _candidates(conn, r)) for r in conn.execute(stmt).all()]


def get_item(archive: Archive, item_id: int) -> ReconciliationRead:
    """One item, or ``NotFound``."""
    with archive.engine.connect() as conn:
        row = conn.execute(_select().where(ITEMS.c.id == item_id)).first()
        if row is None:
            raise NotFound(f"no reconciliation item {item_id}")
        return _read(row, row, _candidates(conn, row))


def _open_item(conn: Any, item_id: int) -> Any:
    row = conn.execute(select(ITEMS).where(ITEMS.c.id == item_id)).first()
    if row is None:
        raise NotFound(f"no reconciliation item {item_id}")
    if row.status != "open":
        raise Conflict(f"reconciliation item {item_id} is already {row.status}")
    return row


def link_study(
    archive: Archive, item_id: int, *, order_id: int | None = None, animal_id: int | None = None, actor: Actor
) -> ReconciliationRead:
    """Link an item's study to an order and/or an animal; the archive serves corrected headers after.

    With an order, its animal is the study's animal (an ``animal_id`` naming another one is
    ``Invalid``); the order gets an ``order_studies`` link (matched_by ``manual``) and moves to
    images_received where its lifecycle allows. One transaction (:func:`link_study_in`).
    """
    with archive.write_transaction() as conn:
        link_study_in(conn, item_id, order_id=order_id, animal_id=animal_id, actor=actor)
    return get_item(archive, item_id)


def link_study_in(
    conn: Any, item_id: int, *, order_id: int | None = None, animal_id: int | None = None, actor: Actor
) -> None:
    """:func:`link_study` inside the caller's transaction."""
    if order_id is None and animal_id is None:
        raise Invalid("give an order_id or an animal_id to link the study to")
    item = _open_item(conn, item_id)
    offered = _candidates(conn, item)
    if order_id is not None:
        order = conn.execute(select(ORDERS.c.id, ORDERS.c.animal_id).where(ORDERS.c.id == order_id)).first()
        if order is None:
            raise NotFound(f"no order with id {order_id}")
        if animal_id is not None and animal_id != order.animal_id:
            raise Invalid(f"order {order_id} is for animal {order.animal_id}, not {animal_id}")
        animal_id = int(order.animal_id)
    assert animal_id is not None
    attributes = dicom_patient_attributes(conn, animal_id)
    before = correct_study_in(
        conn,
        item.study_instance_uid,
        attributes,
        actor=actor,
        reason=f"reconciliation item {item_id}",
    )
    if order_id is not None:
        exists = conn.execute(
            select(LINKS.c.id).where(
                LINKS.c.order_id == order_id, LINKS.c.study_instance_uid == item.study_instance_uid
            )
        ).first()
        if exists is None:
            link_in(
                conn,
                order_id,
                item.study_instance_uid,
                matched_by="manual",
                actor=actor,
                reason=f"linked from reconciliation item {item_id}",
            )
    conn.execute(
        update(ITEMS)
        .where(ITEMS.c.id == item_id)
        .values(
            status="linked",
            order_id=order_id,
            animal_id=animal_id,
            resolved_by=actor.username[:64],
            resolved_at=utcnow(),
            previous_overlay_json=json.dumps(before) if before else "",
            candidates_json=json.dumps(offered),  # what the person was offered
        )
    )
    detail = {"study_instance_uid": item.study_instance_uid, "order_id": order_id, "animal_id": animal_id}
    record_in(
        conn,
        actor,
        "reconciliation.linked",
        object_type="reconciliation",
        object_id=str(item_id),
        detail=detail,
    )
    events.emit(
        conn,
        "reconciliation.linked",
        aggregate_type="study",
        aggregate_id=item.study_instance_uid,
        payload={"item_id": item_id, **detail},
        actor=actor.username,
    )


def reject_item(archive: Archive, item_id: int, *, actor: Actor, reason: str = "") -> ReconciliationRead:
    """Close an item without linking its study (the study stays as stored); audited."""
    with archive.write_transaction() as conn:
        item = _open_item(conn, item_id)
        conn.execute(
            update(ITEMS)
            .where(ITEMS.c.id == item_id)
            .values(status="rejected", resolved_by=actor.username[:64], resolved_at=utcnow())
        )
        detail = {"study_instance_uid": item.study_instance_uid, "reason": reason}
        record_in(
            conn,
            actor,
            "reconciliation.rejected",
            object_type="reconciliation",
            object_id=str(item_id),
            detail=detail,
        )
        events.emit(
            conn,
            "reconciliation.rejected",
            aggregate_type="study",
            aggregate_id=item.study_instance_uid,
            payload={"item_id": item_id, **detail},
            actor=actor.username,
        )
    return get_item(archive, item_id)


def undo(archive: Archive, item_id: int, *, actor: Actor) -> ReconciliationRead:
    """Undo the last link (or rejection) of an item: the study's headers and index go back to what
    they were before, the order link is removed (the order keeps its status history) and the item
    is open again."""
    with archive.write_transaction() as conn:
        item = conn.execute(select(ITEMS).where(ITEMS.c.id == item_id)).first()
        if item is None:
            raise NotFound(f"no reconciliation item {item_id}")
        if item.status == "open":
            raise Conflict(f"reconciliation item {item_id} is open: nothing to undo")
        if item.status == "linked":
            previous = json.loads(item.previous_overlay_json or "{}")
            set_overlay_in(
                conn,
                item.study_instance_uid,
                previous,
                actor=actor,
                reason=f"undo reconciliation item {item_id}",
            )
            if item.order_id is not None:
                conn.execute(
                    delete(LINKS).where(
                        LINKS.c.order_id == item.order_id,
                        LINKS.c.study_instance_uid == item.study_instance_uid,
                        LINKS.c.matched_by == "manual",
                    )
                )
        conn.execute(
            update(ITEMS)
            .where(ITEMS.c.id == item_id)
            .values(
                status="open",
                order_id=item.order_id if item.status == "rejected" else None,
                animal_id=None,
                resolved_by="",
                resolved_at=None,
                previous_overlay_json="",
            )
        )
        detail = {
            "study_instance_uid": item.study_instance_uid,
            "undone": item.status,
            "order_id": item.order_id,
        }
        record_in(
            conn,
            actor,
            "reconciliation.undone",
            object_type="reconciliation",
            object_id=str(item_id),
            detail=detail,
        )
        events.emit(
            conn,
            "study.unlinked" if item.status == "linked" else "reconciliation.reopened",
            aggregate_type="study",
            aggregate_id=item.study_instance_uid,
            payload={"item_id": item_id, **detail},
            actor=actor.username,
        )
    return get_item(archive, item_id)


def create_and_link(
    archive: Archive,
    item_id: int,
    *,
    actor: Actor,
    procedure_code: str | None = None,
    accession_number: str | None = None,
    patient_id_prefix: str = DEFAULT_PATIENT_ID_PREFIX,
    issuer_of_patient_id: str = DEFAULT_ISSUER,
) -> ReconciliationRead:
    """Create the owner and animal named by the study's header (and an order, given a procedure
    code), then link the study to them: all in one transaction, so a refusal anywhere (an unknown
    procedure, an accession number in use, the item resolved meanwhile) leaves nothing behind.

    The creations go through the patients and orders services' in-transaction functions
    (``insert_owner``, ``insert_animal``, ``insert_order``: the same checks, audit rows and events
    as their REST routes); the link is :func:`link_study_in`. Species are taken as free text from
    the header.
    """
    if accession_number is not None and not procedure_code:
        raise Invalid("an accession number needs a procedure code (it is the new order's)")
    for attempt in range(ATTEMPTS):
        try:
            with archive.write_transaction() as conn:
                _create_and_link_in(
                    conn,
                    item_id,
                    actor=actor,
                    procedure_code=procedure_code,
                    accession_number=accession_number,
                    patient_id_prefix=patient_id_prefix,
                    issuer_of_patient_id=issuer_of_patient_id,
                )
            return get_item(archive, item_id)
        except IntegrityError as exc:
            # Only a race on a unique column gets here (every check runs first): the whole
            # transaction rolled back; a generated accession number is generated again.
            if accession_number is not None or attempt == ATTEMPTS - 1:
                raise Conflict(
                    f"reconciliation item {item_id} could not be created and linked: {exc.orig}"
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _create_and_link_in(
    conn: Any,
    item_id: int,
    *,
    actor: Actor,
    procedure_code: str | None,
    accession_number: str | None,
    patient_id_prefix: str,
    issuer_of_patient_id: str,
) -> None:
    item = _open_item(conn, item_id)
    study = conn.execute(
        select(STUDIES).where(STUDIES.c.study_instance_uid == item.study_instance_uid)
    ).first()
    if study is None:
        raise NotFound(f"the study of reconciliation item {item_id} is no longer stored")
    family, _, given = study.patient_name.partition("^")
    animal_name = given.split("^")[0].strip() or family.strip() or "Unknown"
    owner_family = (family.strip() if given else "") or study.responsible_person.partition("^")[0].strip()
    owners = []
    if owner_family:
        owner = insert_owner(conn, OwnerCreate(family_name=owner_family), actor=actor)  # type: ignore[call-arg]
        owners.append(OwnerLink(owner_id=owner.id))  # type: ignore[call-arg]
    fields: dict[str, Any] = {
        "name": animal_name,
        "species_text": study.patient_species_description,
        "breed_text": study.patient_breed_description,
        "owners": owners,
    }
    if study.patient_sex in ("M", "F", "O"):
        fields["sex"] = study.patient_sex
    if study.patient_sex_neutered in ("ALTERED", "UNALTERED"):
        fields["neuter_status"] = study.patient_sex_neutered
    if len(study.patient_birth_date) == 8:
        fields["birth_date"] = study.patient_birth_date
    if study.microchip:
        fields["microchip"] = study.microchip
    animal = insert_animal(
        conn,
        AnimalCreate(**fields),
        actor=actor,
        patient_id_prefix=patient_id_prefix,
        issuer_of_patient_id=issuer_of_patient_id,
    )
    order_id = None
    if procedure_code:
        order_id = insert_order(
            conn,
            OrderCreate(  # type: ignore[call-arg]
                animal_id=animal.id, procedure_codes=[procedure_code], accession_number=accession_number
            ),
            actor=actor,
        )
    link_study_in(conn, item_id, order_id=order_id, animal_id=animal.id, actor=actor)


__all__ = [
    "CreateAndLinkRequest",
    "LinkRequest",
    "ReconciliationRead",
    "RejectRequest",
    "create_and_link",
    "get_item",
    "link_study",
    "link_study_in",
    "list_items",
    "reject_item",
    "undo",
]
