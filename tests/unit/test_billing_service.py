"""Billing on a real index (SQLite, or PostgreSQL when configured): fee list, charging performed orders
through the outbox consumer (idempotently), manual charges, voids, merges, missed charges, roles."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from pydicom.uid import generate_uid
from sqlalchemy import func, select, update

from measurement_images import tiny_image  # type: ignore[import-not-found]
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.auth import Actor, Role
from vetpacs.auth.audit import AUDIT
from vetpacs.billing import service as billing
from vetpacs.billing.consumer import CURSOR, BillingConsumer
from vetpacs.billing.models import ChargeStatus
from vetpacs.billing.schemas import ChargeCreate, FeeUpdate
from vetpacs.config import Settings
from vetpacs.errors import Conflict, Forbidden, Invalid, NotFound
from vetpacs.events import CURSORS, OUTBOX
from vetpacs.orders import catalog
from vetpacs.orders.lifecycle import advance_order
from vetpacs.orders.linking import LINKER
from vetpacs.orders.models import OrderStatus
from vetpacs.orders.schemas import OrderCreate, ProcedureCreate
from vetpacs.orders.service import create_order, get_order
from vetpacs.patients.merge import merge_animals
from vetpacs.patients.schemas import AnimalCreate
from vetpacs.patients.service import create_animal, get_animal

ADMIN = Actor(username="admin", role=Role.ADMIN, via="cli")
DESK = Actor(username="desk", role=Role.FRONT_DESK, user_id=7, via="session")
VET = Actor(username="vet", role=Role.VETERINARIAN, user_id=8, via="session")
TECH = Actor(username="tech", role=Role.TECHNICIAN, user_id=9, via="session")
ORIGIN = Origin(OriginKind.DICOM, ae_title="DX1", address="127.0.0.1:1")
SC = "1.2.840.10008.5.1.4.1.1.7"


@pytest.fixture
def clinic(archive: Archive) -> dict[str, Any]:
    """The sample catalog and fee list, and two dogs."""
    procedures = catalog.seed_catalog(archive, actor=ADMIN)
    fees = billing.seed_fees(archive, actor=ADMIN, currency="EUR")
    dogs = [
        create_animal(archive, AnimalCreate(name=name, species_code=catalog.DOG), actor=ADMIN)
        for name in ("Rex", "Bello")
    ]
    return {"procedures": {p.code: p for p in procedures}, "fees": fees, "dogs": [d.id for d in dogs]}


def image(study_uid: str, accession: str, patient_id: str) -> bytes:
    return tiny_image(
        SC,
        StudyInstanceUID=study_uid,
        PatientName="SMITH^Rex",
        PatientID=patient_id,
        AccessionNumber=accession,
        StudyDate=datetime.now().strftime("%Y%m%d"),
    )


def perform(archive: Archive, order_id: int) -> None:
    """Images arrive for the order (real ingest; the linker moves it to images_received)."""
    order = get_order(archive, order_id)
    patient_id = get_animal(archive, order.animal_id).patient_id
    store_instance(
        archive, image(order.study_instance_uid, order.accession_number, patient_id), origin=ORIGIN
    )
    assert LINKER.flush()
    assert get_order(archive, order_id).status == OrderStatus.IMAGES_RECEIVED


def new_order(archive: Archive, animal_id: int, *codes: str) -> int:
    return create_order(
        archive, OrderCreate(animal_id=animal_id, procedure_codes=list(codes)), actor=ADMIN
    ).id


def events_of(archive: Archive, event_type: str) -> list[dict[str, Any]]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(OUTBOX.c.payload_json).where(OUTBOX.c.type == event_type).order_by(OUTBOX.c.id)
        )
        return [json.loads(r.payload_json) for r in rows]


def audit_count(archive: Archive, action: str) -> int:
    with archive.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(AUDIT).where(AUDIT.c.action == action)).scalar_one()
        )


# --------------------------------------------------------------------------- fee list
def test_sample_fee_list_covers_every_catalog_fee_code(archive: Archive, clinic: dict[str, Any]) -> None:
    codes = {p.fee_code for p in catalog.SEED_PROCEDURES if p.fee_code}
    fees = {f.fee_code: f for f in billing.list_fees(archive)}
    assert set(fees) == codes
    assert fees["RAD-THX2"].unit_price == Decimal("95.00") and fees["RAD-THX2"].currency == "EUR"
    assert fees["RAD-THX2"].description == "Thorax, 2 views"
    assert billing.seed_fees(archive, actor=ADMIN) == []  # existing lines are left alone


def test_put_fee_creates_updates_audits_and_emits(archive: Archive, clinic: dict[str, Any]) -> None:
    created = billing.put_fee(
        archive,
        "SED-1",
        FeeUpdate(description="Sedation", unit_price=Decimal("35.5")),
        actor=DESK,
        default_currency="CHF",
    )
    assert (created.unit_price, created.currency, created.updated_by) == (Decimal("35.50"), "CHF", "desk")
    changed = billing.put_fee(
        archive,
        "SED-1",
        FeeUpdate(description="Sedation", unit_price=Decimal("40"), tax_rate=Decimal("7.7")),
        actor=DESK,
    )
    assert changed.unit_price == Decimal("40.00") and changed.currency == "CHF"  # currency kept
    assert changed.tax_rate == Decimal("7.7")
    assert billing.get_fee(archive, "SED-1") == changed
    assert audit_count(archive, "fee.created") >= 1 and audit_count(archive, "fee.updated") == 1
    last = events_of(archive, "fee.updated")[-1]
    assert last["fee"]["unit_price"] == "40.00" and last["created"] is False
    with pytest.raises(NotFound):
        billing.get_fee(archive, "NOPE")
    for bad in (
        {"description": "x", "unit_price": "-1"},
        {"description": " ", "unit_price": "1"},
        {"description": "x", "unit_price": "1", "currency": "eur"},
        {"description": "x", "unit_price": "1.005"},
    ):
        with pytest.raises(ValidationError):
            FeeUpdate.model_validate(bad)


@pytest.mark.parametrize("actor", [VET, TECH])
def test_roles_without_billing_write_are_refused(
    archive: Archive, clinic: dict[str, Any], actor: Actor
) -> None:
    order = new_order(archive, clinic["dogs"][0], "DX-THX2")
    perform(archive, order)
    with pytest.raises(Forbidden):
        billing.put_fee(archive, "X", FeeUpdate(description="x", unit_price=Decimal(1)), actor=actor)
    with pytest.raises(Forbidden):
        billing.charge_completed_order(archive, order, actor=actor)
    with pytest.raises(Forbidden):
        billing.add_manual_charge(archive, ChargeCreate(order_id=order, fee_code="RAD-THX2"), actor=actor)
    assert billing.list_charges(archive).total == 0


# --------------------------------------------------------------------------- charging performed orders
def test_performed_order_is_charged_once_through_the_consumer(
    archive: Archive, clinic: dict[str, Any]
) -> None:
    dog = clinic["dogs"][0]
    order_id = new_order(archive, dog, "DX-THX2", "DX-ABD")
    consumer = BillingConsumer(archive)
    consumer.run_once()
    assert billing.list_charges(archive).total == 0  # ordered, not performed: nothing
    perform(archive, order_id)
    consumer.run_once()
    page = billing.list_charges(archive, order_id=order_id)
    assert page.total == 2
    by_code = {c.fee_code: c for c in page.items}
    assert set(by_code) == {"RAD-THX2", "RAD-ABD"}
    thorax = by_code["RAD-THX2"]
    order = get_order(archive, order_id)
    assert (thorax.amount, thorax.unit_price, thorax.quantity, thorax.currency) == (
        Decimal("95.00"),
        Decimal("95.00"),
        Decimal("1.00"),
        "EUR",
    )
    assert thorax.status == ChargeStatus.POSTED and thorax.source == "procedure"
    assert thorax.accession_number == order.accession_number and thorax.animal_id == dog
    assert thorax.study_instance_uid == order.study_instance_uid  # the linked study
    assert thorax.posted_by == "billing"
    posted = events_of(archive, "charge.posted")
    assert len(posted) == 1 and posted[0]["order_id"] == order_id and posted[0]["animal_id"] == dog
    assert sorted(c["amount"] for c in posted[0]["charges"]) == ["95.00", "95.00"]
    assert audit_count(archive, "charge.posted") == 2
    assert get_order(archive, order_id).status == OrderStatus.IMAGES_RECEIVED  # reporting comes first

    # At least once: the same events again (cursor reset), and a direct call, post nothing more.
    with archive.write_transaction() as conn:
        conn.execute(update(CURSORS).where(CURSORS.c.name == CURSOR).values(last_event_id=0))
    consumer.run_once()
    again = billing.charge_completed_order(archive, order_id, actor=DESK)
    assert again.posted == [] and sorted(again.already_charged) == ["RAD-ABD", "RAD-THX2"]
    assert billing.list_charges(archive).total == 2
    assert len(events_of(archive, "charge.posted")) == 1


def test_order_not_performed_posts_nothing(archive: Archive, clinic: dict[str, Any]) -> None:
    order_id = new_order(archive, clinic["dogs"][0], "DX-THX2")
    result = billing.charge_completed_order(archive, order_id, actor=DESK)
    assert result.posted == [] and "not performed" in result.problems[0]
    with pytest.raises(NotFound):
        billing.charge_completed_order(archive, 99999, actor=DESK)


def test_reported_order_with_charges_moves_to_billed(archive: Archive, clinic: dict[str, Any]) -> None:
    consumer = BillingConsumer(archive)
    order_id = new_order(archive, clinic["dogs"][0], "DX-THX2")
    perform(archive, order_id)
    consumer.run_once()
    assert billing.list_charges(archive, order_id=order_id).total == 1
    with archive.write_transaction() as conn:
        advance_order(conn, order_id, OrderStatus.REPORTED, actor=VET, reason="report signed")
    consumer.run_once()
    assert get_order(archive, order_id).status == OrderStatus.BILLED
    assert billing.list_charges(archive, order_id=order_id).total == 1


def test_fee_missing_from_the_list_is_a_missed_charge_until_priced(
    archive: Archive, clinic: dict[str, Any]
) -> None:
    catalog.create_procedure(
        archive,
        ProcedureCreate(code="DX-TAIL", name="Tail", modality="DX", body_region="TAIL", fee_code="RAD-TAIL"),
        actor=ADMIN,
    )
    order_id = new_order(archive, clinic["dogs"][0], "DX-TAIL")
    perform(archive, order_id)
    consumer = BillingConsumer(archive)
    consumer.run_once()
    assert billing.list_charges(archive, order_id=order_id).total == 0
    (missed,) = [o for o in billing.missed_charges(archive).orders if o.order_id == order_id]
    assert missed.reason == "fee-not-in-list" and missed.fee_codes == ["RAD-TAIL"]
    # reported before the fee exists: still reported; priced and charged by hand -> billed
    with archive.write_transaction() as conn:
        advance_order(conn, order_id, OrderStatus.REPORTED, actor=VET)
    consumer.run_once()
    assert get_order(archive, order_id).status == OrderStatus.REPORTED
    billing.put_fee(archive, "RAD-TAIL", FeeUpdate(description="Tail", unit_price=Decimal("60")), actor=DESK)
    result = billing.charge_completed_order(archive, order_id, actor=DESK)
    assert [c.amount for c in result.posted] == [Decimal("60.00")] and result.billed
    assert get_order(archive, order_id).status == OrderStatus.BILLED
    assert order_id not in [o.order_id for o in billing.missed_charges(archive).orders]


# --------------------------------------------------------------------------- manual charges and voids
def test_manual_charge_validation(archive: Archive, clinic: dict[str, Any]) -> None:
    rex, bello = clinic["dogs"]
    order_id = new_order(archive, rex, "DX-THX2")
    with pytest.raises(Invalid, match="order_id or animal_id"):
        billing.add_manual_charge(archive, ChargeCreate(fee_code="RAD-THX2"), actor=DESK)
    with pytest.raises(Invalid, match="not in the fee list"):
        billing.add_manual_charge(archive, ChargeCreate(animal_id=rex, fee_code="NOPE"), actor=DESK)
    with pytest.raises(Invalid, match="is not for animal"):
        billing.add_manual_charge(
            archive, ChargeCreate(order_id=order_id, animal_id=bello, fee_code="RAD-THX2"), actor=DESK
        )
    with pytest.raises(NotFound):
        billing.add_manual_charge(archive, ChargeCreate(animal_id=99999, fee_code="RAD-THX2"), actor=DESK)
    with pytest.raises(NotFound):
        billing.add_manual_charge(archive, ChargeCreate(order_id=99999, fee_code="RAD-THX2"), actor=DESK)
    billing.put_fee(
        archive, "OLD", FeeUpdate(description="Old", unit_price=Decimal(1), active=False), actor=DESK
    )
    with pytest.raises(Invalid, match="inactive"):
        billing.add_manual_charge(archive, ChargeCreate(animal_id=rex, fee_code="OLD"), actor=DESK)
    with pytest.raises(ValidationError):
        ChargeCreate(animal_id=rex, fee_code="RAD-THX2", quantity=Decimal(0))
    charge = billing.add_manual_charge(
        archive,
        ChargeCreate(
            animal_id=bello, fee_code="US-ABD", quantity=Decimal("2"), unit_price=Decimal("99.99"), note="two"
        ),
        actor=DESK,
    )
    assert (charge.amount, charge.source, charge.order_id, charge.description) == (
        Decimal("199.98"),
        "manual",
        None,
        "Abdominal ultrasound",
    )
    assert events_of(archive, "charge.posted")[-1]["charges"][0]["id"] == charge.id
    assert billing.list_charges(archive, animal_id=bello).items == [charge]
    assert billing.list_charges(archive, animal_id=rex).total == 0


def test_void_then_missed_then_manual_charge_clears_it(archive: Archive, clinic: dict[str, Any]) -> None:
    order_id = new_order(archive, clinic["dogs"][0], "DX-THX2")
    perform(archive, order_id)
    (charge,) = billing.charge_completed_order(archive, order_id, actor=DESK).posted
    assert order_id not in [o.order_id for o in billing.missed_charges(archive).orders]
    with pytest.raises(Invalid):
        billing.void_charge(archive, charge.id, "  ", actor=DESK)
    voided = billing.void_charge(archive, charge.id, "wrong animal", actor=DESK)
    assert voided.status == ChargeStatus.VOIDED and voided.void_reason == "wrong animal" and voided.voided_at
    with pytest.raises(Conflict):
        billing.void_charge(archive, charge.id, "again", actor=DESK)
    with pytest.raises(NotFound):
        billing.void_charge(archive, 99999, "x", actor=DESK)
    assert events_of(archive, "charge.voided")[-1]["charges"][0]["status"] == "voided"
    assert audit_count(archive, "charge.voided") == 1
    # a voided procedure charge is not posted again by the consumer...
    assert billing.charge_completed_order(archive, order_id, actor=DESK).posted == []
    (missed,) = [o for o in billing.missed_charges(archive).orders if o.order_id == order_id]
    assert missed.reason == "voided" and "wrong animal" in missed.detail
    assert billing.list_charges(archive, status=ChargeStatus.VOIDED).total == 1
    # ...a person posts the right one
    billing.add_manual_charge(archive, ChargeCreate(order_id=order_id, fee_code="RAD-THX3"), actor=DESK)
    assert order_id not in [o.order_id for o in billing.missed_charges(archive).orders]
    assert billing.list_charges(archive, status=ChargeStatus.POSTED, order_id=order_id).total == 1


def test_missed_no_fee_code_and_unbilled_studies(archive: Archive, clinic: dict[str, Any]) -> None:
    catalog.create_procedure(
        archive, ProcedureCreate(code="DX-FREE", name="Recheck", modality="DX", fee_code=""), actor=ADMIN
    )
    order_id = new_order(archive, clinic["dogs"][0], "DX-FREE")
    perform(archive, order_id)
    result = billing.charge_completed_order(archive, order_id, actor=DESK)
    assert result.posted == [] and result.problems == ["procedure DX-FREE has no fee code"]
    stray_uid = generate_uid()
    store_instance(archive, image(stray_uid, "", "WALKIN1"), origin=ORIGIN)
    assert LINKER.flush()
    report = billing.missed_charges(archive)
    (missed,) = [o for o in report.orders if o.order_id == order_id]
    assert missed.reason == "no-fee-code" and missed.procedure_codes == ["DX-FREE"]
    assert [s.study_instance_uid for s in report.studies] == [stray_uid]  # the linked one is not listed
    assert report.studies[0].patient_id == "WALKIN1" and report.studies_total == 1
    billing.add_manual_charge(
        archive,
        ChargeCreate(animal_id=clinic["dogs"][1], fee_code="RAD-THX2", study_instance_uid=stray_uid),
        actor=DESK,
    )
    assert billing.missed_charges(archive).studies == []
    assert billing.missed_charges(archive, since=datetime(2999, 1, 1)).orders == []


def test_charges_follow_a_merged_animal(archive: Archive, clinic: dict[str, Any]) -> None:
    rex, bello = clinic["dogs"]
    consumer = BillingConsumer(archive)
    consumer.run_once()
    charge = billing.add_manual_charge(archive, ChargeCreate(animal_id=bello, fee_code="US-ABD"), actor=DESK)
    merge_animals(archive, rex, bello, actor=ADMIN)
    consumer.run_once()
    assert billing.get_charge(archive, charge.id).animal_id == rex
    assert events_of(archive, "charges.moved")[-1] == {
        "from_animal_id": bello,
        "animal_id": rex,
        "charge_ids": [charge.id],
    }


def test_consumer_starts_at_the_newest_event_without_a_cursor(
    archive: Archive, clinic: dict[str, Any]
) -> None:
    order_id = new_order(archive, clinic["dogs"][0], "DX-THX2")
    perform(archive, order_id)
    with archive.write_transaction() as conn:  # as if billing were installed now: no cursor yet
        conn.execute(CURSORS.delete().where(CURSORS.c.name == CURSOR))
    BillingConsumer(archive).run_once()
    assert billing.list_charges(archive).total == 0  # history is not charged...
    assert [o.order_id for o in billing.missed_charges(archive).orders] == [order_id]  # ...but reported


def test_billing_settings() -> None:
    assert (Settings().billing_currency, Settings().billing_auto_charge) == ("EUR", True)
    with pytest.raises(ValidationError):
        Settings(billing_currency="euro")
