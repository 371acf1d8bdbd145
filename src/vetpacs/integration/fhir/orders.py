"""Orders as FHIR ServiceRequest and their scheduled steps as FHIR Appointment.

Mapping (FHIR R4 ServiceRequest 12.13, Appointment 12.10) and the read, search and create
interactions, through ``vetpacs.orders.service`` (``create_order`` writes the order, its steps,
audit rows and outbox events in one transaction).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, case, func, not_, select, true

from vetpacs.auth.audit import Database
from vetpacs.auth.roles import Actor
from vetpacs.errors import Invalid, NotFound
from vetpacs.integration.fhir.common import (
    ACCESSION_SYSTEM,
    AE_TITLE_SYSTEM,
    PMS_ORDER_SYSTEM,
    SPS_SYSTEM,
    V2_0203,
    FhirError,
    Issue,
    SearchParams,
    checked,
    coding_system,
    invalid,
    local_datetime,
    parse_date_param,
    parse_reference,
    parse_token,
    utc_instant,
    validate,
)
from vetpacs.orders import catalog
from vetpacs.orders import service as orders
from vetpacs.orders.lifecycle import ORDERS, STEPS
from vetpacs.orders.models import OrderStatus, Priority, StepStatus
from vetpacs.orders.scheduling import get_step, step_read, steps_select
from vetpacs.orders.schemas import OrderCreate, OrderRead, OrderSearch, ProcedureRead, StepRead

S = OrderStatus
REQUEST_STATUS: dict[OrderStatus, str] = {
    S.ORDERED: "active",
    S.SCHEDULED: "active",
    S.ARRIVED: "active",
    S.IN_PROGRESS: "active",
    S.COMPLETED: "completed",
    S.IMAGES_RECEIVED: "completed",
    S.REPORTED: "completed",
    S.BILLED: "completed",
    S.CANCELLED: "revoked",
    S.NO_SHOW: "revoked",
    S.DISCONTINUED: "revoked",
}
"""Order lifecycle -> ServiceRequest.status (request-status)."""
REQUEST_STATUSES = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
PRIORITY = {Priority.ROUTINE: "routine", Priority.URGENT: "urgent", Priority.STAT: "stat"}
PRIORITY_IN = {
    "routine": Priority.ROUTINE,
    "urgent": Priority.URGENT,
    "asap": Priority.URGENT,
    "stat": Priority.STAT,
}
APPOINTMENT_STATUSES = frozenset(
    {
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
        "checked-in",
        "waitlist",
    }
)
SERVICE_REQUEST_PARAMS = ("_id", "patient", "subject", "status", "identifier", "authored")
APPOINTMENT_PARAMS = ("_id", "patient", "status", "date")

_ORDER_FIELD_PATH = {
    "animal_id": "ServiceRequest.subject",
    "procedure_codes": "ServiceRequest.code",
    "priority": "ServiceRequest.priority",
    "clinical_question": "ServiceRequest.reasonCode",
    "requesting_vet": "ServiceRequest.requester",
    "body_region": "ServiceRequest.bodySite",
    "accession_number": "ServiceRequest.identifier",
    "placer_order_number": "ServiceRequest.identifier",
}


def _catalog(db: Database) -> dict[str, ProcedureRead]:
    return {p.code: p for p in catalog.list_procedures(db, active=None)}


def _procedure_coding(code: str, name: str, procedures: dict[str, ProcedureRead]) -> dict[str, Any]:
    proc = procedures.get(code)
    return {
        "system": coding_system(proc.coding_scheme if proc else "99VETPACS"),
        "code": code,
        "display": name,
    }


# --------------------------------------------------------------------------- ServiceRequest out
def service_request_resource(order: OrderRead, procedures: dict[str, ProcedureRead]) -> dict[str, Any]:
    """An order as a FHIR R4 ServiceRequest (validated with the R4B model)."""
    seen: dict[str, str] = {}
    for step in order.steps:
        seen.setdefault(step.procedure_code, step.procedure_name)
    identifiers: list[dict[str, Any]] = [
        {
            "use": "usual",
            "type": {"coding": [{"system": V2_0203, "code": "ACSN"}], "text": "Accession number"},
            "system": ACCESSION_SYSTEM,
            "value": order.accession_number,
        }
    ]
    if order.placer_order_number:
        identifiers.append(
            {
                "type": {"coding": [{"system": V2_0203, "code": "PLAC"}], "text": "Placer order number"},
                "system": PMS_ORDER_SYSTEM,
                "value": order.placer_order_number,
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(order.id),
        "meta": {"lastUpdated": utc_instant(order.updated_at)},
        "identifier": identifiers,
        "status": REQUEST_STATUS[order.status],
        "intent": "order",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}
        ],
        "priority": PRIORITY[order.priority],
        "code": {
            "coding": [_procedure_coding(c, n, procedures) for c, n in seen.items()],
            "text": " + ".join(seen.values()),
        },
        "subject": {"reference": f"Patient/{order.animal_id}"},
        "authoredOn": utc_instant(order.created_at),
    }
    if order.requesting_vet:
        resource["requester"] = {"display": order.requesting_vet}
    if order.clinical_question:
        resource["reasonCode"] = [{"text": order.clinical_question}]
    if order.body_region:
        laterality = {"R": " (right)", "L": " (left)", "B": " (both)"}.get(order.laterality, "")
        resource["bodySite"] = [{"text": order.body_region + laterality}]
    starts = [s.start for s in order.steps if s.start is not None]
    if starts:
        resource["occurrenceDateTime"] = local_datetime(min(starts))
    notes = [f"order status: {order.status.value}"]
    if order.study_instance_uid:
        notes.append(f"Study Instance UID: {order.study_instance_uid}")
    resource["note"] = [{"text": "; ".join(notes)}]
    return checked(resource)


# --------------------------------------------------------------------------- ServiceRequest in
def order_create(body: Any) -> OrderCreate:
    """A FHIR ServiceRequest (JSON) as OrderCreate; 422 with the element's path when it does not fit."""
    model = validate("ServiceRequest", body)
    if model.status != "active":
        raise invalid("ServiceRequest.status must be 'active' for a new order", "ServiceRequest.status")
    if model.intent != "order":
        raise invalid("ServiceRequest.intent must be 'order'", "ServiceRequest.intent")
    ref = (model.subject.reference or "") if model.subject is not None else ""
    if not ref.startswith("Patient/") or not ref.split("/", 1)[1].isdigit():
        raise invalid("ServiceRequest.subject must reference Patient/<id>", "ServiceRequest.subject")
    codes = [c.code for c in (model.code.coding or [])] if model.code is not None else []
    codes = [c for c in codes if c]
    if not codes:
        raise invalid(
            "ServiceRequest.code needs a coding with a procedure code of the catalog", "ServiceRequest.code"
        )
    values: dict[str, Any] = {"animal_id": int(ref.split("/", 1)[1]), "procedure_codes": codes}
    if model.priority is not None:
        if model.priority not in PRIORITY_IN:
            raise invalid(
                f"ServiceRequest.priority {model.priority!r} is not routine, urgent, asap or stat",
                "ServiceRequest.priority",
            )
        values["priority"] = PRIORITY_IN[model.priority]
    reasons = [r.text or (r.coding[0].display if r.coding else "") or "" for r in (model.reasonCode or [])]
    notes = [n.text for n in (model.note or []) if n.text]
    question = "; ".join(t for t in [*reasons, *notes] if t)
    if question:
        values["clinical_question"] = question
    if model.requester is not None and model.requester.display:
        values["requesting_vet"] = model.requester.display
    if model.bodySite:
        site = model.bodySite[0]
        values["body_region"] = (
            site.text or (site.coding[0].display or site.coding[0].code if site.coding else "") or ""
        )
    for i, ident in enumerate(model.identifier or []):
        type_codes = {c.code for c in (ident.type.coding or [])} if ident.type is not None else set()
        if ident.system == ACCESSION_SYSTEM or "ACSN" in type_codes:
            values["accession_number"] = ident.value
        elif ident.system == PMS_ORDER_SYSTEM or "PLAC" in type_codes:
            values["placer_order_number"] = ident.value or ""
        else:
            raise invalid(
                f"ServiceRequest.identifier[{i}]: use type ACSN (accession, system {ACCESSION_SYSTEM}) "
                f"or PLAC (the PMS order id, system {PMS_ORDER_SYSTEM})",
                f"ServiceRequest.identifier[{i}]",
            )
    try:
        return OrderCreate(**values)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = err.get("loc", ())
            path = _ORDER_FIELD_PATH.get(str(loc[0]) if loc else "", "ServiceRequest")
            issues.append(Issue("value", f"{path}: {err.get('msg', '')}", [path]))
        raise FhirError(422, issues) from exc


