"""Orders, catalog, scheduling and the lifecycle on a real index (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, insert, select, text

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor, Role
from vetpacs.auth.audit import AUDIT, utcnow
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.events import OUTBOX
from vetpacs.orders import catalog
from vetpacs.orders.lifecycle import ALLOWED, TRANSITIONS, advance_order, can_advance, set_step_status
from vetpacs.orders.models import OrderStatus, StepStatus
from vetpacs.orders.schemas import (
    OrderCreate,
    OrderSearch,
    ProcedureCreate,
    ProcedureUpdate,
    ScheduleRequest,
    StationCreate,
    StationUpdate,
    normalize_opening_hours,
)
from vetpacs.orders.service import (
    cancel_order,
    create_order,
    day_view,
    get_order,
    mark_arrived,
    mark_no_show,
    schedule_day,
    schedule_step,
    search_orders,
)
from vetpacs.patients.models import Animal, Species

ACTOR = Actor(username="frontdesk", role=Role.FRONT_DESK, user_id=None, via="cli")
MPPS = Actor(username="system", role=Role.ADMIN, via="dicom")
DOG, CAT = catalog.DOG, catalog.CAT
MONDAY = date(2030, 1, 7)  # a Monday, well in the future


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time())


def add_animal(archive: Archive, name: str, species_code: str | None = DOG) -> int:
    """An animal by plain inserts (the patients service is tested on its own)."""
    now = utcnow()
    with archive.write_transaction() as conn:
        species_id = None
        if species_code:
            species_id = conn.execute(
                select(Species.__table__.c.id).where(Species.__table__.c.code == species_code)
            ).scalar()
            if species_id is None:
                species_id = conn.execute(
                    insert(Species.__table__).values(
                        code=species_code,
                        coding_scheme="SCT",
                        name={DOG: "Canine", CAT: "Feline"}[species_code],
                    )
                ).inserted_primary_key[0]
        pk = conn.execute(
            insert(Animal.__table__).values(
                patient_id=f"P-{name}-{now.timestamp()}",
                name=name,
                species_id=species_id,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
    return int(pk)


@pytest.fixture
def clinic(archive: Archive) -> dict[str, Any]:
    """Seeded catalog, the demo stations, a dog and a cat."""
    procs = catalog.seed_catalog(archive, actor=ACTOR)
    stations = catalog.seed_stations(archive, actor=ACTOR)
    return {
        "procs": {p.code: p for p in procs},
        "stations": {s.modality: s for s in stations},
        "dog": add_animal(archive, "Rex", DOG),
        "cat": add_animal(archive, "Tom", CAT),
    }


def count(archive: Archive, table: Any, *where: Any) -> int:
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def types_of(archive: Archive, order_id: int) -> list[str]:
    with archive.engine.connect() as conn:
        return list(
            conn.execute(
                select(OUTBOX.c.type)
                .where(OUTBOX.c.aggregate_type == "order", OUTBOX.c.aggregate_id == str(order_id))
                .order_by(OUTBOX.c.id)
            ).scalars()
        )


# --------------------------------------------------------------------------- catalog and stations
def test_seed_catalog_is_idempotent_and_not_forced(archive: Archive) -> None:
    assert catalog.list_procedures(archive) == []  # an empty database has no catalog
    first = catalog.seed_catalog(archive, actor=ACTOR)
    codes = {p.code for p in first}
    assert {"DX-THX2", "DX-HIPS", "DX-STIFLE", "IO-FULL", "US-ABD", "US-ECHO", "CT-HEAD", "MR-BRAIN"} <= codes
    assert {"DX-EQ-DLIMB", "MR-SPINE", "CT-ABD", "CT-THX", "DX-ABD"} <= codes
    assert catalog.seed_catalog(archive, actor=ACTOR) == []
    thorax = next(p for p in first if p.code == "DX-THX2")
    assert thorax.default_views == ["R-L lateral", "VD"] and thorax.species_codes == []
    assert [p.code for p in catalog.list_procedures(archive, species_code=CAT, modality="dx")].count(
        "DX-HIPS"
    ) == 0


def test_procedure_crud(archive: Archive) -> None:
    p = catalog.create_procedure(
        archive,
        ProcedureCreate(
            code="DX-ELB", name="Elbows", modality="DX", species_codes=[DOG], duration_minutes=20
        ),
        actor=ACTOR,
    )
    with pytest.raises(Conflict, match="DX-ELB"):
        catalog.create_procedure(
            archive, ProcedureCreate(code="DX-ELB", name="x", modality="DX"), actor=ACTOR
        )
    q = catalog.update_procedure(
        archive, p.id, ProcedureUpdate(name="Elbows ED", species_codes=[DOG, CAT], active=False), actor=ACTOR
    )
    assert (q.name, q.species_codes, q.active, q.duration_minutes) == ("Elbows ED", [DOG, CAT], False, 20)
    assert catalog.list_procedures(archive) == []
    assert [x.code for x in catalog.list_procedures(archive, active=None)] == ["DX-ELB"]
    with pytest.raises(NotFound):
        catalog.update_procedure(archive, 999, ProcedureUpdate(name="x"), actor=ACTOR)
    assert count(archive, AUDIT, AUDIT.c.action.like("procedure.%")) == 2


def test_station_crud_and_opening_hours(archive: Archive) -> None:
    s = catalog.create_station(
        archive,
        StationCreate(
            name="DX room",
            ae_title="DX1",
            modality="DX",
            location="Room 1",
            opening_hours={"Monday": ["08:00", "12:00"], "tue": [["08:00", "12:00"], ["13:00", "17:00"]]},
        ),
        actor=ACTOR,
    )
    assert s.opening_hours == {"mon": [["08:00", "12:00"]], "tue": [["08:00", "12:00"], ["13:00", "17:00"]]}
    with pytest.raises(Conflict, match="AE title"):
        catalog.create_station(
            archive, StationCreate(name="other", ae_title="DX1", modality="DX"), actor=ACTOR
        )
    u = catalog.update_station(archive, s.id, StationUpdate(location="Room 2", opening_hours={}), actor=ACTOR)
    assert (u.location, u.opening_hours, u.ae_title) == ("Room 2", {}, "DX1")
    for bad in ({"xyz": ["08:00", "12:00"]}, {"mon": ["12:00", "08:00"]}, {"mon": ["8am", "12:00"]}, [1]):
        with pytest.raises(ValueError):
            normalize_opening_hours(bad)
    with pytest.raises(ValidationError):
        StationCreate(
            name="x",
            ae_title="X",
            modality="DX",
            opening_hours={"mon": [["08:00", "12:00"], ["11:00", "13:00"]]},
        )


# --------------------------------------------------------------------------- orders
def test_create_order_assigns_accession_uid_and_steps(archive: Archive, clinic: dict[str, Any]) -> None:
    order = create_order(
        archive,
        OrderCreate(
            animal_id=clinic["dog"],
            procedure_codes=["DX-THX2", "US-ECHO"],
            priority="URGENT",
            clinical_question="Cough, murmur grade III",
            requesting_vet="Dr Who",
            laterality="",
        ),
        actor=ACTOR,
    )
    today = datetime.now()
    assert order.accession_number == f"A{today:%y%m%d}0001" and len(order.accession_number) <= 16
    assert order.study_instance_uid.startswith("2.25.") and len(order.study_instance_uid) <= 64
    assert order.status == OrderStatus.ORDERED and order.priority == "URGENT"
    assert order.body_region == "CHEST"  # from the first procedure
    assert [(s.procedure_code, s.modality, s.duration_minutes) for s in order.steps] == [
        ("DX-THX2", "DX", 15),
        ("US-ECHO", "US", 45),
    ]
    assert len({s.step_id for s in order.steps}) == 2 and all(len(s.step_id) <= 16 for s in order.steps)
    assert all(s.start is None and s.status == StepStatus.SCHEDULED for s in order.steps)
    assert [(t.from_status, t.to_status) for t in order.transitions] == [("", "ordered")]
    second = create_order(
        archive, OrderCreate(animal_id=clinic["cat"], procedure_codes=["DX-ABD"]), actor=ACTOR
    )
    assert second.accession_number == f"A{today:%y%m%d}0002"
    assert second.study_instance_uid != order.study_instance_uid
    assert types_of(archive, order.id) == ["order.created"]
    assert count(archive, AUDIT, AUDIT.c.action == "order.created") == 2


def test_external_accession_and_duplicates(archive: Archive, clinic: dict[str, Any]) -> None:
    data = OrderCreate(
        animal_id=clinic["dog"], procedure_codes=["DX-THX2"], accession_number="PMS-000123456789"
    )
    order = create_order(archive, data, actor=ACTOR)
    assert order.accession_number == "PMS-000123456789"
    before = (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT))
    with pytest.raises(Conflict, match="PMS-000123456789 is already used"):
        create_order(archive, data, actor=ACTOR)
    assert (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT)) == before
    with pytest.raises(ValidationError):
        OrderCreate(animal_id=1, procedure_codes=["X"], accession_number="A" * 17)


def test_generated_accession_skips_numbers_taken_by_a_pms(archive: Archive, clinic: dict[str, Any]) -> None:
    taken = f"A{datetime.now():%y%m%d}0002"
    create_order(
        archive,
        OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-ABD"], accession_number=taken),
        actor=ACTOR,
    )
    a = create_order(archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-ABD"]), actor=ACTOR)
    b = create_order(archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-ABD"]), actor=ACTOR)
    assert len({a.accession_number, b.accession_number, taken}) == 3


def test_refused_orders_write_nothing(archive: Archive, clinic: dict[str, Any]) -> None:
    def snapshot() -> tuple[int, ...]:
        from vetpacs.orders.lifecycle import ORDERS, STEPS

        return tuple(count(archive, t) for t in (ORDERS, STEPS, TRANSITIONS, OUTBOX, AUDIT))

    before = snapshot()
    with pytest.raises(NotFound, match="no animal with id 4242"):
        create_order(archive, OrderCreate(animal_id=4242, procedure_codes=["DX-THX2"]), actor=ACTOR)
    with pytest.raises(Invalid, match="unknown procedure code"):
        create_order(archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["NOPE"]), actor=ACTOR)
    with pytest.raises(Invalid, match="DX-HIPS"):  # hips/HD scoring is for dogs only
        create_order(
            archive, OrderCreate(animal_id=clinic["cat"], procedure_codes=["DX-THX2", "DX-HIPS"]), actor=ACTOR
        )
    with pytest.raises(Invalid, match="twice"):
        create_order(
            archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-ABD", "DX-ABD"]), actor=ACTOR
        )
    # A refused booking at creation refuses the whole order (after the order row was inserted).
    us = clinic["stations"]["US"]
    with pytest.raises(Conflict, match="is a US station"):
        create_order(
            archive,
            OrderCreate(
                animal_id=clinic["dog"],
                procedure_codes=["DX-THX2"],
                schedule=ScheduleRequest(station_id=us.id, start=at(MONDAY, "09:00")),
            ),
            actor=ACTOR,
        )
    assert snapshot() == before
    # Species filter: a procedure for dogs and cats is fine for a cat; an uncoded animal is not refused.
    create_order(archive, OrderCreate(animal_id=clinic["cat"], procedure_codes=["IO-FULL"]), actor=ACTOR)
    create_order(
        archive,
        OrderCreate(animal_id=add_animal(archive, "Mystery", None), procedure_codes=["DX-HIPS"]),
        actor=ACTOR,
    )


def test_merged_animal_is_refused(archive: Archive, clinic: dict[str, Any]) -> None:
    with archive.write_transaction() as conn:
        conn.execute(
            Animal.__table__.update()
            .where(Animal.__table__.c.id == clinic["cat"])
            .values(merged_into_id=clinic["dog"])
        )
    with pytest.raises(Invalid, match="merged into"):
        create_order(archive, OrderCreate(animal_id=clinic["cat"], procedure_codes=["DX-ABD"]), actor=ACTOR)


# --------------------------------------------------------------------------- scheduling
def test_schedule_at_creation_books_steps_back_to_back(archive: Archive, clinic: dict[str, Any]) -> None:
    dx = clinic["stations"]["DX"]
    order = create_order(
        archive,
        OrderCreate(
            animal_id=clinic["dog"],
            procedure_codes=["DX-THX2", "DX-ABD"],
            schedule=ScheduleRequest(station_id=dx.id, start=at(MONDAY, "09:00")),
        ),
        actor=ACTOR,
    )
    assert order.status == OrderStatus.SCHEDULED
    assert [(s.start, s.end, s.station_id) for s in order.steps] == [
        (at(MONDAY, "09:00"), at(MONDAY, "09:15"), dx.id),
        (at(MONDAY, "09:15"), at(MONDAY, "09:30"), dx.id),
    ]
    assert [(t.from_status, t.to_status) for t in order.transitions] == [
        ("", "ordered"),
        ("ordered", "scheduled"),
    ]
    assert types_of(archive, order.id) == ["order.created", "order.status_changed", "order.scheduled"]
    with archive.engine.connect() as conn:
        payload = json.loads(
            conn.execute(select(OUTBOX.c.payload_json).where(OUTBOX.c.type == "order.scheduled")).scalar_one()
        )
    assert payload["steps"][0]["start"] == "2030-01-07T09:00:00"


def test_scheduling_conflicts_have_reasons(archive: Archive, clinic: dict[str, Any]) -> None:
    dx, us = clinic["stations"]["DX"], clinic["stations"]["US"]
    a = create_order(archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-HIPS"]), actor=ACTOR)
    b = create_order(archive, OrderCreate(animal_id=clinic["cat"], procedure_codes=["DX-THX2"]), actor=ACTOR)
    step_a, step_b = a.steps[0], b.steps[0]
    booked = schedule_step(archive, step_a.id, dx.id, at(MONDAY, "10:00"), actor=ACTOR)
    assert (booked.start, booked.end) == (at(MONDAY, "10:00"), at(MONDAY, "10:30"))
    assert get_order(archive, a.id).status == OrderStatus.SCHEDULED
    with pytest.raises(Conflict, match=r"already booked 10:00-10:30 on 2030-01-07 .*10:15-10:30 overlaps"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY, "10:15"), actor=ACTOR)
    with pytest.raises(Conflict, match=r"already booked"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY, "09:50"), actor=ACTOR)  # ends inside
    schedule_step(archive, step_b.id, dx.id, at(MONDAY, "10:30"), actor=ACTOR)  # touching is fine
    schedule_step(archive, step_b.id, dx.id, at(MONDAY, "09:45"), actor=ACTOR)  # ends as a begins
    with pytest.raises(Conflict, match=r"is a US station; step .* needs DX"):
        schedule_step(archive, step_b.id, us.id, at(MONDAY, "11:00"), actor=ACTOR)
    with pytest.raises(Conflict, match=r"closed on sun"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY + timedelta(days=6), "10:00"), actor=ACTOR)
    with pytest.raises(Conflict, match=r"open 08:00-18:00 on mon; 17:50-18:05 .* outside"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY, "17:50"), actor=ACTOR)
    with pytest.raises(Conflict, match=r"open 09:00-13:00 on sat"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY + timedelta(days=5), "08:30"), actor=ACTOR)
    schedule_step(archive, step_b.id, dx.id, at(MONDAY, "17:45"), actor=ACTOR)  # ends at closing time
    with pytest.raises(Invalid, match="without a UTC offset"):
        schedule_step(archive, step_b.id, dx.id, at(MONDAY, "11:00").astimezone(), actor=ACTOR)
    with pytest.raises(NotFound):
        schedule_step(archive, 9999, dx.id, at(MONDAY, "11:00"), actor=ACTOR)
    with pytest.raises(NotFound):
        schedule_step(archive, step_b.id, 9999, at(MONDAY, "11:00"), actor=ACTOR)
    # A cancelled order frees its slot.
    cancel_order(archive, a.id, actor=ACTOR, reason="owner called")
    schedule_step(archive, step_b.id, dx.id, at(MONDAY, "10:00"), duration_minutes=60, actor=ACTOR)
    # Rescheduling is audited with the previous booking and emits order.rescheduled.
    assert "order.rescheduled" in types_of(archive, b.id)
    assert count(archive, AUDIT, AUDIT.c.action == "step.rescheduled") == 3


def test_no_double_booking_under_concurrency(archive: Archive, clinic: dict[str, Any]) -> None:
    dx = clinic["stations"]["DX"]
    orders = [
        create_order(archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR)
        for _ in range(4)
    ]
    outcomes: list[str] = []

    def book(step_pk: int) -> None:
        try:
            schedule_step(archive, step_pk, dx.id, at(MONDAY, "11:00"), actor=ACTOR)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=book, args=(o.steps[0].id,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]


def test_day_views(archive: Archive, clinic: dict[str, Any]) -> None:
    dx, us = clinic["stations"]["DX"], clinic["stations"]["US"]
    a = create_order(
        archive,
        OrderCreate(
            animal_id=clinic["dog"],
            procedure_codes=["DX-THX2"],
            priority="STAT",
            schedule=ScheduleRequest(station_id=dx.id, start=at(MONDAY, "14:00")),
        ),
        actor=ACTOR,
    )
    create_order(
        archive,
        OrderCreate(
            animal_id=clinic["cat"],
            procedure_codes=["DX-ABD"],
            schedule=ScheduleRequest(station_id=dx.id, start=at(MONDAY, "08:00")),
        ),
        actor=ACTOR,
    )
    c = create_order(
        archive,
        OrderCreate(
            animal_id=clinic["cat"],
            procedure_codes=["US-ABD"],
            schedule=ScheduleRequest(station_id=us.id, start=at(MONDAY, "09:00")),
        ),
        actor=ACTOR,
    )
    create_order(
        archive,
        OrderCreate(
            animal_id=clinic["cat"],
            procedure_codes=["US-ABD"],
            schedule=ScheduleRequest(station_id=us.id, start=at(MONDAY + timedelta(days=1), "09:00")),
        ),
        actor=ACTOR,
    )
    day = day_view(archive, dx.id, MONDAY)
    assert [(e.step.start, e.animal_name) for e in day] == [
        (at(MONDAY, "08:00"), "Tom"),
        (at(MONDAY, "14:00"), "Rex"),
    ]
    assert day[1].accession_number == a.accession_number and day[1].priority == "STAT"
    mark_no_show(archive, c.id, actor=ACTOR)
    everything = {d.station.modality: d for d in schedule_day(archive, MONDAY)}
    assert len(everything["DX"].entries) == 2 and everything["US"].entries == []  # no-show left out
    assert everything["DX"].opening_hours == [["08:00", "18:00"]] and not everything["DX"].always_open
    assert schedule_day(archive, MONDAY, modality="ct")[0].entries == []
    with pytest.raises(NotFound):
        day_view(archive, 9999, MONDAY)


# --------------------------------------------------------------------------- lifecycle
def test_full_lifecycle_writes_transition_audit_and_event(archive: Archive, clinic: dict[str, Any]) -> None:
    dx = clinic["stations"]["DX"]
    order = create_order(
        archive,
        OrderCreate(
            animal_id=clinic["dog"],
            procedure_codes=["DX-THX2"],
            schedule=ScheduleRequest(station_id=dx.id, start=at(MONDAY, "09:00")),
        ),
        actor=ACTOR,
    )
    arrived = mark_arrived(archive, order.id, actor=ACTOR)
    assert arrived.status == "arrived" and arrived.steps[0].status == StepStatus.ARRIVED
    chain = [OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED, OrderStatus.IMAGES_RECEIVED]
    chain += [OrderStatus.REPORTED, OrderStatus.BILLED]
    for status in chain:
        with archive.write_transaction() as conn:
            advance_order(conn, order.id, status, actor=MPPS, reason=f"to {status}")
    final = get_order(archive, order.id)
    assert final.status == OrderStatus.BILLED
    assert [t.to_status for t in final.transitions] == [
        "ordered",
        "scheduled",
        "arrived",
        "in_progress",
        "completed",
        "images_received",
        "reported",
        "billed",
    ]
    assert final.transitions[3].actor == "system" and final.transitions[3].reason == "to in_progress"
    assert (
        count(
            archive,
            AUDIT,
            AUDIT.c.action == "order.status_changed",
            AUDIT.c.object_id == order.accession_number,
        )
        == 7
    )
    assert types_of(archive, order.id).count("order.status_changed") == 7


def test_refused_transition_names_the_order_and_writes_nothing(
    archive: Archive, clinic: dict[str, Any]
) -> None:
    order = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR
    )
    with archive.write_transaction() as conn:
        advance_order(conn, order.id, OrderStatus.IN_PROGRESS, actor=MPPS)
        advance_order(conn, order.id, OrderStatus.COMPLETED, actor=MPPS)
    before = (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT))
    with (
        pytest.raises(
            Conflict, match=rf"order {order.accession_number} cannot go from completed to scheduled"
        ),
        archive.write_transaction() as conn,
    ):
        advance_order(conn, order.id, OrderStatus.SCHEDULED, actor=ACTOR)
    with pytest.raises(Conflict, match="cannot go from completed to cancelled"):
        cancel_order(archive, order.id, actor=ACTOR)
    with pytest.raises(NotFound):
        cancel_order(archive, 9999, actor=ACTOR)
    assert (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT)) == before


def test_caller_transaction_rolls_back_the_transition(archive: Archive, clinic: dict[str, Any]) -> None:
    """advance_order writes inside the caller's transaction: the caller's failure undoes it all."""
    order = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR
    )
    before = (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT))
    with pytest.raises(RuntimeError), archive.write_transaction() as conn:
        advance_order(conn, order.id, OrderStatus.IN_PROGRESS, actor=MPPS)
        assert (
            conn.execute(text("SELECT status FROM orders WHERE id = :i"), {"i": order.id}).scalar()
            == "in_progress"
        )
        raise RuntimeError("the MPPS handler failed later")
    assert get_order(archive, order.id).status == OrderStatus.ORDERED
    assert (count(archive, TRANSITIONS), count(archive, OUTBOX), count(archive, AUDIT)) == before


def test_idempotent_and_late_mpps_transitions(archive: Archive, clinic: dict[str, Any]) -> None:
    order = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR
    )
    with archive.write_transaction() as conn:
        advance_order(conn, order.id, OrderStatus.IN_PROGRESS, actor=MPPS)
        advance_order(conn, order.id, OrderStatus.IN_PROGRESS, actor=MPPS)  # repeated: no-op
        advance_order(conn, order.id, OrderStatus.IMAGES_RECEIVED, actor=MPPS)  # images before MPPS COMPLETED
        advance_order(conn, order.id, OrderStatus.COMPLETED, actor=MPPS)  # late MPPS COMPLETED: no-op
        advance_order(conn, order.id, OrderStatus.IN_PROGRESS, actor=MPPS)  # late N-CREATE: no-op
    assert [t.to_status for t in get_order(archive, order.id).transitions] == [
        "ordered",
        "in_progress",
        "images_received",
    ]
    cancelled = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-ABD"]), actor=ACTOR
    )
    first = cancel_order(archive, cancelled.id, actor=ACTOR, reason="owner called")
    again = cancel_order(archive, cancelled.id, actor=ACTOR)
    assert first.status == again.status == OrderStatus.CANCELLED
    assert first.steps[0].status == StepStatus.CANCELLED
    assert len(again.transitions) == 2
    assert types_of(archive, cancelled.id) == ["order.created", "order.status_changed", "order.cancelled"]


@pytest.mark.parametrize(
    ("start", "path", "ok"),
    [
        ("ordered", ["cancelled"], True),
        ("ordered", ["no_show"], True),
        ("ordered", ["scheduled", "arrived", "no_show"], True),
        ("ordered", ["scheduled", "images_received"], True),
        ("ordered", ["arrived", "in_progress", "discontinued"], True),
        ("ordered", ["in_progress", "cancelled"], False),
        ("ordered", ["completed"], False),
        ("ordered", ["in_progress", "completed", "reported", "billed"], True),
        ("ordered", ["images_received", "billed"], False),
        ("ordered", ["cancelled", "scheduled"], False),
        ("ordered", ["in_progress", "discontinued", "completed"], False),
        ("ordered", ["arrived", "scheduled"], False),
    ],
)
def test_transition_table(
    archive: Archive, clinic: dict[str, Any], start: str, path: list[str], ok: bool
) -> None:
    order = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR
    )
    *head, last = path
    with archive.write_transaction() as conn:
        for status in head:
            advance_order(conn, order.id, OrderStatus(status), actor=ACTOR)
    if ok:
        with archive.write_transaction() as conn:
            advance_order(conn, order.id, OrderStatus(last), actor=ACTOR)
        assert get_order(archive, order.id).status == last
    else:
        expected = f"cannot go from {head[-1] if head else start} to {last}"
        with pytest.raises(Conflict, match=expected), archive.write_transaction() as conn:
            advance_order(conn, order.id, OrderStatus(last), actor=ACTOR)


def test_can_advance_matches_the_table() -> None:
    for src, targets in ALLOWED.items():
        for dst in OrderStatus:
            expected = dst == src or dst in targets
            if src in (
                OrderStatus.COMPLETED,
                OrderStatus.IMAGES_RECEIVED,
                OrderStatus.REPORTED,
                OrderStatus.BILLED,
            ):
                expected = expected or dst in (OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED)
            assert can_advance(src, dst) == expected, (src, dst)
    assert not ALLOWED[OrderStatus.BILLED] and not ALLOWED[OrderStatus.CANCELLED]


def test_step_status_helper(archive: Archive, clinic: dict[str, Any]) -> None:
    order = create_order(
        archive, OrderCreate(animal_id=clinic["dog"], procedure_codes=["DX-THX2"]), actor=ACTOR
    )
    pk = order.steps[0].id
    with archive.write_transaction() as conn:
        set_step_status(conn, pk, StepStatus.IN_PROGRESS, actor=MPPS)
        set_step_status(conn, pk, StepStatus.IN_PROGRESS, actor=MPPS)
        set_step_status(conn, pk, StepStatus.COMPLETED, actor=MPPS)
    refused = pytest.raises(Conflict, match="cannot go from COMPLETED to IN PROGRESS")
    with refused, archive.write_transaction() as conn:
        set_step_status(conn, pk, StepStatus.IN_PROGRESS, actor=MPPS)
    assert get_order(archive, order.id).steps[0].status == StepStatus.COMPLETED
    assert count(archive, AUDIT, AUDIT.c.action == "step.status_changed") == 2
    # A step that is in progress cannot be rescheduled.
    with pytest.raises(Conflict, match="can no longer be scheduled"):
        schedule_step(archive, pk, clinic["stations"]["DX"].id, at(MONDAY, "09:00"), actor=ACTOR)


# --------------------------------------------------------------------------- search
def test_search_orders(archive: Archive, clinic: dict[str, Any]) -> None:
    dx, us = clinic["stations"]["DX"], clinic["stations"]["US"]
    made = []
    for i in range(5):
        made.append(
            create_order(
                archive,
                OrderCreate(
                    animal_id=clinic["dog"] if i % 2 == 0 else clinic["cat"],
                    procedure_codes=["DX-THX2"] if i < 3 else ["US-ABD"],
                    schedule=ScheduleRequest(
                        station_id=dx.id if i < 3 else us.id,
                        start=at(MONDAY + timedelta(days=i % 2), f"1{i}:00"),
                    ),
                ),
                actor=ACTOR,
            )
        )
    cancel_order(archive, made[0].id, actor=ACTOR)
    page = search_orders(archive, OrderSearch(limit=2))
    assert page.total == 5 and [o.id for o in page.items] == [made[4].id, made[3].id]
    assert search_orders(archive, OrderSearch(modality="us")).total == 2
    assert search_orders(archive, OrderSearch(station_id=dx.id)).total == 3
    assert search_orders(archive, OrderSearch(animal_id=clinic["cat"])).total == 2
    assert search_orders(archive, OrderSearch(status=[OrderStatus.CANCELLED])).items[0].id == made[0].id
    assert (
        search_orders(archive, OrderSearch(status=[OrderStatus.SCHEDULED, OrderStatus.CANCELLED])).total == 5
    )
    assert (
        search_orders(archive, OrderSearch(accession_number=made[2].accession_number)).items[0].id
        == made[2].id
    )
    assert search_orders(archive, OrderSearch(scheduled_from=MONDAY, scheduled_to=MONDAY)).total == 3
    assert search_orders(archive, OrderSearch(scheduled_from=MONDAY + timedelta(days=1))).total == 2
    assert search_orders(archive, OrderSearch(created_since=datetime.now() + timedelta(days=2))).total == 0
    assert search_orders(archive, OrderSearch(offset=4)).items[0].id == made[0].id
