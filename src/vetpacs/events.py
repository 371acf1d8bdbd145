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

from sqlalchemy import Connection, DateTime, Integer, String, Table, Text, insert
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
