"""Webhooks and HL7 out from a live ``vetpacs serve``: partners registered over REST, real receivers.

The issue's check: a PMS receiver is stopped, events are produced through the REST API, the receiver
starts again, and every message arrives exactly once, in order per animal, with a valid signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hl7
import httpx
import pytest

from conftest import LiveServer, free_port  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

DOG, CAT = "448771007", "448169003"
FAST = {
    "VETPACS_DISPATCHER_POLL_SECONDS": "0.1",
    "VETPACS_DELIVERY_BACKOFF_SECONDS": "0.2",
    "VETPACS_DELIVERY_BACKOFF_MAX_SECONDS": "1",
    "VETPACS_HL7_PORT": "0",
}


@dataclass
class WebhookReceiver:
    """The PMS: verifies each signature with the secret it was given, keeps what it accepted."""

    port: int
    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/vetpacs/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-VetPACS-Timestamp"]
                mac = hmac.new(receiver.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
                fresh = abs(time.time() - int(stamp)) < 300
                if not fresh or not hmac.compare_digest(
                    "sha256=" + mac.hexdigest(), self.headers["X-VetPACS-Signature"]
                ):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                doc = json.loads(body)
                assert self.headers["X-VetPACS-Event"] == doc["type"]
                receiver.received.append(doc)
                receiver.deliveries.append(int(self.headers["X-VetPACS-Delivery"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class MllpPms:
    """An HL7 PMS stand-in: keeps each MLLP message and answers AA."""

    messages: list[str] = field(default_factory=list)
    sock: socket.socket | None = None

    def start(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        assert self.sock is not None
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while b"\x1c\r" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buf += data
                if b"\x1c\r" not in buf:
                    continue
                raw = buf.split(b"\x1c\r")[0].lstrip(b"\x0b").decode()
                self.messages.append(raw)
                control_id = raw.split("\r")[0].split("|")[9]
                ack = f"MSH|^~\\&|PMS|CLINIC|VETPACS|VETPACS|20261129||ACK|X{len(self.messages)}|P|2.3.1\r"
                conn.sendall(b"\x0b" + (ack + f"MSA|AA|{control_id}\r").encode() + b"\x1c\r")

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def live(server_factory: Callable[..., LiveServer]) -> Iterator[tuple[LiveServer, httpx.Client]]:
    srv = server_factory(**FAST)
    srv.start()
    seeded = srv.cli("catalog", "seed")
    assert seeded.returncode == 0
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        yield srv, api


def all_deliveries(api: httpx.Client, partner_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/partners/{partner_id}/deliveries", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def new_animal(api: httpx.Client, name: str, owner_id: int, species: str = DOG) -> int:
    response = api.post(
        "/animals", json={"name": name, "species_code": species, "owners": [{"owner_id": owner_id}]}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def new_order(api: httpx.Client, animal_id: int) -> int:
    response = api.post("/orders", json={"animal_id": animal_id, "procedure_codes": ["DX-THX2"]})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_receiver_down_then_up_gets_every_event_once_in_order_per_animal(
    live: tuple[LiveServer, httpx.Client],
) -> None:
    _srv, api = live
    pms = WebhookReceiver(port=free_port())
    pms.start()
    created = api.post("/partners", json={"name": "cloud-pms", "kind": "webhook", "url": pms.url})
    assert created.status_code == 201, created.text
    partner = created.json()
    pms.secret = partner["secret"]
    assert partner["secret"].startswith("whsec_") and partner["has_secret"]
    assert "secret" not in api.get(f"/partners/{partner['id']}").json()

    owner = api.post("/owners", json={"family_name": "Smith"}).json()["id"]
    first = new_animal(api, "Rex", owner)
    wait_for(lambda: any(e["type"] == "animal.created" for e in pms.received), what="the first webhook")

    pms.stop()  # the PMS goes down
    animals = [first, new_animal(api, "Bella", owner, CAT), new_animal(api, "Max", owner)]
    orders = [new_order(api, a) for a in animals]
    assert api.post(f"/orders/{orders[0]}/arrived").status_code == 200
    assert api.post(f"/orders/{orders[1]}/cancel", json={"reason": "owner called"}).status_code == 200
    assert api.post(f"/orders/{orders[2]}/arrived").status_code == 200
    assert api.patch(f"/animals/{first}", json={"weight_kg": 31.5}).status_code == 200
    assert api.post(f"/orders/{orders[0]}/cancel").status_code == 200

    # deliveries wait and are retried while the PMS is down; nothing is dropped
    # (the fan-out turns events into deliveries in its own passes: wait for all ten, not only the first)
    def retried_and_all_waiting() -> bool:
        found = all_deliveries(api, partner["id"])
        pending = sum(d["status"] == "pending" for d in found)
        return pending >= 10 and any(d["attempts"] >= 2 and d["last_error"] for d in found)

    wait_for(retried_and_all_waiting, what="failed attempts on every waiting delivery")
    waiting = [d for d in all_deliveries(api, partner["id"]) if d["status"] == "pending"]
    assert len(waiting) >= 10 and not any(d["status"] == "dead" for d in all_deliveries(api, partner["id"]))
    listed = api.get("/partners").json()
    assert listed[0]["pending"] >= 10

    pms.start()  # the PMS is back, on the same URL
    wait_for(
        lambda: all(d["status"] == "delivered" for d in all_deliveries(api, partner["id"])),
        timeout=60,
        what="every delivery",
    )
    deliveries = all_deliveries(api, partner["id"])
    assert pms.bad_signatures == 0
    got = [e["id"] for e in pms.received]
    assert len(got) == len(set(got)), "an event arrived twice"
    assert set(got) == {d["event_id"] for d in deliveries}
    assert sorted(pms.deliveries) == sorted(d["id"] for d in deliveries)
    types = [e["type"] for e in pms.received]
    assert types.count("animal.created") == 3 and types.count("order.created") == 3
    assert types.count("order.status_changed") == 4 and types.count("order.cancelled") == 2
    # in order per animal: each ordering key's events arrived in event order
    key_of = {d["event_id"]: d["ordering_key"] for d in deliveries}
    for animal in animals:
        arrived = [e["id"] for e in pms.received if key_of[e["id"]] == f"animal:{animal}"]
        assert arrived == sorted(arrived) and len(arrived) >= 3
    rex = [e for e in pms.received if key_of[e["id"]] == f"animal:{first}"]
    assert [e["type"] for e in rex] == [
        "animal.created",
        "order.created",
        "order.status_changed",
        "animal.updated",
        "order.status_changed",
        "order.cancelled",
    ]
    assert rex[2]["data"]["to"] == "arrived" and rex[4]["data"]["to"] == "cancelled"
    pms.stop()


def test_hl7_partner_receives_orm_status_updates(live: tuple[LiveServer, httpx.Client]) -> None:
    _srv, api = live
    pms = MllpPms()
    port = pms.start()
    try:
        created = api.post(
            "/partners",
            json={
                "name": "legacy-pms",
                "kind": "hl7",
                "host": "127.0.0.1",
                "port": port,
                "receiving_application": "PMS",
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["secret"] is None
        owner = api.post("/owners", json={"family_name": "Jones"}).json()["id"]
        dog = new_animal(api, "Fido", owner)
        order = new_order(api, dog)
        assert api.post(f"/orders/{order}/arrived").status_code == 200
        assert api.post(f"/orders/{order}/cancel", json={"reason": "vomiting"}).status_code == 200
        wait_for(lambda: len(pms.messages) == 2, what="two ORM messages")
        parsed = [hl7.parse(m) for m in pms.messages]
        assert [str(m.segment("MSH")[9]) for m in parsed] == ["ORM^O01", "ORM^O01"]
        assert [str(m.segment("ORC")[1]) for m in parsed] == ["SC", "SC"]
        assert [str(m.segment("ORC")[5]) for m in parsed] == ["IP", "CA"]
        accession = api.get(f"/orders/{order}").json()["accession_number"]
        assert str(parsed[0].segment("ORC")[3]) == accession
        assert str(parsed[0].segment("PID")[5]) == "Jones^Fido"
        assert str(parsed[0].segment("PID")[35]).startswith(DOG)
        wait_for(
            lambda: all(d["status"] == "delivered" for d in all_deliveries(api, created.json()["id"])),
            what="deliveries marked delivered",
        )
        assert len(all_deliveries(api, created.json()["id"])) == 2
    finally:
        pms.stop()


def test_partner_admin_dead_letter_and_retry(server_factory: Callable[..., LiveServer]) -> None:
    srv = server_factory(**FAST, VETPACS_DELIVERY_MAX_ATTEMPTS="2")
    srv.start()
    pms = WebhookReceiver(port=free_port())  # not started: the PMS is down
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        bad = api.post("/partners", json={"name": "x", "kind": "webhook", "url": "ftp://nope"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        assert api.post("/partners", json={"name": "y", "kind": "hl7", "host": "h"}).status_code == 400
        assert api.post("/partners", json={"name": "z", "kind": "smtp"}).status_code == 422
        created = api.post(
            "/partners", json={"name": "pms", "kind": "webhook", "url": pms.url, "event_types": ["owner.*"]}
        ).json()
        assert (
            api.post("/partners", json={"name": "pms", "kind": "webhook", "url": pms.url}).status_code == 409
        )
        rotated = api.post(f"/partners/{created['id']}/secret").json()["secret"]
        assert rotated != created["secret"]
        pms.secret = rotated
        assert api.post("/animals", json={"name": "Ignored"}).status_code == 201  # not subscribed
        assert api.post("/owners", json={"family_name": "Brown"}).status_code == 201
        wait_for(
            lambda: api.get("/deliveries", params={"status": "dead"}).json()["total"] == 1, what="dead letter"
        )
        dead = api.get("/deliveries", params={"status": "dead"}).json()["items"][0]
        assert dead["event_type"] == "owner.created" and dead["attempts"] == 2
        assert dead["last_error"] and dead["partner_name"] == "pms"
        assert api.post(f"/deliveries/{dead['id']}/retry").status_code == 200  # still down: dies again
        wait_for(lambda: api.get(f"/deliveries/{dead['id']}").json()["status"] == "dead", what="dead again")
        pms.start()
        try:
            retried = api.post(f"/deliveries/{dead['id']}/retry")
            assert retried.status_code == 200 and retried.json()["status"] == "pending"
            wait_for(
                lambda: api.get(f"/deliveries/{dead['id']}").json()["status"] == "delivered", what="retry"
            )
            assert [e["type"] for e in pms.received] == ["owner.created"] and pms.bad_signatures == 0
            assert api.post(f"/deliveries/{dead['id']}/retry").status_code == 409
        finally:
            pms.stop()
        paused = api.patch(f"/partners/{created['id']}", json={"active": False, "event_types": ["*"]})
        assert paused.status_code == 200 and paused.json()["event_types"] == ["*"]
        assert api.get("/deliveries/999999").status_code == 404
        # partners are for system:manage only
        user = srv.cli("user", "add", "desk", "--role", "front_desk", "--generate-password")
        assert user.returncode == 0
        token = srv.cli("user", "token", "desk", "--name", "t").stdout.strip()
        denied = httpx.get(srv.http_url + "/api/v1/partners", headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 403
        assert api.delete(f"/partners/{created['id']}").status_code == 204
        assert api.get(f"/partners/{created['id']}").status_code == 404
    assert srv.stop() == 0  # SIGTERM: the worker stops cleanly with the server
    assert "outbox dispatcher stopped" in srv.log()
