"""The technician's board and its live updates against a live server: ``GET /schedule/day`` entries carry
species, owner, study and image count; ``GET /api/v1/events`` streams outbox events (no payload) as a
change happens; the cursor; permissions; and SIGTERM is not held up by an open stream."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from pydicom.uid import generate_uid
from test_search_api import dx_image, eventually, stow, token_for  # type: ignore[import-not-found]

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("clinic-events")) as srv:
        srv.cli("catalog", "seed")
        yield srv


@pytest.fixture(scope="module")
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.http_url}/api/v1", headers=live.auth_headers(), timeout=30) as client:
        yield client


def booked_order(api: httpx.Client) -> dict[str, Any]:
    """A dog of the Okafor family with a thorax order booked today on a new always-open DX station."""
    owner = api.post("/owners", json={"family_name": "Okafor", "given_name": "Ada"}).json()
    animal = api.post(
        "/animals",
        json={"name": "Pepper", "species_code": "448771007", "owners": [{"owner_id": owner["id"]}]},
    ).json()
    tag = uuid.uuid4().hex[:6].upper()
    station = api.post("/stations", json={"name": f"DR {tag}", "ae_title": f"DR{tag}", "modality": "DX"})
    assert station.status_code == 201, station.text
    start = datetime.now().replace(hour=10, minute=0, second=0, microsecond=0)
    order = api.post(
        "/orders",
        json={
            "animal_id": animal["id"],
            "procedure_codes": ["DX-THX2"],
            "schedule": {"station_id": station.json()["id"], "start": start.isoformat()},
        },
    )
    assert order.status_code == 201, order.text
    return {
        "animal": animal,
        "order": order.json(),
        "station": station.json(),
        "day": start.date().isoformat(),
    }


def board_entry(api: httpx.Client, day: str, order_id: int) -> dict[str, Any]:
    days = api.get("/schedule/day", params={"date": day})
    assert days.status_code == 200, days.text
    entries = [e for d in days.json() for e in d["entries"] if e["step"]["order_id"] == order_id]
    assert len(entries) == 1
    return entries[0]


def test_board_entries_carry_species_owner_study_and_images(live: LiveServer, api: httpx.Client) -> None:
    booked = booked_order(api)
    order = booked["order"]
    entry = board_entry(api, booked["day"], order["id"])
    assert (entry["species"], entry["owner"], entry["study_uid"], entry["images"]) == (
        "Canine",
        "OKAFOR, Ada",
        "",
        0,
    )
    assert entry["animal_name"] == "Pepper" and entry["order_status"] == "scheduled"  # existing fields kept
    study_uid = generate_uid()
    common = {
        "StudyInstanceUID": study_uid,
        "AccessionNumber": order["accession_number"],
        "PatientID": booked["animal"]["patient_id"],
        "PatientName": "OKAFOR^Pepper",
    }
    stow(live, dx_image(**common), dx_image(**common))

    def has_images() -> None:
        got = board_entry(api, booked["day"], order["id"])
        assert (got["study_uid"], got["images"], got["order_status"]) == (study_uid, 2, "images_received")

    eventually(has_images)


class Stream:
    """An SSE client on a thread: parsed events land in a queue."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status = 0
        self.content_type = ""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.comments: list[str] = []
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(15), "the stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self.opened.set()
                event: dict[str, Any] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif not line:
                        if "data" in event:  # a block with only retry: is no event
                            self.events.put(event)
                        event = {}
                    else:
                        field, _, value = line.partition(":")
                        event[field] = value.lstrip(" ")
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def next_of(self, event_type: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {event_type} event within {timeout}s"
            event = self.events.get(timeout=left)
            if event.get("event") == event_type:
                return event

    def close(self) -> None:
        self._client.close()


def test_events_stream_a_change_without_payload(live: LiveServer, api: httpx.Client) -> None:
    booked = booked_order(api)
    order_id = booked["order"]["id"]
    stream = Stream(f"{live.http_url}/api/v1/events", live.auth_headers())
    try:
        assert stream.status == 200
        assert stream.content_type.startswith("text/event-stream")
        time.sleep(0.3)
        assert api.post(f"/orders/{order_id}/arrived").status_code == 200
        event = stream.next_of("order.status_changed", timeout=5)
        data = json.loads(event["data"])
        assert set(data) == {"id", "type", "aggregate_type", "aggregate_id", "at"}  # no payload
        assert (data["aggregate_type"], data["aggregate_id"]) == ("order", str(order_id))
        assert event["id"] == str(data["id"])
        assert "Pepper" not in event["data"]
    finally:
        stream.close()


def test_cursor_replays_after_an_id(live: LiveServer, api: httpx.Client) -> None:
    booked = booked_order(api)  # order.created, order.status_changed, order.scheduled...
    first = Stream(f"{live.http_url}/api/v1/events?after=0", live.auth_headers())
    try:
        created = first.next_of("order.created")
        assert json.loads(created["data"])["type"] == "order.created"
    finally:
        first.close()
    # Last-Event-ID (what EventSource sends on reconnect) wins over ?after
    last = int(created["id"])
    second = Stream(
        f"{live.http_url}/api/v1/events?after=0", {**live.auth_headers(), "Last-Event-ID": str(last)}
    )
    try:
        nxt = second.events.get(timeout=10)
        assert int(nxt["id"]) > last
    finally:
        second.close()
    assert booked["order"]["status"] == "scheduled"


def test_events_need_orders_read_and_a_valid_cursor(live: LiveServer) -> None:
    url = f"{live.http_url}/api/v1/events"
    assert httpx.get(url, headers=token_for(live, "external_reader"), timeout=10).status_code == 403
    bad = httpx.get(url, headers={**live.auth_headers(), "Last-Event-ID": "abc"}, timeout=10)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(url, params={"after": "-1"}, headers=live.auth_headers(), timeout=10).status_code == 422


def test_sigterm_is_not_held_by_an_open_stream(server_factory: Any) -> None:
    srv: LiveServer = server_factory()
    srv.start()
    stream = Stream(f"{srv.http_url}/api/v1/events", srv.auth_headers())
    try:
        assert stream.status == 200
        started = time.monotonic()
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=20)
        assert time.monotonic() - started < 10
        assert srv.proc.returncode == 0
        assert stream.ended.wait(5)
    finally:
        stream.close()
        srv.stop()
