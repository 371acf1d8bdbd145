"""Orders: create (accession number, study UID, one step per procedure), read, search, status actions.

IHE Scheduled Workflow (SWF.b), "Placer/Filler order" as a veterinary clinic has it: an order for
one animal gets an Accession Number (0008,0050), a pre-assigned Study Instance UID (0020,000D) and
one Requested Procedure with its Scheduled Procedure Step per catalog procedure (Requested
Procedure ID (0040,1001), Scheduled Procedure Step ID (0040,0009)). Every write takes a keyword-only
``actor`` and runs in one transaction with its audit row and outbox events; a refused order writes
nothing. The lifecycle (:func:`advance_order`, :func:`set_step_status`) lives in ``lifecycle.py``
and booking (:func:`schedule_step`, :func:`day_view`) in ``scheduling.py``; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from pydicom.uid import generate_uid
from sqlalchemy import Connection, Row, Table, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.catalog import PROCEDURES
from vetpacs.orders.lifecycle import (
    ORDERS,
    STEPS,
    TRANSITIONS,
    advance_order,
    can_advance,
    record_transition,
    set_step_status,
)
from vetpacs.orders.models import OrderStatus, Priority
from vetpacs.orders.scheduling import (
    book_step,
    day_view,
    get_step,
    schedule_day,
    schedule_step,
    station_day,
    step_read,
    steps_select,
)
from vetpacs.orders.schemas import OrderCreate, OrderPage, OrderRead, OrderSearch, StepRead, TransitionRead
from vetpacs.patients.models import Animal, Species

ANIMALS: Table = cast(Table, Animal.__table__)
SPECIES: Table = cast(Table, Species.__table__)

ACCESSION_PREFIX = "A"
ACCESSION_DIGITS = 4  # A + yymmdd + 0001: 11 characters (Accession Number is SH, at most 16)
ATTEMPTS = 5  # a generated accession number that lost a race is generated again

__all__ = [
    "IdentifierTaken",
    "advance_order",
    "can_advance",
    "cancel_order",
    "create_order",
    "day_view",
    "get_order",
    "get_order_by_accession",
    "get_step",
    "insert_order",
    "mark_arrived",
    "mark_no_show",
    "next_accession_number",
    "schedule_day",
    "schedule_step",
    "search_orders",
    "set_step_status",
    "station_day",
]


def local_now() -> datetime:
    """Now on the clinic's wall clock (naive local time, how steps are scheduled)."""
    return datetime.now().replace(microsecond=0)


def next_accession_number(conn: Connection, today: datetime | None = None) -> str:
    """The next free generated accession number: ``A`` + yymmdd (local date) + a daily sequence."""
    prefix = f"{ACCESSION_PREFIX}{(today or local_now()):%y%m%d}"
    used = conn.execute(
        select(func.count()).select_from(ORDERS).where(ORDERS.c.accession_number.like(prefix + "%"))
    ).scalar_one()
    seq = int(used) + 1
    while True:
        candidate = f"{prefix}{seq:0{ACCESSION_DIGITS}d}"
        taken = conn.execute(select(ORDERS.c.id).where(ORDERS.c.accession_number == candidate)).first()
        if taken is None:
            return candidate
        seq += 1


def _animal(conn: Connection, animal_id: int) -> Row[Any]:
    row = conn.execute(
        select(ANIMALS, SPECIES.c.code.label("species_code"), SPECIES.c.name.label("species_name"))
        .outerjoin(SPECIES, SPECIES.c.id == ANIMALS.c.species_id)
        .where(ANIMALS.c.id == animal_id)
    ).first()
    if row is None:
        raise NotFound(f"no animal with id {animal_id}")
    if row.merged_into_id is not None:
        raise Invalid(f"animal {animal_id} was merged into animal {row.merged_into_id}: order for that one")
    return row


