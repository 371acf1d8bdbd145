"""Outbox dispatcher: fans domain events out to partners and delivers them, in order per animal.

Two steps, both safe to run in several server processes at once:

1. **Fan-out.** Events in ``outbox_events`` past the ``fanout`` cursor become one ``deliveries`` row
   per active partner whose ``event_types`` match (and whose transport can carry the event). The
   unique ``(partner_id, event_id)`` constraint makes this exactly once per partner and event, even
   when a pass is repeated. Each delivery gets an *ordering key*: the animal the event concerns
   (``animal:<id>``), else its aggregate (``owner:<id>``, ``study:<uid>``). A partner only gets
   events that happened after it was registered.
2. **Delivery.** A pending delivery is *due* when its ``next_attempt_at`` has passed and no earlier
   pending delivery (by event id) of the same partner and ordering key exists: a failing delivery
   holds back the later ones of its key for that partner (the PMS sees each animal's events in
   order) while other keys proceed. A due delivery is *claimed* by pushing its ``next_attempt_at``
   past the send timeout (a lease; PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so two
   processes never claim the same row), then sent; the outcome is recorded in the row: delivered,
   or retried after an exponential backoff with jitter, or ``dead`` after ``delivery_max_attempts``
   (a dead delivery no longer holds its key back; ``retry_delivery`` makes it pending again).

Delivery is at least once: a process that dies between sending and recording sends again when the
lease runs out. Every message carries the event id and the delivery id so a partner can dedupe.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Table, and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.config import Settings
from vetpacs.events import LOOKBACK_SECONDS, OUTBOX, OutboxReader
from vetpacs.integration.models import Delivery, Partner
from vetpacs.orders.lifecycle import ORDERS

log = logging.getLogger("vetpacs.dispatcher")

PARTNERS: Table = cast(Table, Partner.__table__)
DELIVERIES: Table = cast(Table, Delivery.__table__)
FANOUT = "fanout"
FANOUT_BATCH = 500
LEASE_MARGIN = 30.0  # seconds a claim outlives the send timeout before another worker may retry
_RNG = random.Random()


class DeliveryStatus(StrEnum):
    """Where one delivery stands."""

    PENDING = "pending"  # waiting for its first attempt or its next retry
    DELIVERED = "delivered"  # the partner acknowledged it (2xx, HL7 AA/CA)
    DEAD = "dead"  # gave up after delivery_max_attempts; shown in the dead-letter view


@dataclass(frozen=True)
class PartnerTarget:
    """What a transport needs to reach one partner."""

    id: int
    name: str
    kind: str
    url: str = ""
    host: str = ""
    port: int = 0
    secret: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""


@dataclass(frozen=True)
class EventRecord:
    """One outbox event, decoded."""

    id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class DeliveryJob:
    """One attempt at delivering one event to one partner (``attempt`` counts from 1)."""

    delivery_id: int
    attempt: int
    ordering_key: str
    partner: PartnerTarget
    event: EventRecord


@dataclass(frozen=True)
class Outcome:
    """What a transport reports about one attempt."""

    delivered: bool
    status_code: int | None = None  # HTTP status of a webhook answer
    error: str = ""  # why it failed (or the partner's note), kept in the delivery row


class Transport(Protocol):
    """Sends deliveries of one partner kind (``webhook``, ``hl7``)."""

    kind: str

    def handles(self, event_type: str) -> bool:
        """Whether this transport can carry events of this type at all."""
        ...

    def send(self, job: DeliveryJob) -> Outcome:
        """Send one delivery and report the outcome (never raises for a partner's failure)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# --------------------------------------------------------------------------- pure rules
def event_types_match(spec: str, event_type: str) -> bool:
    """Whether a partner's comma list (``*``, ``order.*``, ``animal.created``) covers an event type."""
    for raw in spec.split(","):
        pattern = raw.strip()
        if not pattern:
            continue
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failures: ``base * 2**(attempts-1)``, capped,
    with "equal jitter" (between half and all of it) so partners coming back are not stampeded."""
    delay = min(cap, base * float(2 ** max(0, attempts - 1)))
    jitter = (rng or _RNG).uniform(0, delay / 2)
    return delay / 2 + jitter


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def ordering_key(conn: Connection, event: EventRecord, order_animals: dict[int, int | None]) -> str:
    """The key whose deliveries go out in event order: the animal concerned, else the aggregate.

    Order events without ``animal_id`` in their payload (steps, MPPS, study links) are keyed by the
    order's animal, looked up once per order (``order_animals`` caches it).
    """
    if event.aggregate_type == "animal":
        return f"animal:{event.aggregate_id}"[:64]
    animal = _as_int(event.payload.get("animal_id"))
    if animal is not None:
        return f"animal:{animal}"
    order_id = _as_int(event.payload.get("order_id"))
    if order_id is None and event.aggregate_type == "order":
        order_id = _as_int(event.aggregate_id)
    if order_id is not None:
        if order_id not in order_animals:
            order_animals[order_id] = conn.execute(
                select(ORDERS.c.animal_id).where(ORDERS.c.id == order_id)
            ).scalar()
        found = order_animals[order_id]
        return f"animal:{found}" if found is not None else f"order:{order_id}"
    return f"{event.aggregate_type}:{event.aggregate_id}"[:64]


def _event(row: Any) -> EventRecord:
    try:
        payload = json.loads(row.payload_json)
    except ValueError:
        payload = {"raw": row.payload_json}
    return EventRecord(
        id=row.id,
        type=row.type,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=payload if isinstance(payload, dict) else {"value": payload},
        actor=row.actor,
        created_at=row.created_at,
    )


def _insert_ignore(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert deliveries, skipping any (partner, event) pair that exists already."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        stmt: Any = pg_insert(DELIVERIES).on_conflict_do_nothing(index_elements=["partner_id", "event_id"])
    else:
        stmt = sqlite_insert(DELIVERIES).on_conflict_do_nothing(index_elements=["partner_id", "event_id"])
    inserted = 0
    for row in rows:  # one by one: rowcount tells what was new
        inserted += conn.execute(stmt.values(**row)).rowcount or 0
    return inserted


# --------------------------------------------------------------------------- fan-out
def fan_out(
    archive: Archive,
    *,
    can_carry: Mapping[str, Transport] | None = None,
    batch: int = FANOUT_BATCH,
    lookback_seconds: float = LOOKBACK_SECONDS,
) -> int:
    """Turn outbox events past the cursor into deliveries for matching partners.

    Returns how many events the cursor moved past (``batch`` means: call again, there may be more).

    ``can_carry`` maps a partner kind to its transport: a partner only gets the event types its
    transport handles (an HL7 partner subscribed to ``*`` gets no ``owner.updated``).
    """
    reader = OutboxReader(FANOUT, lookback_seconds=lookback_seconds, batch=batch)  # from event 1
    with archive.engine.connect() as conn:  # cheap look first: no write lock when idle
        if reader.idle(conn):
            return 0
    with archive.write_transaction() as conn:
        reader.ensure(conn)
        cursor = reader.position(conn, lock=True)
        if cursor is None:
            return 0  # another process is fanning out right now
        partners = conn.execute(select(PARTNERS).where(PARTNERS.c.active.is_(True))).all()
        rows = reader.ahead(conn, cursor)
        # A transaction that took its id before a later one but committed after it would be behind
        # the cursor already: look at recent events again (the unique key dedupes, so this reader
        # needs no memory of what it fanned out).
        behind = reader.behind(conn, cursor, limit=batch)
        if not rows and not behind:
            return 0
        made = _fan_out_rows(conn, partners, [*behind, *rows], can_carry)
        if rows:
            reader.advance(conn, rows[-1].id)  # in the same transaction as the deliveries
    if made:
        log.debug("fanned out %d deliver(ies) from %d event(s)", made, len(rows))
    return len(rows)


def _fan_out_rows(
    conn: Connection,
    partners: Iterable[Any],
    events: Iterable[Any],
    can_carry: Mapping[str, Transport] | None,
) -> int:
    partners = list(partners)
    now = utcnow()
    order_animals: dict[int, int | None] = {}
    new: list[dict[str, Any]] = []
    for row in events:
        event: EventRecord | None = None
        for partner in partners:
            if row.created_at < partner.created_at or not event_types_match(partner.event_types, row.type):
                continue
            transport = can_carry.get(partner.kind) if can_carry is not None else None
            if can_carry is not None and (transport is None or not transport.handles(row.type)):
                continue
            event = event or _event(row)
            new.append(
                {
                    "partner_id": partner.id,
                    "event_id": row.id,
                    "ordering_key": ordering_key(conn, event, order_animals),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "response_status": None,
                    "delivered_at": None,
                    "created_at": now,
                }
            )
    return _insert_ignore(conn, new)


# --------------------------------------------------------------------------- delivery
def due_query(now: datetime, limit: int) -> Any:
    """Pending deliveries that are due and first in line for their partner and ordering key."""
    earlier = aliased(DELIVERIES)
    blocked = exists().where(
        and_(
            earlier.c.partner_id == DELIVERIES.c.partner_id,
            earlier.c.ordering_key == DELIVERIES.c.ordering_key,
            earlier.c.status == DeliveryStatus.PENDING.value,
            earlier.c.event_id < DELIVERIES.c.event_id,
        )
    )
    active = select(PARTNERS.c.id).where(PARTNERS.c.active.is_(True))
    return (
        select(DELIVERIES.c.id, DELIVERIES.c.attempts)
        .where(
            DELIVERIES.c.status == DeliveryStatus.PENDING.value,
            DELIVERIES.c.next_attempt_at <= now,
            DELIVERIES.c.partner_id.in_(active),  # a paused partner's deliveries wait
            ~blocked,
        )
        .order_by(DELIVERIES.c.event_id)
        .limit(limit)
    )


def claim_due(archive: Archive, *, limit: int = 16, lease_seconds: float = 60.0) -> list[DeliveryJob]:
    """Claim up to ``limit`` due deliveries (a lease of ``lease_seconds``) and return them as jobs."""
    now = utcnow()
    with archive.engine.connect() as conn:  # cheap look first: no write lock when nothing is due
        if conn.execute(due_query(now, 1)).first() is None:
            return []
    with archive.write_transaction() as conn:
        stmt = due_query(now, limit)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=DELIVERIES, skip_locked=True)
        claimed = conn.execute(stmt).all()
        if not claimed:
            return []
        ids = [row.id for row in claimed]
        conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(ids))
            .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
        )
        rows = conn.execute(
            select(
                DELIVERIES.c.id.label("delivery_id"),
                DELIVERIES.c.attempts,
                DELIVERIES.c.ordering_key,
                PARTNERS,
                OUTBOX.c.id.label("event_pk"),
                OUTBOX.c.type.label("event_type"),
                OUTBOX.c.aggregate_type,
                OUTBOX.c.aggregate_id,
                OUTBOX.c.payload_json,
                OUTBOX.c.actor,
                OUTBOX.c.created_at.label("event_created_at"),
            )
            .join(PARTNERS, PARTNERS.c.id == DELIVERIES.c.partner_id)
            .join(OUTBOX, OUTBOX.c.id == DELIVERIES.c.event_id)
            .where(DELIVERIES.c.id.in_(ids))
            .order_by(DELIVERIES.c.event_id)
        ).all()
    return [_job(row) for row in rows]


def _job(row: Any) -> DeliveryJob:
    partner = PartnerTarget(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        host=row.host,
        port=row.port,
        secret=row.secret,
        receiving_application=row.receiving_application,
        receiving_facility=row.receiving_facility,
    )
    event = _event(
        _Row(
            id=row.event_pk,
            type=row.event_type,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            payload_json=row.payload_json,
            actor=row.actor,
            created_at=row.event_created_at,
        )
    )
    return DeliveryJob(
        delivery_id=row.delivery_id,
        attempt=row.attempts + 1,
        ordering_key=row.ordering_key,
        partner=partner,
        event=event,
    )


@dataclass(frozen=True)
class _Row:
    id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload_json: str
    actor: str
    created_at: datetime


def record_outcome(
    archive: Archive,
    job: DeliveryJob,
    outcome: Outcome,
    *,
    max_attempts: int,
    backoff_base: float,
    backoff_cap: float,
) -> DeliveryStatus:
    """Write one attempt's outcome into the delivery row: delivered, retry later, or dead."""
    now = utcnow()
    values: dict[str, Any] = {
        "attempts": job.attempt,
        "response_status": outcome.status_code,
        "last_error": outcome.error[:2000],
    }
    if outcome.delivered:
        status = DeliveryStatus.DELIVERED
        values.update(status=status.value, delivered_at=now, next_attempt_at=now)
    elif job.attempt >= max_attempts:
        status = DeliveryStatus.DEAD
        values.update(status=status.value, next_attempt_at=now)
    else:
        status = DeliveryStatus.PENDING
        delay = backoff_delay(job.attempt, base=backoff_base, cap=backoff_cap)
        values.update(status=status.value, next_attempt_at=now + timedelta(seconds=delay))
    with archive.write_transaction() as conn:
        conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == job.delivery_id, DELIVERIES.c.status == DeliveryStatus.PENDING.value)
            .values(**values)
        )
    level = logging.INFO if status != DeliveryStatus.PENDING else logging.WARNING
    log.log(
        level,
        "delivery %d (event %d %s) to %s attempt %d: %s%s",
        job.delivery_id,
        job.event.id,
        job.event.type,
        job.partner.name,
        job.attempt,
        status.value,
        f" ({outcome.error})" if outcome.error and not outcome.delivered else "",
    )
    return status


