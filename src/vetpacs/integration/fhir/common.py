"""Shared FHIR plumbing: identifier systems, validation with the R4B models, OperationOutcome, Bundles.

VetPACS speaks FHIR R4 (``fhirVersion`` 4.0.1). The resources are validated with the
``fhir.resources`` package, whose 8.x releases ship R5 (default), R4B and STU3 models but not R4
itself: R4B (4.3.0) is the closest, and every resource served here uses only elements that R4 and
R4B share. This module knows nothing of HTTP: errors are :class:`FhirError` carrying the HTTP-like
status and the OperationOutcome issues; ``web/fhir.py`` turns them into responses.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

# Identifier and code systems (docs/integration/fhir.md lists them).
PATIENT_ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GENDER_STATUS = "http://hl7.org/fhir/animal-genderstatus"
ENDPOINT_CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
ISSUER_SYSTEM = "urn:vetpacs:issuer:"  # + Issuer of Patient ID: our Patient IDs
MICROCHIP_SYSTEM = "urn:vetpacs:microchip"
PMS_PATIENT_SYSTEM = "urn:vetpacs:pms:patient"
PMS_CLIENT_SYSTEM = "urn:vetpacs:pms:client"
PMS_ORDER_SYSTEM = "urn:vetpacs:pms:order"
ACCESSION_SYSTEM = "urn:vetpacs:accession"
SPS_SYSTEM = "urn:vetpacs:scheduled-procedure-step"
AE_TITLE_SYSTEM = "urn:vetpacs:ae-title"
DICOM_UID_SYSTEM = "urn:dicom:uid"
LOCAL_CODES = "urn:vetpacs:code:"  # + DICOM coding scheme designator of a local scheme

_SCHEMES = {"SCT": SNOMED, "LN": LOINC, "DCM": DICOM_DCM}
_SYSTEMS = {v: k for k, v in _SCHEMES.items()}

DEFAULT_COUNT = 20
MAX_COUNT = 500
CONTROL_PARAMS = frozenset({"_count", "_offset", "_format"})


def coding_system(scheme: str) -> str:
    """The FHIR code system URI of a DICOM Coding Scheme Designator (``SCT`` -> SNOMED CT)."""
    return _SCHEMES.get(scheme, LOCAL_CODES + scheme)


def coding_scheme(system: str) -> str | None:
    """The DICOM Coding Scheme Designator of a FHIR system URI (None when not ours or known)."""
    if system in _SYSTEMS:
        return _SYSTEMS[system]
    if system.startswith(LOCAL_CODES):
        return system[len(LOCAL_CODES) :]
    return None


def issuer_system(issuer: str) -> str:
    """The identifier system of our Patient IDs: ``urn:vetpacs:issuer:<Issuer of Patient ID>``."""
    return ISSUER_SYSTEM + issuer


# --------------------------------------------------------------------------- errors
@dataclass
class Issue:
    """One OperationOutcome.issue (FHIR R4 OperationOutcome)."""

    code: str
    diagnostics: str
    expression: list[str] = field(default_factory=list)
    severity: str = "error"

    def as_json(self) -> dict[str, Any]:
        """The issue as FHIR JSON."""
        body: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            body["expression"] = self.expression
        return body


class FhirError(Exception):
    """A FHIR request that fails: an HTTP status and the OperationOutcome issues that explain it."""

    def __init__(self, status: int, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.status = status
        self.issues = issues

    @classmethod
    def one(cls, status: int, code: str, diagnostics: str, *expression: str) -> FhirError:
        """An error with a single issue."""
        return cls(status, [Issue(code, diagnostics, list(expression))])


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource (FHIR R4 OperationOutcome) from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.as_json() for i in issues]}


def invalid(diagnostics: str, *expression: str) -> FhirError:
    """422 Unprocessable: the resource is well-formed JSON but breaks a rule (FHIR R4 http 3.1.0.4)."""
    return FhirError.one(422, "invalid", diagnostics, *expression)


def bad_search(diagnostics: str, *expression: str) -> FhirError:
    """400: an unknown or malformed search parameter (FHIR R4 search 3.1.1.5.x)."""
    return FhirError.one(400, "invalid", diagnostics, *expression)


# --------------------------------------------------------------------------- validation
_MODULES = {
    "Patient": "patient",
    "RelatedPerson": "relatedperson",
    "ServiceRequest": "servicerequest",
    "Appointment": "appointment",
    "ImagingStudy": "imagingstudy",
    "Endpoint": "endpoint",
    "ChargeItem": "chargeitem",
    "DiagnosticReport": "diagnosticreport",
    "Bundle": "bundle",
    "CapabilityStatement": "capabilitystatement",
    "OperationOutcome": "operationoutcome",
}


def model_class(resource_type: str) -> Any:
    """The ``fhir.resources.R4B`` model class of a resource type we serve."""
    module = importlib.import_module(f"fhir.resources.R4B.{_MODULES[resource_type]}")
    return getattr(module, resource_type)


def _path(resource_type: str, loc: Iterable[int | str]) -> str:
    """A FHIRPath-like location (``Patient.name[0].given``) from a pydantic error location."""
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("__root__",):
            continue
        else:
            out += f".{part}"
    return out


def validate(resource_type: str, body: Any) -> Any:
    """Check ``body`` is a valid ``resource_type`` with the R4B models; 422 with each issue's path."""
    if not isinstance(body, Mapping):
        raise invalid(f"the body must be a JSON object, a {resource_type} resource")
    given = body.get("resourceType")
    if given != resource_type:
        raise invalid(
            f"resourceType must be {resource_type!r}, got {given!r}", f"{resource_type}.resourceType"
        )
    try:
        return model_class(resource_type).model_validate(dict(body))
    except ValidationError as exc:
        issues = [
            Issue(
                "structure" if err.get("type") in ("extra_forbidden", "missing") else "value",
                f"{_path(resource_type, err.get('loc', ()))}: {err.get('msg', '')}",
                [_path(resource_type, err.get("loc", ()))],
            )
            for err in exc.errors()
        ]
        raise FhirError(422, issues) from exc
    except (ValueError, TypeError) as exc:  # fhir.resources raises these for some element errors
        raise invalid(f"{resource_type}: {exc}", resource_type) from exc


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate a resource we built against the R4B model and return it (a bug here is a 500)."""
    model_class(resource["resourceType"]).model_validate(resource)
    return resource


# --------------------------------------------------------------------------- values
def utc_instant(value: datetime) -> str:
    """A naive UTC datetime of the index as a FHIR instant (``2026-01-02T10:00:00Z``)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def local_datetime(value: datetime) -> str:
    """A naive clinic wall-clock time as a FHIR dateTime with the clinic's (the host's) UTC offset."""
    aware = value.astimezone() if value.tzinfo is None else value
    return aware.replace(microsecond=0).isoformat()


