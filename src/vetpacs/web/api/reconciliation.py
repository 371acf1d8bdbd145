"""``/api/v1/reconciliation``: the queue of studies that did not file themselves, and its actions.

Listing needs ``orders:read``; linking, creating and linking, rejecting and undoing need
``orders:write``. Every action is one call to ``vetpacs.orders.reconciliation`` (audited there).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from vetpacs.auth import Actor, Permission
from vetpacs.orders import reconciliation as svc
from vetpacs.orders.reconciliation import CreateAndLinkRequest, LinkRequest, ReconciliationRead, RejectRequest
from vetpacs.web.deps import archive_of, require, settings_of

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])
Reader = Annotated[Actor, Depends(require(Permission.ORDERS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.ORDERS_WRITE))]


@router.get("", response_model=list[ReconciliationRead])
def list_items(
    request: Request,
    actor: Reader,
    status: Annotated[str, Query(description="open (default), linked, rejected or empty for all")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ReconciliationRead]:
    """Studies waiting for a person, oldest first, with the reason, what differed and ranked candidates."""
    return svc.list_items(archive_of(request), status=status or None, limit=limit, offset=offset)


@router.get("/{item_id}", response_model=ReconciliationRead)
def get_item(item_id: int, request: Request, actor: Reader) -> ReconciliationRead:
    """One item of the queue."""
    return svc.get_item(archive_of(request), item_id)


@router.post("/{item_id}/link", response_model=ReconciliationRead)
def link(item_id: int, body: LinkRequest, request: Request, actor: Writer) -> ReconciliationRead:
    """Link the study to an order and/or an animal: the index and the served headers are corrected
    (C-FIND, QIDO-RS, WADO, C-MOVE, C-GET), the stored bytes stay as received."""
    return svc.link_study(
        archive_of(request), item_id, order_id=body.order_id, animal_id=body.animal_id, actor=actor
    )


@router.post("/{item_id}/create-and-link", response_model=ReconciliationRead)
def create_and_link(
    item_id: int, body: CreateAndLinkRequest, request: Request, actor: Writer
) -> ReconciliationRead:
    """Register the owner and animal the study's header names (and an order, given a procedure
    code), then link the study to them: one transaction, nothing written when any part is refused
    (an unknown procedure: 400, an accession number in use: 409)."""
    settings = settings_of(request)
    return svc.create_and_link(
        archive_of(request),
        item_id,
        actor=actor,
        procedure_code=body.procedure_code,
        accession_number=body.accession_number,
        patient_id_prefix=settings.patient_id_prefix,
        issuer_of_patient_id=settings.issuer_of_patient_id,
    )


@router.post("/{item_id}/reject", response_model=ReconciliationRead)
def reject(item_id: int, body: RejectRequest, request: Request, actor: Writer) -> ReconciliationRead:
    """Close the item without linking (the study stays as stored)."""
    return svc.reject_item(archive_of(request), item_id, actor=actor, reason=body.reason)


@router.post("/{item_id}/undo", response_model=ReconciliationRead)
def undo(item_id: int, request: Request, actor: Writer) -> ReconciliationRead:
    """Undo the item's last link or rejection: the study's served headers go back and it is open again."""
    return svc.undo(archive_of(request), item_id, actor=actor)
