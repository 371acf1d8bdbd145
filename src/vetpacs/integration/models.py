"""Integration tables: HL7 message log, partners (HL7 and webhook destinations) and deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base


class Hl7Message(Base):
    """Every HL7 v2 message in and out, with its outcome (the searchable message log)."""

    __tablename__ = "hl7_messages"
    __table_args__ = (
        UniqueConstraint(
            "direction",
            "sending_application",
            "sending_facility",
            "control_id",
            name="uq_hl7_messages_control_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), nullable=True, index=True)
    sending_application: Mapped[str] = mapped_column(String(64), default="")  # MSH-3
    sending_facility: Mapped[str] = mapped_column(String(64), default="")  # MSH-4
    control_id: Mapped[str] = mapped_column(String(64), default="")  # MSH-10; a repeat is not applied twice
    message_type: Mapped[str] = mapped_column(String(16), default="", index=True)  # ADT^A01, ORM^O01...
    version: Mapped[str] = mapped_column(String(8), default="")  # MSH-12
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # applied, rejected, error, duplicate, sent...
    ack_code: Mapped[str] = mapped_column(String(2), default="")  # AA, AE, AR (in: ours; out: theirs)
    error: Mapped[str] = mapped_column(Text, default="")  # why, with the failing field (ERR)
    patient_id: Mapped[str] = mapped_column(String(64), default="", index=True)  # for the admin search
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)
    raw: Mapped[str] = mapped_column(Text)  # the message as received or sent (segments joined by \r)
    ack_raw: Mapped[str] = mapped_column(Text, default="")
    remote_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Partner(Base):
    """A destination for domain events: a webhook URL or an HL7 v2 (MLLP) endpoint of a PMS."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # webhook, hl7
    url: Mapped[str] = mapped_column(String(512), default="")  # webhook: https://pms.example/hooks/vetpacs
    host: Mapped[str] = mapped_column(String(255), default="")  # hl7: MLLP host
    port: Mapped[int] = mapped_column(Integer, default=0)  # hl7: MLLP port
    secret: Mapped[str] = mapped_column(String(128), default="")  # webhook HMAC-SHA256 key
    event_types: Mapped[str] = mapped_column(Text, default="*")  # comma list; * = every event
    receiving_application: Mapped[str] = mapped_column(String(64), default="")  # hl7 MSH-5
    receiving_facility: Mapped[str] = mapped_column(String(64), default="")  # hl7 MSH-6
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Delivery(Base):
    """One event for one partner: retried with backoff until delivered or dead (never dropped)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("partner_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    ordering_key: Mapped[str] = mapped_column(String(64), default="", index=True)  # e.g. animal:12
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxCursor(Base):
    """How far the dispatcher has fanned out the outbox into deliveries (one row, name 'fanout')."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
