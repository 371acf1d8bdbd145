"""Domain events, written to the outbox in the same transaction as the change they describe.

Integrations (webhooks, HL7 out, billing) read the outbox after commit and consume each event at
least once, idempotently (``id`` is the idempotency key). Event types are past tense, dotted:
``animal.created``, ``order.scheduled``, ``order.status_changed``, ``study.received``,
``study.linked``, ``study.unmatched``, ``animals.merged``...

Each consumer reads through an :class:`OutboxReader`: a named cursor (a row of ``outbox_cursors``)
and the events past it, plus, on PostgreSQL, a second look at recent events at or below it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    Row,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base
from vetpacs.integration.models import OutboxCursor

if TYPE_CHECKING:
    from vetpacs.auth.audit import Database


class OutboxEvent(Base):
    """One domain event waiting for (or done with) its consumers."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(32))  # animal, owner, order, study...
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    payload_json: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


OUTBOX: Table = cast(Table, OutboxEvent.__table__)


def emit(
    conn: Connection,
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: str | int,
    payload: dict[str, Any],
    actor: str = "system",
) -> None:
    """Add one event to the outbox inside the caller's transaction (it commits with the change)."""
    conn.execute(
        insert(OUTBOX).values(
            type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=str(aggregate_id),
            payload_json=json.dumps(payload, default=str, ensure_ascii=False),
            actor=actor,
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )
    )


BATCH = 500  # events read at most per call of :func:`events_after`


def newest_event_id(engine: Engine) -> int:
    """The newest outbox event id (0 when the outbox is empty): where a new stream starts."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(OUTBOX.c.id))).scalar() or 0)


def events_after(engine: Engine, low: int) -> list[dict[str, Any]]:
    """Outbox events with an id above ``low``, oldest first, without their payload (what
    ``/api/v1/events`` streams)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.type,
                OUTBOX.c.aggregate_type,
                OUTBOX.c.aggregate_id,
                OUTBOX.c.created_at,
            )
            .where(OUTBOX.c.id > low)
            .order_by(OUTBOX.c.id)
            .limit(BATCH)
        ).all()
    return [
        {
            "id": r.id,
            "type": r.type,
            "aggregate_type": r.aggregate_type,
            "aggregate_id": r.aggregate_id,
            "at": r.created_at.isoformat() + "Z",
        }
        for r in rows
    ]


