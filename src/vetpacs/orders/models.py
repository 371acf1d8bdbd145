"""Procedure catalog, stations, orders, scheduled and performed steps, study links, reconciliation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base


class OrderStatus(StrEnum):
    """The order lifecycle (issue: ordered -> ... -> billed, with cancellation and no-show)."""

    ORDERED = "ordered"
    SCHEDULED = "scheduled"
    ARRIVED = "arrived"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    IMAGES_RECEIVED = "images_received"
    REPORTED = "reported"
    BILLED = "billed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    DISCONTINUED = "discontinued"


class StepStatus(StrEnum):
    """Scheduled Procedure Step Status (0040,0020) and our own states before the modality acts."""

    SCHEDULED = "SCHEDULED"
    ARRIVED = "ARRIVED"
    IN_PROGRESS = "IN PROGRESS"  # MPPS N-CREATE
    COMPLETED = "COMPLETED"  # MPPS N-SET COMPLETED
    DISCONTINUED = "DISCONTINUED"  # MPPS N-SET DISCONTINUED
    CANCELLED = "CANCELLED"


class Priority(StrEnum):
    ROUTINE = "ROUTINE"
    URGENT = "URGENT"
    STAT = "STAT"


class Procedure(Base):
    """A catalog entry: an imaging procedure the clinic performs (and bills)."""

    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # Requested Procedure Code Value
    coding_scheme: Mapped[str] = mapped_column(String(16), default="99VETPACS")
    name: Mapped[str] = mapped_column(String(64))  # Requested Procedure Description
    modality: Mapped[str] = mapped_column(String(16), index=True)  # DX, US, CT, MR, IO...
    body_region: Mapped[str] = mapped_column(String(64), default="")  # Body Part Examined, e.g. CHEST
    default_views: Mapped[str] = mapped_column(Text, default="")  # e.g. "R-L lateral\\VD"
    species_codes: Mapped[str] = mapped_column(Text, default="")  # backslash list; empty = every species
    duration_minutes: Mapped[int] = mapped_column(Integer, default=15)
    fee_code: Mapped[str] = mapped_column(String(32), default="")  # for billing
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Station(Base):
    """A modality in a room: where steps are scheduled and who fetches them from the worklist."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)  # Scheduled Station AE Title
    station_name: Mapped[str] = mapped_column(String(16), default="")  # Scheduled Station Name
    modality: Mapped[str] = mapped_column(String(16), index=True)
    location: Mapped[str] = mapped_column(String(64), default="")  # room
    opening_hours: Mapped[str] = mapped_column(Text, default="")  # JSON: {"mon": ["08:00", "18:00"], ...}
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Order(Base):
    """An imaging order for one animal: it gets an accession number and one or more steps."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    accession_number: Mapped[str] = mapped_column(String(16), unique=True)  # (0008,0050)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    placer_order_number: Mapped[str] = mapped_column(String(64), default="", index=True)  # the PMS's id
    requesting_vet: Mapped[str] = mapped_column(String(64), default="")  # Requesting Physician (PN)
    clinical_question: Mapped[str] = mapped_column(Text, default="")  # Reason for the Requested Procedure
    priority: Mapped[str] = mapped_column(String(8), default=Priority.ROUTINE.value)
    body_region: Mapped[str] = mapped_column(String(64), default="")
    laterality: Mapped[str] = mapped_column(String(2), default="")  # R, L, B or ""
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.ORDERED.value, index=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)  # assigned at order time
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ScheduledStep(Base):
    """A Requested Procedure with its Scheduled Procedure Step (one per procedure of an order)."""

    __tablename__ = "scheduled_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"))
    requested_procedure_id: Mapped[str] = mapped_column(String(16), index=True)  # (0040,1001)
    step_id: Mapped[str] = mapped_column(String(16), unique=True)  # Scheduled Procedure Step ID (0040,0009)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), nullable=True, index=True)
    modality: Mapped[str] = mapped_column(String(16), index=True)
    start: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)  # local clinic time
    duration_minutes: Mapped[int] = mapped_column(Integer, default=15)
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.SCHEDULED.value, index=True)
    protocol: Mapped[str] = mapped_column(String(64), default="")  # Scheduled Protocol Code Meaning
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class OrderTransition(Base):
    """Every status change of an order: from, to, who, when, why."""

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime)


class PerformedStep(Base):
    """A Modality Performed Procedure Step (PS3.4 F.7) as N-CREATE / N-SET left it."""

    __tablename__ = "performed_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)  # the MPPS instance
    scheduled_step_id: Mapped[int | None] = mapped_column(
        ForeignKey("scheduled_steps.id"), nullable=True, index=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16))  # IN PROGRESS, COMPLETED, DISCONTINUED
    station_ae_title: Mapped[str] = mapped_column(String(16), default="")
    started_at: Mapped[str] = mapped_column(String(32), default="")  # DA+TM as sent
    ended_at: Mapped[str] = mapped_column(String(32), default="")
    performed_series_json: Mapped[str] = mapped_column(Text, default="[]")  # series UIDs and their instances
    dataset_json: Mapped[str] = mapped_column(Text, default="{}")  # the attributes as last set (DICOM JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class OrderStudy(Base):
    """A stored study linked to an order (automatically on ingest, or by a person)."""

    __tablename__ = "order_studies"
    __table_args__ = (UniqueConstraint("order_id", "study_instance_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    matched_by: Mapped[str] = mapped_column(String(32))  # accession, study-uid, requested-procedure, manual
    linked_by: Mapped[str] = mapped_column(String(64))  # "system" or a username
    linked_at: Mapped[datetime] = mapped_column(DateTime)


class ReconciliationItem(Base):
    """A stored study that could not be linked (no order, or conflicting demographics)."""

    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(
        String(32), index=True
    )  # no-order, species-mismatch, name-mismatch...
    detail: Mapped[str] = mapped_column(Text, default="")  # human-readable: what differed
    candidates_json: Mapped[str] = mapped_column(Text, default="[]")  # likely orders/animals, ranked
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open, linked, rejected
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    animal_id: Mapped[int | None] = mapped_column(ForeignKey("animals.id"), nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(64), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The study's corrections overlay before the link (DICOM JSON), restored by an undo
    previous_overlay_json: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class IdempotencyKey(Base):
    """A create request's Idempotency-Key and its stored answer, so a PMS can retry safely."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("username", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(
        String(64)
    )  # method, path and body: a reuse with other content is 422
    status_code: Mapped[int] = mapped_column(Integer)
    response_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
