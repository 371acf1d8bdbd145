"""``/api/v1/report-templates``, ``/api/v1/studies/{uid}/reports``, ``/api/v1/reports``: the reports API.

Reading needs ``reports:read``; creating and editing drafts ``reports:write``; signing, amending and
withdrawing ``reports:sign`` (veterinarians, radiologists, external readers, admins). Each route calls one
service of ``vetpacs.reports`` (docs/reports.md); errors are problem+json (404 unknown study or
report, 409 editing a signed report or a second report on a study, 400 bad input).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from vetpacs.auth import Actor, Permission
from vetpacs.reports import service as svc
from vetpacs.reports.models import ReportStatus
from vetpacs.reports.schemas import (
    ReportAmend,
    ReportCreate,
    ReportPage,
    ReportRead,
    ReportUpdate,
    ReportWithdraw,
    TemplateRead,
)
from vetpacs.web.deps import archive_of, audit, client_address, require, settings_of

Reader = Annotated[Actor, Depends(require(Permission.REPORTS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.REPORTS_WRITE))]
Signer = Annotated[Actor, Depends(require(Permission.REPORTS_SIGN))]

router = APIRouter(tags=["reports"])


def _with_address(actor: Actor, request: Request) -> Actor:
    return actor if actor.address else replace(actor, address=client_address(request))


def _clinic(request: Request) -> str:
    settings = settings_of(request)
    return settings.clinic_name or settings.issuer_of_patient_id


@router.get("/report-templates", response_model=list[TemplateRead])
def list_templates(
    actor: Reader,
    species: Annotated[str, Query(description="Species code, name or common name (dog, Feline...).")] = "",
    region: Annotated[str, Query(description="Body region (DICOM Body Part Examined: CHEST...).")] = "",
) -> list[TemplateRead]:
    """Report templates for a species and body region (the general template always matches)."""
    return svc.list_templates(species=species, body_region=region)


@router.post("/studies/{study_uid}/reports", response_model=ReportRead, status_code=201)
def create_report(
    study_uid: str, request: Request, actor: Writer, body: ReportCreate | None = None
) -> ReportRead:
    """Start a draft report on a stored study from a template (``general`` when none is given)."""
    return svc.create_report(
        archive_of(request), study_uid, body or ReportCreate(), actor=_with_address(actor, request)
    )


@router.get("/reports", response_model=ReportPage)
def list_reports(
    request: Request,
    actor: Reader,
    study: Annotated[str, Query(description="Study Instance UID.")] = "",
    animal: Annotated[int | None, Query(description="Animal id.")] = None,
    order: Annotated[int | None, Query(description="Order id.")] = None,
    status: ReportStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReportPage:
    """Reports newest first, filtered by study, animal, order and status."""
    return svc.list_reports(
        archive_of(request),
        study_uid=study,
        animal_id=animal,
        order_id=order,
        status=status,
        limit=limit,
        offset=offset,
    )


@router.get("/reports/{report_id}", response_model=ReportRead)
def get_report(report_id: int, request: Request, actor: Reader) -> ReportRead:
    """One report (its current version); audited as ``report.viewed``."""
    report = svc.get_report(archive_of(request), report_id)
    audit(request).record(
        actor,
        "report.viewed",
        object_type="report",
        object_id=str(report_id),
        detail={"study_instance_uid": report.study_instance_uid, "version": report.version},
        address=client_address(request),
    )
    return report


@router.patch("/reports/{report_id}", response_model=ReportRead)
def update_report(report_id: int, body: ReportUpdate, request: Request, actor: Writer) -> ReportRead:
    """Change a draft's sections; a signed report answers 409 (amend it instead)."""
    return svc.update_report(archive_of(request), report_id, body, actor=_with_address(actor, request))


class CancelReason(BaseModel):
    """Why a draft is cancelled (kept in the audit log and the event)."""

    reason: str = Field(default="", max_length=1000)


@router.post("/reports/{report_id}/cancel", response_model=ReportRead)
def cancel_report(
    report_id: int, request: Request, actor: Writer, body: CancelReason | None = None
) -> ReportRead:
    """Cancel a draft (the study may then get a new report); a signed report answers 409."""
    return svc.cancel_report(
        archive_of(request),
        report_id,
        actor=_with_address(actor, request),
        reason=body.reason if body else "",
    )


@router.post("/reports/{report_id}/sign", response_model=ReportRead)
def sign_report(report_id: int, request: Request, actor: Signer) -> ReportRead:
    """Sign a draft: the PDF is stored in the study as DICOM, the order becomes ``reported``."""
    return svc.sign_report(
        archive_of(request), report_id, actor=_with_address(actor, request), clinic=_clinic(request)
    )


@router.post("/reports/{report_id}/amend", response_model=ReportRead)
def amend_report(report_id: int, body: ReportAmend, request: Request, actor: Signer) -> ReportRead:
    """Amend a signed report: a new signed version with its reason and a new PDF."""
    return svc.amend_report(
        archive_of(request), report_id, body, actor=_with_address(actor, request), clinic=_clinic(request)
    )


@router.post("/reports/{report_id}/withdraw", response_model=ReportRead)
def withdraw_report(report_id: int, body: ReportWithdraw, request: Request, actor: Signer) -> ReportRead:
    """Withdraw a signed report entered in error (status ``entered-in-error``; a reason is required).

    The report and its signed PDFs stay; a reported order returns to its status before reporting;
    409 for a draft, cancelled or already withdrawn report.
    """
    return svc.withdraw_report(archive_of(request), report_id, body, actor=_with_address(actor, request))


@router.get(
    "/reports/{report_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The signed report as PDF."}},
)
def report_pdf(
    report_id: int,
    request: Request,
    actor: Reader,
    version: Annotated[int | None, Query(ge=1, description="An earlier signed version.")] = None,
) -> Response:
    """The signed PDF (404 while the report is a draft)."""
    data = svc.report_pdf(archive_of(request), report_id, version=version)
    audit(request).record(
        actor,
        "report.pdf_viewed",
        object_type="report",
        object_id=str(report_id),
        address=client_address(request),
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="report-{report_id}.pdf"'},
    )
