"""Outbox dispatcher on a real SQLite (or PostgreSQL) index against a real local HTTP receiver.

The receiver (``http.server`` on a loopback port) checks every HMAC signature with its own code, not
ours, and answers what each test scripts: success, an error status, or a slow answer (timeout).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM
from vetpacs.config import Settings
from vetpacs.events import CURSORS, emit
from vetpacs.integration.dispatcher import (
    DELIVERIES,
    Dispatcher,
    backoff_delay,
    event_types_match,
    fan_out,
)
from vetpacs.integration.webhooks import partners as svc
from vetpacs.integration.webhooks.partners import PartnerCreate, PartnerKind, PartnerUpdate
from vetpacs.integration.webhooks.sender import verify_signature
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate
from vetpacs.patients.service import create_animal, create_owner


@dataclass
class Received:
    event_id: int
    delivery_id: int
    type: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures; ``plan(body) -> (status, delay)`` scripts answers."""

    secret: str = ""
    received: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    plan: Callable[[dict[str, Any]], tuple[int, float]] = lambda body: (204, 0.0)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-VetPACS-Timestamp"]
                expected = hmac.new(receiver.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
                if not hmac.compare_digest(
                    "sha256=" + expected.hexdigest(), self.headers["X-VetPACS-Signature"]
                ):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                doc = json.loads(body)
                status, delay = receiver.plan(doc)
                if delay:
                    time.sleep(delay)
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.received.append(
                            Received(doc["id"], int(self.headers["X-VetPACS-Delivery"]), doc["type"], doc)
                        )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


def fast_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "delivery_backoff_seconds": 0.05,
        "delivery_backoff_max_seconds": 0.2,
        "delivery_timeout_seconds": 2.0,
        "dispatcher_poll_seconds": 0.02,
        "delivery_concurrency": 4,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def dispatcher(archive: Archive, tmp_path: Path) -> Iterator[Dispatcher]:
    d = Dispatcher(archive, fast_settings(tmp_path))
    yield d
    d.stop()


def webhook(archive: Archive, receiver: Receiver, name: str = "pms", types: list[str] | None = None) -> int:
    created = svc.create_partner(
        archive,
        PartnerCreate(name=name, kind=PartnerKind.WEBHOOK, url=receiver.url, event_types=types or ["*"]),
        actor=SYSTEM,
    )
    assert created.secret and created.secret.startswith("whsec_")
    receiver.secret = created.secret
    return created.id


def event(archive: Archive, event_type: str, animal_id: int, n: int) -> None:
    with archive.write_transaction() as conn:
        emit(
            conn,
            event_type,
            aggregate_type="order",
            aggregate_id=1000 + animal_id,
            payload={"animal_id": animal_id, "n": n},
        )


def drain(d: Dispatcher, until: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "deliveries did not settle in time"
        if not d.run_once():
            time.sleep(0.02)


def statuses(archive: Archive) -> dict[str, int]:
    with archive.engine.connect() as conn:
        rows = conn.execute(select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status)).all()
    return {r[0]: int(r[1]) for r in rows}


# --------------------------------------------------------------------------- pure rules
def test_event_types_match() -> None:
    assert event_types_match("*", "animal.created")
    assert event_types_match("animal.created, order.*", "order.status_changed")
    assert event_types_match("order.*", "order.created")
    assert not event_types_match("order.*", "orders.merged")
    assert not event_types_match("animal.created", "animal.updated")
    assert not event_types_match("", "animal.created")


def test_backoff_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(7)
    for attempts, full in [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (12, 3600.0)]:
        for _ in range(50):
            delay = backoff_delay(attempts, base=5.0, cap=3600.0, rng=rng)
            assert full / 2 <= delay <= full
    spread = {round(backoff_delay(3, base=5.0, cap=3600.0, rng=rng), 3) for _ in range(20)}
    assert len(spread) > 10  # jittered, not a fixed schedule


# --------------------------------------------------------------------------- fan-out
def test_fan_out_exactly_once_per_matching_partner(
    archive: Archive, receiver: Receiver, tmp_path: Path
) -> None:
    everything = webhook(archive, receiver, "all")
    orders_only = webhook(archive, receiver, "orders", ["order.*"])
    paused = webhook(archive, receiver, "paused")
    svc.update_partner(archive, paused, PartnerUpdate(active=False), actor=SYSTEM)
    hl7 = svc.create_partner(
        archive,
        PartnerCreate(name="hl7", kind=PartnerKind.HL7, host="127.0.0.1", port=9, event_types=["*"]),
        actor=SYSTEM,
    ).id
    owner = create_owner(archive, OwnerCreate(family_name="Smith"), actor=SYSTEM)
    rex = create_animal(archive, AnimalCreate(name="Rex"), actor=SYSTEM)  # animal.created
    event(archive, "order.status_changed", rex.id, 1)
    event(archive, "order.cancelled", rex.id, 2)

    transports = Dispatcher(archive, fast_settings(tmp_path)).transports
    assert fan_out(archive, can_carry=transports) == 4
    assert fan_out(archive, can_carry=transports) == 0
    # A pass repeated from the start (a crash before the cursor moved) adds nothing.
    with archive.write_transaction() as conn:
        conn.execute(update(CURSORS).values(last_event_id=0))
    fan_out(archive, can_carry=transports)
    with archive.engine.connect() as conn:
        rows = conn.execute(select(DELIVERIES.c.partner_id, DELIVERIES.c.ordering_key)).all()
    per_partner: dict[int, int] = {}
    for row in rows:
        per_partner[row.partner_id] = per_partner.get(row.partner_id, 0) + 1
    assert per_partner == {everything: 4, orders_only: 2, hl7: 1}  # hl7: order.status_changed only
    keys = {row.ordering_key for row in rows}
    assert keys == {f"owner:{owner.id}", f"animal:{rex.id}"}


def test_partner_gets_only_events_after_it_was_registered(archive: Archive, receiver: Receiver) -> None:
    event(archive, "order.created", 1, 0)  # before any partner
    time.sleep(0.01)
    pid = webhook(archive, receiver)
    event(archive, "order.created", 1, 1)
    fan_out(archive)
    page = svc.list_deliveries(archive, partner_id=pid)
    assert page.total == 1


# --------------------------------------------------------------------------- delivery
def test_delivers_signed_events_in_order_per_animal(
    archive: Archive, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    pid = webhook(archive, receiver)
    for n in range(6):
        event(archive, "order.status_changed", 1 + n % 2, n)
    drain(dispatcher, lambda: len(receiver.received) == 6)
    assert receiver.bad_signatures == 0
    for animal in (1, 2):
        ns = [r.body["data"]["n"] for r in receiver.received if r.body["data"]["animal_id"] == animal]
        assert ns == sorted(ns) and len(ns) == 3
    first = receiver.received[0].body
    assert set(first) == {"id", "type", "occurred_at", "aggregate", "data"}
    assert first["aggregate"] == {"type": "order", "id": str(1000 + first["data"]["animal_id"])}
    assert first["occurred_at"].endswith("Z")
    page = svc.list_deliveries(archive, partner_id=pid, status="delivered")
    assert page.total == 6
    assert all(d.attempts == 1 and d.response_status == 204 for d in page.items)
    assert {d.id for d in page.items} == {r.delivery_id for r in receiver.received}


def test_failing_delivery_holds_back_its_key_only(
    archive: Archive, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    webhook(archive, receiver)
    failing = {"on": True}

    def plan(body: dict[str, Any]) -> tuple[int, float]:
        if body["data"]["animal_id"] == 1 and failing["on"]:
            return 503, 0.0
        return 200, 0.0

    receiver.plan = plan
    for n in range(3):
        event(archive, "order.status_changed", 1, n)
        event(archive, "order.status_changed", 2, n)
    drain(dispatcher, lambda: len(receiver.received) == 3)  # animal 2's three
    with archive.engine.connect() as conn:
        attempted = conn.execute(
            select(DELIVERIES.c.ordering_key, DELIVERIES.c.attempts, DELIVERIES.c.last_error).where(
                DELIVERIES.c.ordering_key == "animal:1"
            )
        ).all()
    # only the first of animal 1 was tried (and failed); the two after it wait behind it
    tried = sorted(a.attempts for a in attempted)
    assert tried[:2] == [0, 0] and tried[2] >= 1
    assert any(a.attempts >= 1 and "HTTP 503" in a.last_error for a in attempted)
    failing["on"] = False
    drain(dispatcher, lambda: len(receiver.received) == 6)
    ones = [r.body["data"]["n"] for r in receiver.received if r.body["data"]["animal_id"] == 1]
    assert ones == [0, 1, 2]
    assert len({r.event_id for r in receiver.received}) == 6


def test_backoff_then_dead_letter_then_retry(archive: Archive, receiver: Receiver, tmp_path: Path) -> None:
    d = Dispatcher(archive, fast_settings(tmp_path, delivery_max_attempts=3))
    try:
        webhook(archive, receiver)
        down = {"on": True}
        receiver.plan = lambda body: (500, 0.0) if down["on"] and body["data"]["n"] == 0 else (200, 0.0)
        event(archive, "order.status_changed", 1, 0)
        event(archive, "order.status_changed", 1, 1)
        started = time.monotonic()
        drain(d, lambda: statuses(archive).get("dead") == 1 and len(receiver.received) == 1)
        # three attempts with backoff between them: at least 0.025 + 0.05 seconds of waiting
        assert time.monotonic() - started >= 0.07
        dead = svc.list_deliveries(archive, status="dead")
        assert dead.total == 1
        item = dead.items[0]
        assert item.attempts == 3 and item.response_status == 500 and "HTTP 500" in item.last_error
        # the dead one no longer holds the animal's later event back
        assert receiver.received[0].body["data"]["n"] == 1
        down["on"] = False
        retried = svc.retry_delivery(archive, item.id, actor=SYSTEM)
        assert retried.status == "pending" and retried.attempts == 0
        drain(d, lambda: len(receiver.received) == 2)
        assert svc.get_delivery(archive, item.id).status == "delivered"
        with pytest.raises(Exception, match="only a dead delivery"):
            svc.retry_delivery(archive, item.id, actor=SYSTEM)
    finally:
        d.stop()


def test_timeout_and_refused_connection_are_retried(archive: Archive, tmp_path: Path) -> None:
    slow = Receiver()
    slow.start()
    d = Dispatcher(archive, fast_settings(tmp_path, delivery_timeout_seconds=0.3))
    try:
        webhook(archive, slow)
        calls = {"n": 0}

        def plan(body: dict[str, Any]) -> tuple[int, float]:
            calls["n"] += 1
            return (200, 1.0) if calls["n"] == 1 else (200, 0.0)

        slow.plan = plan
        event(archive, "order.status_changed", 1, 0)
        drain(d, lambda: statuses(archive).get("delivered") == 1)
        item = svc.list_deliveries(archive).items[0]
        assert item.attempts == 2
        # the slow first answer may still land: at least once, the delivery id lets a partner dedupe
        assert {r.delivery_id for r in slow.received} == {item.id}
        # a partner that is down (connection refused) delays, never loses
        url = slow.url
        slow.stop()
        event(archive, "order.status_changed", 1, 1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            d.run_once()
            page = svc.list_deliveries(archive, status="pending")
            if page.total and page.items[0].attempts >= 2:
                break
            time.sleep(0.02)
        pending = svc.list_deliveries(archive, status="pending").items
        assert pending and pending[0].attempts >= 2 and "Connect" in pending[0].last_error
        assert url.endswith("/hooks")
    finally:
        d.stop()
        slow.stop()


def test_signature_helper_matches_an_independent_check() -> None:
    secret, stamp, body = "whsec_x", str(int(time.time())), b'{"id":1}'
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_signature(secret, stamp, body, "sha256=" + mac)
    assert not verify_signature("other", stamp, body, "sha256=" + mac)
    assert not verify_signature(secret, str(int(time.time()) - 3600), body, "sha256=" + mac)


def test_worker_thread_starts_and_stops(archive: Archive, receiver: Receiver, tmp_path: Path) -> None:
    d = Dispatcher(archive, fast_settings(tmp_path))
    webhook(archive, receiver)
    d.start()
    try:
        event(archive, "order.status_changed", 3, 0)
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.received) == 1
    finally:
        d.stop()
    assert d._thread is None


def test_paused_partner_deliveries_wait_until_it_is_active_again(
    archive: Archive, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    pid = webhook(archive, receiver)
    event(archive, "order.status_changed", 1, 0)
    fan_out(archive, can_carry=dispatcher.transports)
    svc.update_partner(archive, pid, PartnerUpdate(active=False), actor=SYSTEM)
    for _ in range(5):
        dispatcher.run_once()
    assert receiver.received == [] and svc.get_partner(archive, pid).pending == 1
    svc.update_partner(archive, pid, PartnerUpdate(active=True), actor=SYSTEM)
    drain(dispatcher, lambda: len(receiver.received) == 1)
    assert svc.list_deliveries(archive, partner_id=pid).items[0].attempts == 1
