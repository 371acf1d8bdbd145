"""FHIR R4 under ``/fhir`` against a live ``vetpacs serve``: every answer parses with the R4B models.

One server for the module, with the catalog seeded and the small demo studies imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.relatedperson import RelatedPerson
from fhir.resources.R4B.servicerequest import ServiceRequest

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"
SCT = "http://snomed.info/sct"
DOG, CAT = "448771007", "448169003"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("fhir-api")) as server:
        server.cli("catalog", "seed", "--stations")
        server.cli("import", *[str(p) for p in demo_files])
        yield server


@pytest.fixture(scope="module")
def fhir(srv: LiveServer) -> Iterator[httpx.Client]:
    headers = {**srv.auth_headers(), "Accept": FHIR_JSON}
    with httpx.Client(base_url=srv.http_url + "/fhir", headers=headers, timeout=60) as client:
        yield client


def ok(response: httpx.Response, model: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return model.model_validate(response.json())


def outcome(response: httpx.Response, status: int, contains: str = "") -> OperationOutcome:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    parsed = OperationOutcome.model_validate(response.json())
    text = " ".join(f"{i.diagnostics} {' '.join(i.expression or [])}" for i in parsed.issue)
    assert contains in text, text
    return parsed


def dog(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"given": [name]}],
        "gender": "female",
        "birthDate": "2019-04-03",
        "identifier": [{"system": "urn:vetpacs:microchip", "value": f"9851200{abs(hash(name)) % 10**8:08d}"}],
        "extension": [
            {
                "url": ANIMAL,
                "extension": [
                    {"url": "species", "valueCodeableConcept": {"coding": [{"system": SCT, "code": DOG}]}},
                    {"url": "breed", "valueCodeableConcept": {"text": "Labrador cross"}},
                    {
                        "url": "genderStatus",
                        "valueCodeableConcept": {
                            "coding": [
                                {"system": "http://hl7.org/fhir/animal-genderstatus", "code": "neutered"}
                            ]
                        },
                    },
                ],
            }
        ],
        **extra,
    }


def bundle(client: httpx.Client, path: str, **params: str) -> Bundle:
    parsed: Bundle = ok(client.get(path, params=params), Bundle)
    assert parsed.type == "searchset"
    return parsed


def test_metadata_lists_what_is_implemented(fhir: httpx.Client) -> None:
    cap = ok(fhir.get("/metadata"), CapabilityStatement)
    assert cap.fhirVersion == "4.0.1"
    by_type = {r.type: r for r in cap.rest[0].resource}
    assert {i.code for i in by_type["Patient"].interaction} == {"read", "search-type", "create", "update"}
    assert "species" in {p.name for p in by_type["Patient"].searchParam}
    assert {i.code for i in by_type["DiagnosticReport"].interaction} == {"read", "search-type"}
    assert "based-on" in {p.name for p in by_type["DiagnosticReport"].searchParam}
    assert {i.code for i in by_type["ChargeItem"].interaction} == {"read", "search-type"}
    assert {"patient", "status", "code"} <= {p.name for p in by_type["ChargeItem"].searchParam}
    outcome(fhir.get("/Observation"), 404, "not supported")


def test_unauthenticated_is_401_operation_outcome(srv: LiveServer) -> None:
    response = httpx.get(srv.http_url + "/fhir/Patient", timeout=30)
    outcome(response, 401)
    assert any(v.startswith("Bearer") for v in response.headers.get_list("www-authenticate"))


def test_patient_owner_create_read_search_update(fhir: httpx.Client) -> None:
    created = fhir.post("/Patient", json=dog("Biscuit"), headers={"Content-Type": FHIR_JSON})
    patient = ok(created, Patient, 201)
    assert created.headers["location"].endswith(f"/fhir/Patient/{patient.id}")
    animal = patient.extension[0]
    assert animal.url == ANIMAL
    parts = {e.url: e.valueCodeableConcept for e in animal.extension}
    assert parts["species"].coding[0].code == DOG and parts["genderStatus"].coding[0].code == "neutered"
    assert parts["breed"].text == "Labrador cross"
    systems = {i.system for i in patient.identifier}
    assert "urn:vetpacs:microchip" in systems and any(s.startswith("urn:vetpacs:issuer:") for s in systems)

    owner = ok(
        fhir.post(
            "/RelatedPerson",
            json={
                "resourceType": "RelatedPerson",
                "patient": {"reference": f"Patient/{patient.id}"},
                "name": [{"family": "Whitfield", "given": ["Anna"]}],
                "identifier": [{"system": "urn:vetpacs:pms:client", "value": "C-777"}],
                "telecom": [{"system": "phone", "value": "+441234567"}],
                "address": [{"line": ["1 High St"], "city": "York", "postalCode": "YO1", "country": "GB"}],
            },
        ),
        RelatedPerson,
        201,
    )
    assert owner.relationship[0].coding[0].code == "OWN"
    read = ok(fhir.get(f"/Patient/{patient.id}"), Patient)
    assert read.name[0].family == "Whitfield" and read.link[0].other.reference == f"RelatedPerson/{owner.id}"
    assert (
        ok(fhir.get(f"/RelatedPerson/{owner.id}"), RelatedPerson).patient.reference == f"Patient/{patient.id}"
    )

    found = bundle(fhir, "/Patient", name="biscu", gender="female", birthdate="2019", species=DOG)
    assert [e.resource.id for e in found.entry] == [patient.id] and found.total == 1
    assert bundle(fhir, "/Patient", name="Whitf").total == 1  # owner family name
    assert bundle(fhir, "/Patient", birthdate="gt2020-01-01", name="Biscuit").total == 0
    chip = next(i.value for i in patient.identifier if i.system == "urn:vetpacs:microchip")
    assert bundle(fhir, "/Patient", identifier=f"urn:vetpacs:microchip|{chip}").total == 1
    assert bundle(fhir, "/Patient", _id=str(patient.id)).total == 1
    owners = bundle(fhir, "/RelatedPerson", patient=f"Patient/{patient.id}")
    assert [e.resource.id for e in owners.entry] == [owner.id]
    assert bundle(fhir, "/RelatedPerson", identifier="urn:vetpacs:pms:client|C-777").total == 1

    body = read.model_dump(mode="json", exclude_none=True)
    body["gender"] = "male"
    body["extension"][0]["extension"][2]["valueCodeableConcept"]["coding"][0]["code"] = "intact"
    updated = ok(fhir.put(f"/Patient/{patient.id}", json=body), Patient)
    assert updated.gender == "male"
    assert {e.url: e for e in updated.extension[0].extension}["genderStatus"].valueCodeableConcept.coding[
        0
    ].code == "intact"
    outcome(fhir.put("/Patient/999999", json=body | {"id": "999999"}), 404)


def test_paging_links(fhir: httpx.Client) -> None:
    for name in ("Pagea", "Pageb", "Pagec"):
        ok(fhir.post("/Patient", json=dog(name)), Patient, 201)
    first = bundle(fhir, "/Patient", name="page", _count="2")
    assert first.total == 3 and len(first.entry) == 2
    nxt = next(link.url for link in first.link if link.relation == "next")
    second = ok(httpx.get(nxt, headers=fhir.headers, timeout=30), Bundle)
    assert len(second.entry) == 1 and not any(link.relation == "next" for link in second.link)


def test_invalid_resources_are_422_and_nothing_is_written(fhir: httpx.Client) -> None:
    before = bundle(fhir, "/Patient", name="Broken").total
    outcome(fhir.post("/Patient", json={"resourceType": "Patient", "gender": "female"}), 422, "Patient.name")
    outcome(fhir.post("/Patient", json=dog("Broken", birthDate="03/04/2019")), 422, "Patient.birthDate")
    outcome(fhir.post("/Patient", json=dog("Broken", active="yes please")), 422, "Patient.active")
    wrong_species = dog("Broken")
    wrong_species["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "999"
    outcome(fhir.post("/Patient", json=wrong_species), 422, "extension('species')")
    outcome(fhir.post("/Patient", json={"resourceType": "Observation"}), 422, "resourceType")
    outcome(fhir.post("/Patient", content=b"{not json", headers={"Content-Type": FHIR_JSON}), 400)
    assert bundle(fhir, "/Patient", name="Broken").total == before == 0
    outcome(fhir.get("/Patient", params={"colour": "black"}), 400, "colour")
    outcome(fhir.get("/Patient", params={"birthdate": "yesterday"}), 400, "birthdate")
    outcome(fhir.get("/Patient/424242"), 404)
    outcome(fhir.get("/Patient/abc"), 404)
    outcome(
        fhir.post(
            "/RelatedPerson",
            json={
                "resourceType": "RelatedPerson",
                "patient": {"reference": "Patient/999999"},
                "name": [{"family": "X"}],
            },
        ),
        422,
        "RelatedPerson.patient",
    )


def test_service_request_and_appointment(fhir: httpx.Client, srv: LiveServer) -> None:
    patient = ok(fhir.post("/Patient", json=dog("Orderly")), Patient, 201)
    order_body = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"code": "DX-THX2"}]},
        "subject": {"reference": f"Patient/{patient.id}"},
        "requester": {"display": "Dr Herriot"},
        "reasonCode": [{"text": "cough for two weeks"}],
        "identifier": [{"system": "urn:vetpacs:pms:order", "value": "PMS-ORD-1"}],
    }
    sr = ok(fhir.post("/ServiceRequest", json=order_body), ServiceRequest, 201)
    assert sr.status == "active" and sr.intent == "order" and sr.priority == "urgent"
    accession = next(i for i in sr.identifier if i.type.coding[0].code == "ACSN").value
    assert (
        ok(fhir.get(f"/ServiceRequest/{sr.id}"), ServiceRequest).reasonCode[0].text == "cough for two weeks"
    )
    assert bundle(fhir, "/ServiceRequest", patient=f"Patient/{patient.id}", status="active").total == 1
    assert bundle(fhir, "/ServiceRequest", identifier=f"urn:vetpacs:accession|{accession}").total == 1
    assert bundle(fhir, "/ServiceRequest", patient=f"Patient/{patient.id}", status="completed").total == 0
    assert bundle(fhir, "/ServiceRequest", authored="ge2020-01-01", patient=str(patient.id)).total == 1
    outcome(
        fhir.post("/ServiceRequest", json=order_body | {"code": {"coding": [{"code": "NOPE"}]}}), 422, "code"
    )
    outcome(
        fhir.post("/ServiceRequest", json=order_body | {"subject": {"reference": "Group/1"}}), 422, "subject"
    )

    # Book the step through the REST API, then read it as an Appointment.
    api = httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30)
    order = api.get(f"/orders/{sr.id}").json()
    station = next(s for s in api.get("/stations").json() if s["modality"] == "DX")
    step_id = order["steps"][0]["id"]
    booked = api.post(
        f"/steps/{step_id}/schedule", json={"station_id": station["id"], "start": "2030-01-07T09:00:00"}
    )
    assert booked.status_code == 200, booked.text
    appt = ok(fhir.get(f"/Appointment/{step_id}"), Appointment)
    assert (
        appt.status == "booked"
        and appt.start is not None
        and appt.basedOn[0].reference == f"ServiceRequest/{sr.id}"
    )
    assert {p.actor.reference for p in appt.participant} >= {f"Patient/{patient.id}"}
    found = bundle(fhir, "/Appointment", patient=f"Patient/{patient.id}", date="2030-01-07", status="booked")
    assert [e.resource.id for e in found.entry] == [str(step_id)]
    assert bundle(fhir, "/Appointment", patient=f"Patient/{patient.id}", date="2030-01-08").total == 0
    api.post(f"/orders/{sr.id}/cancel", json={"reason": "owner called"})
    assert ok(fhir.get(f"/Appointment/{step_id}"), Appointment).status == "cancelled"
    assert ok(fhir.get(f"/ServiceRequest/{sr.id}"), ServiceRequest).status == "revoked"
    api.close()


def test_imaging_study_with_dicomweb_endpoint(fhir: httpx.Client, srv: LiveServer) -> None:
    found = bundle(fhir, "/ImagingStudy", _count="50")
    assert found.entry, "the demo import holds studies"
    study = found.entry[0].resource
    read = ok(fhir.get(f"/ImagingStudy/{study.id}"), ImagingStudy)
    assert read.identifier[0].value == f"urn:oid:{study.id}"
    assert read.numberOfSeries == len(read.series) and read.numberOfInstances == sum(
        len(s.instance) for s in read.series
    )
    assert read.endpoint[0].reference == "Endpoint/dicomweb"
    endpoint = ok(fhir.get("/Endpoint/dicomweb"), Endpoint)
    assert endpoint.connectionType.code == "dicom-wado-rs" and endpoint.address == srv.http_url + "/dicom-web"
    modality = read.series[0].modality.code
    assert study.id in {
        e.resource.id for e in bundle(fhir, "/ImagingStudy", modality=modality, _count="50").entry
    }
    uid = f"urn:dicom:uid|urn:oid:{study.id}"
    assert [e.resource.id for e in bundle(fhir, "/ImagingStudy", identifier=uid).entry] == [study.id]
    assert bundle(fhir, "/ImagingStudy", started="lt1900-01-01").entry in (None, [])
    outcome(fhir.get("/ImagingStudy/1.2.3.999"), 404)
