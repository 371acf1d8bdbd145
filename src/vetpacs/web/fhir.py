"""FHIR R4 over HTTP under ``/fhir``: thin routes over ``vetpacs.integration.fhir``.

Same authentication as the REST API (``require(Permission.X)``); reads and searches are audited.
Every error under ``/fhir`` is an ``OperationOutcome`` (``application/fhir+json``), not
problem+json: 400 bad search parameter, 401/403, 404 unknown id or resource type, 409 conflict,
422 a resource that fails validation (with the path of the problem); never a 500 with details.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vetpacs.auth import Actor, Permission
from vetpacs.errors import VetPACSError
from vetpacs.integration.fhir import billing as fhir_billing
from vetpacs.integration.fhir import imaging
from vetpacs.integration.fhir import orders as fhir_orders
from vetpacs.integration.fhir import patient as fhir_patient
from vetpacs.integration.fhir import reports as fhir_reports
from vetpacs.integration.fhir.capability import capability_statement
from vetpacs.integration.fhir.common import (
    FHIR_JSON,
    FhirError,
    Issue,
    operation_outcome,
    search_params,
    searchset,
)
from vetpacs.web.deps import archive_of, audit, authenticated, client_address, require, settings_of
from vetpacs.web.errors import CHALLENGES, domain_status

log = logging.getLogger("vetpacs.web.fhir")

PREFIX = "/fhir"
_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
}


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A FHIR JSON response (``application/fhir+json``)."""
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=f"{FHIR_JSON}; charset=utf-8",
        headers=headers,
    )


def outcome_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> Response:
    """An OperationOutcome response; a 401 carries the Bearer and Basic challenges."""
    response = fhir_response(
        operation_outcome(issues),
        status,
        {k: v for k, v in (headers or {}).items() if k.lower() != "www-authenticate"},
    )
    if status == 401:
        for value in CHALLENGES:
            response.raw_headers.append((b"www-authenticate", value.encode("latin-1")))
    return response


