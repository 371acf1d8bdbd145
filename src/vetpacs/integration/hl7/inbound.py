"""Apply inbound HL7 v2 messages (ADT, ORM, OMI) to animals, owners and orders; answer with an ACK.

Implements, for HL7 v2.3.1 to v2.5.1:
- chapter 3 (Patient Administration, in ``adt.py``): ADT^A01/A04/A05/A08/A28/A31 register or update
  an animal and its owner (3.3.1, 3.3.4, 3.3.8), ADT^A40 merge patient (3.3.40, IHE PIR), ADT^A47
  change patient identifier (3.3.47);
- chapter 4 (Order Entry, in ``orders.py``): ORM^O01 (v2.3.1 4.4.1; IHE SWF flavour with
  OBR-18/19/20/24 and ZDS) and OMI^O23 (v2.5.1 4.4.10, the IPC segment) create (ORC-1 NW), change
  (XO: re-book) and cancel (CA, OC, DC) orders;
- chapter 2 (here, with the message log in ``journal.py``): original-mode acknowledgment (2.9.2)
  with MSA and ERR; a repeated MSH-10 from the same MSH-3/MSH-4 is answered with the stored ACK and
  not applied twice. ``context.py`` holds what the handlers share.

Each message is applied in ONE index transaction, together with its audit rows, outbox events and
its ``hl7_messages`` row; the ACK is returned only after that commit. Veterinary conventions (see
docs/integration/hl7.md): PID-5 ``OWNER^Animal``, PID-8.2 neuter Y/N, PID-35/36 coded species and
breed, owner in NK1 or PID-9, microchip as a PID-3 repetition with identifier type RFID/MC or
assigning authority MICROCHIP, weight in OBX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import hl7
from sqlalchemy.exc import IntegrityError

from vetpacs.archive.context import Archive
from vetpacs.auth.roles import Actor, Role
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.integration.hl7 import parse as p
from vetpacs.integration.hl7.adt import ADT_REGISTER, adt_change_id, adt_merge, adt_register
from vetpacs.integration.hl7.context import InTransaction, Outcome
from vetpacs.integration.hl7.journal import (
    MESSAGES,
    new_control_id,
    store_message,
    store_message_safely,
    stored_message,
)
from vetpacs.integration.hl7.orders import apply_order
from vetpacs.integration.hl7.parse import Header, Hl7Error

log = logging.getLogger("vetpacs.hl7")

__all__ = ["MESSAGES", "Hl7Listener", "handle_message", "hl7_actor"]


@dataclass
class Hl7Listener:
    """Inbound HL7 v2 message handling bound to an archive (what the MLLP server calls)."""

    archive: Archive
    application: str = "VETPACS"  # our MSH-3 in ACKs
    patient_id_prefix: str = "VP"
    issuer_of_patient_id: str = "VETPACS"
    handlers: dict[str, Callable[[InTransaction, hl7.Message, Header, Actor], Outcome]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        for trigger in ADT_REGISTER:
            self.handlers[f"ADT^{trigger}"] = partial(adt_register, self)
        self.handlers["ADT^A40"] = adt_merge
        self.handlers["ADT^A47"] = adt_change_id
        self.handlers["ORM^O01"] = partial(apply_order, self)
        self.handlers["OMI^O23"] = partial(apply_order, self)

    # ------------------------------------------------------------------ entry point
    def handle(self, raw: bytes, remote: str = "") -> bytes:
        """Apply one message (MLLP frame content) and return its ACK, after the effect committed."""
        return handle_message(self, raw, remote_address=remote).encode("utf-8")

    def on_oversize(self, head: bytes, remote: str) -> bytes:
        """AR for a frame over the size limit (logged with its first bytes)."""
        text = p.decode(head)
        header = p.scrape_header(text)
        error = Hl7Error(
            "message too large for this listener (hl7_max_message_bytes)",
            location="MSH^1",
            condition=p.E_INTERNAL,
            ack_code="AR",
        )
        ack = p.build_ack(
            header,
            "AR",
            our_application=self.application,
            control_id=new_control_id(),
            text=error.text,
            error=error,
        )
        store_message(
            self.archive, header, text, ack, status="rejected", error=error, remote=remote, synthetic=True
        )
        return ack.encode("utf-8")

    def on_truncated(self, partial: bytes, remote: str, reason: str) -> None:
        """Log a frame cut short (never answered: the sender never finished it)."""
        text = p.decode(partial)
        header = p.scrape_header(text)
        error = Hl7Error(
            f"truncated MLLP frame: {reason}", location="MSH^1", condition=p.E_SEGMENT_SEQUENCE, ack_code="AR"
        )
        store_message(
            self.archive, header, text, "", status="truncated", error=error, remote=remote, synthetic=True
        )


def hl7_actor(head: Header, remote: str = "") -> Actor:
    """The acting identity of a message: the sending application (MSH-3), role INTEGRATION, via hl7."""
    name = head.sending_application or "hl7"
    if head.sending_facility:
        name = f"{name}@{head.sending_facility}"
    return Actor(username=name[:64], role=Role.INTEGRATION, address=remote.rsplit(":", 1)[0], via="hl7")


def handle_message(listener: Hl7Listener, raw: bytes, *, remote_address: str = "") -> str:
    """Apply one inbound HL7 v2 message and return the ACK text (HL7 v2.5.1 2.9.2 original mode).

    AR: not HL7, wrong encoding characters, unsupported type/event/version/processing id. AE: the
    content cannot be applied (ERR names the field). AA: applied and committed. A message whose
    MSH-10 was seen before from the same MSH-3/MSH-4 gets its stored ACK again and changes nothing.
    """
    archive = listener.archive
    text = p.decode(raw)
    head = p.scrape_header(text)
    try:
        enc = p.check_encoding(text)
        msg = p.parse(text)
        head = p.header_of(msg, text)
        if len(enc) == 5:
            head = Header(**{**vars(head), "enc": enc})
        _check_header(listener, head)
    except Hl7Error as exc:
        log.warning("HL7 message from %s rejected: %s (%s)", remote_address, exc.text, exc.location)
        ack = p.build_ack(
            head,
            exc.ack_code,
            our_application=listener.application,
            control_id=new_control_id(),
            text=exc.text,
            error=exc,
        )
        store_message_safely(
            archive,
            head,
            text,
            ack,
            status="rejected",
            error=exc,
            remote=remote_address,
            synthetic=not head.control_id or stored_message(archive, head) is not None,
        )
        return ack
    previous = stored_message(archive, head)
    if previous is not None and previous.status != "failed":
        log.info(
            "HL7 %s from %s: repeated control id %s, answering the stored ACK",
            previous.message_type,
            head.sending_application,
            head.control_id,
        )
        return str(previous.ack_raw)
    handler = listener.handlers[f"{head.message_type}^{head.trigger}"]
    actor = hl7_actor(head, remote_address)
    ack_id = new_control_id()
    try:
        with archive.write_transaction() as conn:
            outcome = handler(InTransaction(archive, conn), msg, head, actor)
            ack = p.build_ack(
                head, "AA", our_application=listener.application, control_id=ack_id, text=outcome.text
            )
            store_message(
                conn, head, text, ack, status="applied", outcome=outcome, remote=remote_address, ack_code="AA"
            )
        log.info(
            "HL7 %s^%s %s from %s applied: %s",
            head.message_type,
            head.trigger,
            head.control_id,
            head.sending_application,
            outcome.text,
        )
        return ack
    except Hl7Error as exc:
        error = exc
        status = "rejected" if exc.ack_code == "AR" else "error"
    except Invalid as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_DATA_TYPE)
        status = "error"
    except NotFound as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_UNKNOWN_KEY)
        status = "error"
    except Conflict as exc:
        error = Hl7Error(str(exc), location="", condition=p.E_DUPLICATE_KEY)
        status = "error"
    except IntegrityError:
        # a concurrent copy of this very message may have committed first
        previous = stored_message(archive, head)
        if previous is not None and previous.status != "failed":
            return str(previous.ack_raw)
        log.exception("HL7 message %s hit a database constraint", head.control_id)
        error = Hl7Error("conflicting concurrent change; send again", condition=p.E_RECORD_LOCKED)
        status = "failed"
    except Exception:
        log.exception("HL7 message %s failed", head.control_id)
        error = Hl7Error("internal error while applying the message; send again", condition=p.E_INTERNAL)
        status = "failed"  # a retry with the same MSH-10 is applied again
    log.warning(
        "HL7 %s^%s %s from %s: %s %s",
        head.message_type,
        head.trigger,
        head.control_id,
        head.sending_application,
        error.location,
        error.text,
    )
    ack = p.build_ack(
        head,
        error.ack_code,
        our_application=listener.application,
        control_id=ack_id,
        text=error.text,
        error=error,
    )
    store_message_safely(archive, head, text, ack, status=status, error=error, remote=remote_address)
    return ack


def _check_header(listener: Hl7Listener, head: Header) -> None:
    """MSH-9 type and event, MSH-10, MSH-11 and MSH-12 must be ones we accept (else AR)."""
    if not head.control_id:
        raise Hl7Error("MSH-10 (message control id) is empty", location="MSH^1^10", ack_code="AR")
    if not head.message_type:
        raise Hl7Error("MSH-9 (message type) is empty", location="MSH^1^9", ack_code="AR")
    if head.version not in p.SUPPORTED_VERSIONS:
        raise Hl7Error(
            f"version {head.version or '(empty)'} is not supported (2.3.1 to 2.5.1)",
            location="MSH^1^12",
            condition=p.E_VERSION,
            ack_code="AR",
        )
    if head.processing_id[:1] not in p.PROCESSING_IDS:
        raise Hl7Error(
            f"processing id {head.processing_id} is not supported (P, D, T)",
            location="MSH^1^11",
            condition=p.E_PROCESSING_ID,
            ack_code="AR",
        )
    key = f"{head.message_type}^{head.trigger}"
    if key not in listener.handlers:
        known_types = {k.split("^")[0] for k in listener.handlers}
        if head.message_type in known_types:
            raise Hl7Error(
                f"event {key} is not supported", location="MSH^1^9^2", condition=p.E_EVENT_CODE, ack_code="AR"
            )
        raise Hl7Error(
            f"message type {key} is not supported",
            location="MSH^1^9",
            condition=p.E_MESSAGE_TYPE,
            ack_code="AR",
        )
