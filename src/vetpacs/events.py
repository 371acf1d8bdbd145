"""Domain events, written to the outbox in the same transaction as the change they describe.

Integrations (webhooks, HL7 out, billing) read the outbox after commit and consume each event at
least once, idempotently (``id`` is the idempotency key). Event types are past tense, dotted:
``animal.created``, ``order.scheduled``, ``order.status_changed``, ``study.received``,
``study.linked``, ``study.unmatched``, ``animals.merged``...
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, DateTime, Engine, Integer, String, Table, Text, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base


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
