"""Automatic linking of arriving studies to their orders (IHE SWF.b; PIR for the exceptions).

Registered as an archive study hook by the composition root (``app.build_archive``): the archive
calls :func:`link_on_ingest` after the index transaction commits, once per new study or new series.
The study is matched to an order by Accession Number, then Study Instance UID, then Requested
Procedure ID; its demographics are then checked against the order's animal (Patient ID, species,
animal name, owner family name). A clean match writes an ``order_studies`` link and moves the order
to images_received (event ``study.linked``); no match, an inactive order or a conflict puts the
study in the reconciliation queue with the reason, what differed and ranked candidates (event
``study.unmatched``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.archive.context import Archive, Origin, OriginKind, StudyStored
from vetpacs.archive.corrections import correct_study_in
from vetpacs.archive.models import Study
from vetpacs.auth.audit import AUDIT, audit_row, record_in, utcnow
from vetpacs.auth.roles import SYSTEM, Actor
from vetpacs.orders.models import (
    Order,
    OrderStatus,
    OrderStudy,
    ReconciliationItem,
    ScheduledStep,
)
from vetpacs.orders.service import advance_order, can_advance
from vetpacs.patients.models import Animal, AnimalOwner, Owner, Species
from vetpacs.patients.service import FORMER_IDS, dicom_patient_attributes, former_patient_ids

log = logging.getLogger("vetpacs.orders.linking")

ORDERS: Table = cast(Table, Order.__table__)
STEPS: Table = cast(Table, ScheduledStep.__table__)
LINKS: Table = cast(Table, OrderStudy.__table__)
ITEMS: Table = cast(Table, ReconciliationItem.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
SPECIES: Table = cast(Table, Species.__table__)
OWNERSHIP: Table = cast(Table, AnimalOwner.__table__)
OWNERS: Table = cast(Table, Owner.__table__)
STUDIES: Table = cast(Table, Study.__table__)

INACTIVE = {OrderStatus.CANCELLED.value, OrderStatus.NO_SHOW.value, OrderStatus.DISCONTINUED.value}
LINK_ACTOR = Actor(username=SYSTEM.username, role=SYSTEM.role, via="system")


@dataclass(frozen=True)
class Conflicts:
    """What differs between a study's header and its order's animal (empty: nothing)."""

    reason: str  # the first conflict's code: patient-id-mismatch, species-mismatch...
    details: list[str]


def _pn_parts(name: str) -> tuple[str, str]:
    family, _, given = name.partition("^")
    return family.strip(), given.split("^")[0].strip()


def match_order(conn: Connection, study: StudyStored) -> tuple[Any | None, str]:
    """The order a study belongs to and how it was found (accession, study-uid, requested-procedure)."""
    cols = (ORDERS.c.id, ORDERS.c.animal_id, ORDERS.c.status, ORDERS.c.accession_number)
    if study.accession_number:
        row = conn.execute(select(*cols).where(ORDERS.c.accession_number == study.accession_number)).first()
        if row is not None:
            return row, "accession"
    row = conn.execute(select(*cols).where(ORDERS.c.study_instance_uid == study.study_instance_uid)).first()
    if row is not None:
        return row, "study-uid"
    if study.requested_procedure_id:
        row = conn.execute(
            select(*cols)
            .join(STEPS, STEPS.c.order_id == ORDERS.c.id)
            .where(STEPS.c.requested_procedure_id == study.requested_procedure_id)
            .order_by(ORDERS.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row, "requested-procedure"
    return None, ""


def _animal_identity(conn: Connection, animal_id: int) -> Any:
    return conn.execute(
        select(
            ANIMALS.c.patient_id,
            ANIMALS.c.name,
            SPECIES.c.code.label("species_code"),
            SPECIES.c.name.label("species_name"),
            SPECIES.c.common_name,
            SPECIES.c.latin_name,
            ANIMALS.c.species_text,
            OWNERS.c.family_name,
        )
        .select_from(
            ANIMALS.outerjoin(SPECIES, ANIMALS.c.species_id == SPECIES.c.id)
            .outerjoin(OWNERSHIP, OWNERSHIP.c.animal_id == ANIMALS.c.id)
            .outerjoin(OWNERS, OWNERSHIP.c.owner_id == OWNERS.c.id)
        )
        .where(ANIMALS.c.id == animal_id)
        .order_by(OWNERSHIP.c.is_primary.desc(), OWNERSHIP.c.owner_id)
        .limit(1)
    ).first()


def arrived_under_former_id(conn: Connection, animal_id: int, study: StudyStored) -> bool:
    """Whether the study carries a Patient ID the animal had before an identifier change (ADT^A47)
    or a merge (ADT^A40): a modality that fetched its worklist earlier still sends the old one."""
    if not study.patient_id:
        return False
    current = conn.execute(select(ANIMALS.c.patient_id).where(ANIMALS.c.id == animal_id)).scalar()
    return study.patient_id != current and study.patient_id in former_patient_ids(conn, animal_id)


def check_demographics(conn: Connection, animal_id: int, study: StudyStored) -> Conflicts | None:
    """Compare the study's patient attributes with the animal's record; None when they agree.

    Empty values in the study never conflict (a modality may leave them out); names compare
    case-insensitively.
    """
    a = _animal_identity(conn, animal_id)
    if a is None:
        return Conflicts("no-animal", [f"the order's animal {animal_id} does not exist"])
    found: list[tuple[str, str]] = []
    if (
        study.patient_id
        and study.patient_id != a.patient_id
        and not arrived_under_former_id(conn, animal_id, study)
    ):
        found.append(("patient-id-mismatch", f"Patient ID {study.patient_id!r} is not {a.patient_id!r}"))
    species_names = {
        v.strip().upper()
        for v in (a.species_name, a.common_name, a.latin_name, a.species_text)
        if v and v.strip()
    }
    if study.species_code and a.species_code and study.species_code != a.species_code:
        found.append(("species-mismatch", f"species code {study.species_code} is not {a.species_code}"))
    elif (
        study.species_description
        and species_names
        and study.species_description.strip().upper() not in species_names
        and not (study.species_code and study.species_code == a.species_code)
    ):
        found.append(
            (
                "species-mismatch",
                f"species {study.species_description!r} is not {a.species_name or a.species_text!r}",
            )
        )
    family, given = _pn_parts(study.patient_name)
    if not given and family and "^" not in study.patient_name:
        family, given = "", family  # a bare name: the animal's
    if given and given.upper() != (a.name or "").strip().upper():
        found.append(("name-mismatch", f"animal name {given!r} is not {a.name!r}"))
    owner_family = family or _pn_parts(study.responsible_person)[0]
    if owner_family and a.family_name and owner_family.upper() != a.family_name.strip().upper():
        found.append(("owner-mismatch", f"owner {owner_family!r} is not {a.family_name!r}"))
    if not found:
        return None
    return Conflicts(found[0][0], [d for _, d in found])


def find_candidates(conn: Connection, study: StudyStored, limit: int = 10) -> list[dict[str, Any]]:
    """Likely orders (and animals) for an unmatched study, best first.

    Scores: same Patient ID 8, same animal name 4 (+2 with the same owner family), same accession
    prefix 2, a step scheduled on the study date 1.
    """
    family, given = _pn_parts(study.patient_name)
    if not given and "^" not in study.patient_name:
        family, given = "", family
    scores: dict[tuple[int | None, int], dict[str, Any]] = {}

    def add(order_id: int | None, animal_id: int, points: int, why: str) -> None:
        entry = scores.setdefault(
            (order_id, animal_id), {"order_id": order_id, "animal_id": animal_id, "score": 0, "why": []}
        )
        entry["score"] += points
        if why not in entry["why"]:
            entry["why"].append(why)

    active = ORDERS.c.status.not_in(INACTIVE | {OrderStatus.BILLED.value, OrderStatus.REPORTED.value})
    animal_filters = []
    formerly: set[int] = set()  # animals that had this Patient ID before a change or a merge
    if study.patient_id:
        animal_filters.append(ANIMALS.c.patient_id == study.patient_id)
        formerly = set(
            conn.execute(select(FORMER_IDS.c.animal_id).where(FORMER_IDS.c.patient_id == study.patient_id))
            .scalars()
            .all()
        ) | set(
            conn.execute(
                select(ANIMALS.c.merged_into_id).where(
                    ANIMALS.c.patient_id == study.patient_id, ANIMALS.c.merged_into_id.is_not(None)
                )
            )
            .scalars()
            .all()
        )
        if formerly:
            animal_filters.append(ANIMALS.c.id.in_(formerly))
    if given:
        animal_filters.append(func.upper(ANIMALS.c.name) == given.upper())
    if animal_filters:
        rows = conn.execute(
            select(
                ANIMALS.c.id,
                ANIMALS.c.patient_id,
                ANIMALS.c.name,
                OWNERS.c.family_name,
                ORDERS.c.id.label("oid"),
            )
            .select_from(
                ANIMALS.outerjoin(OWNERSHIP, OWNERSHIP.c.animal_id == ANIMALS.c.id)
                .outerjoin(OWNERS, OWNERSHIP.c.owner_id == OWNERS.c.id)
                .outerjoin(ORDERS, (ORDERS.c.animal_id == ANIMALS.c.id) & active)
            )
            .where(or_(*animal_filters), ANIMALS.c.merged_into_id.is_(None))
            .limit(200)
        ).all()
        for r in rows:
            if study.patient_id and r.patient_id == study.patient_id:
                add(r.oid, r.id, 8, "same patient id")
            elif r.id in formerly:
                add(r.oid, r.id, 8, "former patient id")
            if given and (r.name or "").upper() == given.upper():
                add(r.oid, r.id, 4, "same animal name")
                if family and (r.family_name or "").upper() == family.upper():
                    add(r.oid, r.id, 2, "same owner")
    order_filters: list[tuple[ColumnElement[bool], int, str]] = []
    acc = study.accession_number
    if len(acc) >= 6:
        order_filters.append(
            (ORDERS.c.accession_number.like(acc[: len(acc) - 3] + "%"), 2, "same accession prefix")
        )
    if len(study.study_date) == 8:
        try:
            day = datetime.strptime(study.study_date, "%Y%m%d")
            day_cond = (STEPS.c.start >= day) & (STEPS.c.start < day + timedelta(days=1))
            order_filters.append((day_cond, 1, "scheduled the same day"))
        except ValueError:
            pass
    for cond, points, why in order_filters:
        found = conn.execute(
            select(ORDERS.c.id, ORDERS.c.animal_id)
            .select_from(ORDERS.outerjoin(STEPS, STEPS.c.order_id == ORDERS.c.id))
            .where(cond, active)
            .distinct()
            .limit(50)
        ).all()
        for o in found:
            add(o.id, o.animal_id, points, why)
    ranked = sorted(scores.values(), key=lambda e: (-e["score"], -(e["order_id"] or 0)))[:limit]
    if ranked:
        ids = {e["order_id"] for e in ranked if e["order_id"]}
        acc_by_id = (
            dict(
                conn.execute(select(ORDERS.c.id, ORDERS.c.accession_number).where(ORDERS.c.id.in_(ids))).all()
            )
            if ids
            else {}
        )
        for e in ranked:
            e["accession_number"] = acc_by_id.get(e["order_id"], "")
    return ranked


def link_in(
    conn: Connection,
    order_id: int,
    study_instance_uid: str,
    *,
    matched_by: str,
    actor: Actor,
    reason: str = "",
) -> None:
    """Link a study to an order and move the order to images_received (caller's transaction)."""
    conn.execute(
        insert(LINKS).values(
            order_id=order_id,
            study_instance_uid=study_instance_uid,
            matched_by=matched_by,
            linked_by=actor.username[:64],
            linked_at=utcnow(),
        )
    )
    status = conn.execute(select(ORDERS.c.status).where(ORDERS.c.id == order_id)).scalar_one()
    if can_advance(status, OrderStatus.IMAGES_RECEIVED):
        advance_order(
            conn,
            order_id,
            OrderStatus.IMAGES_RECEIVED,
            actor=actor,
            reason=reason or f"study {study_instance_uid}",
        )
    payload = {"order_id": order_id, "study_instance_uid": study_instance_uid, "matched_by": matched_by}
    record_in(conn, actor, "study.linked", object_type="study", object_id=study_instance_uid, detail=payload)
    events.emit(
        conn,
        "study.linked",
        aggregate_type="order",
        aggregate_id=order_id,
        payload=payload,
        actor=actor.username,
    )


def queue_in(
    conn: Connection, study: StudyStored, reason: str, details: list[str], *, order_id: int | None = None
) -> int:
    """Put a study in the reconciliation queue (caller's transaction); the item's id.

    Candidates are ranked when the queue is read (``reconciliation.list_items``): cheaper on the
    ingest path, and an order entered after the images arrived is offered too.
    """
    return queue_many_in(conn, [Unmatched(study, reason, details, order_id)])[0]


@dataclass(frozen=True)
class Unmatched:
    """A study for the reconciliation queue: why, what differed, the order it named (if any)."""

    study: StudyStored
    reason: str
    details: list[str]
    order_id: int | None = None


def queue_many_in(conn: Connection, unmatched: list[Unmatched]) -> list[int]:
    """:func:`queue_in` for several studies: one multi-row insert each for the items and their
    audit rows (the per-statement cost dominated linking a burst of small studies); the ids."""
    if not unmatched:
        return []
    now = utcnow()
    rows = [
        {
            "study_instance_uid": u.study.study_instance_uid,
            "reason": u.reason[:32],
            "detail": "; ".join(u.details),
            "candidates_json": "[]",
            "status": "open",
            "order_id": u.order_id,
            "animal_id": None,
            "resolved_by": "",
            "resolved_at": None,
            "previous_overlay_json": "",
            "created_at": now,
        }
        for u in unmatched
    ]
    ids = [
        int(r[0])
        for r in conn.execute(insert(ITEMS).returning(ITEMS.c.id, sort_by_parameter_order=True), rows).all()
    ]
    payloads: list[dict[str, Any]] = [
        {
            "item_id": pk,
            "study_instance_uid": u.study.study_instance_uid,
            "reason": u.reason,
            "detail": row["detail"],
            "accession_number": u.study.accession_number,
            "patient_id": u.study.patient_id,
            "origin": u.study.origin.describe(),
        }
        for pk, u, row in zip(ids, unmatched, rows, strict=True)
    ]
    conn.execute(
        insert(AUDIT),
        [
            audit_row(
                LINK_ACTOR,
                "study.unmatched",
                object_type="study",
                object_id=p["study_instance_uid"],
                detail=p,
                at=now,
            )
            for p in payloads
        ],
    )
    for p in payloads:
        events.emit(
            conn,
            "study.unmatched",
            aggregate_type="study",
            aggregate_id=p["study_instance_uid"],
            payload=p,
            actor=LINK_ACTOR.username,
        )
    return ids


def _handled(conn: Connection, study_uids: list[str]) -> set[str]:
    """Which of these studies are already linked or queued: one indexed query."""
    if not study_uids:
        return set()
    linked = select(LINKS.c.study_instance_uid).where(LINKS.c.study_instance_uid.in_(study_uids))
    queued = select(ITEMS.c.study_instance_uid).where(ITEMS.c.study_instance_uid.in_(study_uids))
    return set(conn.execute(linked.union(queued)).scalars())


def link_on_ingest(archive: Archive, study: StudyStored) -> None:
    """Link a newly stored study to its order, or queue it for a person (its own transaction).

    A new series of a study already linked or queued costs one indexed read and writes nothing.
    """
    with archive.engine.connect() as conn:
        if _handled(conn, [study.study_instance_uid]):
            return
    try:
        with archive.write_transaction() as conn:
            link_or_queue_in(conn, study)
    except IntegrityError:
        log.info("study %s was linked or queued concurrently", study.study_instance_uid)


def link_or_queue_in(conn: Connection, study: StudyStored) -> None:
    """:func:`link_on_ingest` inside the caller's transaction (nothing when already handled)."""
    link_or_queue_many_in(conn, [study])


def _orders_for(
    conn: Connection, studies: list[StudyStored]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Orders by accession number, by Study Instance UID and by Requested Procedure ID for a batch
    of studies: at most three indexed queries for the whole batch (the rules of :func:`match_order`)."""
    cols = (ORDERS.c.id, ORDERS.c.animal_id, ORDERS.c.status, ORDERS.c.accession_number)
    accessions = sorted({s.accession_number for s in studies if s.accession_number})
    uids = sorted({s.study_instance_uid for s in studies})
    rp_ids = sorted({s.requested_procedure_id for s in studies if s.requested_procedure_id})
    by_accession = (
        {
            r.accession_number: r
            for r in conn.execute(select(*cols).where(ORDERS.c.accession_number.in_(accessions)))
        }
        if accessions
        else {}
    )
    by_uid = {
        r.study_instance_uid: r
        for r in conn.execute(
            select(*cols, ORDERS.c.study_instance_uid).where(ORDERS.c.study_instance_uid.in_(uids))
        )
    }
    by_rp: dict[str, Any] = {}
    if rp_ids:
        rows = conn.execute(
            select(*cols, STEPS.c.requested_procedure_id)
            .join(STEPS, STEPS.c.order_id == ORDERS.c.id)
            .where(STEPS.c.requested_procedure_id.in_(rp_ids))
            .order_by(ORDERS.c.id.desc())
        )
        for r in rows:
            by_rp.setdefault(r.requested_procedure_id, r)  # the newest order, as match_order
    return by_accession, by_uid, by_rp


def link_or_queue_many_in(conn: Connection, studies: list[StudyStored]) -> None:
    """Link or queue each study not yet linked or queued, inside the caller's transaction.

    Matching (:func:`match_order`'s rules) costs at most four queries for the whole batch; the
    studies that go to the reconciliation queue (most of them in a burst of strays) are written with
    one multi-row insert per table (:func:`queue_many_in`). A matched study is checked and linked one
    by one (:func:`check_demographics`, :func:`link_in`).
    """
    handled = _handled(conn, [s.study_instance_uid for s in studies])
    todo: list[StudyStored] = []
    for study in studies:
        if study.study_instance_uid not in handled:
            handled.add(study.study_instance_uid)  # the same study twice in a batch: once
            todo.append(study)
    if not todo:
        return
    by_accession, by_uid, by_rp = _orders_for(conn, todo)
    unmatched: list[Unmatched] = []
    for study in todo:
        order, matched_by = None, ""
        if study.accession_number and study.accession_number in by_accession:
            order, matched_by = by_accession[study.accession_number], "accession"
        elif study.study_instance_uid in by_uid:
            order, matched_by = by_uid[study.study_instance_uid], "study-uid"
        elif study.requested_procedure_id and study.requested_procedure_id in by_rp:
            order, matched_by = by_rp[study.requested_procedure_id], "requested-procedure"
        if order is None:
            what = ", ".join(
                f"{k} {v!r}"
                for k, v in (
                    ("accession", study.accession_number),
                    ("requested procedure", study.requested_procedure_id),
                )
                if v
            )
            unmatched.append(
                Unmatched(study, "no-order", [f"no order matches ({what or 'no accession number'})"])
            )
            continue
        if order.status in INACTIVE:
            detail = f"order {order.accession_number} is {order.status}"
            unmatched.append(Unmatched(study, "order-inactive", [detail], order.id))
            continue
        conflicts = check_demographics(conn, order.animal_id, study)
        if conflicts is not None:
            unmatched.append(Unmatched(study, conflicts.reason, conflicts.details, order.id))
            continue
        link_in(
            conn,
            order.id,
            study.study_instance_uid,
            matched_by=matched_by,
            actor=LINK_ACTOR,
            reason=f"images received ({study.origin.describe()})",
        )
        if arrived_under_former_id(conn, order.animal_id, study):
            # Filed under the animal's current identity, as the merge or change did for its older
            # studies (index and served headers; the stored bytes stay as received).
            correct_study_in(
                conn,
                study.study_instance_uid,
                dicom_patient_attributes(conn, order.animal_id),
                actor=LINK_ACTOR,
                reason=f"arrived under the former Patient ID {study.patient_id}",
            )
    queue_many_in(conn, unmatched)


class BackgroundLinker:
    """The archive study hook ``app.build_archive`` registers: links studies on a background thread.

    Ingest only appends to a queue (the C-STORE answer never waits for linking); the thread takes
    whatever has queued up (after letting a burst gather for ``batch_delay`` seconds) and links it
    in one write transaction, so a burst of new studies costs one commit, not one per study. A
    study whose batch fails is retried alone. What is still queued when the process dies is found
    again by :func:`sweep_unlinked` at the next start.
    """

    def __init__(self, batch_delay: float = 0.1) -> None:
        self.batch_delay = batch_delay  # how long the thread lets a burst gather before linking it
        self._queue: deque[tuple[Archive, StudyStored]] = deque()
        self._queued: set[str] = set()
        self._busy = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def __call__(self, archive: Archive, study: StudyStored) -> None:
        with self._cond:
            if study.study_instance_uid in self._queued:
                return  # a new series of a study already waiting
            self._queued.add(study.study_instance_uid)
            self._queue.append((archive, study))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vetpacs-linking", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued study is linked or queued for reconciliation; True when done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                self._busy = 1
            time.sleep(self.batch_delay)  # let a burst of new studies gather: one commit for all
            with self._cond:
                batch = list(self._queue)
                self._queue.clear()
                self._busy = len(batch)
            try:
                by_archive: dict[int, list[tuple[Archive, StudyStored]]] = {}
                for archive, study in batch:
                    by_archive.setdefault(id(archive), []).append((archive, study))
                for group in by_archive.values():
                    self._link_batch(group[0][0], [s for _, s in group])
            finally:
                with self._cond:
                    for _, study in batch:
                        self._queued.discard(study.study_instance_uid)
                    self._busy = 0
                    self._cond.notify_all()

    @staticmethod
    def _link_batch(archive: Archive, studies: list[StudyStored]) -> None:
        try:
            with archive.engine.connect() as conn:  # a burst of new series of known studies: no write
                done = _handled(conn, [s.study_instance_uid for s in studies])
            todo = [s for s in studies if s.study_instance_uid not in done]
            if not todo:
                return
            with archive.write_transaction() as conn:
                link_or_queue_many_in(conn, todo)
        except Exception:
            if len(studies) == 1:
                log.exception("linking study %s failed", studies[0].study_instance_uid)
                return
            for study in studies:  # one bad study must not keep the others unlinked
                BackgroundLinker._link_batch(archive, [study])


LINKER = BackgroundLinker()
"""The process's background linker (registered as a study hook by ``app.build_archive``)."""


def study_stored_from_row(row: Any, origin: Origin) -> StudyStored:
    """A ``StudyStored`` rebuilt from a ``studies`` row (its patient snapshot and stored header)."""
    header = json.loads(row.header_json or "{}")
    request = (header.get("00400275") or {}).get("Value") or [{}]
    rp_id = ((request[0].get("00401001") or {}).get("Value") or [""])[0]
    return StudyStored(
        study_instance_uid=row.study_instance_uid,
        series_instance_uid="",
        new_study=True,
        accession_number=row.accession_number,
        requested_procedure_id=str(rp_id),
        patient_id=row.patient_id,
        issuer_of_patient_id=row.issuer_of_patient_id,
        patient_name=row.patient_name,
        species_description=row.patient_species_description,
        species_code=row.patient_species_code,
        responsible_person=row.responsible_person,
        study_date=row.study_date,
        modality=row.modalities_in_study.split("\\")[0],
        origin=origin,
    )


def sweep_unlinked(archive: Archive, *, hours: float = 24.0) -> int:
    """Queue the studies of the last ``hours`` that are neither linked nor in the reconciliation
    queue (a crash between ingest and linking); how many. Called when the server starts."""
    since = utcnow() - timedelta(hours=hours)
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(STUDIES)
            .where(
                STUDIES.c.created_at >= since,
                STUDIES.c.study_instance_uid.not_in(select(LINKS.c.study_instance_uid)),
                STUDIES.c.study_instance_uid.not_in(select(ITEMS.c.study_instance_uid)),
            )
            .limit(10000)
        ).all()
    origin = Origin(OriginKind.MIGRATION, detail="linking sweep at start")
    for row in rows:
        LINKER(archive, study_stored_from_row(row, origin))
    return len(rows)


__all__ = [
    "LINKER",
    "BackgroundLinker",
    "Conflicts",
    "check_demographics",
    "find_candidates",
    "link_in",
    "link_on_ingest",
    "link_or_queue_in",
    "link_or_queue_many_in",
    "match_order",
    "queue_in",
    "queue_many_in",
    "study_stored_from_row",
    "sweep_unlinked",
]
