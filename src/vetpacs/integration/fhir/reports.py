"""Reports as FHIR R4 DiagnosticReport (FHIR R4 DiagnosticReport 10.3): read and search.

Mapping: status draft -> ``preliminary``, final -> ``final``, amended -> ``amended``, cancelled ->
``cancelled``, entered-in-error (a withdrawn signed report) -> ``entered-in-error``; category RAD
(v2-0074); code LOINC 18748-4 "Diagnostic imaging study" with the title as text; subject the animal
(``Patient/{id}``, or a logical reference by the DICOM Patient ID); basedOn the order
(``ServiceRequest/{id}``); imagingStudy ``ImagingStudy/{Study Instance UID}``; effectiveDateTime
the study's date and time; issued and resultsInterpreter the signing; conclusion; presentedForm the
signed PDF by URL (``/api/v1/reports/{id}/pdf``, same authentication) and the report text inline
(``text/plain``, Base64).
"""

from __future__ import annotations

import base64
from typing import Any

from vetpacs.archive.context import Archive
from vetpacs.errors import NotFound
from vetpacs.integration.fhir.common import (
    ACCESSION_SYSTEM,
    LOINC,
    V2_0203,
    FhirError,
    SearchParams,
    checked,
    dicom_datetime,
    parse_reference,
    parse_token,
    utc_instant,
)
from vetpacs.reports import service as reports
from vetpacs.reports.models import ReportStatus
from vetpacs.reports.schemas import ReportRead

DIAGNOSTIC_REPORT_PARAMS = ("_id", "patient", "subject", "status", "based-on", "identifier")
REPORT_SYSTEM = "urn:vetpacs:report"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"

FHIR_STATUS: dict[ReportStatus, str] = {
    ReportStatus.DRAFT: "preliminary",
    ReportStatus.FINAL: "final",
    ReportStatus.AMENDED: "amended",
    ReportStatus.CANCELLED: "cancelled",
    ReportStatus.ENTERED_IN_ERROR: "entered-in-error",
}
OUR_STATUS = {v: k for k, v in FHIR_STATUS.items()}
DIAGNOSTIC_STATUSES = frozenset(
    {
        "registered",
        "partial",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)


def diagnostic_report_resource(
    report: ReportRead, summary: reports.StudySummary | None, *, base_url: str
) -> dict[str, Any]:
    """A report as a FHIR R4 DiagnosticReport (validated with the R4B model)."""
    identifiers: list[dict[str, Any]] = [{"system": REPORT_SYSTEM, "value": str(report.id)}]
    accession = report.accession_number or (summary.accession_number if summary else "")
    if accession:
        identifiers.append(
            {
                "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
                "system": ACCESSION_SYSTEM,
                "value": accession,
            }
        )
    subject: dict[str, Any]
    if report.animal_id is not None:
        subject = {"reference": f"Patient/{report.animal_id}"}
    else:
        patient_id = summary.patient_id if summary else ""
        subject = {"type": "Patient", "identifier": {"value": patient_id or "(none)"}}
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(report.id),
        "identifier": identifiers,
        "status": FHIR_STATUS[report.status],
        "category": [{"coding": [{"system": V2_0074, "code": "RAD", "display": "Radiology"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}],
            "text": report.title or "Imaging report",
        },
        "subject": subject,
        "imagingStudy": [{"reference": f"ImagingStudy/{report.study_instance_uid}"}],
    }
    if report.order_id is not None:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{report.order_id}"}]
    if summary is not None and (when := dicom_datetime(summary.study_date, summary.study_time)):
        resource["effectiveDateTime"] = when
    if report.conclusion.strip():
        resource["conclusion"] = report.conclusion
    text = reports.report_text(report)
    forms: list[dict[str, Any]] = []
    if report.signed_at is not None:
        resource["issued"] = utc_instant(report.signed_at)
        resource["resultsInterpreter"] = [{"display": report.signed_by_name or report.signed_by}]
    if report.pdf_url:
        forms.append(
            {
                "contentType": "application/pdf",
                "url": base_url + report.pdf_url,
                "title": f"report-{report.id}-v{report.version}.pdf",
                **({"creation": utc_instant(report.signed_at)} if report.signed_at else {}),
            }
        )
    if text.strip():
        forms.append(
            {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                "title": "Report text",
            }
        )
    if forms:
        resource["presentedForm"] = forms
    return checked(resource)


def _summary(archive: Archive, report: ReportRead) -> reports.StudySummary | None:
    try:
        return reports.study_summary(archive, report.study_instance_uid)
    except NotFound:  # the study was deleted; the report stays readable
        return None


def read_diagnostic_report(archive: Archive, report_id: int, *, base_url: str) -> dict[str, Any]:
    """GET DiagnosticReport/{id} (FHIR R4 http read)."""
    report = reports.get_report(archive, report_id)
    return diagnostic_report_resource(report, _summary(archive, report), base_url=base_url)


def _statuses(raw: str) -> list[ReportStatus]:
    out = []
    for token in raw.split(","):
        _, code = parse_token(token)
        if code not in DIAGNOSTIC_STATUSES:
            raise FhirError.one(
                400, "invalid", f"status: {code!r} is not a DiagnosticReport status", "status"
            )
        if code in OUR_STATUS:
            out.append(OUR_STATUS[code])
    return out


def search_diagnostic_reports(
    archive: Archive, params: SearchParams, *, base_url: str
) -> tuple[list[dict[str, Any]], int]:
    """GET DiagnosticReport?... (FHIR R4 search): _id, patient/subject, status, based-on, identifier."""
    filters: dict[str, Any] = {}
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit():
            return [], 0
        filters["report_id"] = int(raw)
    for name in ("patient", "subject"):
        if (raw := params.get(name)) is not None:
            filters["animal_id"] = parse_reference(name, raw, "Patient")
    if (raw := params.get("based-on")) is not None:
        filters["order_id"] = parse_reference("based-on", raw, "ServiceRequest")
    if (raw := params.get("status")) is not None:
        statuses = _statuses(raw)
        if not statuses:
            return [], 0
        filters["status"] = statuses
    if (raw := params.get("identifier")) is not None:
        system, value = parse_token(raw)
        if system == REPORT_SYSTEM:
            if not value.isdigit() or filters.get("report_id", int(value)) != int(value):
                return [], 0
            filters["report_id"] = int(value)
        elif system in (None, "", ACCESSION_SYSTEM):
            filters["accession_number"] = value
        else:
            return [], 0
    page = reports.list_reports(archive, **filters, limit=max(params.count, 1), offset=params.offset)
    items = page.items if params.count else []
    return [diagnostic_report_resource(r, _summary(archive, r), base_url=base_url) for r in items], page.total
