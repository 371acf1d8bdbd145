"""``/api/v1/orders`` and ``/api/v1/steps``: create (with ``Idempotency-Key``), search, read, status actions,
(re)scheduling.

Reading needs ``orders:read``, writing ``orders:write``. A refused transition or booking answers 409
problem+json with the reason; an order for a missing animal 404; an unknown or other-species
procedure 400. Times of steps are local clinic time (no UTC offset).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vetpacs.auth import Actor, Permission
from vetpacs.orders import service as svc
from vetpacs.orders.models import OrderStatus
from vetpacs.orders.schemas import OrderCreate, OrderPage, OrderRead, OrderSearch, ScheduleRequest, StepRead
from vetpacs.web.deps import archive_of, require
from vetpacs.web.idempotency import idempotent

router = APIRouter(tags=["orders"])
Reader = Annotated[Actor, Depends(require(Permission.ORDERS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.ORDERS_WRITE))]


class Reason(BaseModel):
    """Why (kept in the order's transitions and the audit log)."""

    reason: str = Field(default="", max_length=1000)


OptionalReason = Annotated[Reason | None, Body()]


@router.get("/orders", response_model=OrderPage)
def search_orders(
    request: Request,
    actor: Reader,
    status: Annotated[list[OrderStatus] | None, Query(description="One or more statuses.")] = None,
    animal_id: int | None = None,
    accession_number: str | None = None,
    modality: Annotated[str | None, Query(description="Orders with a step of this modality.")] = None,
    station_id: Annotated[int | None, Query(description="Orders with a step on this station.")] = None,
    scheduled_from: Annotated[dt.date | None, Query(description="A step starts on or after (local).")] = None,
    scheduled_to: Annotated[dt.date | None, Query(description="A step starts on or before (local).")] = None,
    created_since: Annotated[
        dt.datetime | None, Query(description="Created at or after (UTC if naive).")
    ] = None,
    created_until: Annotated[dt.datetime | None, Query(description="Created before (UTC if naive).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    """Orders matching every given filter, newest first, with the total number of matches."""
    query = OrderSearch(
        status=status or [],
        animal_id=animal_id,
        accession_number=accession_number,
        modality=modality,
        station_id=station_id,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
        created_since=created_since,
        created_until=created_until,
        limit=limit,
        offset=offset,
    )
    return svc.search_orders(archive_of(request), query)


@router.post(
    "/orders",
    response_model=OrderRead,
    status_code=201,
    responses={409: {"description": "Accession number in use, or the booking is refused (reason given)."}},
)
def create_order(body: OrderCreate, request: Request, actor: Writer) -> JSONResponse:
    """Create an order: accession number (generated unless given), study UID, one step per procedure.

    Send an ``Idempotency-Key`` header to retry safely: the same key and body answer the first
    result again (``Idempotency-Replayed: true``) instead of creating a second order.
    """
    archive = archive_of(request)
    return idempotent(
        request,
        actor,
        body,
        lambda: (201, svc.create_order(archive, body, actor=actor).model_dump(mode="json")),
    )


@router.get("/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: int, request: Request, actor: Reader) -> OrderRead:
    """One order with its steps and its status transitions."""
    return svc.get_order(archive_of(request), order_id)


@router.post("/orders/{order_id}/cancel", response_model=OrderRead)
def cancel_order(order_id: int, request: Request, actor: Writer, body: OptionalReason = None) -> OrderRead:
    """Cancel an order that has not started (409 otherwise); its open steps leave the worklist."""
    reason = body.reason if body else ""
    return svc.cancel_order(archive_of(request), order_id, actor=actor, reason=reason)


@router.post("/orders/{order_id}/no-show", response_model=OrderRead)
def mark_no_show(order_id: int, request: Request, actor: Writer, body: OptionalReason = None) -> OrderRead:
    """The animal did not come (409 once the procedure started); its open steps leave the worklist."""
    reason = body.reason if body else ""
    return svc.mark_no_show(archive_of(request), order_id, actor=actor, reason=reason)


@router.post("/orders/{order_id}/arrived", response_model=OrderRead)
def mark_arrived(order_id: int, request: Request, actor: Writer, body: OptionalReason = None) -> OrderRead:
    """The animal is at the clinic (from ordered or scheduled)."""
    reason = body.reason if body else ""
    return svc.mark_arrived(archive_of(request), order_id, actor=actor, reason=reason)


@router.get("/steps/{step_id}", response_model=StepRead)
def get_step(step_id: int, request: Request, actor: Reader) -> StepRead:
    """One scheduled step (by its id in the API, not its DICOM Scheduled Procedure Step ID)."""
    return svc.get_step(archive_of(request), step_id)


@router.post(
    "/steps/{step_id}/schedule",
    response_model=StepRead,
    responses={409: {"description": "Other modality, outside opening hours, or an overlap (reason given)."}},
)
def schedule_step(step_id: int, body: ScheduleRequest, request: Request, actor: Writer) -> StepRead:
    """Book or re-book a step on a station at a local start time (a UTC offset is refused, 422)."""
    return svc.schedule_step(
        archive_of(request),
        step_id,
        body.station_id,
        body.start,
        actor=actor,
        duration_minutes=body.duration_minutes,
    )
