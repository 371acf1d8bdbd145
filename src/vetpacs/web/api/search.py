"""``/api/v1/search`` (the clinic search box) and ``/api/v1/animals/{id}/timeline``.

Both need ``patients:read`` and are audited like other reads (``clinic.searched`` with the query
and the number of matches; ``animal.timeline_viewed``). Values no search can mean answer 422
problem+json with the field in error. Thin: each route calls one service of ``vetpacs.search``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from vetpacs.auth import Actor, Permission
from vetpacs.search import service as svc
from vetpacs.search.timeline import Timeline, animal_timeline
from vetpacs.web.deps import archive_of, audit, client_address, require

router = APIRouter(tags=["search"])
Reader = Annotated[Actor, Depends(require(Permission.PATIENTS_READ))]
Status = Literal[svc.STATUSES]  # type: ignore[valid-type]


@router.get("/search", response_model=svc.SearchResult)
def clinic_search(
    request: Request,
    actor: Reader,
    q: Annotated[
        str,
        Query(
            max_length=128,
            description="Animal name or owner family/given name prefix, owner phone, patient id, "
            "microchip, PMS id or accession number (case-insensitive).",
        ),
    ] = "",
    species: Annotated[str, Query(max_length=64, description="Species code or name (Canine, dog).")] = "",
    breed: Annotated[str, Query(max_length=64, description="Breed code or name.")] = "",
    modality: Annotated[
        str, Query(max_length=16, pattern=r"^[A-Za-z0-9_]*$", description="A modality in the study (DX).")
    ] = "",
    body_region: Annotated[
        str,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_ ]*$", description="Body Part Examined (THORAX)."),
    ] = "",
    date_from: Annotated[dt.date | None, Query(description="Study date on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[dt.date | None, Query(description="Study date on or before (YYYY-MM-DD).")] = None,
    status: Annotated[
        Status | None,
        Query(description="unmatched (no animal), linked (an animal), or the linked order's status."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_LIMIT)] = 25,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> svc.SearchResult:
    """Animals matching the box (and species/breed), and one page of studies, newest first."""
    if date_from and date_to and date_from > date_to:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "date_to"),
                    "msg": "date_to is before date_from",
                    "input": str(date_to),
                }
            ]
        )
    query = svc.ClinicSearch(
        q=q,
        species=species,
        breed=breed,
        modality=modality,
        body_region=body_region,
        date_from=date_from,
        date_to=date_to,
        status=status or "",
        limit=limit,
        offset=offset,
    )
    result = svc.search(archive_of(request), query)
    audit(request).record(
        actor,
        "clinic.searched",
        object_type="search",
        detail={
            "query": str(request.query_params)[:1000],
            "animals": len(result.animals),
            "studies": result.studies.total,
        },
        address=client_address(request),
    )
    return result


@router.get("/animals/{animal_id}/timeline", response_model=Timeline, tags=["animals"])
def timeline(animal_id: int, request: Request, actor: Reader) -> Timeline:
    """The animal's orders (with steps) and studies, newest first (404 for an unknown animal); its
    reports with ``reports:read`` and its charges with ``billing:read``."""
    result = animal_timeline(
        archive_of(request),
        animal_id,
        reports=actor.can(Permission.REPORTS_READ),
        charges=actor.can(Permission.BILLING_READ),
    )
    audit(request).record(
        actor,
        "animal.timeline_viewed",
        object_type="animal",
        object_id=str(animal_id),
        detail={"items": len(result.items)},
        address=client_address(request),
    )
    return result