class FhirRoute(APIRoute):
    """A route whose every error (dependencies included) is answered as an OperationOutcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except FhirError as exc:
                return outcome_response(exc.status, exc.issues)
            except VetPACSError as exc:
                status = domain_status(exc)
                if status == 500:
                    log.error("unmapped domain error on %s %s: %r", request.method, request.url.path, exc)
                    return outcome_response(500, [Issue("exception", "internal error")])
                code = {503: "transient", 429: "throttled"}.get(status, _CODES.get(status, "processing"))
                return outcome_response(status, [Issue(code, str(exc))])
            except RequestValidationError as exc:
                issues = [
                    Issue("invalid", f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}")
                    for e in exc.errors()
                ]
                return outcome_response(400, issues or [Issue("invalid", "invalid request")])
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "request refused"
                code = _CODES.get(exc.status_code, "processing")
                return outcome_response(exc.status_code, [Issue(code, detail)], dict(exc.headers or {}))
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return outcome_response(500, [Issue("exception", "internal error")])

        return guarded


router = APIRouter(route_class=FhirRoute, tags=["fhir"])

PatientsRead = Annotated[Actor, Depends(require(Permission.PATIENTS_READ))]
PatientsWrite = Annotated[Actor, Depends(require(Permission.PATIENTS_WRITE))]
OrdersRead = Annotated[Actor, Depends(require(Permission.ORDERS_READ))]
OrdersWrite = Annotated[Actor, Depends(require(Permission.ORDERS_WRITE))]
ImagesRead = Annotated[Actor, Depends(require(Permission.IMAGES_READ))]
ReportsRead = Annotated[Actor, Depends(require(Permission.REPORTS_READ))]
BillingRead = Annotated[Actor, Depends(require(Permission.BILLING_READ))]
Anyone = Annotated[Actor, Depends(authenticated)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _fhir_base(request: Request) -> str:
    return _base(request) + PREFIX


def _viewed(request: Request, actor: Actor, action: str, kind: str, object_id: str, **detail: Any) -> None:
    audit(request).record(
        actor,
        action,
        object_type=kind,
        object_id=object_id,
        detail=detail or None,
        address=client_address(request),
    )


async def _body(request: Request) -> Any:
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in (FHIR_JSON, "application/json"):
        raise FhirError.one(415, "not-supported", f"send {FHIR_JSON} (got {kind})")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FhirError.one(400, "structure", f"the body is not JSON: {exc}") from exc


def _numeric_id(kind: str, raw: str) -> int:
    if not raw.isdigit():
        raise FhirError.one(404, "not-found", f"no {kind} with id {raw!r}")
    return int(raw)


def _created(request: Request, resource: dict[str, Any]) -> Response:
    location = f"{_fhir_base(request)}/{resource['resourceType']}/{resource['id']}"
    return fhir_response(resource, 201, {"Location": location})


async def _search(
    request: Request,
    actor: Actor,
    kind: str,
    allowed: tuple[str, ...],
    run: Callable[[Any], tuple[list[dict[str, Any]], int | None, bool | None]],
) -> Response:
    params = search_params(request.query_params.multi_items(), allowed)
    resources, total, more = await run_in_threadpool(run, params)
    _viewed(
        request,
        actor,
        f"fhir.{kind.lower()}.searched",
        kind.lower(),
        "",
        query=str(request.query_params)[:1000],
        matches=len(resources),
    )
    bundle = searchset(
        resources, base=_fhir_base(request), resource_type=kind, params=params, total=total, more=more
    )
    return fhir_response(bundle)


# --------------------------------------------------------------------------- metadata
@router.get("/metadata", summary="FHIR CapabilityStatement")
def metadata(request: Request, actor: Anyone) -> Response:
    """The CapabilityStatement: what this FHIR R4 server implements."""
    return fhir_response(capability_statement(_fhir_base(request)))


# --------------------------------------------------------------------------- Patient
@router.get("/Patient", summary="Search Patient (animals)")
async def search_patient(request: Request, actor: PatientsRead) -> Response:
    """Search animals: _id, name, identifier, birthdate, gender, species; _count and _offset."""
    issuer = settings_of(request).issuer_of_patient_id

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_patient.search_patients(archive_of(request), params, issuer=issuer)
        return found, total, None

    return await _search(request, actor, "Patient", fhir_patient.PATIENT_PARAMS, run)


@router.get("/Patient/{resource_id}", summary="Read Patient")
def read_patient(resource_id: str, request: Request, actor: PatientsRead) -> Response:
    """One animal as a Patient with the patient-animal extension."""
    resource = fhir_patient.read_patient(archive_of(request), _numeric_id("Patient", resource_id))
    _viewed(request, actor, "fhir.patient.read", "animal", resource_id)
    return fhir_response(resource)


@router.post("/Patient", summary="Create Patient")
async def create_patient(request: Request, actor: PatientsWrite) -> Response:
    """Register an animal from a Patient (patient-animal extension; owners as link to RelatedPerson)."""
    body = await _body(request)
    settings = settings_of(request)
    resource = await run_in_threadpool(
        lambda: fhir_patient.create_patient(
            archive_of(request),
            body,
            actor=actor,
            prefix=settings.patient_id_prefix,
            issuer=settings.issuer_of_patient_id,
        )
    )
    return _created(request, resource)


@router.put("/Patient/{resource_id}", summary="Update Patient")
async def update_patient(resource_id: str, request: Request, actor: PatientsWrite) -> Response:
    """Replace an animal's details from a Patient (absent elements are cleared)."""
    body = await _body(request)
    animal_id = _numeric_id("Patient", resource_id)
    issuer = settings_of(request).issuer_of_patient_id
    resource = await run_in_threadpool(
        lambda: fhir_patient.update_patient(archive_of(request), animal_id, body, actor=actor, issuer=issuer)
    )
    return fhir_response(resource)


