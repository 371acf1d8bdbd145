"""``/api/v1/partners`` and ``/api/v1/deliveries``: event destinations (webhooks, HL7) and what was sent.

Every route needs ``system:manage``. Writes go through ``vetpacs.integration.webhooks.partners``
(each with its audit row in the same transaction). ``/deliveries?status=dead`` is the dead-letter
view; ``POST /deliveries/{id}/retry`` sends a dead delivery again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from vetpacs.auth import Actor, Permission
from vetpacs.integration.dispatcher import DeliveryStatus
from vetpacs.integration.webhooks import partners as svc
from vetpacs.integration.webhooks.partners import (
    DeliveryPage,
    DeliveryRead,
    PartnerCreate,
    PartnerCreated,
    PartnerRead,
    PartnerUpdate,
    SecretRotated,
)
from vetpacs.web.deps import archive_of, require

router = APIRouter(tags=["partners"])
Manager = Annotated[Actor, Depends(require(Permission.SYSTEM_MANAGE))]
Status = Annotated[
    DeliveryStatus | None, Query(description="pending, delivered or dead (dead: the dead-letter view).")
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/partners", response_model=list[PartnerRead])
def list_partners(request: Request, actor: Manager) -> list[PartnerRead]:
    """Every partner, by name, with pending and dead delivery counts."""
    return svc.list_partners(archive_of(request))


@router.post("/partners", response_model=PartnerCreated, status_code=201)
def create_partner(body: PartnerCreate, request: Request, actor: Manager) -> PartnerCreated:
    """Register a webhook URL or an HL7 endpoint; a webhook's ``secret`` is in this answer only."""
    return svc.create_partner(archive_of(request), body, actor=actor)


@router.get("/partners/{partner_id}", response_model=PartnerRead)
def get_partner(partner_id: int, request: Request, actor: Manager) -> PartnerRead:
    """One partner."""
    return svc.get_partner(archive_of(request), partner_id)


@router.patch("/partners/{partner_id}", response_model=PartnerRead)
def update_partner(partner_id: int, body: PartnerUpdate, request: Request, actor: Manager) -> PartnerRead:
    """Change a partner (absent fields stay); ``active: false`` pauses it (deliveries wait)."""
    return svc.update_partner(archive_of(request), partner_id, body, actor=actor)


@router.delete("/partners/{partner_id}", status_code=204)
def delete_partner(partner_id: int, request: Request, actor: Manager) -> Response:
    """Remove a partner and its deliveries."""
    svc.delete_partner(archive_of(request), partner_id, actor=actor)
    return Response(status_code=204)


@router.post("/partners/{partner_id}/secret", response_model=SecretRotated)
def rotate_secret(partner_id: int, request: Request, actor: Manager) -> SecretRotated:
    """Give a webhook partner a new signing secret, shown this once."""
    return svc.rotate_secret(archive_of(request), partner_id, actor=actor)


@router.get("/partners/{partner_id}/deliveries", response_model=DeliveryPage)
def partner_deliveries(
    partner_id: int,
    request: Request,
    actor: Manager,
    status: Status = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeliveryPage:
    """A partner's deliveries, newest event first."""
    return svc.list_deliveries(
        archive_of(request), partner_id=partner_id, status=status, limit=limit, offset=offset
    )


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    request: Request, actor: Manager, status: Status = None, limit: Limit = 100, offset: Offset = 0
) -> DeliveryPage:
    """Deliveries of every partner, newest event first; ``?status=dead`` lists failures with the reason."""
    return svc.list_deliveries(archive_of(request), status=status, limit=limit, offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
def get_delivery(delivery_id: int, request: Request, actor: Manager) -> DeliveryRead:
    """One delivery with its last attempt."""
    return svc.get_delivery(archive_of(request), delivery_id)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
def retry_delivery(delivery_id: int, request: Request, actor: Manager) -> DeliveryRead:
    """Send a dead delivery again (it becomes pending, due now; 409 unless it is dead)."""
    return svc.retry_delivery(archive_of(request), delivery_id, actor=actor)
