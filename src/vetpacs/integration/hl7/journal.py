"""The inbound message log (``hl7_messages``): one row per message with its ACK, found again by
sender and MSH-10 so a repeated message is answered with its stored ACK (HL7 v2.5.1 2.10.1)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, insert, select, update

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.integration.hl7.context import Outcome
from vetpacs.integration.hl7.parse import Header, Hl7Error
from vetpacs.integration.models import Hl7Message

log = logging.getLogger("vetpacs.hl7")

MESSAGES: Table = cast(Table, Hl7Message.__table__)


def new_control_id() -> str:
    return f"VP{uuid.uuid4().hex[:18]}"


def store_message(
    archive: Archive | Connection,
    head: Header,
    raw: str,
    ack: str,
    *,
    status: str,
    error: Hl7Error | None = None,
    outcome: Outcome | None = None,
    remote: str = "",
    synthetic: bool = False,
    ack_code: str = "",
) -> None:
    """Write (or, for a retried internal failure, rewrite) the ``hl7_messages`` row of one message."""
    control_id = head.control_id[:64]
    if synthetic or not control_id:
        control_id = f"~{uuid.uuid4().hex[:20]}"  # no usable MSH-10: a unique placeholder key
    values = {
        "direction": "in",
        "sending_application": head.sending_application[:64],
        "sending_facility": head.sending_facility[:64],
        "control_id": control_id,
        "message_type": (f"{head.message_type}^{head.trigger}" if head.trigger else head.message_type)[:16],
        "version": head.version[:8],
        "status": status,
        "ack_code": ack_code or (error.ack_code if error else ("AA" if ack else "")),
        "error": (
            f"{error.location}: {error.text}" if error and error.location else error.text if error else ""
        ),
        "patient_id": (outcome.patient_id if outcome else "")[:64],
        "accession_number": (outcome.accession_number if outcome else "")[:16],
        "raw": raw,
        "ack_raw": ack,
        "remote_address": remote[:64],
        "created_at": utcnow(),
    }

    def write(conn: Connection) -> None:
        key = (
            (MESSAGES.c.direction == "in")
            & (MESSAGES.c.sending_application == values["sending_application"])
            & (MESSAGES.c.sending_facility == values["sending_facility"])
            & (MESSAGES.c.control_id == control_id)
        )
        if conn.execute(select(MESSAGES.c.id).where(key)).first() is not None:
            conn.execute(update(MESSAGES).where(key).values(**values))
        else:
            conn.execute(insert(MESSAGES).values(**values))

    if isinstance(archive, Connection):
        write(archive)
    else:
        with archive.write_transaction() as conn:
            write(conn)


def stored_message(archive: Archive, head: Header) -> Row[Any] | None:
    with archive.engine.connect() as conn:
        return conn.execute(
            select(MESSAGES).where(
                MESSAGES.c.direction == "in",
                MESSAGES.c.sending_application == head.sending_application[:64],
                MESSAGES.c.sending_facility == head.sending_facility[:64],
                MESSAGES.c.control_id == head.control_id[:64],
            )
        ).first()


def store_message_safely(archive: Archive, head: Header, text: str, ack: str, **kwargs: Any) -> None:
    try:
        store_message(archive, head, text, ack, **kwargs)
    except Exception:  # the log must never stop the ACK
        log.exception("could not record HL7 message %s in hl7_messages", head.control_id)
