"""Booking scheduled procedure steps on stations, and the day view of a station or of the clinic.

Times are naive local clinic time (the wall clock at the clinic, as the modality shows it and as
Scheduled Procedure Step Start Date/Time (0040,0002)/(0040,0003) carry it on the worklist). A time
with a UTC offset is refused. A booking is refused with Conflict, and a reason a person can act on,
when the station's modality differs from the step's, when the step would fall outside the station's
opening hours, or when it overlaps another active step on that station.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, select, update

from vetpacs import events
from vetpacs.archive.models import Study
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.catalog import PROCEDURES, STATIONS, opening_hours_of, station_read
from vetpacs.orders.lifecycle import ACTIVE_STEP, INACTIVE_ORDER, ORDERS, STEPS, advance_order
from vetpacs.orders.models import OrderStatus, OrderStudy, Priority, StepStatus
from vetpacs.orders.schemas import WEEKDAYS, DayEntry, OpeningHours, StationDay, StepRead
from vetpacs.patients.models import Animal, AnimalOwner, Owner, Species

ANIMALS: Table = cast(Table, Animal.__table__)
SPECIES: Table = cast(Table, Species.__table__)
OWNERS: Table = cast(Table, Owner.__table__)
OWNERSHIP: Table = cast(Table, AnimalOwner.__table__)
STUDY_LINKS: Table = cast(Table, OrderStudy.__table__)
STUDIES: Table = cast(Table, Study.__table__)
MAX_DURATION = timedelta(minutes=1440)  # ScheduleRequest caps a step at a day: bounds the overlap scan
BOOKABLE_ORDER = frozenset(
    {OrderStatus.ORDERED.value, OrderStatus.SCHEDULED.value, OrderStatus.ARRIVED.value}
)
BOOKABLE_STEP = frozenset({StepStatus.SCHEDULED.value, StepStatus.ARRIVED.value})


def _hm(value: time | datetime) -> str:
    return f"{value:%H:%M}"


def outside_opening_hours(name: str, hours: OpeningHours, start: datetime, end: datetime) -> str | None:
    """Why ``start``..``end`` is outside a station's opening hours, or None when it fits.

    Empty hours mean always open. The booking must fit in one interval of the start's weekday.
    """
    if not hours:
        return None
    day = WEEKDAYS[start.weekday()]
    spans = hours.get(day, [])
    if not spans:
        return f"{name} is closed on {day} ({start:%Y-%m-%d})"
    midnight = datetime.combine(start.date(), time())
    for opens, closes in spans:
        o = midnight + timedelta(hours=int(opens[:2]), minutes=int(opens[3:]))
        c = midnight + timedelta(hours=int(closes[:2]), minutes=int(closes[3:]))
        if o <= start and end <= c:
            return None
    open_text = ", ".join(f"{a}-{b}" for a, b in spans)
    return (
        f"{name} is open {open_text} on {day}; {_hm(start)}-{_hm(end)} on {start:%Y-%m-%d} "
        "is outside its opening hours"
    )


def _as_naive(start: datetime) -> datetime:
    if start.tzinfo is not None:
        raise Invalid("start is local clinic time: give it without a UTC offset")
    return start.replace(microsecond=0)


def book_step(
    conn: Connection,
    step_pk: int,
    station_id: int,
    start: datetime,
    *,
    actor: Actor,
    duration_minutes: int | None = None,
    announce: bool = True,
) -> datetime:
    """Book (or re-book) one step on a station inside the caller's transaction; returns its end.

    Refuses with Conflict: an order past ``arrived`` or a step no longer SCHEDULED/ARRIVED, an
    inactive station, another modality, outside the opening hours, an overlap with an active step
    of an active order on that station. The order moves ``ordered -> scheduled`` on its first
    booking (event ``order.scheduled``); a re-booking emits ``order.rescheduled``. With
    ``announce=False`` the caller moves the order and emits the events itself (an order booked
    at creation: one ``order.scheduled`` naming every step).
    """
    start = _as_naive(start)
    step = conn.execute(select(STEPS).where(STEPS.c.id == step_pk).with_for_update()).first()
    if step is None:
        raise NotFound(f"no scheduled step with id {step_pk}")
    order = conn.execute(select(ORDERS).where(ORDERS.c.id == step.order_id)).one()
    if order.status not in BOOKABLE_ORDER:
        raise Conflict(
            f"order {order.accession_number} is {order.status}: its steps can no longer be scheduled"
        )
    if step.status not in BOOKABLE_STEP:
        raise Conflict(f"step {step.step_id} is {step.status}: it can no longer be scheduled")
    # Lock the station row: two bookings of one station serialise here (PostgreSQL; SQLite
    # writers are serialised by Archive.write_transaction already).
    station = conn.execute(select(STATIONS).where(STATIONS.c.id == station_id).with_for_update()).first()
    if station is None:
        raise NotFound(f"no station with id {station_id}")
    if not station.active:
        raise Conflict(f"station {station.name} is inactive")
    if station.modality != step.modality:
        raise Conflict(
            f"station {station.name} is a {station.modality} station; "
            f"step {step.step_id} needs {step.modality}"
        )
    if duration_minutes is not None and not 1 <= duration_minutes <= 1440:
        raise Invalid("duration_minutes must be between 1 and 1440")
    minutes = duration_minutes or step.duration_minutes
    end = start + timedelta(minutes=minutes)
    reason = outside_opening_hours(station.name, opening_hours_of(station.opening_hours), start, end)
    if reason:
        raise Conflict(reason)
    _refuse_overlap(conn, station, step_pk, start, end)
    rebooking = step.start is not None
    now = utcnow()
    conn.execute(
        update(STEPS)
        .where(STEPS.c.id == step_pk)
        .values(station_id=station_id, start=start, duration_minutes=minutes, updated_at=now)
    )
    detail = {
        "order_id": order.id,
        "accession_number": order.accession_number,
        "step_pk": step_pk,
        "step_id": step.step_id,
        "station_id": station_id,
        "station_ae_title": station.ae_title,
        "start": start.isoformat(),
        "duration_minutes": minutes,
    }
    if rebooking:
        detail["previous"] = {
            "station_id": step.station_id,
            "start": step.start.isoformat(),
            "duration_minutes": step.duration_minutes,
        }
    record_in(
        conn,
        actor,
        "step.rescheduled" if rebooking else "step.scheduled",
        object_type="step",
        object_id=step.step_id,
        detail=detail,
    )
    if not announce:
        pass
    elif order.status == OrderStatus.ORDERED.value:
        advance_order(
            conn, order.id, OrderStatus.SCHEDULED, actor=actor, reason=f"step {step.step_id} booked"
        )
    else:
        events.emit(
            conn,
            "order.rescheduled" if rebooking else "order.step_scheduled",
            aggregate_type="order",
            aggregate_id=order.id,
            payload=detail,
            actor=actor.username,
        )
    conn.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(updated_at=now))
    return end


def _refuse_overlap(
    conn: Connection, station: Row[Any], step_pk: int, start: datetime, end: datetime
) -> None:
    rows = conn.execute(
        select(STEPS.c.step_id, STEPS.c.start, STEPS.c.duration_minutes, ORDERS.c.accession_number)
        .join(ORDERS, ORDERS.c.id == STEPS.c.order_id)
        .where(
            STEPS.c.station_id == station.id,
            STEPS.c.id != step_pk,
            STEPS.c.status.in_(ACTIVE_STEP),
            ORDERS.c.status.not_in(INACTIVE_ORDER),
            STEPS.c.start < end,
            STEPS.c.start > start - MAX_DURATION,
        )
        .order_by(STEPS.c.start)
    ).all()
    for r in rows:
        other_end = r.start + timedelta(minutes=r.duration_minutes)
        if other_end > start:
            raise Conflict(
                f"{station.name} is already booked {_hm(r.start)}-{_hm(other_end)} on {r.start:%Y-%m-%d} "
                f"(step {r.step_id}, order {r.accession_number}); {_hm(start)}-{_hm(end)} overlaps it"
            )


def schedule_step(
    archive: Database,
    step_id: int,
    station_id: int,
    start: datetime,
    *,
    actor: Actor,
    duration_minutes: int | None = None,
) -> StepRead:
    """Book or re-book a step (by its primary key) on a station at ``start`` (local clinic time).

    One transaction with its audit row and events; see :func:`book_step` for what is refused.
    """
    with archive.write_transaction() as conn:
        book_step(conn, step_id, station_id, start, actor=actor, duration_minutes=duration_minutes)
    return get_step(archive, step_id)


# --------------------------------------------------------------------------- reading steps
def steps_select() -> Any:
    """SELECT of steps with their procedure's code and name and their station's name."""
    return (
        select(
            STEPS,
            PROCEDURES.c.code.label("procedure_code"),
            PROCEDURES.c.name.label("procedure_name"),
            STATIONS.c.name.label("station_name"),
        )
        .join(PROCEDURES, PROCEDURES.c.id == STEPS.c.procedure_id)
        .outerjoin(STATIONS, STATIONS.c.id == STEPS.c.station_id)
    )


def step_read(row: Row[Any]) -> StepRead:
    """A row of :func:`steps_select` as a :class:`StepRead`."""
    return StepRead(
        id=row.id,
        order_id=row.order_id,
        procedure_id=row.procedure_id,
        procedure_code=row.procedure_code,
        procedure_name=row.procedure_name,
        requested_procedure_id=row.requested_procedure_id,
        step_id=row.step_id,
        station_id=row.station_id,
        station_name=row.station_name,
        modality=row.modality,
        start=row.start,
        end=row.start + timedelta(minutes=row.duration_minutes) if row.start else None,
        duration_minutes=row.duration_minutes,
        status=StepStatus(row.status),
        protocol=row.protocol,
    )


def get_step(archive: Database, step_pk: int) -> StepRead:
    """One step by primary key; NotFound otherwise."""
    with archive.engine.connect() as conn:
        row = conn.execute(steps_select().where(STEPS.c.id == step_pk)).first()
    if row is None:
        raise NotFound(f"no scheduled step with id {step_pk}")
    return step_read(row)


def _board_details(
    conn: Connection, rows: list[Row[Any]]
) -> tuple[dict[int, str], dict[int, tuple[str, int]]]:
    """Primary owner label per animal, and (study uid, instances received) per order, batched.

    An order's study is its newest linked one, else the stored study with the order's own Study
    Instance UID (images that arrived but wait in the reconciliation queue)."""
    animal_ids = {r.animal_id for r in rows}
    owners: dict[int, str] = {}
    if animal_ids:
        for o in conn.execute(
            select(OWNERSHIP.c.animal_id, OWNERS.c.family_name, OWNERS.c.given_name)
            .join(OWNERS, OWNERS.c.id == OWNERSHIP.c.owner_id)
            .where(OWNERSHIP.c.animal_id.in_(animal_ids))
            .order_by(OWNERSHIP.c.animal_id, OWNERSHIP.c.is_primary.desc(), OWNERSHIP.c.owner_id)
        ):
            if o.animal_id not in owners:
                family, given = o.family_name.strip().upper(), o.given_name.strip()
                owners[o.animal_id] = f"{family}, {given}" if given else family
    order_ids = {r.order_id for r in rows}
    uid_of: dict[int, str] = {r.order_id: r.order_study_uid for r in rows}
    if order_ids:
        for link in conn.execute(
            select(STUDY_LINKS.c.order_id, STUDY_LINKS.c.study_instance_uid)
            .where(STUDY_LINKS.c.order_id.in_(order_ids))
            .order_by(STUDY_LINKS.c.id)
        ):
            uid_of[link.order_id] = link.study_instance_uid
    counts = (
        dict(
            conn.execute(
                select(STUDIES.c.study_instance_uid, STUDIES.c.num_instances).where(
                    STUDIES.c.study_instance_uid.in_(set(uid_of.values()))
                )
            ).all()
        )
        if uid_of
        else {}
    )
    studies = {oid: (uid, int(counts[uid])) if uid in counts else ("", 0) for oid, uid in uid_of.items()}
    return owners, studies


def _day_entries(conn: Connection, day: date, station_id: int | None) -> list[tuple[int, DayEntry]]:
    begin = datetime.combine(day, time())
    stmt = (
        steps_select()
        .add_columns(
            ORDERS.c.accession_number,
            ORDERS.c.status.label("order_status"),
            ORDERS.c.priority,
            ORDERS.c.animal_id,
            ORDERS.c.study_instance_uid.label("order_study_uid"),
            ANIMALS.c.name.label("animal_name"),
            ANIMALS.c.species_text,
            SPECIES.c.name.label("species_name"),
        )
        .join(ORDERS, ORDERS.c.id == STEPS.c.order_id)
        .join(ANIMALS, ANIMALS.c.id == ORDERS.c.animal_id)
        .outerjoin(SPECIES, SPECIES.c.id == ANIMALS.c.species_id)
        .where(
            STEPS.c.start >= begin,
            STEPS.c.start < begin + timedelta(days=1),
            STEPS.c.station_id.is_not(None),
            STEPS.c.status != StepStatus.CANCELLED.value,
            ORDERS.c.status.not_in((OrderStatus.CANCELLED.value, OrderStatus.NO_SHOW.value)),
        )
        .order_by(STEPS.c.start, STEPS.c.id)
    )
    if station_id is not None:
        stmt = stmt.where(STEPS.c.station_id == station_id)
    rows = list(conn.execute(stmt))
    owners, studies = _board_details(conn, rows)
    return [
        (
            r.station_id,
            DayEntry(
                step=step_read(r),
                accession_number=r.accession_number,
                order_status=OrderStatus(r.order_status),
                priority=Priority(r.priority),
                animal_id=r.animal_id,
                animal_name=r.animal_name,
                species=r.species_name or r.species_text or "",
                owner=owners.get(r.animal_id, ""),
                study_uid=studies[r.order_id][0],
                images=studies[r.order_id][1],
            ),
        )
        for r in rows
    ]


def day_view(archive: Database, station_id: int, day: date) -> list[DayEntry]:
    """A station's bookings on one local day, by start (cancelled and no-show left out)."""
    with archive.engine.connect() as conn:
        if conn.execute(select(STATIONS.c.id).where(STATIONS.c.id == station_id)).first() is None:
            raise NotFound(f"no station with id {station_id}")
        return [entry for _, entry in _day_entries(conn, day, station_id)]


