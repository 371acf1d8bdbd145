"""``/api/v1/fees``, ``/api/v1/charges`` and ``/api/v1/billing/...``: the fee list, charges, missed charges.

Reading needs ``billing:read``, writing ``billing:write`` (front desk, integration, admin). Writes go
through ``vetpacs.billing.service`` (each with its audit row and event in one transaction). Money is
a decimal string with two places (``"95.00"``). Errors are problem+json: 400 an unknown fee code or
an order and animal that do not match, 404 an unknown charge, order or animal, 409 a charge voided
already, 422 a malformed body.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from vetpacs.auth import Actor, Permission
from vetpacs.billing import service as svc
from vetpacs.billing.models import ChargeStatus
from vetpacs.billing.schemas import (
    ChargeCreate,
    ChargePage,
    ChargeRead,
    ChargeVoid,
    ChargingResult,
    FeeRead,
    FeeUpdate,
    MissedCharges,
)
from vetpacs.web.deps import archive_of, require, settings_of
from vetpacs.web.idempotency import idempotent

router = APIRouter(tags=["billing"])
Reader = Annotated[Actor, Depends(require(Permission.BILLING_READ))]
Writer = Annotated[Actor, Depends(require(Permission.BILLING_WRITE))]
FeeCodePath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]


@router.get("/fees", response_model=list[FeeRead])
def list_fees(request: Request, actor: Reader, include_inactive: bool = True) -> list[FeeRead]:
    """The fee list by fee code (the catalog's procedures name their ``fee_code``)."""
    return svc.list_fees(archive_of(request), active=None if include_inactive else True)


@router.get("/fees/{fee_code}", response_model=FeeRead)
def get_fee(fee_code: FeeCodePath, request: Request, actor: Reader) -> FeeRead:
    """One line of the fee list."""
    return svc.get_fee(archive_of(request), fee_code)


@router.put("/fees/{fee_code}", response_model=FeeRead)
def put_fee(fee_code: FeeCodePath, body: FeeUpdate, request: Request, actor: Writer) -> FeeRead:
    """Create or replace a fee list line (currency default: the line's, else ``billing_currency``).

    New prices apply to charges posted from now on; posted charges keep theirs.
    """
    return svc.put_fee(
        archive_of(request),
        fee_code,
        body,
        actor=actor,
        default_currency=settings_of(request).billing_currency,
    )


@router.get("/charges", response_model=ChargePage)
def list_charges(
    request: Request,
    actor: Reader,
    order: Annotated[int | None, Query(ge=1, description="Charges of this order (id).")] = None,
    animal: Annotated[int | None, Query(ge=1, description="Charges of this animal (id).")] = None,
    status: Annotated[ChargeStatus | None, Query(description="posted or voided.")] = None,
    fee_code: str | None = None,
    study: Annotated[str | None, Query(description="Study Instance UID.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ChargePage:
    """Charges matching every given filter, newest first, with the number of matches."""
    return svc.list_charges(
        archive_of(request),
        order_id=order,
        animal_id=animal,
        status=status,
        fee_code=fee_code,
        study_instance_uid=study,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/charges",
    response_model=ChargeRead,
    status_code=201,
    responses={400: {"description": "Unknown or inactive fee code; order and animal do not match."}},
)
def add_charge(body: ChargeCreate, request: Request, actor: Writer) -> JSONResponse:
    """Post a manual charge for an order or an animal (event ``charge.posted``).

    Send an ``Idempotency-Key`` header to retry safely: the same key and body answer the first
    result again instead of posting a second charge.
    """
    archive = archive_of(request)
    return idempotent(
        request,
        actor,
        body,
        lambda: (201, svc.add_manual_charge(archive, body, actor=actor).model_dump(mode="json")),
    )


@router.get("/charges/{charge_id}", response_model=ChargeRead)
def get_charge(charge_id: int, request: Request, actor: Reader) -> ChargeRead:
    """One charge."""
    return svc.get_charge(archive_of(request), charge_id)


@router.post(
    "/charges/{charge_id}/void",
    response_model=ChargeRead,
    responses={409: {"description": "The charge was voided already."}},
)
def void_charge(charge_id: int, body: ChargeVoid, request: Request, actor: Writer) -> ChargeRead:
    """Void a posted charge with a reason (event ``charge.voided``; HL7 partners get a DFT^P03 credit)."""
    return svc.void_charge(archive_of(request), charge_id, body.reason, actor=actor)


@router.post("/billing/orders/{order_id}/charge", response_model=ChargingResult)
def charge_order(order_id: int, request: Request, actor: Writer) -> ChargingResult:
    """Post the charges of a performed order now (what the worker does by itself; posts nothing twice).

    Useful after a missing fee code was added to the fee list; ``problems`` says what still blocks.
    """
    return svc.charge_completed_order(archive_of(request), order_id, actor=actor)


@router.get("/billing/missed-charges", response_model=MissedCharges)
def missed_charges(
    request: Request,
    actor: Reader,
    since: Annotated[
        dt.datetime | None, Query(description="Orders updated / studies received from then (UTC if naive).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MissedCharges:
    """Performed orders without a posted charge (with the likely reason) and studies linked to no order."""
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(dt.UTC).replace(tzinfo=None)
    return svc.missed_charges(archive_of(request), since=since, limit=limit)
