"""``/api/v1/modalities`` and ``/api/v1/system`` against a live server (httpx): the same DICOM
destinations as ``vetpacs modality``, 201/409/422/204/404, audit rows, 403 without system:manage."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from test_search_api import token_for  # type: ignore[import-not-found]

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("clinic-system")) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.http_url}/api/v1", headers=live.auth_headers(), timeout=30) as client:
        yield client


def test_modalities_round_trip_with_the_cli(live: LiveServer, api: httpx.Client) -> None:
    body = {"name": "viewer-2", "ae_title": "OSIRIX2", "host": "10.0.0.12", "port": 11112}
    created = api.post("/modalities", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {**body, "description": ""}
    assert "viewer-2" in live.cli("modality", "list").stdout  # the CLI sees the same table
    live.cli("modality", "add", "cli-node", "--ae", "CLIAE", "--host", "127.0.0.1", "--port", "4242")
    names = [m["name"] for m in api.get("/modalities").json()]
    assert names == sorted(names) and {"viewer-2", "cli-node"} <= set(names)
    duplicate = api.post("/modalities", json=body)
    assert duplicate.status_code == 409 and duplicate.headers["content-type"].startswith(PROBLEM)
    assert api.delete("/modalities/viewer-2").status_code == 204
    missing = api.delete("/modalities/viewer-2")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    actions = {r["action"] for r in api.get("/audit", params={"object_type": "modality"}).json()}
    assert {"modality.added", "modality.removed"} <= actions


@pytest.mark.parametrize(
    "change",
    [
        {"ae_title": "A" * 17},
        {"ae_title": "BAD\\AE"},
        {"ae_title": "   "},
        {"port": 0},
        {"port": 70000},
        {"host": "bad host"},
        {"name": ""},
    ],
)
def test_bad_modalities_are_422(api: httpx.Client, change: dict[str, object]) -> None:
    body = {"name": "x", "ae_title": "XAE", "host": "127.0.0.1", "port": 104, **change}
    r = api.post("/modalities", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_system_status(live: LiveServer, api: httpx.Client) -> None:
    r = api.get("/system")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"]
    assert body["database"]["status"] == "ok" and body["database"]["dialect"] in ("sqlite", "postgresql")
    assert body["storage"]["status"] == "ok"
    assert set(body["counts"]) == {
        "animals",
        "owners",
        "studies",
        "series",
        "instances",
        "orders_open",
        "reconciliation_open",
        "outbox_pending",
        "deliveries_failed",
    }
    before = body["counts"]["owners"]
    assert api.post("/owners", json={"family_name": "Counted"}).status_code == 201
    assert api.get("/system").json()["counts"]["owners"] == before + 1
    assert body["dicom"] == {"ae_title": live.ae_title, "port": live.dicom_port, "tls_port": None}
    assert body["http"]["port"] == live.http_port
    assert body["hl7"] == {"port": None}  # the test server runs without an MLLP listener
    assert body["uptime_seconds"] >= 0


def test_system_routes_need_system_manage(live: LiveServer) -> None:
    tech = token_for(live, "technician")
    url = f"{live.http_url}/api/v1"
    for method, path in (("GET", "/system"), ("GET", "/modalities"), ("DELETE", "/modalities/x")):
        r = httpx.request(method, url + path, headers=tech, timeout=30)
        assert r.status_code == 403, (path, r.text)
    body = {"name": "x", "ae_title": "XAE", "host": "127.0.0.1", "port": 104}
    assert httpx.post(f"{url}/modalities", json=body, headers=tech, timeout=30).status_code == 403