def station_day(archive: Database, station_id: int, day: date) -> StationDay:
    """:func:`day_view` with the station and its opening hours that day."""
    with archive.engine.connect() as conn:
        row = conn.execute(select(STATIONS).where(STATIONS.c.id == station_id)).first()
        if row is None:
            raise NotFound(f"no station with id {station_id}")
        entries = [entry for _, entry in _day_entries(conn, day, station_id)]
    station = station_read(row)
    return StationDay(
        station=station,
        day=day,
        always_open=not station.opening_hours,
        opening_hours=station.opening_hours.get(WEEKDAYS[day.weekday()], []) if station.opening_hours else [],
        entries=entries,
    )


def schedule_day(archive: Database, day: date, *, modality: str | None = None) -> list[StationDay]:
    """Every active station's day (optionally one modality's), stations by name."""
    with archive.engine.connect() as conn:
        stmt = select(STATIONS).where(STATIONS.c.active.is_(True)).order_by(STATIONS.c.name)
        if modality:
            stmt = stmt.where(STATIONS.c.modality == modality.upper())
        stations = [station_read(r) for r in conn.execute(stmt)]
        by_station: dict[int, list[DayEntry]] = {}
        for sid, entry in _day_entries(conn, day, None):
            by_station.setdefault(sid, []).append(entry)
    return [
        StationDay(
            station=s,
            day=day,
            always_open=not s.opening_hours,
            opening_hours=s.opening_hours.get(WEEKDAYS[day.weekday()], []) if s.opening_hours else [],
            entries=by_station.get(s.id, []),
        )
        for s in stations
    ]
