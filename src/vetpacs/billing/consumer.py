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
two minutes are looked at once more (as the dispatcher's fan-out does). Orders never import billing:
this consumer is the only link, started with the worker (``vetpacs serve``, ``--only worker``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vetpacs.auth.audit import Database, utcnow
from vetpacs.auth.roles import Actor, Role
from vetpacs.billing.service import charge_completed_order, move_charges
from vetpacs.errors import NotFound, VetPACSError
from vetpacs.events import OUTBOX
from vetpacs.integration.models import OutboxCursor

log = logging.getLogger("vetpacs.billing")

CURSORS: Table = cast(Table, OutboxCursor.__table__)
CURSOR = "billing"
BATCH = 500
LOOKBACK_SECONDS = 120.0
TRIGGERS = frozenset({"completed", "images_received", "reported"})
"""``order.status_changed`` targets that post charges (or, for ``reported``, bill the order)."""
EVENT_TYPES = ("order.status_changed", "animals.merged")
BILLING_ACTOR = Actor(username="billing", role=Role.ADMIN, via="worker")


def _cursor(db: Database) -> tuple[int, bool]:
    """The consumer's cursor and whether it was made now: at the newest event (no charges for history)."""
    with db.engine.connect() as conn:
        found = conn.execute(select(CURSORS.c.last_event_id).where(CURSORS.c.name == CURSOR)).scalar()
    if found is not None:
        return int(found), False
    with db.write_transaction() as conn:
        newest = int(conn.execute(select(OUTBOX.c.id).order_by(OUTBOX.c.id.desc()).limit(1)).scalar() or 0)
        maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(maker(CURSORS).values(name=CURSOR, last_event_id=newest).on_conflict_do_nothing())
        return int(
            conn.execute(select(CURSORS.c.last_event_id).where(CURSORS.c.name == CURSOR)).scalar_one()
        ), True


def _move_cursor(db: Database, to: int) -> None:
    with db.write_transaction() as conn:
        conn.execute(
            update(CURSORS)
            .where(CURSORS.c.name == CURSOR, CURSORS.c.last_event_id < to)
            .values(last_event_id=to)
        )


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
        self.lookback_seconds = lookback_seconds
        self._recent: OrderedDict[int, None] = OrderedDict()  # event ids handled lately (lookback)
        self._floor = 0  # a cursor made at the newest event: the lookback stays above it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Handle every event past the cursor (and, on PostgreSQL, recent ones); returns events read."""
        cursor, made = _cursor(self.db)
        if made:
            self._floor = cursor
        postgres = self.db.engine.dialect.name == "postgresql"
        wanted = OUTBOX.c.type.in_(EVENT_TYPES)
        read = 0
        with self.db.engine.connect() as conn:
            behind: Sequence[Any] = []
            if postgres and cursor > 0:
                since = utcnow() - timedelta(seconds=self.lookback_seconds)
                behind = conn.execute(
                    select(OUTBOX.c.id, OUTBOX.c.type, OUTBOX.c.payload_json)
                    .where(
                        OUTBOX.c.id > self._floor, OUTBOX.c.id <= cursor, OUTBOX.c.created_at >= since, wanted
                    )
                    .order_by(OUTBOX.c.id)
                ).all()
        for row in behind:
            if row.id not in self._recent:
                self._apply(row)
        while True:
            with self.db.engine.connect() as conn:
                rows = conn.execute(
                    select(OUTBOX.c.id, OUTBOX.c.type, OUTBOX.c.payload_json)
                    .where(OUTBOX.c.id > cursor)
                    .order_by(OUTBOX.c.id)
                    .limit(BATCH)
                ).all()
            if not rows:
                break
            for row in rows:
                if row.type in EVENT_TYPES:
                    self._apply(row)
            cursor = rows[-1].id
            _move_cursor(self.db, cursor)
            read += len(rows)
            if len(rows) < BATCH:
                break
        return read

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
        self._recent[row.id] = None
        while len(self._recent) > 10_000:
            self._recent.popitem(last=False)

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