# --------------------------------------------------------------------------- consumers' cursors
CURSORS: Table = cast(Table, OutboxCursor.__table__)
LOOKBACK_SECONDS = 120.0
"""How far back (seconds) a reader on PostgreSQL looks again at events at or below its cursor."""
REMEMBER = 10_000  # event ids a reader remembers having handled (so a second look skips them)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class OutboxReader:
    """One consumer's way through the outbox: a named cursor, the events past it, and a second look.

    The cursor is the ``outbox_cursors`` row ``name``; made when missing, at the newest event
    (``start_at_newest``: a new consumer does not act on history) or at 0. It only moves forward,
    and only after the events up to it were handled (at least once: a crash in between hands them
    out again).

    On PostgreSQL ids come from a sequence taken before commit, so a transaction can commit an event
    with a lower id after a later one was read: it would be behind the cursor already. Each pass
    therefore looks again at the events of the last ``lookback_seconds`` at or below the cursor,
    skipping those this reader handled (it remembers the last :data:`REMEMBER` ids) and, when this
    reader made the cursor at the newest event, those below that start. SQLite has one writer at a
    time, so ids commit in order there and no second look is needed (``look_back``: None, the
    default, looks back on PostgreSQL only; True or False decide for every database).

    ``types`` keeps the events a consumer reacts to (the cursor still moves past the others).
    :meth:`read` is a whole pass (the cursor moves after each batch is handled); a consumer that
    must move the cursor in the same transaction as its work uses :meth:`ensure`,
    :meth:`position`, :meth:`ahead`, :meth:`behind` and :meth:`advance` on its own connection, and
    :meth:`handled` after commit if it wants the second look to skip what it did (the fan-out does
    not: its unique key dedupes).
    """

    def __init__(
        self,
        name: str,
        *,
        start_at_newest: bool = False,
        types: Iterable[str] | None = None,
        lookback_seconds: float = LOOKBACK_SECONDS,
        look_back: bool | None = None,
        batch: int = BATCH,
    ) -> None:
        self.name = name
        self.start_at_newest = start_at_newest
        self.types = frozenset(types) if types is not None else None
        self.lookback_seconds = lookback_seconds
        self.look_back = look_back  # None: on PostgreSQL only
        self.batch = batch
        self._recent: OrderedDict[int, None] = OrderedDict()  # ids handled lately (the second look)
        self._floor = 0  # a cursor this reader made at the newest event: the second look stays above

    def _looks_back(self, conn: Connection) -> bool:
        return conn.dialect.name == "postgresql" if self.look_back is None else self.look_back

    def wants(self, event_type: str) -> bool:
        """Whether the consumer reacts to this event type."""
        return self.types is None or event_type in self.types

    # ----------------------------------------------------------------- the cursor row
    def position(self, conn: Connection, *, lock: bool = False) -> int | None:
        """The cursor (None when it does not exist yet).

        ``lock`` (PostgreSQL): lock the row for this transaction, or answer None when another
        transaction holds it (``FOR UPDATE SKIP LOCKED``).
        """
        stmt = select(CURSORS.c.last_event_id).where(CURSORS.c.name == self.name)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        found = conn.execute(stmt).scalar()
        return None if found is None else int(found)

    def ensure(self, conn: Connection) -> None:
        """Make the cursor when missing, inside the caller's write transaction (concurrent makers
        are fine: the first one wins)."""
        if self.position(conn) is None:
            self._create(conn)

    def _create(self, conn: Connection) -> int:
        start = 0
        if self.start_at_newest:
            start = int(conn.execute(select(func.max(OUTBOX.c.id))).scalar() or 0)
        maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(maker(CURSORS).values(name=self.name, last_event_id=start).on_conflict_do_nothing())
        stmt = select(CURSORS.c.last_event_id).where(CURSORS.c.name == self.name)
        self._floor = int(conn.execute(stmt).scalar_one())  # inserted now, or by a concurrent maker
        return self._floor

    def start(self, db: Database) -> int:
        """The cursor, made when missing (a cheap read first: no write lock when it exists)."""
        with db.engine.connect() as conn:
            found = self.position(conn)
        if found is not None:
            return found
        with db.write_transaction() as conn:
            return self._create(conn)

    def advance(self, conn: Connection, to: int) -> None:
        """Move the cursor forward to ``to`` (never back: a slower concurrent pass changes nothing)."""
        conn.execute(
            update(CURSORS)
            .where(CURSORS.c.name == self.name, CURSORS.c.last_event_id < to)
            .values(last_event_id=to)
        )

    # ----------------------------------------------------------------- the events
    def idle(self, conn: Connection) -> bool:
        """Whether a pass has nothing to read: no event past the cursor and (PostgreSQL) none recent."""
        cursor = self.position(conn)
        newest = conn.execute(select(func.max(OUTBOX.c.id))).scalar()
        if newest is None:
            return True
        if cursor is None or newest > cursor:
            return False
        if not self._looks_back(conn):
            return True
        since = _now() - timedelta(seconds=self.lookback_seconds)
        return conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.created_at >= since).limit(1)).first() is None

    def ahead(self, conn: Connection, cursor: int) -> Sequence[Row[Any]]:
        """The next batch of events past ``cursor``, oldest first, of every type (the cursor moves
        past the ones the consumer ignores too)."""
        return conn.execute(
            select(OUTBOX).where(OUTBOX.c.id > cursor).order_by(OUTBOX.c.id).limit(self.batch)
        ).all()

    def behind(self, conn: Connection, cursor: int, *, limit: int | None = None) -> list[Row[Any]]:
        """The wanted events of the last ``lookback_seconds`` at or below ``cursor`` that this reader
        has not handled, oldest first (at most ``limit``); none unless the reader looks back."""
        if not self._looks_back(conn) or cursor <= 0:
            return []
        since = _now() - timedelta(seconds=self.lookback_seconds)
        stmt = select(OUTBOX).where(
            OUTBOX.c.id > self._floor, OUTBOX.c.id <= cursor, OUTBOX.c.created_at >= since
        )
        if self.types is not None:
            stmt = stmt.where(OUTBOX.c.type.in_(sorted(self.types)))
        stmt = stmt.order_by(OUTBOX.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [row for row in conn.execute(stmt).all() if row.id not in self._recent]

    def handled(self, event_id: int) -> None:
        """Remember that this event was handled: the second look skips it."""
        self._recent[event_id] = None
        while len(self._recent) > REMEMBER:
            self._recent.popitem(last=False)

    def read(self, db: Database, handle: Callable[[Row[Any]], None]) -> int:
        """One pass: hand each wanted event past the cursor (and, on PostgreSQL, each recent one not
        handled yet) to ``handle``, moving the cursor after each batch; returns events read past it.

        An exception from ``handle`` ends the pass with the cursor before that event's batch.
        """
        cursor = self.start(db)
        with db.engine.connect() as conn:
            behind = self.behind(conn, cursor)
        for row in behind:
            handle(row)
            self.handled(row.id)
        read = 0
        while True:
            with db.engine.connect() as conn:
                rows = self.ahead(conn, cursor)
            if not rows:
                break
            for row in rows:
                if self.wants(row.type):
                    handle(row)
                    self.handled(row.id)
            cursor = rows[-1].id
            with db.write_transaction() as conn:
                self.advance(conn, cursor)
            read += len(rows)
            if len(rows) < self.batch:
                break
        return read