# --------------------------------------------------------------------------- ServiceRequest interactions
def read_service_request(db: Database, order_id: int) -> dict[str, Any]:
    """GET ServiceRequest/{id} (FHIR R4 http read)."""
    return service_request_resource(orders.get_order(db, order_id), _catalog(db))


def create_service_request(db: Database, body: Any, *, actor: Actor) -> dict[str, Any]:
    """POST ServiceRequest (FHIR R4 http create) through ``create_order``: all or nothing."""
    data = order_create(body)
    try:
        order = orders.create_order(db, data, actor=actor)
    except NotFound as exc:
        raise invalid(str(exc), "ServiceRequest.subject") from exc
    except Invalid as exc:
        text = str(exc)
        path = (
            "ServiceRequest.code"
            if "procedure" in text
            else "ServiceRequest.subject"
            if "animal" in text
            else "ServiceRequest"
        )
        raise invalid(text, path) from exc
    return service_request_resource(order, _catalog(db))


def _statuses(raw: str) -> list[OrderStatus]:
    wanted = set()
    for value in raw.split(","):
        value = value.strip()
        if value not in REQUEST_STATUSES:
            raise FhirError.one(400, "invalid", f"status {value!r} is not a request-status code", "status")
        wanted |= {s for s, v in REQUEST_STATUS.items() if v == value}
    return sorted(wanted)


