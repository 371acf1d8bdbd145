"""The CapabilityStatement of ``/fhir`` (FHIR R4 CapabilityStatement 2.38): exactly what is implemented."""

from __future__ import annotations

from datetime import date
from typing import Any

from vetpacs import __version__
from vetpacs.integration.fhir.common import FHIR_VERSION, PATIENT_ANIMAL, checked

_TYPES = {
    "_id": "token",
    "name": "string",
    "identifier": "token",
    "birthdate": "date",
    "gender": "token",
    "species": "token",
    "patient": "reference",
    "subject": "reference",
    "status": "token",
    "authored": "date",
    "date": "date",
    "started": "date",
    "modality": "token",
    "based-on": "reference",
    "code": "token",
    "service": "reference",
    "entered-date": "date",
}
_DOCS = {
    "species": "VetPACS custom parameter: species code (SNOMED CT) or name of the patient-animal extension.",
    "name": "Prefix of the animal's name or of an owner's family name (case-insensitive).",
    "identifier": "system|value; see docs/integration/fhir.md for the identifier systems.",
}


def _resource(
    kind: str, interactions: list[str], params: list[str], doc: str = "", profile: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind,
        "interaction": [{"code": i} for i in interactions],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            {"name": p, "type": _TYPES[p], **({"documentation": _DOCS[p]} if p in _DOCS else {})}
            for p in params
        ],
    }
    if doc:
        body["documentation"] = doc
    if profile:
        body["supportedProfile"] = [profile]
    if not params:
        del body["searchParam"]
    return body


def capability_statement(base_url: str) -> dict[str, Any]:
    """The server's CapabilityStatement (FHIR R4 4.0.1; validated with the R4B model)."""
    resources = [
        _resource(
            "Patient",
            ["read", "search-type", "create", "update"],
            ["_id", "name", "identifier", "birthdate", "gender", "species"],
            f"Animals, with the {PATIENT_ANIMAL} extension (species, breed, genderStatus).",
        ),
        _resource(
            "RelatedPerson",
            ["read", "search-type", "create"],
            ["_id", "patient", "name", "identifier"],
            "Owners (relationship OWN). RelatedPerson.id is the owner id; patient is their primary animal.",
        ),
        _resource(
            "ServiceRequest",
            ["read", "search-type", "create"],
            ["_id", "patient", "subject", "status", "identifier", "authored"],
            "Imaging orders; identifier type ACSN is the accession number.",
        ),
        _resource(
            "Appointment",
            ["read", "search-type"],
            ["_id", "patient", "status", "date"],
            "Scheduled procedure steps; booked on a station (modality).",
        ),
        _resource(
            "ImagingStudy",
            ["read", "search-type"],
            ["_id", "patient", "subject", "identifier", "started", "modality"],
            "Stored studies; ImagingStudy.id is the Study Instance UID; images via Endpoint/dicomweb.",
        ),
        _resource("Endpoint", ["read"], [], "Endpoint/dicomweb: the DICOMweb service (dicom-wado-rs)."),
        _resource(
            "DiagnosticReport",
            ["read", "search-type"],
            ["_id", "patient", "subject", "status", "based-on", "identifier"],
            "Imaging reports (status preliminary while a draft); presentedForm: the signed PDF by url "
            "(/api/v1/reports/{id}/pdf, same authentication) and the text inline (text/plain).",
        ),
        _resource(
            "ChargeItem",
            ["read", "search-type"],
            ["_id", "patient", "subject", "status", "code", "service", "entered-date"],
            "Charges (billable when posted, billed once the order is reported and charged, "
            "entered-in-error when voided); code: the fee code (urn:vetpacs:fee-code); priceOverride: the "
            "total; supportingInformation: the ServiceRequest (order); service: the ImagingStudy. status "
            "is a VetPACS search parameter (R4 defines none on ChargeItem).",
        ),
    ]
    return checked(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": date.today().isoformat(),
            "publisher": "VetPACS",
            "kind": "instance",
            "software": {"name": "VetPACS", "version": __version__},
            "implementation": {"description": "VetPACS FHIR R4 server", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Resources are validated with the fhir.resources R4B models (the "
                    "R4 subset of elements only). Authentication as for the REST API: bearer API token, "
                    "session cookie or HTTP Basic.",
                    "security": {"description": "Bearer API token, session cookie or HTTP Basic."},
                    "resource": resources,
                }
            ],
        }
    )
