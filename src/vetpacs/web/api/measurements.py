"""``/api/v1/studies/{uid}/measurements``, ``/api/v1/measurements``, ``/api/v1/instances/{uid}/key-image``.

Reading needs ``images:read``; saving, changing, deleting, flagging key images and exporting the
DICOM measurement report need ``reports:write`` (measuring is part of reading and reporting a
study: veterinarians, radiologists and admins). Each route calls one service of
``vetpacs.measurements``; the server recomputes every value (docs/measurements.md).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from vetpacs.auth import Actor, Permission
from vetpacs.measurements import service as svc
from vetpacs.measurements import sr
from vetpacs.measurements.schemas import (
    ExportRequest,
    ExportResult,
    KeyImageRead,
    KeyImageSet,
    MeasurementCreate,
    MeasurementList,
    MeasurementRead,
    MeasurementUpdate,
)
from vetpacs.web.deps import archive_of, client_address, require

Reader = Annotated[Actor, Depends(require(Permission.IMAGES_READ))]
Writer = Annotated[Actor, Depends(require(Permission.REPORTS_WRITE))]

router = APIRouter(tags=["measurements"])


def _with_address(actor: Actor, request: Request) -> Actor:
    return actor if actor.address else replace(actor, address=client_address(request))


@router.get("/studies/{study_uid}/measurements", response_model=MeasurementList)
def list_measurements(
    study_uid: str,
    request: Request,
    actor: Reader,
    all_users: Annotated[bool, Query(description="Everyone's measurements, not only the caller's.")] = False,
    sop_instance_uid: Annotated[str, Query(description="Only those on this instance.")] = "",
) -> MeasurementList:
    """The caller's (or everyone's) measurements and key images on a study, as saved."""
    return svc.list_measurements(
        archive_of(request),
        study_uid,
        username=None if all_users else actor.username,
        sop_instance_uid=sop_instance_uid or None,
    )


@router.post("/studies/{study_uid}/measurements", response_model=MeasurementRead, status_code=201)
def save_measurement(
    study_uid: str, body: MeasurementCreate, request: Request, actor: Writer
) -> MeasurementRead:
    """Save a measurement; the server recomputes the value (``value_corrected``: the client's differed)."""
    return svc.save_measurement(archive_of(request), study_uid, body, actor=_with_address(actor, request))


@router.post("/studies/{study_uid}/measurements/export", response_model=ExportResult, status_code=201)
def export_measurements(
    study_uid: str, request: Request, actor: Writer, body: ExportRequest | None = None
) -> ExportResult:
    """Store a DICOM TID 1500 measurement report (Comprehensive SR) of the measurements in the study."""
    return sr.export_report(
        archive_of(request),
        study_uid,
        actor=_with_address(actor, request),
        all_users=bool(body and body.all_users),
    )


@router.get("/measurements/{measurement_id}", response_model=MeasurementRead)
def get_measurement(measurement_id: int, request: Request, actor: Reader) -> MeasurementRead:
    """One measurement."""
    return svc.get_measurement(archive_of(request), measurement_id)


@router.patch("/measurements/{measurement_id}", response_model=MeasurementRead)
def update_measurement(
    measurement_id: int, body: MeasurementUpdate, request: Request, actor: Writer
) -> MeasurementRead:
    """Change a measurement's label, points or calibration (its author or an admin); recomputed."""
    return svc.update_measurement(
        archive_of(request), measurement_id, body, actor=_with_address(actor, request)
    )


@router.delete("/measurements/{measurement_id}", status_code=204)
def delete_measurement(measurement_id: int, request: Request, actor: Writer) -> Response:
    """Delete a measurement (its author or an admin)."""
    svc.delete_measurement(archive_of(request), measurement_id, actor=_with_address(actor, request))
    return Response(status_code=204)


@router.post("/instances/{sop_uid}/key-image", response_model=KeyImageRead)
def set_key_image(sop_uid: str, body: KeyImageSet, request: Request, actor: Writer) -> KeyImageRead:
    """Flag (``flagged: true``) or unflag a frame of an instance as one of the caller's key images."""
    return svc.set_key_image(archive_of(request), sop_uid, body, actor=_with_address(actor, request))
