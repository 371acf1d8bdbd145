"""``/api/v1/procedures``, ``/api/v1/stations`` and the day views (``/stations/{id}/day``, ``/schedule/day``).

Reading needs ``orders:read``; adding or changing a procedure or a station needs ``system:manage``.
Writes go through ``vetpacs.orders.catalog`` (each with its audit row and event in one transaction).
Days and times are local clinic time.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from vetpacs.auth import Actor, Permission
from vetpacs.orders import catalog as svc
from vetpacs.orders.scheduling import schedule_day, station_day
from vetpacs.orders.schemas import (
    ProcedureCreate,
    ProcedureRead,
    ProcedureUpdate,
    StationCreate,
    StationDay,
    StationRead,
    StationUpdate,
)
from vetpacs.web.deps import archive_of, require

router = APIRouter(tags=["catalog"])
Reader = Annotated[Actor, Depends(require(Permission.ORDERS_READ))]
Manager = Annotated[Actor, Depends(require(Permission.SYSTEM_MANAGE))]
Day = Annotated[dt.date, Query(alias="date", description="The local day, YYYY-MM-DD.")]


# --------------------------------------------------------------------------- procedures
@router.get("/procedures", response_model=list[ProcedureRead])
def list_procedures(
    request: Request,
    actor: Reader,
    modality: Annotated[str | None, Query(description="DX, US, CT, MR, IO...")] = None,
    species_code: Annotated[
        str | None, Query(description="Only procedures for this species (and those for every species).")
    ] = None,
    include_inactive: bool = False,
) -> list[ProcedureRead]:
    """The procedure catalog, by code."""
    return svc.list_procedures(
        archive_of(request),
        modality=modality,
        species_code=species_code,
        active=None if include_inactive else True,
    )


@router.post("/procedures", response_model=ProcedureRead, status_code=201)
def create_procedure(body: ProcedureCreate, request: Request, actor: Manager) -> ProcedureRead:
    """Add a procedure to the catalog (409 when the code exists)."""
    return svc.create_procedure(archive_of(request), body, actor=actor)


@router.get("/procedures/{procedure_id}", response_model=ProcedureRead)
def get_procedure(procedure_id: int, request: Request, actor: Reader) -> ProcedureRead:
    """One catalog entry."""
    return svc.get_procedure(archive_of(request), procedure_id)


@router.patch("/procedures/{procedure_id}", response_model=ProcedureRead)
def update_procedure(
    procedure_id: int, body: ProcedureUpdate, request: Request, actor: Manager
) -> ProcedureRead:
    """Change a catalog entry (its code stays); ``active: false`` retires it."""
    return svc.update_procedure(archive_of(request), procedure_id, body, actor=actor)


# --------------------------------------------------------------------------- stations
@router.get("/stations", response_model=list[StationRead])
def list_stations(
    request: Request,
    actor: Reader,
    modality: Annotated[str | None, Query(description="DX, US, CT, MR, IO...")] = None,
    include_inactive: bool = False,
) -> list[StationRead]:
    """Stations (modalities in rooms), by name."""
    return svc.list_stations(
        archive_of(request), modality=modality, active=None if include_inactive else True
    )


@router.post("/stations", response_model=StationRead, status_code=201)
def create_station(body: StationCreate, request: Request, actor: Manager) -> StationRead:
    """Add a station (409 when its name or AE title is taken)."""
    return svc.create_station(archive_of(request), body, actor=actor)


@router.get("/stations/{station_id}", response_model=StationRead)
def get_station(station_id: int, request: Request, actor: Reader) -> StationRead:
    """One station."""
    return svc.get_station(archive_of(request), station_id)


@router.patch("/stations/{station_id}", response_model=StationRead)
def update_station(station_id: int, body: StationUpdate, request: Request, actor: Manager) -> StationRead:
    """Change a station; new opening hours apply to new bookings."""
    return svc.update_station(archive_of(request), station_id, body, actor=actor)


# --------------------------------------------------------------------------- day views
@router.get("/stations/{station_id}/day", response_model=StationDay)
def get_station_day(station_id: int, request: Request, actor: Reader, day: Day) -> StationDay:
    """A station's bookings on one local day, by start time (cancelled and no-shows left out)."""
    return station_day(archive_of(request), station_id, day)


@router.get("/schedule/day", response_model=list[StationDay])
def get_schedule_day(
    request: Request,
    actor: Reader,
    day: Day,
    modality: Annotated[str | None, Query(description="Only stations of this modality.")] = None,
) -> list[StationDay]:
    """Every active station's bookings on one local day (the day view per modality with ``modality``)."""
    return schedule_day(archive_of(request), day, modality=modality)
