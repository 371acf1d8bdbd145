"""Merge two animal records and change an animal's identifier (IHE RAD Patient Information
Reconciliation, RAD TF-2 4.12; HL7 v2.5.1 3.3.40 merge and 3.3.47 change patient identifier).

The survivor keeps its identity; the merged record keeps its row with ``merged_into_id`` (hidden
from search, still readable for the audit trail). Orders and reconciliation items follow the
survivor, owners of the merged record become (non-primary) owners of the survivor, and every stored
study whose Patient ID is the merged animal's is corrected to the survivor's DICOM identity through
``vetpacs.archive.corrections`` (index and served headers follow; the stored bytes stay as
received). Everything happens in one transaction with the audit row and the ``animals.merged`` event.

Changing an identifier (:func:`change_identifier`) corrects the animal's stored studies the same
way, so the archive answers the new Patient ID (and microchip) for images stored under the old one.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, Table, delete, insert, or_, select, update

from vetpacs.archive.context import Archive
from vetpacs.archive.corrections import correct_study_in
from vetpacs.archive.models import Study
from vetpacs.auth.audit import utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid
from vetpacs.orders.models import Order, ReconciliationItem
from vetpacs.patients.schemas import IdentifierChange, MergeResult
from vetpacs.patients.service import (
    ANIMALS,
    FORMER_IDS,
    LINKS,
    _animal_read,
    _animal_row,
    _check_animal_unique,
    _live_animal_row,
    _write,
    dicom_patient_attributes,
    record_former_id_in,
)

ORDERS: Table = cast(Table, Order.__table__)
RECONCILIATION: Table = cast(Table, ReconciliationItem.__table__)
STUDIES: Table = cast(Table, Study.__table__)


def _studies_of(conn: Connection, animal: Row[Any]) -> list[str]:
    """Study Instance UIDs the index files under this animal's Patient ID (and issuer, when stamped)."""
    rows = conn.execute(
        select(STUDIES.c.study_instance_uid)
        .where(
            STUDIES.c.patient_id == animal.patient_id,
            or_(
                STUDIES.c.issuer_of_patient_id == animal.issuer_of_patient_id,
                STUDIES.c.issuer_of_patient_id == "",
            ),
        )
        .order_by(STUDIES.c.id)
    )
    return [r.study_instance_uid for r in rows]


def _move_owners(conn: Connection, survivor_id: int, merged_id: int) -> int:
    have = {
        r.owner_id for r in conn.execute(select(LINKS.c.owner_id).where(LINKS.c.animal_id == survivor_id))
    }
    moved = conn.execute(select(LINKS).where(LINKS.c.animal_id == merged_id)).all()
    added = 0
    for link in moved:
        if link.owner_id not in have:
            primary = not have and link.is_primary  # the survivor had no owner: keep the primary
            conn.execute(
                insert(LINKS).values(
                    animal_id=survivor_id, owner_id=link.owner_id, role=link.role, is_primary=primary
                )
            )
            added += 1
    conn.execute(delete(LINKS).where(LINKS.c.animal_id == merged_id))
    return added


