"""Animals as FHIR Patient (with the patient-animal extension) and owners as FHIR RelatedPerson.

Mapping both ways (FHIR R4 Patient 8.1, RelatedPerson 8.2, extension ``patient-animal``) and the
read, search, create and update interactions, all through ``vetpacs.patients.service`` (writes
take the acting user and write their audit rows and outbox events there).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, not_, or_, select, true

from vetpacs.auth.audit import Database
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.integration.fhir.common import (
    GENDER_STATUS,
    MICROCHIP_SYSTEM,
    PATIENT_ANIMAL,
    PMS_CLIENT_SYSTEM,
    PMS_PATIENT_SYSTEM,
    V2_0203,
    DateRange,
    FhirError,
    Issue,
    SearchParams,
    checked,
    coding_system,
    fhir_date,
    invalid,
    issuer_system,
    parse_date_param,
    parse_reference,
    parse_token,
    utc_instant,
    validate,
)
from vetpacs.patients import service as patients
from vetpacs.patients.schemas import (
    AnimalCreate,
    AnimalQuery,
    AnimalRead,
    AnimalUpdate,
    Neuter,
    OwnerCreate,
    OwnerLink,
    OwnerRead,
    Sex,
)
from vetpacs.patients.service import ANIMALS, LINKS, OWNERS

OWNER_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
OWNER_RELATIONSHIP = {"coding": [{"system": OWNER_ROLE_SYSTEM, "code": "OWN", "display": "owner"}]}
SPECIES_PATH = f"Patient.extension('{PATIENT_ANIMAL}').extension('species')"
BREED_PATH = f"Patient.extension('{PATIENT_ANIMAL}').extension('breed')"

GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "unknown"}
SEX = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.OTHER, "unknown": Sex.OTHER}
GENDER_STATUS_OF = {Neuter.ALTERED: "neutered", Neuter.UNALTERED: "intact", Neuter.UNKNOWN: "unknown"}
NEUTER = {"neutered": Neuter.ALTERED, "intact": Neuter.UNALTERED, "unknown": Neuter.UNKNOWN}
PATIENT_PARAMS = ("_id", "name", "identifier", "birthdate", "gender", "species")
RELATED_PARAMS = ("_id", "patient", "name", "identifier")

_ANIMAL_FIELD_PATH = {
    "name": "Patient.name",
    "patient_id": "Patient.identifier",
    "microchip": "Patient.identifier",
    "external_id": "Patient.identifier",
    "species_code": SPECIES_PATH,
    "species_text": SPECIES_PATH,
    "breed_code": BREED_PATH,
    "breed_text": BREED_PATH,
    "birth_date": "Patient.birthDate",
    "sex": "Patient.gender",
    "neuter_status": f"Patient.extension('{PATIENT_ANIMAL}').extension('genderStatus')",
    "owners": "Patient.link",
}
_OWNER_FIELD_PATH = {
    "family_name": "RelatedPerson.name.family",
    "given_name": "RelatedPerson.name.given",
    "external_id": "RelatedPerson.identifier",
    "email": "RelatedPerson.telecom",
    "phone": "RelatedPerson.telecom",
    "address_line": "RelatedPerson.address.line",
    "city": "RelatedPerson.address.city",
    "postal_code": "RelatedPerson.address.postalCode",
    "country": "RelatedPerson.address.country",
}


def _schema_error(exc: ValidationError, paths: dict[str, str], fallback: str) -> FhirError:
    """A pydantic error of our own schemas as a 422 pointing at the FHIR element it came from."""
    issues = []
    for err in exc.errors():
        loc = err.get("loc", ())
        field = str(loc[0]) if loc else ""
        path = paths.get(field, fallback)
        issues.append(Issue("value", f"{path}: {err.get('msg', '')}", [path]))
    return FhirError(422, issues)


def _write_error(exc: Invalid, fallback: str) -> FhirError:
    """A domain Invalid raised by a write as a 422 (species and breed codes get their path)."""
    text = str(exc)
    if "species" in text:
        return invalid(text, SPECIES_PATH)
    if "breed" in text:
        return invalid(text, BREED_PATH)
    if "owner" in text:
        return invalid(text, "Patient.link")
    return invalid(text, fallback)


# --------------------------------------------------------------------------- Patient out
def _concept(code: str, scheme: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": coding_system(scheme), "code": code, "display": display}], "text": text}


def animal_extension(animal: AnimalRead) -> dict[str, Any] | None:
    """The ``patient-animal`` extension: species, breed and genderStatus (FHIR R4 extension)."""
    parts: list[dict[str, Any]] = []
    if animal.species is not None:
        s = animal.species
        parts.append(
            {
                "url": "species",
                "valueCodeableConcept": _concept(s.code, s.coding_scheme, s.latin_name or s.name, s.name),
            }
        )
    elif animal.species_text:
        parts.append({"url": "species", "valueCodeableConcept": {"text": animal.species_text}})
    if animal.breed is not None:
        b = animal.breed
        parts.append(
            {
                "url": "breed",
                "valueCodeableConcept": _concept(
                    b.code, b.coding_scheme, b.name, animal.breed_text or b.name
                ),
            }
        )
    elif animal.breed_text:
        parts.append({"url": "breed", "valueCodeableConcept": {"text": animal.breed_text}})
    status = GENDER_STATUS_OF[Neuter(animal.neuter_status)]
    parts.append(
        {
            "url": "genderStatus",
            "valueCodeableConcept": {"coding": [{"system": GENDER_STATUS, "code": status}]},
        }
    )
    return {"url": PATIENT_ANIMAL, "extension": parts}


def patient_resource(animal: AnimalRead) -> dict[str, Any]:
    """An animal as a FHIR R4 Patient (validated with the R4B model)."""
    identifiers: list[dict[str, Any]] = [
        {
            "use": "official",
            "type": {"coding": [{"system": V2_0203, "code": "MR"}], "text": "Patient ID"},
            "system": issuer_system(animal.issuer_of_patient_id),
            "value": animal.patient_id,
        }
    ]
    if animal.microchip:
        identifiers.append(
            {"system": MICROCHIP_SYSTEM, "value": animal.microchip, "type": {"text": "Microchip"}}
        )
    if animal.external_id:
        identifiers.append(
            {"system": PMS_PATIENT_SYSTEM, "value": animal.external_id, "type": {"text": "PMS id"}}
        )
    primary = next((o for o in animal.owners if o.is_primary), None)
    name: dict[str, Any] = {"use": "official", "text": animal.name, "given": [animal.name]}
    if primary is not None and primary.family_name:
        name["family"] = primary.family_name
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(animal.id),
        "meta": {"lastUpdated": utc_instant(animal.updated_at)},
        "extension": [animal_extension(animal)],
        "identifier": identifiers,
        "active": animal.merged_into_id is None,
        "name": [name],
        "gender": GENDER[Sex(animal.sex)],
        "deceasedBoolean": animal.deceased,
    }
    birth = fhir_date(animal.birth_date)
    if birth:
        resource["birthDate"] = birth
    if animal.owners:
        resource["contact"] = [
            {
                "relationship": [OWNER_RELATIONSHIP],
                "name": {"family": o.family_name, **({"given": [o.given_name]} if o.given_name else {})},
            }
            for o in animal.owners
        ]
    links = [
        {"other": {"reference": f"RelatedPerson/{o.owner_id}", "display": o.family_name}, "type": "seealso"}
        for o in animal.owners
    ]
    if animal.merged_into_id is not None:
        links.append({"other": {"reference": f"Patient/{animal.merged_into_id}"}, "type": "replaced-by"})
    if links:
        resource["link"] = links
    return checked(resource)


# --------------------------------------------------------------------------- Patient in
def _concept_code(concept: Any) -> tuple[str | None, str]:
    """(first coding's code or None, text) of a CodeableConcept model."""
    code = None
    if concept.coding:
        code = concept.coding[0].code
    text = concept.text or (concept.coding[0].display if concept.coding else None) or ""
    return code, text


def _animal_fields(model: Any, *, issuer: str) -> dict[str, Any]:
    """The fields of AnimalCreate/AnimalUpdate that a FHIR Patient carries (422 on what we cannot map)."""
    values: dict[str, Any] = {
        "microchip": "",
        "external_id": "",
        "species_code": "",
        "species_text": "",
        "breed_code": "",
        "breed_text": "",
        "sex": Sex.OTHER,
        "neuter_status": Neuter.UNKNOWN,
        "birth_date": "",
        "deceased": False,
    }
    names = model.name or []
    first = names[0] if names else None
    animal_name = ""
    if first is not None:
        animal_name = (first.given[0] if first.given else None) or first.text or ""
    if not animal_name.strip():
        raise invalid("Patient.name: the animal's name is required (name.given or name.text)", "Patient.name")
    values["name"] = animal_name.strip()
    for i, ident in enumerate(model.identifier or []):
        system, value = ident.system or "", (ident.value or "").strip()
        path = f"Patient.identifier[{i}]"
        if not value:
            raise invalid(f"{path}.value is required", f"{path}.value")
        if system == issuer_system(issuer):
            values["patient_id"] = value
        elif system == MICROCHIP_SYSTEM:
            values["microchip"] = value
        elif system == PMS_PATIENT_SYSTEM:
            values["external_id"] = value
        else:
            raise invalid(
                f"{path}.system {system!r} is not known here: use {issuer_system(issuer)} (Patient ID), "
                f"{MICROCHIP_SYSTEM} or {PMS_PATIENT_SYSTEM}",
                f"{path}.system",
            )
    if model.gender is not None:
        if model.gender not in SEX:
            raise invalid(
                f"Patient.gender {model.gender!r} is not male, female, other or unknown", "Patient.gender"
            )
        values["sex"] = SEX[model.gender]
    if model.birthDate is not None:
        text = str(model.birthDate)
        if len(text) != 10:
            raise invalid("Patient.birthDate must be a full date (YYYY-MM-DD)", "Patient.birthDate")
        values["birth_date"] = text.replace("-", "")
    if model.deceasedBoolean is not None:
        values["deceased"] = bool(model.deceasedBoolean)
    elif model.deceasedDateTime is not None:
        values["deceased"] = True
    for ext in model.extension or []:
        if ext.url != PATIENT_ANIMAL:
            continue
        for part in ext.extension or []:
            concept = part.valueCodeableConcept
            if part.url == "species":
                if concept is None:
                    raise invalid("species needs a valueCodeableConcept", SPECIES_PATH)
                code, text = _concept_code(concept)
                values["species_code"], values["species_text"] = (code, "") if code else ("", text)
            elif part.url == "breed":
                if concept is None:
                    raise invalid("breed needs a valueCodeableConcept", BREED_PATH)
                code, text = _concept_code(concept)
                values["breed_code"] = code or ""
                values["breed_text"] = text if not code or text != code else ""
            elif part.url == "genderStatus":
                status_path = f"Patient.extension('{PATIENT_ANIMAL}').extension('genderStatus')"
                code, _text = _concept_code(concept) if concept is not None else (None, "")
                if code not in NEUTER:
                    raise invalid(f"genderStatus {code!r} is not neutered, intact or unknown", status_path)
                values["neuter_status"] = NEUTER[code]
            else:
                raise invalid(
                    f"unknown patient-animal part {part.url!r}", f"Patient.extension('{PATIENT_ANIMAL}')"
                )
    return values


def _owner_links(model: Any) -> list[int]:
    """Owner ids from ``Patient.link`` entries that reference RelatedPerson (owners)."""
    ids: list[int] = []
    for i, link in enumerate(model.link or []):
        ref = (link.other.reference or "") if link.other is not None else ""
        if not ref.startswith("RelatedPerson/") or not ref.split("/", 1)[1].isdigit():
            raise invalid(
                f"Patient.link[{i}].other must reference an owner as RelatedPerson/<id>",
                f"Patient.link[{i}].other",
            )
        ids.append(int(ref.split("/", 1)[1]))
    return ids


def animal_create(body: Any, *, issuer: str) -> AnimalCreate:
    """A FHIR Patient (JSON) as AnimalCreate; 422 with the element's path when it does not fit."""
    model = validate("Patient", body)
    values = _animal_fields(model, issuer=issuer)
    owners = _owner_links(model)
    for key in ("species_code", "breed_code"):
        values[key] = values[key] or None
    try:
        return AnimalCreate(
            **values,
            owners=[OwnerLink(owner_id=o, is_primary=i == 0) for i, o in enumerate(owners)],
        )
    except ValidationError as exc:
        raise _schema_error(exc, _ANIMAL_FIELD_PATH, "Patient") from exc


def animal_update(body: Any, *, issuer: str, current: AnimalRead) -> AnimalUpdate:
    """A FHIR Patient (JSON) for PUT as a complete AnimalUpdate (absent elements are cleared).

    The Patient ID cannot change (409) and owner links change through RelatedPerson, not here: a
    ``Patient.link`` list that differs from the current owners is refused (422).
    """
    model = validate("Patient", body)
    values = _animal_fields(model, issuer=issuer)
    patient_id = values.pop("patient_id", None)
    if patient_id is not None and patient_id != current.patient_id:
        raise FhirError.one(409, "conflict", "the Patient ID cannot change", "Patient.identifier")
    owners = _owner_links(model)
    if model.link is not None and sorted(owners) != sorted(o.owner_id for o in current.owners):
        raise invalid(
            "owner links change through RelatedPerson (create) or the REST API; "
            "send Patient.link as read (or leave it out)",
            "Patient.link",
        )
    if not values["species_code"] and values["species_text"]:
        values["species_code"] = ""
    try:
        return AnimalUpdate(**values)
    except ValidationError as exc:
        raise _schema_error(exc, _ANIMAL_FIELD_PATH, "Patient") from exc


# --------------------------------------------------------------------------- Patient interactions
def read_patient(db: Database, animal_id: int) -> dict[str, Any]:
    """GET Patient/{id} (FHIR R4 http read)."""
    return patient_resource(patients.get_animal(db, animal_id))


def create_patient(db: Database, body: Any, *, actor: Actor, prefix: str, issuer: str) -> dict[str, Any]:
    """POST Patient (FHIR R4 http create) through ``create_animal``; one transaction."""
    data = animal_create(body, issuer=issuer)
    try:
        animal = patients.create_animal(
            db, data, actor=actor, patient_id_prefix=prefix, issuer_of_patient_id=issuer
        )
    except Invalid as exc:
        raise _write_error(exc, "Patient") from exc
    return patient_resource(animal)


def update_patient(db: Database, animal_id: int, body: Any, *, actor: Actor, issuer: str) -> dict[str, Any]:
    """PUT Patient/{id} (FHIR R4 http update) through ``update_animal``; no update-as-create."""
    if isinstance(body, dict) and body.get("id") not in (None, str(animal_id)):
        raise FhirError.one(
            400, "invalid", f"Patient.id {body.get('id')!r} differs from the URL id {animal_id}", "Patient.id"
        )
    current = patients.get_animal(db, animal_id)
    data = animal_update(body, issuer=issuer, current=current)
    try:
        animal = patients.update_animal(db, animal_id, data, actor=actor)
    except Invalid as exc:
        raise _write_error(exc, "Patient") from exc
    return patient_resource(animal)


def _identifier_filter(raw: str, issuer: str) -> ColumnElement[bool] | None:
    """An ``identifier`` token as a condition on animals (None: a system we do not know, no match)."""
    system, value = parse_token(raw)
    value = value.strip()
    if system == issuer_system(issuer):
        return ANIMALS.c.patient_id == value
    if system == MICROCHIP_SYSTEM:
        return ANIMALS.c.microchip == value.replace(" ", "")
    if system == PMS_PATIENT_SYSTEM:
        return ANIMALS.c.external_id == value
    if system not in (None, ""):
        return None
    return or_(ANIMALS.c.patient_id == value, ANIMALS.c.microchip == value, ANIMALS.c.external_id == value)


def _day_bound(moment: datetime) -> str:
    """The first YYYYMMDD whose midnight is at or after ``moment`` (dates compare as text)."""
    day = moment.date() if moment.time() == time() else moment.date() + timedelta(days=1)
    return day.strftime("%Y%m%d")


def date_text_filter(column: Any, span: DateRange) -> ColumnElement[bool]:
    """A FHIR date parameter on a YYYYMMDD text column: the day's midnight lies in the span."""
    inside = []
    if span.lo is not None:
        inside.append(column >= _day_bound(span.lo))
    if span.hi is not None:
        inside.append(column < _day_bound(span.hi))
    cond: ColumnElement[bool] = and_(true(), *inside)
    return and_(column != "", not_(cond) if span.negate else cond)


def search_patients(db: Database, params: SearchParams, *, issuer: str) -> tuple[list[dict[str, Any]], int]:
    """GET Patient?... (FHIR R4 search): _id, name, identifier, birthdate, gender and species.

    Every parameter is a condition of one SQL query (count and page in the database); ``name`` is a
    case-insensitive prefix of the animal's name or of a linked owner's family name.
    """
    query = AnimalQuery()
    where: list[ColumnElement[bool]] = []
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit():
            return [], 0
        where.append(ANIMALS.c.id == int(raw))
    if (raw := params.get("identifier")) is not None:
        cond = _identifier_filter(raw, issuer)
        if cond is None:
            return [], 0
        where.append(cond)
    name = params.get("name")
    if (raw := params.get("gender")) is not None:
        if raw not in SEX:
            raise FhirError.one(
                400, "invalid", f"gender {raw!r} is not male, female, other or unknown", "gender"
            )
        where.append(ANIMALS.c.sex == SEX[raw].value)
    if (raw := params.get("birthdate")) is not None:
        where.append(date_text_filter(ANIMALS.c.birth_date, parse_date_param("birthdate", raw)))
    if (raw := params.get("species")) is not None:
        _system, code = parse_token(raw)
        query = query.model_copy(update={"species": code})
    with db.engine.connect() as conn:
        if name is not None:
            owned = (
                select(LINKS.c.animal_id)
                .join(OWNERS, OWNERS.c.id == LINKS.c.owner_id)
                .where(patients._prefix(conn, OWNERS.c.family_name, name))
            )
            where.append(
                or_(patients._prefix(conn, ANIMALS.c.name, name), ANIMALS.c.id.in_(owned.scalar_subquery()))
            )
        matching = patients.matching_animal_ids(conn, query).where(*where)
        total = int(conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one())
        ids = (
            list(
                conn.execute(
                    matching.order_by(func.lower(ANIMALS.c.name), ANIMALS.c.id)
                    .limit(params.count)
                    .offset(params.offset)
                ).scalars()
            )
            if params.count
            else []
        )
    return [patient_resource(patients.get_animal(db, i)) for i in ids], total


# --------------------------------------------------------------------------- RelatedPerson
def _owner_animal(db: Database, owner_id: int) -> AnimalRead | None:
    """The animal a RelatedPerson points at: the first the owner is primary for, else the first."""
    page = patients.search_animals(db, AnimalQuery(owner=str(owner_id), limit=500))
    mine = [a for a in page.items if any(o.owner_id == owner_id for o in a.owners)]
    for animal in mine:
        if any(o.owner_id == owner_id and o.is_primary for o in animal.owners):
            return animal
    return mine[0] if mine else None


def related_person_resource(owner: OwnerRead, animal_id: int) -> dict[str, Any]:
    """An owner as a FHIR R4 RelatedPerson of ``Patient/{animal_id}`` (relationship OWN, owner)."""
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": str(owner.id),
        "meta": {"lastUpdated": utc_instant(owner.updated_at)},
        "active": owner.active,
        "patient": {"reference": f"Patient/{animal_id}"},
        "relationship": [OWNER_RELATIONSHIP],
        "name": [
            {"family": owner.family_name, **({"given": [owner.given_name]} if owner.given_name else {})}
        ],
    }
    if owner.external_id:
        resource["identifier"] = [{"system": PMS_CLIENT_SYSTEM, "value": owner.external_id}]
    telecom = []
    if owner.phone:
        telecom.append({"system": "phone", "value": owner.phone})
    if owner.email:
        telecom.append({"system": "email", "value": owner.email})
    if telecom:
        resource["telecom"] = telecom
    address = {
        k: v
        for k, v in (
            ("line", [owner.address_line] if owner.address_line else None),
            ("city", owner.city),
            ("postalCode", owner.postal_code),
            ("country", owner.country),
        )
        if v
    }
    if address:
        resource["address"] = [address]
    return checked(resource)


