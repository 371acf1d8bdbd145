"""Reading the HL7 v2 message log (``hl7_messages``): search and one message with its ACK."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, select

from vetpacs.auth.audit import Database
from vetpacs.errors import NotFound
from vetpacs.integration.hl7.journal import MESSAGES


class Hl7MessageQuery(BaseModel):
    """Filters of the message log; every given filter must match."""

    direction: str = Field(default="", pattern=r"^(in|out|)$", description="in or out.")
    type: str = Field(default="", max_length=16, description="Message type: ADT^A01, or a prefix (ADT).")
    status: str = Field(default="", max_length=16, description="applied, error, rejected, truncated, ...")
    patient_id: str = Field(default="", max_length=64)
    accession: str = Field(default="", max_length=16)
    since: datetime | None = Field(default=None, description="Received (or sent) at or after (UTC).")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class Hl7MessageRead(BaseModel):
    """One logged message without its bytes."""

    id: int
    direction: str
    partner_id: int | None
    sending_application: str
    sending_facility: str
    control_id: str
    message_type: str
    version: str
    status: str
    ack_code: str
    error: str
    patient_id: str
    accession_number: str
    remote_address: str
    created_at: datetime


class Hl7MessageDetail(Hl7MessageRead):
    """One logged message with the message and its ACK (segments separated by CR)."""

    raw: str
    ack_raw: str


class Hl7MessagePage(BaseModel):
    """A page of the message log, newest first."""

    items: list[Hl7MessageRead]
    total: int
    limit: int
    offset: int


def _read(row: Any) -> Hl7MessageRead:
    return Hl7MessageRead.model_validate({k: getattr(row, k) for k in Hl7MessageRead.model_fields})


def list_messages(db: Database, query: Hl7MessageQuery) -> Hl7MessagePage:
    """Search the message log, newest first."""
    where: list[ColumnElement[bool]] = []
    if query.direction:
        where.append(MESSAGES.c.direction == query.direction)
    if query.type:
        kind = query.type.upper()
        where.append(
            MESSAGES.c.message_type == kind if "^" in kind else MESSAGES.c.message_type.like(kind + "%")
        )
    if query.status:
        where.append(MESSAGES.c.status == query.status)
    if query.patient_id:
        where.append(MESSAGES.c.patient_id == query.patient_id)
    if query.accession:
        where.append(MESSAGES.c.accession_number == query.accession)
    if query.since is not None:
        since = query.since
        if since.tzinfo is not None:
            since = since.astimezone(UTC).replace(tzinfo=None)
        where.append(MESSAGES.c.created_at >= since)
    columns = [MESSAGES.c[name] for name in Hl7MessageRead.model_fields]
    with db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(MESSAGES).where(*where)).scalar_one()
        rows = conn.execute(
            select(*columns)
            .where(*where)
            .order_by(MESSAGES.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        ).all()
    return Hl7MessagePage(
        items=[_read(r) for r in rows], total=int(total), limit=query.limit, offset=query.offset
    )


def get_message(db: Database, message_id: int) -> Hl7MessageDetail:
    """One logged message with its raw text and ACK; NotFound otherwise."""
    with db.engine.connect() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
    if row is None:
        raise NotFound(f"no HL7 message with id {message_id}")
    return Hl7MessageDetail.model_validate({k: getattr(row, k) for k in Hl7MessageDetail.model_fields})
