"""FHIR mapping both ways on a real SQLite archive; every resource parses with the R4B models."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.relatedperson import RelatedPerson
from fhir.resources.R4B.servicerequest import ServiceRequest

from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM
from vetpacs.integration.fhir import orders as fo
from vetpacs.integration.fhir import patient as fp
from vetpacs.integration.fhir.capability import capability_statement
from vetpacs.integration.fhir.common import FhirError, parse_date_param, search_params
from vetpacs.orders.catalog import seed_catalog
from vetpacs.patients import service as patients
from vetpacs.patients.schemas import AnimalQuery

ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"


def cat(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"given": ["Tigger"]}],
        "gender": "male",
        "birthDate": "2021-02-03",
        "identifier": [{"system": "urn:vetpacs:pms:patient", "value": "P-1"}],
        "extension": [
            {
                "url": ANIMAL,
                "extension": [
                    {"url": "species", "valueCodeableConcept": {"coding": [{"code": "448169003"}]}},
                    {"url": "genderStatus", "valueCodeableConcept": {"coding": [{"code": "intact"}]}},
                ],
            }
        ],
        **extra,
    }


def test_patient_round_trip(archive: Archive) -> None:
    created = fp.create_patient(archive, cat(), actor=SYSTEM, prefix="VP", issuer="VETPACS")
    model = Patient.model_validate(created)
    animal = patients.get_animal(archive, int(created["id"]))
    assert animal.name == "Tigger" and animal.sex == "M" and animal.neuter_status == "UNALTERED"
    assert animal.species is not None and animal.species.code == "448169003"
    assert animal.birth_date == "20210203" and animal.external_id == "P-1"
    assert model.birthDate.isoformat() == "2021-02-03"
    parts = {e.url: e for e in model.extension[0].extension}
    assert parts["species"].valueCodeableConcept.coding[0].system == "http://snomed.info/sct"
    assert {i.system: i.value for i in model.identifier}["urn:vetpacs:issuer:VETPACS"] == animal.patient_id
    # back again: the resource read maps to the same animal fields
    again = fp.animal_update(created, issuer="VETPACS", current=animal)
    assert again.name == "Tigger" and again.species_code == "448169003" and again.neuter_status == "UNALTERED"


def test_owner_as_related_person(archive: Archive) -> None:
    animal = fp.create_patient(archive, cat(), actor=SYSTEM, prefix="VP", issuer="VETPACS")
    body = {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{animal['id']}"},
        "name": [{"family": "Jones", "given": ["Ann"]}],
        "telecom": [{"system": "email", "value": "ann@example.org"}],
    }
    person = RelatedPerson.model_validate(fp.create_related_person(archive, body, actor=SYSTEM))
    assert person.patient.reference == f"Patient/{animal['id']}"
    patient = Patient.model_validate(fp.read_patient(archive, int(animal["id"])))
    assert patient.name[0].family == "Jones" and patient.contact[0].relationship[0].coding[0].code == "OWN"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": []}, "Patient.name"),
        ({"birthDate": "2021-13-40"}, "Patient.birthDate"),
        ({"gender": "dog"}, "Patient.gender"),
        ({"identifier": [{"system": "urn:other", "value": "1"}]}, "Patient.identifier[0].system"),
        ({"link": [{"other": {"reference": "Patient/1"}, "type": "seealso"}]}, "Patient.link[0].other"),
    ],
)
def test_invalid_patients_name_the_path(change: dict[str, Any], path: str) -> None:
    with pytest.raises(FhirError) as caught:
        fp.animal_create(cat(**change), issuer="VETPACS")
    assert caught.value.status == 422
    assert any(path in e for i in caught.value.issues for e in i.expression), caught.value.issues


def test_unknown_species_code_is_422_and_writes_nothing(archive: Archive) -> None:
    body = cat()
    body["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "12345"
    with pytest.raises(FhirError) as caught:
        fp.create_patient(archive, body, actor=SYSTEM, prefix="VP", issuer="VETPACS")
    assert caught.value.status == 422 and "species" in caught.value.issues[0].expression[0]
    assert patients.search_animals(archive, AnimalQuery()).total == 0


def test_service_request_both_ways(archive: Archive) -> None:
    seed_catalog(archive, actor=SYSTEM)
    animal = fp.create_patient(archive, cat(), actor=SYSTEM, prefix="VP", issuer="VETPACS")
    body = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "stat",
        "subject": {"reference": f"Patient/{animal['id']}"},
        "code": {"coding": [{"code": "DX-ABD"}]},
        "identifier": [{"type": {"coding": [{"code": "ACSN"}]}, "value": "ACC123"}],
    }
    created = ServiceRequest.model_validate(fo.create_service_request(archive, body, actor=SYSTEM))
    assert created.priority == "stat" and created.status == "active"
    assert {i.value for i in created.identifier} == {"ACC123"}
    assert created.code.coding[0].code == "DX-ABD"
    with pytest.raises(FhirError):
        fo.order_create({**body, "intent": "plan"})


def test_search_parameters_are_strict() -> None:
    with pytest.raises(FhirError) as caught:
        search_params([("colour", "black")], fp.PATIENT_PARAMS)
    assert caught.value.status == 400
    params = search_params([("name", "rex"), ("_count", "5"), ("_offset", "10")], fp.PATIENT_PARAMS)
    assert (params.count, params.offset, params.get("name")) == (5, 10, "rex")
    span = parse_date_param("birthdate", "2020-02")
    assert span.lo is not None and span.hi is not None and (span.lo.month, span.hi.month) == (2, 3)
    with pytest.raises(FhirError):
        parse_date_param("birthdate", "sa2020")


def test_capability_statement_parses() -> None:
    cap = CapabilityStatement.model_validate(capability_statement("http://x/fhir"))
    assert cap.fhirVersion == "4.0.1"
    types = {r.type for r in cap.rest[0].resource}
    assert {"Patient", "RelatedPerson", "ServiceRequest", "Appointment", "ImagingStudy"} <= types
