"""REST /api/v1 owners, animals and species against a live server with httpx: CRUD, search, pagination,
idempotent retries, problem+json for bad input, permissions per role, merge and the OpenAPI description."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dicom_support import module_server

from conftest import LiveServer

pytestmark = pytest.mark.integration

DOG, CAT = "448771007", "448169003"
LABRADOR = "62137007"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("patients-api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.http_url}/api/v1", headers=live.auth_headers(), timeout=30) as client:
        yield client


def token_for(live: LiveServer, role: str) -> dict[str, str]:
    name = f"{role.replace('_', '')}{uuid.uuid4().hex[:6]}"
    live.cli("user", "add", name, "--role", role, "--generate-password")
    token = live.cli("user", "token", name, "--name", "tests").stdout.strip()
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def new_owner(api: httpx.Client, family: str, **fields: Any) -> dict[str, Any]:
    r = api.post("/owners", json={"family_name": family, **fields})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def new_animal(api: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    r = api.post("/animals", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# --------------------------------------------------------------------------- CRUD
def test_owner_and_animal_crud(api: httpx.Client) -> None:
    owner = new_owner(api, "Baker", given_name="Emma", email="emma@example.org", external_id="CL-1")
    assert api.get(f"/owners/{owner['id']}").json()["email"] == "emma@example.org"
    patched = api.patch(f"/owners/{owner['id']}", json={"phone": "0113 000"}).json()
    assert patched["phone"] == "0113 000" and patched["family_name"] == "Baker"

    species = {s["code"]: s for s in api.get("/species").json()}
    assert species[DOG]["coding_scheme"] == "SCT"
    breeds = {b["code"]: b for b in api.get(f"/species/{species[DOG]['id']}/breeds").json()}
    assert breeds[LABRADOR]["name"] == "Labrador Retriever"

    max_ = new_animal(
        api,
        "Max",
        species_code=DOG,
        breed_code=LABRADOR,
        sex="M",
        neuter_status="ALTERED",
        birth_date="2017-04-12",
        weight_kg=34.2,
        microchip="276098106543210",
        owners=[{"owner_id": owner["id"]}],
    )
    assert max_["patient_id"].startswith("VP") and max_["issuer_of_patient_id"] == "VETPACS"
    assert max_["patient_name"] == "BAKER^Max" and max_["species"]["name"] == "Canine"
    got = api.get(f"/animals/{max_['id']}").json()
    assert got["breed"]["code"] == LABRADOR and got["owners"][0]["is_primary"] is True
    patched_animal = api.patch(f"/animals/{max_['id']}", json={"weight_kg": 33.0, "colour": "yellow"}).json()
    assert (patched_animal["weight_kg"], patched_animal["colour"]) == (33.0, "yellow")

    dicom = api.get(f"/animals/{max_['id']}/dicom").json()
    assert dicom["00100010"]["Value"] == [{"Alphabetic": "BAKER^Max"}]
    assert dicom["00102202"]["Value"][0]["00080100"]["Value"] == [DOG]

    second = new_owner(api, "Kowalski", given_name="Anna")
    linked = api.post(f"/animals/{max_['id']}/owners", json={"owner_id": second["id"], "is_primary": False})
    assert [o["family_name"] for o in linked.json()["owners"]] == ["Baker", "Kowalski"]
    unlinked = api.delete(f"/animals/{max_['id']}/owners/{second['id']}")
    assert [o["family_name"] for o in unlinked.json()["owners"]] == ["Baker"]


# --------------------------------------------------------------------------- search
def test_search_and_pagination(api: httpx.Client) -> None:
    owner = new_owner(api, "Quinton", given_name="Pat")
    for i in range(7):
        new_animal(api, f"Quill{i}", species_code=CAT if i % 2 else DOG, owners=[{"owner_id": owner["id"]}])
    page = api.get("/animals", params={"q": "QUILL", "limit": 3, "offset": 0}).json()
    assert page["total"] == 7 and [a["name"] for a in page["items"]] == ["Quill0", "Quill1", "Quill2"]
    last = api.get("/animals", params={"q": "quill", "limit": 3, "offset": 6}).json()
    assert [a["name"] for a in last["items"]] == ["Quill6"] and last["offset"] == 6
    by_owner = api.get("/animals", params={"owner": "quint", "species": "cat"}).json()
    assert [a["name"] for a in by_owner["items"]] == ["Quill1", "Quill3", "Quill5"]
    assert api.get("/animals", params={"q": "quint", "species": DOG}).json()["total"] == 4
    chip = new_animal(api, "Chippy", microchip="900000000000001")
    assert [
        a["id"] for a in api.get("/animals", params={"microchip": "900000000000001"}).json()["items"]
    ] == [chip["id"]]
    owners = api.get("/owners", params={"q": "quin"}).json()
    assert owners["total"] == 1 and owners["items"][0]["given_name"] == "Pat"


# --------------------------------------------------------------------------- idempotency
def test_idempotent_create_retry(api: httpx.Client) -> None:
    key = {"Idempotency-Key": f"pms-{uuid.uuid4()}"}
    body = {"name": "Retry", "species_code": DOG, "external_id": f"PMS-{uuid.uuid4().hex[:8]}"}
    first = api.post("/animals", json=body, headers=key)
    again = api.post("/animals", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotency-replayed") == "true"
    assert api.get("/animals", params={"external_id": body["external_id"]}).json()["total"] == 1
    other = api.post("/animals", json={**body, "name": "Different"}, headers=key)
    assert "Idempotency-Key" in problem(other, 422)["detail"]
    # without a key a repeat is a new request: the PMS id is taken
    assert "external id" in problem(api.post("/animals", json=body), 409)["detail"]
    owner_key = {"Idempotency-Key": f"owner-{uuid.uuid4()}"}
    o1 = api.post("/owners", json={"family_name": "Idem"}, headers=owner_key)
    o2 = api.post("/owners", json={"family_name": "Idem"}, headers=owner_key)
    assert o1.status_code == o2.status_code == 201 and o1.json()["id"] == o2.json()["id"]
    problem(api.post("/owners", json={"family_name": "Idem"}, headers={"Idempotency-Key": "x" * 200}), 400)


# --------------------------------------------------------------------------- bad input
def test_bad_input_answers_problem_json(api: httpx.Client) -> None:
    unknown = problem(api.post("/animals", json={"name": "Rex", "species_code": "12345"}), 400)
    assert "unknown species code '12345'" in unknown["detail"]
    problem(api.post("/animals", json={"name": "Rex", "species_code": DOG, "breed_code": "nope"}), 400)
    problem(api.post("/animals", json={"name": "Rex", "owners": [{"owner_id": 987654}]}), 400)
    problem(api.post("/animals", json={"name": ""}), 422)
    problem(api.post("/animals", json={"name": "Rex", "birth_date": "2021-13-01"}), 422)
    problem(api.post("/animals", json={"name": "Rex", "sex": "X"}), 422)
    problem(api.post("/owners", json={"given_name": "no family"}), 422)
    problem(api.get("/animals", params={"limit": 0}), 422)
    problem(api.get("/animals/987654"), 404)
    problem(api.get("/owners/987654"), 404)
    problem(api.patch("/animals/987654", json={"name": "x"}), 404)
    problem(api.get("/species/987654/breeds"), 404)
    taken = new_animal(api, "Taken", patient_id=f"HAND-{uuid.uuid4().hex[:6]}")
    problem(api.post("/animals", json={"name": "Twin", "patient_id": taken["patient_id"]}), 409)


# --------------------------------------------------------------------------- merge
def test_merge(api: httpx.Client) -> None:
    owner = new_owner(api, "Merger")
    survivor = new_animal(api, "Bella", owners=[{"owner_id": owner["id"]}])
    duplicate = new_animal(api, "Bella", microchip="977000000000123")
    merged = api.post(f"/animals/{survivor['id']}/merge", json={"merged_id": duplicate["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["survivor"]["id"] == survivor["id"] and merged.json()["merged_id"] == duplicate["id"]
    assert api.get(f"/animals/{duplicate['id']}").json()["merged_into_id"] == survivor["id"]
    assert api.get("/animals", params={"microchip": "977000000000123"}).json()["total"] == 0
    problem(api.post(f"/animals/{survivor['id']}/merge", json={"merged_id": survivor["id"]}), 400)
    problem(api.post(f"/animals/{duplicate['id']}/merge", json={"merged_id": survivor["id"]}), 409)
    problem(api.post(f"/animals/{survivor['id']}/merge", json={}), 422)


# --------------------------------------------------------------------------- permissions
def test_permissions_per_role(live: LiveServer, api: httpx.Client) -> None:
    desk, reader = token_for(live, "front_desk"), token_for(live, "external_reader")
    url = f"{live.http_url}/api/v1"
    # front desk: reads and writes patients, may not change the vocabulary
    created = httpx.post(f"{url}/owners", json={"family_name": "Desk"}, headers=desk, timeout=30)
    assert created.status_code == 201
    assert httpx.get(f"{url}/animals", headers=desk, timeout=30).status_code == 200
    dog = next(s for s in api.get("/species").json() if s["code"] == DOG)
    body = {"code": "DOG-TEST", "name": "Test breed"}
    problem(httpx.post(f"{url}/species/{dog['id']}/breeds", json=body, headers=desk, timeout=30), 403)
    problem(httpx.post(f"{url}/species", json={"code": "SP-X", "name": "X"}, headers=desk, timeout=30), 403)
    # an external reader sees images and reports, not the clinic's clients
    for method, path in (("GET", "/animals"), ("GET", "/owners"), ("GET", "/species")):
        problem(httpx.request(method, f"{url}{path}", headers=reader, timeout=30), 403)
    problem(httpx.post(f"{url}/animals", json={"name": "Nope"}, headers=reader, timeout=30), 403)
    problem(httpx.get(f"{url}/animals", timeout=30), 401)
    # the admin extends the vocabulary
    added = api.post(f"/species/{dog['id']}/breeds", json=body)
    assert added.status_code == 201 and added.json()["coding_scheme"] == "99VETPACS"
    problem(api.post(f"/species/{dog['id']}/breeds", json=body), 409)
    species = api.post("/species", json={"code": "SP-AXOLOTL", "name": "Axolotl"})
    assert species.status_code == 201
    assert new_animal(api, "Axel", species_code="SP-AXOLOTL")["species"]["name"] == "Axolotl"


# --------------------------------------------------------------------------- OpenAPI
def test_openapi_documents_the_routes(live: LiveServer) -> None:
    r = httpx.get(f"{live.http_url}/api/v1/openapi.json", headers=live.auth_headers(), timeout=30)
    assert r.status_code == 200
    spec: dict[str, Any] = r.json()
    paths = spec["paths"]
    for path, method in (
        ("/api/v1/owners", "post"),
        ("/api/v1/owners/{owner_id}", "patch"),
        ("/api/v1/animals", "get"),
        ("/api/v1/animals", "post"),
        ("/api/v1/animals/{animal_id}/owners", "post"),
        ("/api/v1/animals/{survivor_id}/merge", "post"),
        ("/api/v1/species/{species_id}/breeds", "post"),
    ):
        operation = paths[path][method]
        success = operation["responses"].get("201") or operation["responses"].get("200")
        assert success and "$ref" in str(success["content"]["application/json"]["schema"]), (path, method)
