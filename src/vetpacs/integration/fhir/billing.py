"""Charges as FHIR ChargeItem (FHIR R4 ChargeItem 13.5): read and search, through ``vetpacs.billing``.

Mapping: ``status`` billable (posted), billed (posted, and the order is billed: reported and
charged), entered-in-error (voided); ``code`` the fee code (system ``urn:vetpacs:fee-code``) with the
fee list description; ``subject`` the Patient (animal); ``quantity``; ``priceOverride`` the charge's
total (quantity x unit price, Money with the currency; R4 has no unit price element outside a
ChargeItemDefinition) with ``overrideReason`` naming the fee list; ``occurrenceDateTime`` and
``enteredDate`` when it was posted; ``service`` the ImagingStudy (the study charged for, when known);
``supportingInformation`` the ServiceRequest (the order: R4's ``context`` only takes an Encounter or
EpisodeOfCare); ``note`` the void reason and any note.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from vetpacs.auth.audit import Database
from vetpacs.billing import service as billing
from vetpacs.billing.models import ChargeStatus
from vetpacs.billing.schemas import ChargeRead
from vetpacs.errors import NotFound
from vetpacs.integration.fhir.common import (
    FhirError,
    SearchParams,
    bad_search,
    checked,
    parse_date_param,
    parse_reference,
    parse_token,
    utc_instant,
)

FEE_CODE_SYSTEM = "urn:vetpacs:fee-code"
CHARGE_SYSTEM = "urn:vetpacs:charge"
CHARGE_ITEM_PARAMS = ("_id", "patient", "subject", "status", "code", "service", "entered-date")
CHARGE_ITEM_STATUSES = frozenset(
    {"planned", "billable", "not-billable", "aborted", "billed", "entered-in-error", "unknown"}
)


def charge_item_status(charge: ChargeRead) -> str:
    """A charge's ChargeItem.status: entered-in-error (voided), billed or billable."""
    if charge.status == ChargeStatus.VOIDED:
        return "entered-in-error"
    return "billed" if charge.order_status == "billed" else "billable"


def _number(value: Decimal) -> int | float:
    """A FHIR decimal as a JSON number (whole numbers without a fraction)."""
    return int(value) if value == value.to_integral_value() else float(value)


def charge_item_resource(charge: ChargeRead) -> dict[str, Any]:
    """A charge as a FHIR R4 ChargeItem (validated with the R4B model)."""
    resource: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": str(charge.id),
        "identifier": [{"system": CHARGE_SYSTEM, "value": str(charge.id)}],
        "status": charge_item_status(charge),
        "code": {
            "coding": [{"system": FEE_CODE_SYSTEM, "code": charge.fee_code, "display": charge.description}],
            "text": charge.description or charge.fee_code,
        },
        "subject": {"reference": f"Patient/{charge.animal_id}"},
        "occurrenceDateTime": utc_instant(charge.posted_at),
        "quantity": {"value": _number(charge.quantity)},
        "priceOverride": {"value": _number(charge.amount), "currency": charge.currency},
        "overrideReason": f"clinic fee list ({charge.source} charge, unit price {charge.unit_price} "
        f"{charge.currency})",
        "enteredDate": utc_instant(charge.posted_at),
    }
    if charge.study_instance_uid:
        resource["service"] = [{"reference": f"ImagingStudy/{charge.study_instance_uid}"}]
    if charge.order_id is not None:
        resource["supportingInformation"] = [
            {
                "reference": f"ServiceRequest/{charge.order_id}",
                "display": f"Order {charge.accession_number}".strip(),
            }
        ]
    notes = []
    if charge.status == ChargeStatus.VOIDED:
        notes.append({"text": f"Voided by {charge.voided_by}: {charge.void_reason}"})
    if charge.note:
        notes.append({"text": charge.note})
    if notes:
        resource["note"] = notes
    return checked(resource)


def read_charge_item(db: Database, charge_id: int) -> dict[str, Any]:
    """GET ChargeItem/{id}: 404 when there is no such charge."""
    try:
        charge = billing.get_charge(db, charge_id)
    except NotFound as exc:
        raise FhirError.one(404, "not-found", f"no ChargeItem with id {charge_id}") from exc
    return charge_item_resource(charge)


def search_charge_items(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET ChargeItem?... (FHIR R4 search): _id, patient/subject, status, code, service, entered-date."""
    filters: dict[str, Any] = {}
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit():
            return [], 0
        filters["ids"] = [int(raw)]
    for name in ("patient", "subject"):
        if (raw := params.get(name)) is not None:
            filters["animal_id"] = parse_reference(name, raw, "Patient")
    if (raw := params.get("status")) is not None:
        wanted = {v.strip() for v in raw.split(",") if v.strip()}
        unknown = wanted - CHARGE_ITEM_STATUSES
        if unknown:
            raise bad_search(f"status: {', '.join(sorted(unknown))} is not a ChargeItem status", "status")
        ours = wanted & {"billable", "billed", "entered-in-error"}
        if not ours:
            return [], 0
        if ours == {"entered-in-error"}:
            filters["status"] = ChargeStatus.VOIDED
        elif "entered-in-error" not in ours:
            filters["status"] = ChargeStatus.POSTED
            if len(ours) == 1:
                filters["order_billed"] = ours == {"billed"}
        elif len(ours) == 2:  # entered-in-error and one of billable / billed
            raise bad_search(
                "status: entered-in-error with billable or billed in one search is not supported; "
                "search them one at a time (or give all three)",
                "status",
            )
    if (raw := params.get("code")) is not None:
        system, code = parse_token(raw)
        if system not in (None, "", FEE_CODE_SYSTEM) or not code:
            return [], 0
        filters["fee_code"] = code
    if (raw := params.get("service")) is not None:
        kind, _, uid = raw.strip().rpartition("/")
        if kind.rsplit("/", 1)[-1] not in ("", "ImagingStudy") or not uid:
            raise bad_search(f"service: expected an ImagingStudy reference, got {raw!r}", "service")
        filters["study_instance_uid"] = uid
    if (raw := params.get("entered-date")) is not None:
        span = parse_date_param("entered-date", raw)
        if span.negate:
            raise bad_search("entered-date: the ne prefix is not supported", "entered-date")
        filters["posted_since"], filters["posted_before"] = span.lo, span.hi
    page = billing.list_charges(db, **filters, limit=max(params.count, 1), offset=params.offset)
    items = page.items if params.count else []
    return [charge_item_resource(c) for c in items], page.total