def _procedures(conn: Connection, codes: Sequence[str], animal: Row[Any]) -> list[Row[Any]]:
    if len(set(codes)) != len(codes):
        raise Invalid("a procedure is listed twice")
    rows = {r.code: r for r in conn.execute(select(PROCEDURES).where(PROCEDURES.c.code.in_(list(codes))))}
    missing = [c for c in codes if c not in rows]
    if missing:
        raise Invalid(f"unknown procedure code(s): {', '.join(missing)}")
    for code in codes:
        proc = rows[code]
        if not proc.active:
            raise Invalid(f"procedure {code} is inactive")
        allowed = [c for c in proc.species_codes.split("\\") if c]
        if allowed and animal.species_code and animal.species_code not in allowed:
            raise Invalid(
                f"procedure {code} ({proc.name}) is for species {', '.join(allowed)} only; "
                f"animal {animal.name} is {animal.species_name or ''} ({animal.species_code})"
            )
    return [rows[c] for c in codes]


class IdentifierTaken(Conflict):
    """An identifier a PMS gave (accession number, Study Instance UID, step id) is already used.

    ``field`` names the :class:`OrderCreate` field, so a transport can point at its own field.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check_given_identifiers(conn: Connection, data: OrderCreate) -> None:
    """The Study Instance UID and step id a PMS gave must be free; they need a single procedure."""
    if (data.requested_procedure_id or data.step_id) and len(data.procedure_codes) != 1:
        raise Invalid("a given requested procedure id or step id needs an order of exactly one procedure")
    if data.study_instance_uid:
        other = conn.execute(
            select(ORDERS.c.id).where(ORDERS.c.study_instance_uid == data.study_instance_uid)
        ).first()
        if other is not None:
            raise IdentifierTaken(
                "study_instance_uid",
                f"study instance UID {data.study_instance_uid} belongs to another order ({other.id})",
            )
    if data.step_id:
        taken = conn.execute(select(STEPS.c.order_id).where(STEPS.c.step_id == data.step_id)).first()
        if taken is not None:
            raise IdentifierTaken(
                "step_id",
                f"scheduled procedure step id {data.step_id} is already used (order {taken.order_id})",
            )


def insert_order(conn: Connection, data: OrderCreate, *, actor: Actor) -> int:
    """Write an order, its steps (and their bookings) inside the caller's transaction; its id.

    Identifiers a PMS gave (accession number, Study Instance UID, requested procedure id, step id)
    are used as given. Raises NotFound (animal, station), Invalid (merged animal, unknown, inactive
    or other-species procedure; a given step id for several procedures), IdentifierTaken (a
    Conflict: accession number, study UID or step id in use), Conflict (a booking refused, see
    ``book_step``).
    """
    animal = _animal(conn, data.animal_id)
    procedures = _procedures(conn, data.procedure_codes, animal)
    if data.accession_number is not None:
        accession = data.accession_number
        other = conn.execute(select(ORDERS.c.id).where(ORDERS.c.accession_number == accession)).first()
        if other is not None:
            raise IdentifierTaken(
                "accession_number", f"accession number {accession} is already used by order {other.id}"
            )
    else:
        accession = next_accession_number(conn)
    _check_given_identifiers(conn, data)
    now = utcnow()
    order_id = int(
        conn.execute(
            insert(ORDERS).values(
                accession_number=accession,
                animal_id=animal.id,
                placer_order_number=data.placer_order_number,
                requesting_vet=data.requesting_vet,
                clinical_question=data.clinical_question,
                priority=Priority(data.priority).value,
                body_region=data.body_region or procedures[0].body_region,
                laterality=data.laterality,
                status=OrderStatus.ORDERED.value,
                study_instance_uid=data.study_instance_uid or generate_uid(prefix=None),  # 2.25.<UUID>
                created_by=actor.username[:64],
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
    step_pks: list[int] = []
    for n, proc in enumerate(procedures, start=1):
        pk = conn.execute(
            insert(STEPS).values(
                order_id=order_id,
                procedure_id=proc.id,
                requested_procedure_id=data.requested_procedure_id or f"RP{order_id}.{n}",
                step_id=data.step_id or f"SPS{order_id}.{n}",
                station_id=None,
                modality=proc.modality,
                start=None,
                duration_minutes=proc.duration_minutes,
                protocol=proc.name[:64],
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        step_pks.append(int(pk))
    record_transition(conn, order_id, "", OrderStatus.ORDERED.value, actor=actor, reason="created", at=now)
    payload = {
        "order_id": order_id,
        "accession_number": accession,
        "animal_id": animal.id,
        "patient_id": animal.patient_id,
        "procedure_codes": list(data.procedure_codes),
        "priority": Priority(data.priority).value,
        "placer_order_number": data.placer_order_number,
    }
    record_in(conn, actor, "order.created", object_type="order", object_id=accession, detail=payload)
    events.emit(
        conn,
        "order.created",
        aggregate_type="order",
        aggregate_id=order_id,
        payload=payload,
        actor=actor.username,
    )
    if data.schedule is not None:
        start = data.schedule.start
        duration = data.schedule.duration_minutes if len(step_pks) == 1 else None
        for pk in step_pks:
            start = book_step(
                conn,
                pk,
                data.schedule.station_id,
                start,
                actor=actor,
                duration_minutes=duration,
                announce=False,
            )
        advance_order(conn, order_id, OrderStatus.SCHEDULED, actor=actor, reason="booked at creation")
    return order_id


def create_order(archive: Database, data: OrderCreate, *, actor: Actor) -> OrderRead:
    """Create an order for an animal: accession number, study UID, one step per procedure.

    With ``data.schedule`` the steps are booked back to back on that station (the order is then
    ``scheduled``); a refused booking refuses the whole order. Nothing is written on any error.
    """
    for attempt in range(ATTEMPTS):
        try:
            with archive.write_transaction() as conn:
                order_id = insert_order(conn, data, actor=actor)
            return get_order(archive, order_id)
        except IntegrityError as exc:
            # Only a race on a unique column gets here (checks run first): the given accession
            # number was taken meanwhile, or two generators picked the same sequence number.
            if data.accession_number is not None:
                raise Conflict(f"accession number {data.accession_number} is already in use") from exc
            if attempt == ATTEMPTS - 1:
                raise Conflict("could not allocate an accession number; try again") from exc
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- reading
def _order_reads(conn: Connection, rows: Sequence[Row[Any]], *, transitions: bool = False) -> list[OrderRead]:
    ids = [r.id for r in rows]
    steps: dict[int, list[StepRead]] = {i: [] for i in ids}
    trans: dict[int, list[TransitionRead]] = {i: [] for i in ids}
    if ids:
        for s in conn.execute(steps_select().where(STEPS.c.order_id.in_(ids)).order_by(STEPS.c.id)):
            steps[s.order_id].append(step_read(s))
        if transitions:
            for t in conn.execute(
                select(TRANSITIONS).where(TRANSITIONS.c.order_id.in_(ids)).order_by(TRANSITIONS.c.id)
            ):
                trans[t.order_id].append(
                    TransitionRead(
                        from_status=t.from_status,
                        to_status=OrderStatus(t.to_status),
                        actor=t.actor,
                        reason=t.reason,
                        at=t.at,
                    )
                )
    return [
        OrderRead(
            id=r.id,
            accession_number=r.accession_number,
            animal_id=r.animal_id,
            placer_order_number=r.placer_order_number,
            requesting_vet=r.requesting_vet,
            clinical_question=r.clinical_question,
            priority=Priority(r.priority),
            body_region=r.body_region,
            laterality=r.laterality,
            status=OrderStatus(r.status),
            study_instance_uid=r.study_instance_uid,
            created_by=r.created_by,
            created_at=r.created_at,
            updated_at=r.updated_at,
            steps=steps[r.id],
            transitions=trans[r.id],
        )
        for r in rows
    ]


def get_order(archive: Database, order_id: int) -> OrderRead:
    """One order with its steps and its transitions (oldest first); NotFound otherwise."""
    with archive.engine.connect() as conn:
        row = conn.execute(select(ORDERS).where(ORDERS.c.id == order_id)).first()
        if row is None:
            raise NotFound(f"no order with id {order_id}")
        return _order_reads(conn, [row], transitions=True)[0]


def get_order_by_accession(archive: Database, accession_number: str) -> OrderRead:
    """One order by its accession number; NotFound otherwise."""
    with archive.engine.connect() as conn:
        row = conn.execute(select(ORDERS).where(ORDERS.c.accession_number == accession_number)).first()
        if row is None:
            raise NotFound(f"no order with accession number {accession_number}")
        return _order_reads(conn, [row], transitions=True)[0]


def search_orders(archive: Database, query: OrderSearch) -> OrderPage:
    """Orders matching every given filter, newest first, one page with the total count.

    ``modality``, ``station_id`` and ``scheduled_from``/``scheduled_to`` (local dates) match when
    any step of the order does; ``created_since``/``created_until`` are UTC.
    """
    conds: list[Any] = []
    if query.status:
        conds.append(ORDERS.c.status.in_([s.value for s in query.status]))
    if query.animal_id is not None:
        conds.append(ORDERS.c.animal_id == query.animal_id)
    if query.accession_number:
        conds.append(ORDERS.c.accession_number == query.accession_number)
    if query.created_since is not None:
        conds.append(ORDERS.c.created_at >= _naive_utc(query.created_since))
    if query.created_until is not None:
        conds.append(ORDERS.c.created_at < _naive_utc(query.created_until))
    step_conds: list[Any] = []
    if query.modality:
        step_conds.append(STEPS.c.modality == query.modality.upper())
    if query.station_id is not None:
        step_conds.append(STEPS.c.station_id == query.station_id)
    if query.scheduled_from is not None:
        step_conds.append(STEPS.c.start >= datetime.combine(query.scheduled_from, time()))
    if query.scheduled_to is not None:
        step_conds.append(STEPS.c.start < datetime.combine(query.scheduled_to, time()) + timedelta(days=1))
    if step_conds:
        conds.append(exists(select(STEPS.c.id).where(STEPS.c.order_id == ORDERS.c.id, *step_conds)))
    with archive.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(ORDERS).where(*conds)).scalar_one()
        rows = conn.execute(
            select(ORDERS)
            .where(*conds)
            .order_by(ORDERS.c.created_at.desc(), ORDERS.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        ).all()
        items = _order_reads(conn, rows)
    return OrderPage(items=items, total=int(total), limit=query.limit, offset=query.offset)


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


# --------------------------------------------------------------------------- status actions
def _move(
    archive: Database, order_id: int, to_status: OrderStatus, *, actor: Actor, reason: str
) -> OrderRead:
    with archive.write_transaction() as conn:
        advance_order(conn, order_id, to_status, actor=actor, reason=reason)
    return get_order(archive, order_id)


def cancel_order(archive: Database, order_id: int, *, actor: Actor, reason: str = "") -> OrderRead:
    """Cancel an order (from ordered, scheduled or arrived); its open steps are cancelled too."""
    return _move(archive, order_id, OrderStatus.CANCELLED, actor=actor, reason=reason)


def mark_no_show(archive: Database, order_id: int, *, actor: Actor, reason: str = "") -> OrderRead:
    """The animal did not come (from ordered, scheduled or arrived); its open steps are cancelled."""
    return _move(archive, order_id, OrderStatus.NO_SHOW, actor=actor, reason=reason)


def mark_arrived(archive: Database, order_id: int, *, actor: Actor, reason: str = "") -> OrderRead:
    """The animal is at the clinic (from ordered or scheduled); its SCHEDULED steps become ARRIVED."""
    return _move(archive, order_id, OrderStatus.ARRIVED, actor=actor, reason=reason)