def merge_animals(archive: Archive, survivor_id: int, merged_id: int, *, actor: Actor) -> MergeResult:
    """Merge animal ``merged_id`` into ``survivor_id`` (IHE PIR); returns what moved.

    Invalid when both are the same animal; NotFound when either is missing; Conflict when the
    survivor was itself merged, or the merged one was merged into another animal. Merging again
    into the same survivor is harmless: it re-applies the archive corrections (for studies that
    arrived under the old Patient ID since).
    """
    if survivor_id == merged_id:
        raise Invalid("an animal cannot be merged into itself")
    with archive.write_transaction() as conn:
        survivor = _animal_row(conn, survivor_id)
        merged = _animal_row(conn, merged_id)
        if survivor.merged_into_id is not None:
            raise Conflict(f"animal {survivor_id} was itself merged into animal {survivor.merged_into_id}")
        if merged.merged_into_id not in (None, survivor_id):
            raise Conflict(f"animal {merged_id} was already merged into animal {merged.merged_into_id}")
        orders = conn.execute(
            update(ORDERS).where(ORDERS.c.animal_id == merged_id).values(animal_id=survivor_id)
        ).rowcount
        items = conn.execute(
            update(RECONCILIATION)
            .where(RECONCILIATION.c.animal_id == merged_id)
            .values(animal_id=survivor_id)
        ).rowcount
        owners = _move_owners(conn, survivor_id, merged_id)
        now = utcnow()
        conn.execute(
            update(ANIMALS)
            .where(or_(ANIMALS.c.id == merged_id, ANIMALS.c.merged_into_id == merged_id))
            .values(merged_into_id=survivor_id, updated_at=now)
        )
        conn.execute(update(ANIMALS).where(ANIMALS.c.id == survivor_id).values(updated_at=now))
        conn.execute(
            update(FORMER_IDS).where(FORMER_IDS.c.animal_id == merged_id).values(animal_id=survivor_id)
        )
        attributes = dicom_patient_attributes(conn, survivor_id)
        reason = f"animal {merged.patient_id} merged into {survivor.patient_id}"
        studies = [uid for uid in _studies_of(conn, merged) if merged.patient_id != survivor.patient_id]
        for uid in studies:
            correct_study_in(conn, uid, attributes, actor=actor, reason=reason)
        _write(
            conn,
            actor,
            "animals.merged",
            "animal",
            survivor_id,
            {
                "survivor_id": survivor_id,
                "survivor_patient_id": survivor.patient_id,
                "merged_id": merged_id,
                "merged_patient_id": merged.patient_id,
                "orders_moved": orders,
                "reconciliation_items_moved": items,
                "owners_added": owners,
                "studies_corrected": studies,
            },
        )
        read = _animal_read(conn, survivor_id)
    return MergeResult(
        survivor=read,
        merged_id=merged_id,
        orders_moved=orders,
        reconciliation_items_moved=items,
        owners_added=owners,
        studies_corrected=studies,
    )


def change_identifier(
    archive: Archive,
    animal_id: int,
    *,
    external_id: str | None = None,
    microchip: str | None = None,
    actor: Actor,
) -> IdentifierChange:
    """Give an animal a new PMS id and/or microchip; its stored studies follow (HL7 ADT^A47, IHE PIR).

    When the animal's DICOM Patient ID is its PMS id (as for animals registered over HL7 or FHIR
    with one), the Patient ID becomes the new PMS id too; a Patient ID VetPACS assigned
    (``VP000042``) stays. Every stored study filed under the old Patient ID is then corrected to the
    animal's new DICOM identity through ``vetpacs.archive.corrections`` (index and served headers;
    stored bytes stay as received), as a merge does. Invalid when neither id is given; NotFound for
    an unknown animal; Conflict when the animal was merged or a new id belongs to another animal.
    One transaction with its audit row and the ``animal.updated`` event.
    """
    new_external = (external_id or "").strip()
    new_chip = (microchip or "").replace(" ", "")
    if not new_external and not new_chip:
        raise Invalid("a new PMS id or microchip is needed to change an identifier")
    if len(new_external) > 64 or len(new_chip) > 64:
        raise Invalid("an identifier has at most 64 characters")
    with archive.write_transaction() as conn:
        before = _live_animal_row(conn, animal_id)
        changes: dict[str, Any] = {}
        if new_external and new_external != before.external_id:
            changes["external_id"] = new_external
            if before.patient_id == before.external_id:
                changes["patient_id"] = new_external
        if new_chip and new_chip != before.microchip:
            changes["microchip"] = new_chip
        studies: list[str] = []
        if changes:
            _check_animal_unique(conn, changes, animal_id)
            studies = _studies_of(conn, before)  # filed under the old Patient ID, before it changes
            conn.execute(
                update(ANIMALS).where(ANIMALS.c.id == animal_id).values(**changes, updated_at=utcnow())
            )
            if "patient_id" in changes:
                record_former_id_in(
                    conn, animal_id, before.patient_id, before.issuer_of_patient_id, "changed"
                )
            attributes = dicom_patient_attributes(conn, animal_id)
            new_pid = changes.get("patient_id", before.patient_id)
            reason = f"identifier of animal {before.patient_id} changed" + (
                f" to {new_pid}" if new_pid != before.patient_id else ""
            )
            for uid in studies:
                correct_study_in(conn, uid, attributes, actor=actor, reason=reason)
            _write(
                conn,
                actor,
                "animal.updated",
                "animal",
                animal_id,
                {
                    "changed": sorted(changes),
                    "patient_id_before": before.patient_id,
                    "patient_id": new_pid,
                    "studies_corrected": studies,
                },
            )
        read = _animal_read(conn, animal_id)
    return IdentifierChange(
        animal=read,
        patient_id_before=before.patient_id,
        external_id_before=before.external_id,
        microchip_before=before.microchip,
        studies_corrected=studies,
    )