def read_related_person(db: Database, owner_id: int) -> dict[str, Any]:
    """GET RelatedPerson/{id}: the owner; 404 when the owner has no animal (RelatedPerson.patient is 1..1)."""
    owner = patients.get_owner(db, owner_id)
    animal = _owner_animal(db, owner_id)
    if animal is None:
        raise NotFound(f"owner {owner_id} has no animal yet, and a RelatedPerson needs a patient")
    return related_person_resource(owner, animal.id)


def owner_create(body: Any) -> tuple[OwnerCreate, int]:
    """A FHIR RelatedPerson (JSON) as OwnerCreate and the animal id it belongs to (422 otherwise)."""
    model = validate("RelatedPerson", body)
    ref = model.patient.reference or ""
    if not ref.startswith("Patient/") or not ref.split("/", 1)[1].isdigit():
        raise invalid("RelatedPerson.patient must reference Patient/<id>", "RelatedPerson.patient")
    names = model.name or []
    if not names or not (names[0].family or "").strip():
        raise invalid("RelatedPerson.name.family is required", "RelatedPerson.name")
    values: dict[str, Any] = {
        "family_name": names[0].family.strip(),
        "given_name": " ".join(names[0].given or []),
    }
    for i, ident in enumerate(model.identifier or []):
        if ident.system != PMS_CLIENT_SYSTEM:
            raise invalid(
                f"RelatedPerson.identifier[{i}].system must be {PMS_CLIENT_SYSTEM}",
                f"RelatedPerson.identifier[{i}].system",
            )
        values["external_id"] = ident.value or ""
    for t in model.telecom or []:
        if t.system == "phone" and "phone" not in values:
            values["phone"] = t.value or ""
        elif t.system == "email" and "email" not in values:
            values["email"] = t.value or ""
    if model.address:
        a = model.address[0]
        values.update(
            address_line=", ".join(a.line or []),
            city=a.city or "",
            postal_code=a.postalCode or "",
            country=a.country or "",
        )
    try:
        return OwnerCreate(**values), int(ref.split("/", 1)[1])
    except ValidationError as exc:
        raise _schema_error(exc, _OWNER_FIELD_PATH, "RelatedPerson") from exc