# --------------------------------------------------------------------------- RelatedPerson
@router.get("/RelatedPerson", summary="Search RelatedPerson (owners)")
async def search_related_person(request: Request, actor: PatientsRead) -> Response:
    """Search owners: _id, patient, name, identifier."""

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_patient.search_related_persons(archive_of(request), params)
        return found, total, None

    return await _search(request, actor, "RelatedPerson", fhir_patient.RELATED_PARAMS, run)


@router.get("/RelatedPerson/{resource_id}", summary="Read RelatedPerson")
def read_related_person(resource_id: str, request: Request, actor: PatientsRead) -> Response:
    """One owner as a RelatedPerson of their (primary) animal."""
    resource = fhir_patient.read_related_person(
        archive_of(request), _numeric_id("RelatedPerson", resource_id)
    )
    _viewed(request, actor, "fhir.relatedperson.read", "owner", resource_id)
    return fhir_response(resource)


@router.post("/RelatedPerson", summary="Create RelatedPerson")
async def create_related_person(request: Request, actor: PatientsWrite) -> Response:
    """Register an owner and link them to the referenced Patient."""
    body = await _body(request)
    resource = await run_in_threadpool(
        lambda: fhir_patient.create_related_person(archive_of(request), body, actor=actor)
    )
    return _created(request, resource)


# --------------------------------------------------------------------------- ServiceRequest
@router.get("/ServiceRequest", summary="Search ServiceRequest (orders)")
async def search_service_request(request: Request, actor: OrdersRead) -> Response:
    """Search orders: _id, patient/subject, status, identifier (accession number), authored."""

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_orders.search_service_requests(archive_of(request), params)
        return found, total, None

    return await _search(request, actor, "ServiceRequest", fhir_orders.SERVICE_REQUEST_PARAMS, run)


@router.get("/ServiceRequest/{resource_id}", summary="Read ServiceRequest")
def read_service_request(resource_id: str, request: Request, actor: OrdersRead) -> Response:
    """One order as a ServiceRequest."""
    resource = fhir_orders.read_service_request(
        archive_of(request), _numeric_id("ServiceRequest", resource_id)
    )
    _viewed(request, actor, "fhir.servicerequest.read", "order", resource_id)
    return fhir_response(resource)


@router.post("/ServiceRequest", summary="Create ServiceRequest")
async def create_service_request(request: Request, actor: OrdersWrite) -> Response:
    """Create an order (accession number, study UID, one step per procedure code)."""
    body = await _body(request)
    resource = await run_in_threadpool(
        lambda: fhir_orders.create_service_request(archive_of(request), body, actor=actor)
    )
    return _created(request, resource)


# --------------------------------------------------------------------------- Appointment
@router.get("/Appointment", summary="Search Appointment (scheduled steps)")
async def search_appointment(request: Request, actor: OrdersRead) -> Response:
    """Search scheduled steps: _id, patient, status, date."""

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_orders.search_appointments(archive_of(request), params)
        return found, total, None

    return await _search(request, actor, "Appointment", fhir_orders.APPOINTMENT_PARAMS, run)


@router.get("/Appointment/{resource_id}", summary="Read Appointment")
def read_appointment(resource_id: str, request: Request, actor: OrdersRead) -> Response:
    """One scheduled procedure step as an Appointment."""
    resource = fhir_orders.read_appointment(archive_of(request), _numeric_id("Appointment", resource_id))
    _viewed(request, actor, "fhir.appointment.read", "step", resource_id)
    return fhir_response(resource)


# --------------------------------------------------------------------------- ImagingStudy, Endpoint
@router.get("/ImagingStudy", summary="Search ImagingStudy")
async def search_imaging_study(request: Request, actor: ImagesRead) -> Response:
    """Search stored studies: _id, patient/subject, identifier, started, modality."""
    base = _fhir_base(request)

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, more = imaging.search_imaging_studies(archive_of(request), params, fhir_base=base)
        return found, None, more

    return await _search(request, actor, "ImagingStudy", imaging.IMAGING_STUDY_PARAMS, run)


