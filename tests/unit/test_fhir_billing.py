"""FHIR ChargeItem on a real index: the mapping validates with the R4B model; every search parameter
filters in SQL (status billable / billed / entered-in-error, code, service, entered-date, paging)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.chargeitem import ChargeItem

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor, Role
from vetpacs.auth.audit import utcnow
from vetpacs.billing import service as billing
from vetpacs.billing.schemas import ChargeCreate
from vetpacs.integration.fhir.billing import FEE_CODE_SYSTEM, read_charge_item, search_charge_items
from vetpacs.integration.fhir.common import FhirError, search_params
from vetpacs.orders import catalog
from vetpacs.orders.lifecycle import advance_order
from vetpacs.orders.models import OrderStatus
from vetpacs.orders.schemas import OrderCreate
from vetpacs.orders.service import create_order
from vetpacs.patients.schemas import AnimalCreate
from vetpacs.patients.service import create_animal

ADMIN = Actor(username="admin", role=Role.ADMIN, via="cli")
PARAMS = ("_id", "patient", "subject", "status", "code", "service", "entered-date")


@pytest.fixture
def charges(archive: Archive) -> dict[str, Any]:
    """Rex: a billed order (reported and charged) and a voided manual charge; Bello: a billable charge."""
    catalog.seed_catalog(archive, actor=ADMIN)
    billing.seed_fees(archive, actor=ADMIN)
    rex = create_animal(archive, AnimalCreate(name="Rex", species_code=catalog.DOG), actor=ADMIN).id
    bello = create_animal(archive, AnimalCreate(name="Bello", species_code=catalog.DOG), actor=ADMIN).id
    order = create_order(archive, OrderCreate(animal_id=rex, procedure_codes=["DX-THX2"]), actor=ADMIN)
    with archive.write_transaction() as conn:
        advance_order(conn, order.id, OrderStatus.IMAGES_RECEIVED, actor=ADMIN)
        advance_order(conn, order.id, OrderStatus.REPORTED, actor=ADMIN)
    result = billing.charge_completed_order(archive, order.id, actor=ADMIN)
    assert result.billed
    (billed,) = result.posted
    voided = billing.add_manual_charge(archive, ChargeCreate(animal_id=rex, fee_code="US-ABD"), actor=ADMIN)
    billing.void_charge(archive, voided.id, "entered twice", actor=ADMIN)
    billable = billing.add_manual_charge(
        archive,
        ChargeCreate(
            animal_id=bello, fee_code="CT-HEAD", quantity=Decimal("1.5"), study_instance_uid="1.2.3.4"
        ),
        actor=ADMIN,
    )
    return {
        "rex": rex,
        "bello": bello,
        "order": order,
        "billed": billed,
        "voided": voided,
        "billable": billable,
    }


def search(archive: Archive, **values: str) -> tuple[list[dict[str, Any]], int]:
    items = [(k.replace("_", "-") if k == "entered_date" else k, v) for k, v in values.items()]
    return search_charge_items(archive, search_params(items, PARAMS))


def ids(found: tuple[list[dict[str, Any]], int]) -> set[int]:
    return {int(r["id"]) for r in found[0]}


def test_charge_item_mapping_validates(archive: Archive, charges: dict[str, Any]) -> None:
    billed = ChargeItem.model_validate(read_charge_item(archive, charges["billed"].id))
    assert billed.status == "billed"
    assert billed.subject.reference == f"Patient/{charges['rex']}"
    assert billed.code.coding[0].system == FEE_CODE_SYSTEM and billed.code.coding[0].code == "RAD-THX2"
    assert float(billed.priceOverride.value) == 95.0 and billed.priceOverride.currency == "EUR"
    assert billed.supportingInformation[0].reference == f"ServiceRequest/{charges['order'].id}"
    assert billed.service[0].reference == f"ImagingStudy/{charges['order'].study_instance_uid}"
    voided = ChargeItem.model_validate(read_charge_item(archive, charges["voided"].id))
    assert voided.status == "entered-in-error" and "entered twice" in voided.note[0].text
    billable = ChargeItem.model_validate(read_charge_item(archive, charges["billable"].id))
    assert billable.status == "billable" and float(billable.quantity.value) == 1.5
    assert float(billable.priceOverride.value) == 630.0  # 1.5 x 420.00
    assert billable.supportingInformation is None
    with pytest.raises(FhirError) as err:
        read_charge_item(archive, 99999)
    assert err.value.status == 404


def test_search_filters(archive: Archive, charges: dict[str, Any]) -> None:
    billed, voided, billable = (charges[k].id for k in ("billed", "voided", "billable"))
    assert ids(search(archive)) == {billed, voided, billable}
    assert ids(search(archive, patient=f"Patient/{charges['rex']}")) == {billed, voided}
    assert ids(search(archive, subject=str(charges["bello"]))) == {billable}
    assert ids(search(archive, status="billed")) == {billed}
    assert ids(search(archive, status="billable")) == {billable}
    assert ids(search(archive, status="billable,billed")) == {billed, billable}
    assert ids(search(archive, status="entered-in-error")) == {voided}
    assert ids(search(archive, status="billable,billed,entered-in-error")) == {billed, voided, billable}
    assert search(archive, status="planned") == ([], 0)
    assert ids(search(archive, code="RAD-THX2")) == {billed}
    assert ids(search(archive, code=f"{FEE_CODE_SYSTEM}|CT-HEAD")) == {billable}
    assert search(archive, code="http://other|CT-HEAD") == ([], 0)
    assert ids(search(archive, service="ImagingStudy/1.2.3.4")) == {billable}
    assert ids(search(archive, _id=str(voided))) == {voided}
    assert search(archive, _id="x") == ([], 0)
    today = utcnow().date()
    assert len(ids(search(archive, entered_date=today.isoformat()))) == 3
    tomorrow = (datetime.combine(today, datetime.min.time()) + timedelta(days=1)).date().isoformat()
    assert search(archive, entered_date=f"ge{tomorrow}")[1] == 0
    page, total = search_charge_items(archive, search_params([("_count", "1"), ("_offset", "1")], PARAMS))
    assert total == 3 and len(page) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "paid"),
        ("status", "billable,entered-in-error"),
        ("patient", "Group/1"),
        ("service", "Patient/1"),
        ("entered-date", "ne2026-01-01"),
        ("entered-date", "yesterday"),
        ("identifier", "1"),
    ],
)
def test_bad_search_is_400(archive: Archive, charges: dict[str, Any], name: str, value: str) -> None:
    with pytest.raises(FhirError) as err:
        search_charge_items(archive, search_params([(name, value)], PARAMS))
    assert err.value.status == 400
