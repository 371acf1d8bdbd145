"""The billing consumer: reads order events from the outbox and posts charges, at least once.

It keeps its own cursor (``outbox_cursors`` row ``billing``, started at the newest event by
migration 0009) and reacts to:

- ``order.status_changed`` to ``completed`` (MPPS COMPLETED), ``images_received`` or ``reported``:
  :func:`~vetpacs.billing.service.charge_completed_order` (idempotent: a second run posts nothing;
  a reported order with charges moves to ``billed``);
- ``animals.merged``: the merged animal's charges follow the survivor.

The cursor moves after the events are handled, so a crash in between handles them again, which the
service's idempotency absorbs; several workers may run it at once for the same reason. On PostgreSQL
a transaction can commit an event with a lower id after a later one was read, so events of the last
two minutes are looked at once more, each handled once per worker (both are the shared
:class:`~vetpacs.events.OutboxReader`'s, which the dispatcher's fan-out uses too). Orders never
import billing: this consumer is the only link, started with the worker (``vetpacs serve``,
``--only worker``).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from vetpacs.auth.audit import Database
from vetpacs.auth.roles import Actor, Role
from vetpacs.billing.service import charge_completed_order, move_charges
from vetpacs.errors import NotFound, VetPACSError
from vetpacs.events import LOOKBACK_SECONDS, OutboxReader

log = logging.getLogger("vetpacs.billing")

CURSOR = "billing"
TRIGGERS = frozenset({"completed", "images_received", "reported"})
"""``order.status_changed`` targets that post charges (or, for ``reported``, bill the order)."""
EVENT_TYPES = ("order.status_changed", "animals.merged")
BILLING_ACTOR = Actor(username="billing", role=Role.ADMIN, via="worker")


def handle_event(
    db: Database, event_type: str, payload: dict[str, Any], *, actor: Actor = BILLING_ACTOR
) -> bool:
    """Apply one outbox event to billing; True when it was one billing reacts to."""
    if event_type == "order.status_changed" and payload.get("to") in TRIGGERS:
        order_id = payload.get("order_id")
        if not isinstance(order_id, int):
            return False
        try:
            result = charge_completed_order(db, order_id, actor=actor)
        except NotFound:
            return False
        if result.posted or result.problems or result.billed:
            log.info(
                "order %s: %d charge(s) posted%s%s",
                order_id,
                len(result.posted),
                ", billed" if result.billed else "",
                f" ({'; '.join(result.problems)})" if result.problems else "",
            )
        return True
    if event_type == "animals.merged":
        merged, survivor = payload.get("merged_id"), payload.get("survivor_id")
        if isinstance(merged, int) and isinstance(survivor, int) and merged != survivor:
            move_charges(db, merged, survivor, actor=actor)
            return True
    return False


class BillingConsumer:
    """Reads the outbox past its cursor and applies billing's events; one pass or a background thread."""

    def __init__(
        self, db: Database, *, poll_seconds: float = 1.0, lookback_seconds: float = LOOKBACK_SECONDS
    ):
        self.db = db
        self.poll_seconds = poll_seconds
        # Migration 0009 makes the cursor at the newest event (no charges for history); so does the
        # reader when the row is missing.
        self.reader = OutboxReader(
            CURSOR, start_at_newest=True, types=EVENT_TYPES, lookback_seconds=lookback_seconds
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Handle every event past the cursor (and, on PostgreSQL, recent ones); returns events read."""
        return self.reader.read(self.db, self._apply)

    def _apply(self, row: Any) -> None:
        try:
            payload = json.loads(row.payload_json)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            try:
                handle_event(self.db, row.type, payload)
            except VetPACSError as exc:  # a refused change (e.g. a lifecycle conflict): log, go on
                log.warning("billing: event %d (%s) not applied: %s", row.id, row.type, exc)
        else:  # never a silent drop: the missed-charge report lists its order, and the log says why
            log.warning("billing: event %d (%s) has no JSON object payload; skipped", row.id, row.type)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database may be briefly unavailable: log and keep going
                log.exception("billing consumer pass failed")
                busy = 0
            if not busy:
                self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        """Run on a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vetpacs-billing", daemon=True)
        self._thread.start()
        log.info("billing consumer started")

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the event being handled, then stop (the cursor keeps the place)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