def create_related_person(db: Database, body: Any, *, actor: Actor) -> dict[str, Any]:
    """POST RelatedPerson: register the owner and link them to the patient (``insert_owner``,
    ``link_owner_in``) in one transaction, so a refused link leaves no orphan owner behind.

    An unknown animal is 422 (RelatedPerson.patient), a merged one 409; either writes nothing.
    """
    data, animal_id = owner_create(body)
    with db.write_transaction() as conn:
        owner = patients.insert_owner(conn, data, actor=actor)
        try:  # is_primary when the animal has no primary owner yet
            patients.link_owner_in(
                conn, animal_id, OwnerLink(owner_id=owner.id, is_primary=False), actor=actor
            )
        except NotFound as exc:  # the owner was just inserted: the animal is missing
            raise invalid(f"no Patient/{animal_id}", "RelatedPerson.patient") from exc
        except Conflict as exc:  # merged
            raise Conflict(f"Patient/{animal_id}: {exc}") from exc
    return related_person_resource(owner, animal_id)


def search_related_persons(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET RelatedPerson?... (FHIR R4 search): _id, patient, name and identifier (PMS client id)."""
    checks: list[Any] = []
    q = ""
    if (raw := params.get("name")) is not None:
        low = raw.lower()
        q = raw
        checks.append(lambda o: o.family_name.lower().startswith(low) or o.given_name.lower().startswith(low))
    if (raw := params.get("identifier")) is not None:
        system, value = parse_token(raw)
        if system not in (None, "", PMS_CLIENT_SYSTEM):
            return [], 0
        q = q or value
        checks.append(lambda o: o.external_id == value)
    if (raw := params.get("_id")) is not None:
        checks.append(lambda o, v=raw: str(o.id) == v)
    if (raw := params.get("patient")) is not None:
        animal_id = parse_reference("patient", raw, "Patient")
        try:
            animal = patients.get_animal(db, animal_id)
        except NotFound:
            return [], 0
        owners = [patients.get_owner(db, o.owner_id) for o in animal.owners]
        matched = [o for o in owners if all(c(o) for c in checks)]
        window = matched[params.offset : params.offset + params.count]
        return [related_person_resource(o, animal_id) for o in window], len(matched)

    with db.engine.connect() as conn:
        where: list[ColumnElement[bool]] = []
        q = q.strip()
        if q:  # the owner list's own match, as GET /api/v1/owners?q= does
            where.append(
                or_(
                    patients._prefix(conn, OWNERS.c.family_name, q),
                    OWNERS.c.external_id == q,
                    OWNERS.c.phone == q,
                    func.lower(OWNERS.c.email) == q.lower(),
                )
            )
        if (raw := params.get("name")) is not None:
            where.append(
                or_(
                    patients._prefix(conn, OWNERS.c.family_name, raw),
                    patients._prefix(conn, OWNERS.c.given_name, raw),
                )
            )
        if (raw := params.get("identifier")) is not None:
            where.append(OWNERS.c.external_id == parse_token(raw)[1])
        if (raw := params.get("_id")) is not None:
            if not raw.isdigit() or str(int(raw)) != raw:
                return [], 0
            where.append(OWNERS.c.id == int(raw))
        # a RelatedPerson is an owner of a live animal; its patient is the one it is primary for
        first_animal = (
            select(LINKS.c.animal_id)
            .join(ANIMALS, ANIMALS.c.id == LINKS.c.animal_id)
            .where(LINKS.c.owner_id == OWNERS.c.id, ANIMALS.c.merged_into_id.is_(None))
            .order_by(LINKS.c.is_primary.desc(), func.lower(ANIMALS.c.name), ANIMALS.c.id)
            .limit(1)
            .correlate(OWNERS)
            .scalar_subquery()
        )
        where.append(first_animal.is_not(None))
        total = int(conn.execute(select(func.count()).select_from(OWNERS).where(*where)).scalar_one())
        rows = (
            conn.execute(
                select(OWNERS.c.id, first_animal.label("animal_id"))
                .where(*where)
                .order_by(func.lower(OWNERS.c.family_name), OWNERS.c.given_name, OWNERS.c.id)
                .limit(params.count)
                .offset(params.offset)
            ).all()
            if params.count
            else []
        )
    return [related_person_resource(patients.get_owner(db, r.id), int(r.animal_id)) for r in rows], total