def search_service_requests(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET ServiceRequest?... (FHIR R4 search): _id, patient/subject, status, identifier, authored."""
    query = OrderSearch(limit=max(params.count, 1), offset=params.offset)
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit():
            return [], 0
        try:
            order = orders.get_order(db, int(raw))
        except NotFound:
            return [], 0
        query = query.model_copy(update={"accession_number": order.accession_number})
    for name in ("patient", "subject"):
        if (raw := params.get(name)) is not None:
            query = query.model_copy(update={"animal_id": parse_reference(name, raw, "Patient")})
    if (raw := params.get("status")) is not None:
        statuses = _statuses(raw)
        if not statuses:
            return [], 0
        query = query.model_copy(update={"status": statuses})
    if (raw := params.get("identifier")) is not None:
        system, value = parse_token(raw)
        if system not in (None, "", ACCESSION_SYSTEM):
            return [], 0
        query = query.model_copy(update={"accession_number": value})
    if (raw := params.get("authored")) is not None:
        span = parse_date_param("authored", raw)
        if span.negate:
            raise FhirError.one(400, "invalid", "authored: the ne prefix is not supported", "authored")
        query = query.model_copy(update={"created_since": span.lo, "created_until": span.hi})
    page = orders.search_orders(db, query)
    items = page.items if params.count else []
    procedures = _catalog(db)
    return [service_request_resource(o, procedures) for o in items], page.total


# --------------------------------------------------------------------------- Appointment
def appointment_status(step: StepRead, order_status: OrderStatus) -> str:
    """A scheduled step's status as Appointment.status (booked, arrived, fulfilled, cancelled, noshow...)."""
    st = step.status
    if st == StepStatus.SCHEDULED:
        return "booked" if step.start is not None else "proposed"
    if st == StepStatus.ARRIVED:
        return "arrived"
    if st == StepStatus.IN_PROGRESS:
        return "checked-in"
    if st == StepStatus.COMPLETED:
        return "fulfilled"
    if order_status == OrderStatus.NO_SHOW:
        return "noshow"
    return "cancelled"  # CANCELLED, DISCONTINUED


def appointment_resource(
    step: StepRead, order: OrderRead, procedures: dict[str, ProcedureRead]
) -> dict[str, Any]:
    """A scheduled procedure step as a FHIR R4 Appointment (validated with the R4B model)."""
    status = appointment_status(step, order.status)
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{order.animal_id}"}, "required": "required", "status": "accepted"}
    ]
    if step.station_id is not None:
        participants.append(
            {
                "actor": {
                    "type": "Location",
                    "identifier": {"system": "urn:vetpacs:station", "value": str(step.station_id)},
                    "display": step.station_name or f"station {step.station_id}",
                },
                "required": "required",
                "status": "accepted",
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(step.id),
        "identifier": [
            {"system": SPS_SYSTEM, "value": step.step_id, "type": {"text": "Scheduled Procedure Step ID"}},
            {
                "system": ACCESSION_SYSTEM,
                "value": order.accession_number,
                "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
            },
        ],
        "status": status,
        "serviceType": [
            {
                "coding": [_procedure_coding(step.procedure_code, step.procedure_name, procedures)],
                "text": step.procedure_name,
            }
        ],
        "description": f"{step.procedure_name} ({step.modality})",
        "minutesDuration": step.duration_minutes,
        "basedOn": [{"reference": f"ServiceRequest/{order.id}"}],
        "participant": participants,
    }
    if step.start is not None and step.end is not None:
        resource["start"] = local_datetime(step.start)
        resource["end"] = local_datetime(step.end)
    return checked(resource)


def read_appointment(db: Database, step_pk: int) -> dict[str, Any]:
    """GET Appointment/{id} (FHIR R4 http read): one scheduled procedure step."""
    step = get_step(db, step_pk)
    order = orders.get_order(db, step.order_id)
    return appointment_resource(step, order, _catalog(db))


def appointment_status_sql() -> ColumnElement[str]:
    """:func:`appointment_status` as a SQL expression over a step joined with its order."""
    return case(
        (and_(STEPS.c.status == StepStatus.SCHEDULED.value, STEPS.c.start.is_not(None)), "booked"),
        (STEPS.c.status == StepStatus.SCHEDULED.value, "proposed"),
        (STEPS.c.status == StepStatus.ARRIVED.value, "arrived"),
        (STEPS.c.status == StepStatus.IN_PROGRESS.value, "checked-in"),
        (STEPS.c.status == StepStatus.COMPLETED.value, "fulfilled"),
        (ORDERS.c.status == OrderStatus.NO_SHOW.value, "noshow"),
        else_="cancelled",
    )


def search_appointments(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET Appointment?... (FHIR R4 search): _id, patient, status and date (the step's start).

    One SQL query over steps joined with their orders (count and page in the database), newest
    order first, then its steps in order.
    """
    where: list[ColumnElement[bool]] = []
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit() or str(int(raw)) != raw:
            return [], 0
        where.append(STEPS.c.id == int(raw))
    if (raw := params.get("patient")) is not None:
        where.append(ORDERS.c.animal_id == parse_reference("patient", raw, "Patient"))
    if (raw := params.get("status")) is not None:
        wanted = {v.strip() for v in raw.split(",")}
        unknown = wanted - APPOINTMENT_STATUSES
        if unknown:
            raise FhirError.one(
                400, "invalid", f"status {sorted(unknown)[0]!r} is not an appointment status", "status"
            )
        where.append(appointment_status_sql().in_(sorted(wanted)))
    if (raw := params.get("date")) is not None:
        span = parse_date_param("date", raw)
        inside: list[ColumnElement[bool]] = []
        if span.lo is not None:
            inside.append(STEPS.c.start >= span.lo)
        if span.hi is not None:
            inside.append(STEPS.c.start < span.hi)
        cond: ColumnElement[bool] = and_(true(), *inside)
        where.append(and_(STEPS.c.start.is_not(None), not_(cond) if span.negate else cond))
    joined = steps_select().join(ORDERS, ORDERS.c.id == STEPS.c.order_id).where(*where)
    with db.engine.connect() as conn:
        total = int(
            conn.execute(
                select(func.count())
                .select_from(STEPS.join(ORDERS, ORDERS.c.id == STEPS.c.order_id))
                .where(*where)
            ).scalar_one()
        )
        rows = (
            conn.execute(
                joined.order_by(ORDERS.c.created_at.desc(), ORDERS.c.id.desc(), STEPS.c.id)
                .limit(params.count)
                .offset(params.offset)
            ).all()
            if params.count
            else []
        )
    steps = [step_read(r) for r in rows]
    order_of = {i: orders.get_order(db, i) for i in dict.fromkeys(s.order_id for s in steps)}
    procedures = _catalog(db)
    return [appointment_resource(s, order_of[s.order_id], procedures) for s in steps], total


__all__ = [
    "AE_TITLE_SYSTEM",
    "create_service_request",
    "read_appointment",
    "read_service_request",
    "search_appointments",
    "search_service_requests",
]
