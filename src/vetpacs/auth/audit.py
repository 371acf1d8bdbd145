"""The audit log: who did what to which object, when, from where, with what outcome.

Two ways to write a row:

- ``record_in(conn, ...)`` inside the caller's transaction: the row commits (or not) with the change
  it describes. Every write service (users, tokens, logins) uses it.
- ``AuditLog.record(...)``: for reads on the hot path (a viewer fetching frames, a denied request).
  Rows go to an in-memory queue that a background thread writes in batches, so a request never
  waits on the database for its audit row. Rows still in the queue when the process is killed are
  lost (ADR 0004); ``close()`` (on shutdown) writes what is left.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine, Table, insert, select

from vetpacs.auth.models import AuditEvent
from vetpacs.auth.roles import Actor
from vetpacs.auth.schemas import AuditRead

log = logging.getLogger("vetpacs.audit")

AUDIT: Table = cast(Table, AuditEvent.__table__)
SERVICE_VIAS = frozenset({"system", "cli", "dicom", "hl7", "worker"})


class Database(Protocol):
    """What auth needs of the index: an engine and a write transaction (an Archive qualifies)."""

    engine: Engine

    def write_transaction(self) -> AbstractContextManager[Connection]: ...


def utcnow() -> datetime:
    """Now, in UTC, naive (how the index stores times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def audit_row(
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    address: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one audit row."""
    return {
        "at": at or utcnow(),
        "actor": actor.username[:64],
        "user_id": actor.user_id,
        # An unknown or anonymous caller has no role (its Actor's role is a placeholder).
        "role": actor.role.value if actor.user_id is not None or actor.via in SERVICE_VIAS else "",
        "via": actor.via[:16],
        "action": action[:64],
        "object_type": object_type[:32],
        "object_id": str(object_id)[:128],
        "outcome": outcome[:16],
        "address": (address or actor.address)[:64],
        "detail": json.dumps(detail, default=str, separators=(",", ":")) if detail else "",
    }


def record_in(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    address: str = "",
) -> None:
    """Write one audit row inside the caller's transaction (commits with the change it describes)."""
    conn.execute(
        insert(AUDIT).values(
            audit_row(
                actor,
                action,
                object_type=object_type,
                object_id=object_id,
                outcome=outcome,
                detail=detail,
                address=address,
            )
        )
    )


class AuditLog:
    """Buffered audit writer: ``record`` queues, a background thread writes batches."""

    def __init__(self, db: Database, *, batch_size: int = 500, max_queue: int = 100_000) -> None:
        self.db = db
        self.batch_size = batch_size
        self.max_queue = max_queue
        self._queue: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._pending = 0  # queued + being written
        self._closed = False
        self._thread: threading.Thread | None = None
        self.dropped = 0

    # ------------------------------------------------------------------ writing
    def record(
        self,
        actor: Actor,
        action: str,
        *,
        object_type: str = "",
        object_id: str = "",
        outcome: str = "success",
        detail: dict[str, Any] | None = None,
        address: str = "",
    ) -> None:
        """Queue one audit row; returns at once (the time is taken now, not when written)."""
        row = audit_row(
            actor,
            action,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            detail=detail,
            address=address,
        )
        with self._cond:
            if self._closed:
                # After shutdown (late requests): write directly rather than lose the row.
                self._write([row])
                return
            if len(self._queue) >= self.max_queue:
                self.dropped += 1
                log.error("audit queue full, row dropped: %s", row)
                return
            self._queue.append(row)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vetpacs-audit", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written (or ``timeout`` passes); True when empty."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer thread; later rows are written synchronously."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._pending -= len(batch)
                    self._cond.notify_all()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        for attempt in range(3):
            try:
                with self.db.write_transaction() as conn:
                    conn.execute(insert(AUDIT), rows)
                return
            except Exception:
                if attempt == 2:
                    log.exception("could not write %d audit row(s); they follow as JSON", len(rows))
                    for row in rows:
                        log.error("lost audit row: %s", json.dumps(row, default=str))
                    return
                time.sleep(0.2 * (attempt + 1))


def query_audit(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRead]:
    """Audit rows matching every given filter, newest first.

    ``action`` matches exactly, or as a prefix when it ends with ``*`` (``login*``). Times are UTC;
    aware datetimes are converted.
    """
    stmt = select(AUDIT)
    if actor:
        stmt = stmt.where(AUDIT.c.actor == actor)
    if action:
        if action.endswith("*"):
            prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(AUDIT.c.action.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(AUDIT.c.action == action)
    if object_type:
        stmt = stmt.where(AUDIT.c.object_type == object_type)
    if object_id:
        stmt = stmt.where(AUDIT.c.object_id == object_id)
    if since is not None:
        stmt = stmt.where(AUDIT.c.at >= _naive_utc(since))
    if until is not None:
        stmt = stmt.where(AUDIT.c.at < _naive_utc(until))
    stmt = stmt.order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(limit).offset(offset)
    with db.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        AuditRead(
            id=r.id,
            time=r.at.replace(tzinfo=UTC),
            actor=r.actor,
            user_id=r.user_id,
            role=r.role,
            via=r.via,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            outcome=r.outcome,
            address=r.address,
            detail=json.loads(r.detail) if r.detail else None,
        )
        for r in rows
    ]


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
