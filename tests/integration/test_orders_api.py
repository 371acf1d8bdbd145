"""Orders, catalog, stations and day views over HTTP against a live ``vetpacs serve`` (httpx).

One server for the module; the catalog and stations come from ``vetpacs catalog seed --stations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

DOG, CAT = "448771007", "448169003"
MONDAY = date(2030, 1, 7)
SEEDED = {"DXROOM1", "USROOM2", "DENTAL1", "CTSCAN1", "MRSCAN1"}  # AE titles of `catalog seed --stations`


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("orders-api")
    with module_server(tmp) as server:
        seeded = server.cli("catalog", "seed", "--stations")
        assert "procedures added" in seeded.stderr + seeded.stdout
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stations(api: httpx.Client) -> dict[str, dict[str, Any]]:
    response = api.get("/stations")
    assert response.status_code == 200
    return {s["modality"]: s for s in response.json() if s["ae_title"] in SEEDED}


def new_animal(api: httpx.Client, name: str, species_code: str = DOG) -> int:
    response = api.post("/animals", json={"name": name, "species_code": species_code})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def assert_problem(response: httpx.Response, status: int, contains: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert contains in body["detail"], body
    return body


def test_catalog_and_stations(api: httpx.Client, stations: dict[str, dict[str, Any]]) -> None:
    procs = api.get("/procedures").json()
    assert {"DX-THX2", "DX-HIPS", "US-ECHO", "CT-HEAD", "MR-BRAIN", "IO-FULL", "DX-EQ-DLIMB"} <= {
        p["code"] for p in procs
    }
    for_cats = {p["code"] for p in api.get("/procedures", params={"species_code": CAT}).json()}
    assert "DX-HIPS" not in for_cats and "DX-THX2" in for_cats
    assert {p["modality"] for p in api.get("/procedures", params={"modality": "US"}).json()} == {"US"}
    created = api.post(
        "/procedures", json={"code": "DX-ELB", "name": "Elbows", "modality": "DX", "species_codes": [DOG]}
    )
    assert created.status_code == 201 and created.json()["species_codes"] == [DOG]
    assert_problem(
        api.post("/procedures", json={"code": "DX-ELB", "name": "x", "modality": "DX"}), 409, "DX-ELB"
    )
    patched = api.patch(f"/procedures/{created.json()['id']}", json={"duration_minutes": 25})
    assert patched.json()["duration_minutes"] == 25
    assert set(stations) == {"DX", "US", "IO", "CT", "MR"}
    assert stations["DX"]["opening_hours"]["mon"] == [["08:00", "18:00"]]
    room = api.post(
        "/stations",
        json={
            "name": "Equine DX",
            "ae_title": "EQDX1",
            "modality": "DX",
            "opening_hours": {"mon": ["07:00", "12:00"]},
        },
    )
    assert room.status_code == 201, room.text
    assert_problem(
        api.post("/stations", json={"name": "dup", "ae_title": "EQDX1", "modality": "DX"}), 409, "AE title"
    )
    assert api.patch(f"/stations/{room.json()['id']}", json={"location": "Barn"}).json()["location"] == "Barn"
    assert (
        api.post(
            "/stations", json={"name": "x", "ae_title": "X", "modality": "DX", "opening_hours": {"mon": 5}}
        ).status_code
        == 422
    )


def test_order_for_missing_animal_or_wrong_procedure(api: httpx.Client) -> None:
    assert_problem(
        api.post("/orders", json={"animal_id": 987654, "procedure_codes": ["DX-THX2"]}), 404, "animal"
    )
    cat = new_animal(api, "Felix", CAT)
    assert_problem(
        api.post("/orders", json={"animal_id": cat, "procedure_codes": ["DX-HIPS"]}), 400, "DX-HIPS"
    )
    assert_problem(api.post("/orders", json={"animal_id": cat, "procedure_codes": ["NOPE"]}), 400, "NOPE")
    assert api.post("/orders", json={"animal_id": cat, "procedure_codes": []}).status_code == 422
    assert api.get("/orders", params={"animal_id": cat}).json()["total"] == 0


def test_create_get_and_duplicate_accession(api: httpx.Client) -> None:
    dog = new_animal(api, "Rex")
    body = {
        "animal_id": dog,
        "procedure_codes": ["DX-THX2", "US-ECHO"],
        "priority": "URGENT",
        "clinical_question": "Cough",
        "requesting_vet": "Dr Vet",
        "accession_number": "PMS4711",
        "placer_order_number": "EZ-4711",
    }
    created = api.post("/orders", json=body)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["accession_number"] == "PMS4711" and order["status"] == "ordered"
    assert order["study_instance_uid"].startswith("2.25.")
    assert [s["procedure_code"] for s in order["steps"]] == ["DX-THX2", "US-ECHO"]
    assert_problem(api.post("/orders", json=body), 409, "PMS4711")
    got = api.get(f"/orders/{order['id']}").json()
    assert got["transitions"][0]["to_status"] == "ordered" and got["steps"] == order["steps"]
    assert_problem(api.get("/orders/999999"), 404)
    found = api.get("/orders", params={"accession_number": "PMS4711"}).json()
    assert found["total"] == 1 and found["items"][0]["id"] == order["id"]
    generated = api.post("/orders", json={"animal_id": dog, "procedure_codes": ["DX-ABD"]}).json()
    assert generated["accession_number"].startswith("A") and len(generated["accession_number"]) == 11


def test_idempotent_retry(api: httpx.Client) -> None:
    dog = new_animal(api, "Bello")
    body = {"animal_id": dog, "procedure_codes": ["DX-ABD"], "placer_order_number": "PMS-RETRY-1"}
    headers = {"Idempotency-Key": "retry-order-1"}
    first = api.post("/orders", json=body, headers=headers)
    again = api.post("/orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert api.get("/orders", params={"animal_id": dog}).json()["total"] == 1
    other = api.post("/orders", json={**body, "priority": "STAT"}, headers=headers)
    assert other.status_code == 422
    assert api.post("/orders", json=body, headers={"Idempotency-Key": "retry-order-2"}).status_code == 201


def test_schedule_conflicts_lifecycle_and_day_view(
    api: httpx.Client, stations: dict[str, dict[str, Any]]
) -> None:
    dx, us = stations["DX"]["id"], stations["US"]["id"]
    dog, cat = new_animal(api, "Luna"), new_animal(api, "Mimi", CAT)
    a = api.post(
        "/orders",
        json={
            "animal_id": dog,
            "procedure_codes": ["DX-THX2"],
            "schedule": {"station_id": dx, "start": f"{MONDAY}T09:00:00"},
        },
    ).json()
    assert a["status"] == "scheduled" and a["steps"][0]["start"] == f"{MONDAY}T09:00:00"
    b = api.post("/orders", json={"animal_id": cat, "procedure_codes": ["DX-ABD"]}).json()
    step = b["steps"][0]["id"]
    assert_problem(
        api.post(f"/steps/{step}/schedule", json={"station_id": dx, "start": f"{MONDAY}T09:10:00"}),
        409,
        "already booked",
    )
    assert_problem(
        api.post(f"/steps/{step}/schedule", json={"station_id": us, "start": f"{MONDAY}T10:00:00"}), 409, "US"
    )
    assert_problem(
        api.post(
            f"/steps/{step}/schedule",
            json={"station_id": dx, "start": f"{MONDAY + timedelta(days=6)}T10:00:00"},
        ),
        409,
        "closed on sun",
    )
    assert_problem(
        api.post(f"/steps/{step}/schedule", json={"station_id": dx, "start": f"{MONDAY}T07:00:00"}),
        409,
        "opening hours",
    )
    offset = api.post(f"/steps/{step}/schedule", json={"station_id": dx, "start": f"{MONDAY}T10:00:00+02:00"})
    assert offset.status_code == 422
    booked = api.post(f"/steps/{step}/schedule", json={"station_id": dx, "start": f"{MONDAY}T09:15:00"})
    assert booked.status_code == 200 and booked.json()["end"] == f"{MONDAY}T09:30:00"
    moved = api.post(f"/steps/{step}/schedule", json={"station_id": dx, "start": f"{MONDAY}T11:00:00"})
    assert moved.json()["start"] == f"{MONDAY}T11:00:00"

    day = api.get(f"/stations/{dx}/day", params={"date": str(MONDAY)})
    assert day.status_code == 200
    entries = day.json()["entries"]
    assert [(e["animal_name"], e["step"]["start"][11:16]) for e in entries] == [
        ("Luna", "09:00"),
        ("Mimi", "11:00"),
    ]
    assert day.json()["opening_hours"] == [["08:00", "18:00"]]
    clinic = {
        d["station"]["ae_title"]: d for d in api.get("/schedule/day", params={"date": str(MONDAY)}).json()
    }
    assert len(clinic["DXROOM1"]["entries"]) == 2 and clinic["USROOM2"]["entries"] == []
    assert [
        d["station"]["modality"]
        for d in api.get("/schedule/day", params={"date": str(MONDAY), "modality": "us"}).json()
    ] == ["US"]
    assert api.get("/schedule/day").status_code == 422
    assert_problem(api.get("/stations/99999/day", params={"date": str(MONDAY)}), 404)

    arrived = api.post(f"/orders/{a['id']}/arrived")
    assert arrived.status_code == 200 and arrived.json()["status"] == "arrived"
    assert arrived.json()["steps"][0]["status"] == "ARRIVED"
    no_show = api.post(f"/orders/{b['id']}/no-show", json={"reason": "did not come"})
    assert (
        no_show.json()["status"] == "no_show"
        and no_show.json()["transitions"][-1]["reason"] == "did not come"
    )
    assert_problem(
        api.post(f"/orders/{b['id']}/arrived"),
        409,
        f"order {b['accession_number']} cannot go from no_show to arrived",
    )
    cancelled = api.post(f"/orders/{a['id']}/cancel", json={"reason": "owner called"})
    assert cancelled.json()["status"] == "cancelled"
    assert api.post(f"/orders/{a['id']}/cancel").json()["status"] == "cancelled"  # again: no-op
    assert api.get(f"/stations/{dx}/day", params={"date": str(MONDAY)}).json()["entries"] == []
    page = api.get("/orders", params={"status": ["cancelled", "no_show"], "station_id": dx, "limit": 1})
    assert page.json()["total"] == 2 and len(page.json()["items"]) == 1
    assert (
        api.get(
            "/orders", params={"modality": "DX", "scheduled_from": str(MONDAY), "scheduled_to": str(MONDAY)}
        ).json()["total"]
        == 2
    )


def test_permissions(srv: LiveServer, api: httpx.Client) -> None:
    desk = srv.cli("user", "add", "desk", "--role", "front_desk", "--generate-password").stdout.strip()
    assert desk
    token = srv.cli("user", "token", "desk").stdout.strip()
    with httpx.Client(
        base_url=srv.http_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}
    ) as desk_api:
        assert desk_api.get("/procedures").status_code == 200
        assert desk_api.get("/orders").status_code == 200
        assert (
            desk_api.post("/stations", json={"name": "n", "ae_title": "N", "modality": "DX"}).status_code
            == 403
        )
        assert desk_api.patch("/procedures/1", json={"name": "n"}).status_code == 403
    with httpx.Client(base_url=srv.http_url + "/api/v1") as anonymous:
        assert anonymous.get("/orders").status_code == 401