# --------------------------------------------------------------------------- the worker
def default_transports(archive: Archive, settings: Settings) -> dict[str, Transport]:
    """The webhook and HL7 transports, configured from settings."""
    from vetpacs.integration.hl7.outbound import Hl7Transport
    from vetpacs.integration.webhooks.sender import WebhookTransport

    return {
        "webhook": WebhookTransport(timeout=settings.delivery_timeout_seconds),
        "hl7": Hl7Transport(archive, settings),
    }


class Dispatcher:
    """The background worker: fan out new events, send due deliveries, until stopped."""

    def __init__(
        self,
        archive: Archive,
        settings: Settings,
        transports: Mapping[str, Transport] | None = None,
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.transports = (
            dict(transports) if transports is not None else default_transports(archive, settings)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.delivery_concurrency), thread_name_prefix="vetpacs-delivery"
        )

    def run_once(self) -> int:
        """One pass: fan out every new event, then send one batch of due deliveries; returns sent."""
        while fan_out(self.archive, can_carry=self.transports, batch=FANOUT_BATCH) == FANOUT_BATCH:
            pass
        lease = self.settings.delivery_timeout_seconds + LEASE_MARGIN
        jobs = claim_due(
            self.archive, limit=max(1, self.settings.delivery_concurrency) * 4, lease_seconds=lease
        )
        if not jobs:
            return 0
        list(self._pool.map(self._attempt, jobs))
        return len(jobs)

    def _attempt(self, job: DeliveryJob) -> DeliveryStatus:
        transport = self.transports.get(job.partner.kind)
        if transport is None:
            outcome = Outcome(False, error=f"no transport for partner kind {job.partner.kind!r}")
        else:
            try:
                outcome = transport.send(job)
            except Exception as exc:  # a bug in a transport must not stop the worker
                log.exception("delivery %d: transport failed", job.delivery_id)
                outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}")
        return record_outcome(
            self.archive,
            job,
            outcome,
            max_attempts=self.settings.delivery_max_attempts,
            backoff_base=self.settings.delivery_backoff_seconds,
            backoff_cap=self.settings.delivery_backoff_max_seconds,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database may be briefly unavailable: log and keep going
                log.exception("dispatcher pass failed")
                busy = 0
            if not busy:
                self._stop.wait(self.settings.dispatcher_poll_seconds)

    def start(self) -> None:
        """Run the worker on a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vetpacs-dispatcher", daemon=True)
        self._thread.start()
        log.info("outbox dispatcher started")

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the deliveries in flight (each bounded by the send timeout), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        for transport in self.transports.values():
            transport.close()
        log.info("outbox dispatcher stopped")