@router.get("/ImagingStudy/{resource_id}", summary="Read ImagingStudy")
def read_imaging_study(resource_id: str, request: Request, actor: ImagesRead) -> Response:
    """One stored study (id: its Study Instance UID) with series and instances."""
    resource = imaging.read_imaging_study(archive_of(request), resource_id, fhir_base=_fhir_base(request))
    _viewed(request, actor, "study.viewed", "study", resource_id, via="fhir")
    return fhir_response(resource)


@router.get("/Endpoint/{resource_id}", summary="Read Endpoint")
def read_endpoint(resource_id: str, request: Request, actor: ImagesRead) -> Response:
    """``Endpoint/dicomweb``: the DICOMweb service the ImagingStudy resources point to."""
    if resource_id != imaging.ENDPOINT_ID:
        raise FhirError.one(404, "not-found", f"no Endpoint with id {resource_id!r}")
    return fhir_response(imaging.endpoint_resource(_base(request)))


# --------------------------------------------------------------------------- DiagnosticReport
@router.get("/DiagnosticReport", summary="Search DiagnosticReport (reports)")
async def search_diagnostic_report(request: Request, actor: ReportsRead) -> Response:
    """Search reports: _id, patient/subject, status, based-on (ServiceRequest), identifier."""
    base = _base(request)

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_reports.search_diagnostic_reports(archive_of(request), params, base_url=base)
        return found, total, None

    return await _search(request, actor, "DiagnosticReport", fhir_reports.DIAGNOSTIC_REPORT_PARAMS, run)


@router.get("/DiagnosticReport/{resource_id}", summary="Read DiagnosticReport")
def read_diagnostic_report(resource_id: str, request: Request, actor: ReportsRead) -> Response:
    """One report as a DiagnosticReport (the signed PDF linked in presentedForm)."""
    resource = fhir_reports.read_diagnostic_report(
        archive_of(request), _numeric_id("DiagnosticReport", resource_id), base_url=_base(request)
    )
    _viewed(request, actor, "fhir.diagnosticreport.read", "report", resource_id)
    return fhir_response(resource)


# --------------------------------------------------------------------------- ChargeItem
@router.get("/ChargeItem", summary="Search ChargeItem (charges)")
async def search_charge_item(request: Request, actor: BillingRead) -> Response:
    """Search charges: _id, patient/subject, status, code (fee code), service (ImagingStudy), entered-date."""

    def run(params: Any) -> tuple[list[dict[str, Any]], int | None, bool | None]:
        found, total = fhir_billing.search_charge_items(archive_of(request), params)
        return found, total, None

    return await _search(request, actor, "ChargeItem", fhir_billing.CHARGE_ITEM_PARAMS, run)


@router.get("/ChargeItem/{resource_id}", summary="Read ChargeItem")
def read_charge_item(resource_id: str, request: Request, actor: BillingRead) -> Response:
    """One charge as a ChargeItem."""
    resource = fhir_billing.read_charge_item(archive_of(request), _numeric_id("ChargeItem", resource_id))
    _viewed(request, actor, "fhir.chargeitem.read", "charge", resource_id)
    return fhir_response(resource)


# --------------------------------------------------------------------------- anything else
@router.api_route(
    "/{resource_type}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
def unsupported_type(resource_type: str, request: Request, actor: Anyone) -> Response:
    """A resource type or interaction this server does not implement (see /fhir/metadata)."""
    raise FhirError.one(
        404, "not-supported", f"{request.method} {resource_type} is not supported here; see {PREFIX}/metadata"
    )


@router.api_route(
    "/{resource_type}/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
def unsupported_interaction(resource_type: str, rest: str, request: Request, actor: Anyone) -> Response:
    """An interaction this server does not implement on a resource (see /fhir/metadata)."""
    raise FhirError.one(
        404 if request.method == "GET" else 405,
        "not-supported",
        f"{request.method} {resource_type}/{rest} is not supported here; see {PREFIX}/metadata",
    )
