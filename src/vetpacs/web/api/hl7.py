"""``/api/v1/hl7/messages``: the HL7 v2 message log (every message in and out, with its ACK).

Needs ``system:manage`` (administrators): raw messages carry owners' names, addresses and phone
numbers, and the log is where integrations are set up and debugged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from vetpacs.auth import Actor, Permission
from vetpacs.errors import Invalid
from vetpacs.integration.hl7.log import (
    Hl7MessageDetail,
    Hl7MessagePage,
    Hl7MessageQuery,
    get_message,
    list_messages,
)
from vetpacs.web.deps import archive_of, require

router = APIRouter(prefix="/hl7", tags=["hl7"])
Admin = Annotated[Actor, Depends(require(Permission.SYSTEM_MANAGE))]


@router.get("/messages", response_model=Hl7MessagePage)
def search_messages(
    request: Request,
    actor: Admin,
    direction: Annotated[str, Query(description="`in` (received) or `out` (sent).")] = "",
    type: Annotated[str, Query(description="Message type `ADT^A01`, or a prefix `ADT`.")] = "",
    status: Annotated[
        str, Query(description="applied, error, rejected, truncated, failed (in); sent... (out).")
    ] = "",
    patient_id: Annotated[str, Query(description="Patient ID (PID-3 / the animal's).")] = "",
    accession: Annotated[str, Query(description="Accession number.")] = "",
    since: Annotated[datetime | None, Query(description="At or after this time (UTC).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Hl7MessagePage:
    """Search the message log, newest first."""
    try:
        query = Hl7MessageQuery(
            direction=direction,
            type=type,
            status=status,
            patient_id=patient_id,
            accession=accession,
            since=since,
            limit=limit,
            offset=offset,
        )
    except ValidationError as exc:
        raise Invalid(str(exc.errors()[0]["msg"])) from exc
    return list_messages(archive_of(request), query)


@router.get("/messages/{message_id}", response_model=Hl7MessageDetail)
def read_message(message_id: int, request: Request, actor: Admin) -> Hl7MessageDetail:
    """One message with its raw text and its ACK (segments separated by CR)."""
    return get_message(archive_of(request), message_id)