def fhir_date(dicom_date: str) -> str | None:
    """DICOM DA ``YYYYMMDD`` -> FHIR date ``YYYY-MM-DD`` (None when empty or malformed)."""
    text = (dicom_date or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def dicom_datetime(da: str, tm: str) -> str | None:
    """DICOM DA + TM (clinic local time) -> a FHIR dateTime (the date alone when no time)."""
    day = fhir_date(da)
    if day is None:
        return None
    digits = re.sub(r"[^0-9.]", "", tm or "").split(".")[0]
    if len(digits) < 4:
        return day
    digits = (digits + "00")[:6]
    try:
        moment = datetime.strptime(da.strip() + digits, "%Y%m%d%H%M%S")
    except ValueError:
        return day
    return local_datetime(moment)


# --------------------------------------------------------------------------- search parameters
@dataclass(frozen=True)
class DateRange:
    """A FHIR date search value as a half-open range of naive datetimes (``lo <= t < hi``)."""

    lo: datetime | None
    hi: datetime | None
    negate: bool = False

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` matches the parameter."""
        inside = (self.lo is None or moment >= self.lo) and (self.hi is None or moment < self.hi)
        return inside != self.negate


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?[^\s]*)?)?)?$")


def parse_date_param(name: str, raw: str) -> DateRange:
    """A FHIR date search value (prefixes eq ne lt le gt ge; year to second; FHIR R4 search 3.1.1.4.2)."""
    prefix, value = "eq", raw.strip()
    if len(value) > 2 and value[:2] in ("eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap"):
        prefix, value = value[:2], value[2:]
    if prefix in ("sa", "eb", "ap"):
        raise bad_search(f"{name}: prefix {prefix!r} is not supported (use eq, ne, lt, le, gt, ge)", name)
    match = _DATE.match(value)
    if not match:
        raise bad_search(f"{name}: {raw!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD[Thh:mm[:ss]])", name)
    y, mo, d, h, mi, s = match.groups()
    try:
        if mo is None:
            lo, hi = datetime(int(y), 1, 1), datetime(int(y) + 1, 1, 1)
        elif d is None:
            lo = datetime(int(y), int(mo), 1)
            hi = datetime(int(y) + (int(mo) == 12), int(mo) % 12 + 1, 1)
        elif h is None:
            lo = datetime(int(y), int(mo), int(d))
            hi = lo + timedelta(days=1)
        else:
            lo = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
            hi = lo + (timedelta(seconds=1) if s else timedelta(minutes=1))
    except ValueError as exc:
        raise bad_search(f"{name}: {raw!r} is not a calendar date", name) from exc
    if prefix == "eq":
        return DateRange(lo, hi)
    if prefix == "ne":
        return DateRange(lo, hi, negate=True)
    if prefix == "lt":
        return DateRange(None, lo)
    if prefix == "le":
        return DateRange(None, hi)
    if prefix == "gt":
        return DateRange(hi, None)
    return DateRange(lo, None)  # ge


def parse_token(raw: str) -> tuple[str | None, str]:
    """A FHIR token ``[system|]code`` -> (system or None, code)."""
    if "|" in raw:
        system, _, code = raw.partition("|")
        return system, code
    return None, raw


def parse_reference(name: str, raw: str, resource_type: str) -> int:
    """A reference parameter (``Patient/12`` or ``12``) -> the numeric id; 400 otherwise."""
    text = raw.strip()
    if "/" in text:
        kind, _, text = text.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise bad_search(f"{name}: expected a {resource_type} reference, got {raw!r}", name)
    if not text.isdigit():
        raise bad_search(f"{name}: {raw!r} is not a {resource_type} id", name)
    return int(text)


@dataclass
class SearchParams:
    """The parameters of one search: values by name, and the page (``_count``, ``_offset``)."""

    values: dict[str, str]
    count: int = DEFAULT_COUNT
    offset: int = 0

    def get(self, name: str) -> str | None:
        """The value of ``name`` (None when absent)."""
        return self.values.get(name)


def search_params(items: Iterable[tuple[str, str]], allowed: Iterable[str]) -> SearchParams:
    """Check search parameters: unknown names, repeats and bad paging are 400 (strict handling)."""
    names = set(allowed)
    values: dict[str, str] = {}
    count, offset = DEFAULT_COUNT, 0
    for name, value in items:
        base = name.split(":", 1)[0]
        if name in values or (name in ("_count", "_offset") and name in values):
            raise bad_search(f"search parameter {name!r} is repeated; give it once", name)
        if base == "_count":
            if not value.isdigit():
                raise bad_search("_count must be a whole number", "_count")
            count = min(int(value), MAX_COUNT)
        elif base == "_offset":
            if not value.isdigit():
                raise bad_search("_offset must be a whole number", "_offset")
            offset = int(value)
        elif base == "_format":
            if value not in ("json", "application/json", FHIR_JSON, f"{FHIR_JSON};charset=utf-8"):
                raise FhirError.one(406, "not-supported", "only JSON is served (_format=json)", "_format")
        elif name not in names:
            supported = ", ".join(sorted(names | CONTROL_PARAMS))
            raise bad_search(f"unknown search parameter {name!r}; supported: {supported}", name)
        else:
            if not value.strip():
                raise bad_search(f"search parameter {name!r} has no value", name)
            values[name] = value.strip()
    return SearchParams(values, count, offset)


# --------------------------------------------------------------------------- bundles
def searchset(
    resources: list[dict[str, Any]],
    *,
    base: str,
    resource_type: str,
    params: SearchParams,
    total: int | None,
    more: bool | None = None,
) -> dict[str, Any]:
    """A searchset Bundle with ``self``, ``next`` and ``previous`` links (FHIR R4 search 3.1.1.6)."""

    def link(offset: int) -> str:
        query = {**params.values, "_count": str(params.count), "_offset": str(max(offset, 0))}
        return f"{base}/{resource_type}?{urlencode(query)}"

    has_next = more if more is not None else total is not None and params.offset + params.count < total
    links = [{"relation": "self", "url": link(params.offset)}]
    if has_next:
        links.append({"relation": "next", "url": link(params.offset + params.count)})
    if params.offset > 0:
        links.append({"relation": "previous", "url": link(params.offset - params.count)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if total is not None:
        bundle["total"] = total
    if not resources:  # FHIR JSON has no empty arrays
        return bundle
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return bundle
