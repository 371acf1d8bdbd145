"""HL7 v2 sender: builds ORM^O01 status updates, ORU^R01 reports and DFT^P03 charges, sends them
over MLLP to ``hl7`` partners and waits for the ACK (HL7 v2.3.1 ch. 2 original acknowledgment mode).

Mapped today: ``order.status_changed`` -> ORM^O01 with ORC-1 ``SC`` (status changed) and ORC-5 the
order status (HL7 table 0038); ``report.signed``, ``report.amended`` and ``report.withdrawn`` ->
ORU^R01 (the report text as TX OBX lines and the PDF as an encapsulated ED OBX; OBR-25/OBX-11 ``F``
final, ``C`` corrected; a withdrawn report OBR-25 ``X``, OBX-11 ``W``).
``charge.posted`` and ``charge.voided`` -> DFT^P03 (one FT1 per charge; FT1-6 ``CG`` charge, ``CR``
credit).

Every message out is kept in ``hl7_messages`` (direction ``out``), one row per delivery: its
control id (MSH-10) is ``D<delivery id>``, the same on every retry, so a receiver can dedupe; the
row is updated with each attempt's ACK or error.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert, select, update

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.config import Settings
from vetpacs.errors import NotFound
from vetpacs.integration.dispatcher import DeliveryJob, Outcome
from vetpacs.integration.hl7.mllp import MllpError, frame, read_frame
from vetpacs.integration.models import Hl7Message
from vetpacs.orders.service import get_order
from vetpacs.patients.service import get_animal
from vetpacs.reports import service as reports

HL7_MESSAGES: Table = cast(Table, Hl7Message.__table__)
SENDING_APPLICATION = "VETPACS"
VERSION = "2.3.1"

# Our order lifecycle -> HL7 table 0038 Order Status (ORC-5).
ORDER_STATUS_0038 = {
    "ordered": "SC",
    "scheduled": "SC",
    "arrived": "IP",
    "in_progress": "IP",
    "completed": "CM",
    "images_received": "CM",
    "reported": "CM",
    "billed": "CM",
    "cancelled": "CA",
    "no_show": "CA",
    "discontinued": "DC",
}


# --------------------------------------------------------------------------- message parts
@dataclass(frozen=True)
class MessageHeader:
    """MSH fields of one message we send."""

    control_id: str  # MSH-10
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    sending_application: str = SENDING_APPLICATION  # MSH-3
    sending_facility: str = ""  # MSH-4
    timestamp: datetime | None = None  # MSH-7; now when None
    version: str = VERSION  # MSH-12
    processing_id: str = "P"  # MSH-11


@dataclass(frozen=True)
class PatientInfo:
    """The animal as PID carries it (veterinary conventions: owner^animal name, PID-35/36)."""

    patient_id: str  # PID-3
    issuer: str = ""  # PID-3.4 assigning authority
    animal_name: str = ""
    owner_family_name: str = ""  # PID-5 family name, DICOM style OWNER^Animal
    owner_given_name: str = ""
    birth_date: str = ""  # YYYYMMDD
    sex: str = "U"  # M, F, O, U
    species_code: str = ""
    species_name: str = ""
    species_scheme: str = ""
    breed_code: str = ""
    breed_name: str = ""
    breed_scheme: str = ""
    external_id: str = ""  # the PMS's own patient id (PID-2)


@dataclass(frozen=True)
class OrderInfo:
    """An order as ORC/OBR carry it."""

    accession_number: str  # filler order number (ORC-3, OBR-3, OBR-18)
    status: str  # our OrderStatus value
    placer_order_number: str = ""  # ORC-2, OBR-2
    procedure_code: str = ""  # OBR-4
    procedure_name: str = ""
    requested_procedure_id: str = ""  # OBR-19
    step_id: str = ""  # OBR-20
    modality: str = ""  # OBR-24
    study_instance_uid: str = ""  # ZDS-1 (IHE)
    reason: str = ""  # ORC-16 order control code reason (free text)
    changed_at: datetime | None = None  # ORC-9


@dataclass(frozen=True)
class ReportInfo:
    """A signed report as ORU^R01 carries it."""

    accession_number: str
    text: str
    placer_order_number: str = ""
    procedure_code: str = ""
    procedure_name: str = ""
    result_status: str = "F"  # OBR-25 (table 0123): F final, C corrected, P preliminary, X cannot be obtained
    observation_status: str = ""  # OBX-11 (table 0085) when it differs from OBR-25: W wrong (withdrawn)
    signed_by: str = ""  # OBR-32 principal result interpreter
    signed_at: datetime | None = None  # OBR-22
    pdf: bytes | None = None  # sent as an ED OBX (Base64)
    study_instance_uid: str = ""


@dataclass(frozen=True)
class ChargeInfo:
    """One posted charge as an FT1 segment carries it (ready for the billing module)."""

    transaction_id: str  # FT1-2
    code: str  # FT1-7 transaction code
    description: str = ""  # FT1-8
    quantity: Decimal = Decimal(1)  # FT1-10
    unit_amount: Decimal = Decimal(0)  # FT1-12
    currency: str = ""
    accession_number: str = ""  # FT1-23 filler order number
    posted_at: datetime | None = None  # FT1-4 and FT1-5
    transaction_type: str = "CG"  # FT1-6: CG charge, CR credit
    performed_by: str = ""  # FT1-20


def escape(text: str) -> str:
    """Escape HL7 delimiters in a text value (HL7 v2.3.1 2.9, default encoding characters)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\E\\")
        elif ch == "|":
            out.append("\\F\\")
        elif ch == "^":
            out.append("\\S\\")
        elif ch == "&":
            out.append("\\T\\")
        elif ch == "~":
            out.append("\\R\\")
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def hl7_ts(value: datetime | None) -> str:
    """An HL7 TS value in UTC with its offset: ``YYYYMMDDHHMMSS+0000`` (naive values are UTC)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y%m%d%H%M%S") + "+0000"


def _segment(*fields: str) -> str:
    parts = list(fields)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return "|".join(parts)


def _msh(header: MessageHeader, message_type: str) -> str:
    ts = hl7_ts(header.timestamp or datetime.now(UTC))
    return "MSH|^~\\&|" + _segment(
        escape(header.sending_application),
        escape(header.sending_facility),
        escape(header.receiving_application),
        escape(header.receiving_facility),
        ts,
        "",
        message_type,
        escape(header.control_id),
        header.processing_id,
        header.version,
    )


def _ce(code: str, text: str, scheme: str) -> str:
    if not code and not text:
        return ""
    return "^".join([escape(code), escape(text), escape(scheme)])


def _pid(patient: PatientInfo) -> str:
    family = patient.owner_family_name or patient.animal_name
    name = f"{escape(family)}^{escape(patient.animal_name)}" if patient.owner_family_name else escape(family)
    pid3 = escape(patient.patient_id) + (f"^^^{escape(patient.issuer)}" if patient.issuer else "")
    owner = (
        f"{escape(patient.owner_family_name)}^{escape(patient.owner_given_name)}"
        if patient.owner_family_name
        else ""
    )
    fields = [""] * 37
    fields[0] = "PID"
    fields[1] = "1"
    fields[2] = escape(patient.external_id)
    fields[3] = pid3
    fields[5] = name
    fields[7] = patient.birth_date
    fields[8] = patient.sex or "U"
    fields[9] = owner  # PID-9 alias: the owner, as several veterinary systems expect it
    fields[35] = _ce(patient.species_code, patient.species_name, patient.species_scheme)
    fields[36] = _ce(patient.breed_code, patient.breed_name, patient.breed_scheme)
    return _segment(*fields)


def _join(segments: Sequence[str]) -> str:
    return "\r".join(s for s in segments if s) + "\r"


def build_orm_status(header: MessageHeader, patient: PatientInfo, order: OrderInfo) -> str:
    """ORM^O01 telling the placer an order's status changed: ORC-1 ``SC``, ORC-5 from table 0038."""
    status = ORDER_STATUS_0038.get(order.status, "SC")
    procedure = _ce(order.procedure_code, order.procedure_name, "L" if order.procedure_code else "")
    orc = _segment(
        "ORC",
        "SC",
        escape(order.placer_order_number),
        escape(order.accession_number),
        "",
        status,
        "",
        "",
        "",
        hl7_ts(order.changed_at),
        *[""] * 6,
        escape(order.reason),
    )
    obr = [""] * 26
    obr[0] = "OBR"
    obr[1] = "1"
    obr[2] = escape(order.placer_order_number)
    obr[3] = escape(order.accession_number)
    obr[4] = procedure
    obr[18] = escape(order.accession_number)
    obr[19] = escape(order.requested_procedure_id)
    obr[20] = escape(order.step_id)
    obr[24] = escape(order.modality)
    obr[25] = status
    zds = f"ZDS|{escape(order.study_instance_uid)}^^Application^DICOM" if order.study_instance_uid else ""
    return _join([_msh(header, "ORM^O01"), _pid(patient), "PV1|1|O", orc, _segment(*obr), zds])


def build_oru_r01(header: MessageHeader, patient: PatientInfo, report: ReportInfo) -> str:
    """ORU^R01 with a signed report: one TX OBX per text line, the PDF as an ED OBX (Base64).

    OBR-25 is the result status (HL7 v2 table 0123), OBX-11 the observation result status (table
    0085): the same code, except for a withdrawn report (OBR-25 ``X``, OBX-11 ``W``).
    """
    procedure = _ce(report.procedure_code, report.procedure_name, "L" if report.procedure_code else "")
    obr = [""] * 33
    obr[0] = "OBR"
    obr[1] = "1"
    obr[2] = escape(report.placer_order_number)
    obr[3] = escape(report.accession_number)
    obr[4] = procedure
    obr[18] = escape(report.accession_number)
    obr[22] = hl7_ts(report.signed_at)
    obr[25] = report.result_status
    obr[32] = escape(report.signed_by)
    segments = [_msh(header, "ORU^R01"), _pid(patient), _segment(*obr)]
    obx11 = report.observation_status or report.result_status
    n = 0
    for line in report.text.splitlines() or [""]:
        n += 1
        segments.append(
            _segment("OBX", str(n), "TX", "REPORT^Report text^L", "", escape(line), *[""] * 5, obx11)
        )
    if report.pdf is not None:
        n += 1
        data = base64.b64encode(report.pdf).decode("ascii")
        value = f"{escape(SENDING_APPLICATION)}^application^pdf^Base64^{data}"
        segments.append(_segment("OBX", str(n), "ED", "PDF^Report PDF^L", "", value, *[""] * 5, obx11))
    if report.study_instance_uid:
        segments.append(f"ZDS|{escape(report.study_instance_uid)}^^Application^DICOM")
    return _join(segments)


def _amount(value: Decimal, currency: str) -> str:
    text = format(value.quantize(Decimal("0.01")), "f")
    return f"{text}^{escape(currency)}" if currency else text


def build_dft_p03(
    header: MessageHeader,
    patient: PatientInfo,
    charges: Sequence[ChargeInfo],
    *,
    event_at: datetime | None = None,
) -> str:
    """DFT^P03 posting charges (IHE Charge Posting): EVN, PID and one FT1 per charge."""
    segments = [
        _msh(header, "DFT^P03"),
        _segment("EVN", "P03", hl7_ts(event_at or datetime.now(UTC))),
        _pid(patient),
    ]
    for i, charge in enumerate(charges, start=1):
        ft1 = [""] * 26
        ft1[0] = "FT1"
        ft1[1] = str(i)
        ft1[2] = escape(charge.transaction_id)
        ft1[4] = hl7_ts(charge.posted_at)
        ft1[5] = hl7_ts(charge.posted_at)
        ft1[6] = charge.transaction_type
        ft1[7] = _ce(charge.code, charge.description, "L")
        ft1[8] = escape(charge.description)
        ft1[10] = format(charge.quantity.normalize(), "f")
        ft1[11] = _amount(charge.unit_amount * charge.quantity, charge.currency)
        ft1[12] = _amount(charge.unit_amount, charge.currency)
        ft1[20] = escape(charge.performed_by)
        ft1[23] = escape(charge.accession_number)
        ft1[25] = _ce(charge.code, charge.description, "L")
        segments.append(_segment(*ft1))
    return _join(segments)


# --------------------------------------------------------------------------- ACK
@dataclass(frozen=True)
class Ack:
    """What an ACK said: MSA-1 code, MSA-2 the control id it answers, MSA-3 and ERR text."""

    code: str
    control_id: str = ""
    text: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """AA (original mode) or CA (enhanced mode commit accept)."""
        return self.code in ("AA", "CA")


def parse_ack(raw: str) -> Ack:
    """Read MSA and ERR from an ACK (any segment separator; the field separator from MSH-1)."""
    segments = [s for s in raw.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 4:
        raise ValueError("the answer is not an HL7 message (no MSH segment)")
    sep = segments[0][3]
    code, control_id, text = "", "", ""
    errors: list[str] = []
    for seg in segments:
        fields = seg.split(sep)
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            control_id = fields[2] if len(fields) > 2 else ""
            text = fields[3] if len(fields) > 3 else ""
        elif fields[0] == "ERR":
            errors.append(sep.join(fields[1:]))
    if not code:
        raise ValueError("the answer has no MSA segment")
    return Ack(code=code, control_id=control_id, text=text, errors=errors)


# --------------------------------------------------------------------------- events -> messages
MessageBuilder = Callable[[Archive, DeliveryJob, MessageHeader], tuple[str, PatientInfo, str]]


def patient_info(archive: Archive, animal_id: int) -> PatientInfo:
    """The PID data of an animal (owner: the primary owner, else the first)."""
    animal = get_animal(archive, animal_id)
    owners = sorted(animal.owners, key=lambda o: not o.is_primary)
    owner = owners[0] if owners else None
    return PatientInfo(
        patient_id=animal.patient_id,
        issuer=animal.issuer_of_patient_id,
        animal_name=animal.name,
        owner_family_name=owner.family_name if owner else "",
        owner_given_name=owner.given_name if owner else "",
        birth_date=animal.birth_date,
        sex=animal.sex.value if animal.sex else "U",
        species_code=animal.species.code if animal.species else "",
        species_name=animal.species.name if animal.species else animal.species_text,
        species_scheme=animal.species.coding_scheme if animal.species else "",
        breed_code=animal.breed.code if animal.breed else "",
        breed_name=animal.breed.name if animal.breed else animal.breed_text,
        breed_scheme=animal.breed.coding_scheme if animal.breed else "",
        external_id=animal.external_id,
    )


def _order_status_message(
    archive: Archive, job: DeliveryJob, header: MessageHeader
) -> tuple[str, PatientInfo, str]:
    data = job.event.payload
    order = get_order(archive, int(data["order_id"]))
    patient = patient_info(archive, order.animal_id)
    step = order.steps[0] if order.steps else None
    info = OrderInfo(
        accession_number=order.accession_number,
        status=str(data.get("to") or order.status.value),
        placer_order_number=order.placer_order_number,
        procedure_code=step.procedure_code if step else "",
        procedure_name=step.procedure_name if step else "",
        requested_procedure_id=step.requested_procedure_id if step else "",
        step_id=step.step_id if step else "",
        modality=step.modality if step else "",
        study_instance_uid=order.study_instance_uid,
        reason=str(data.get("reason") or ""),
        changed_at=job.event.created_at,
    )
    return build_orm_status(header, patient, info), patient, order.accession_number


def _report_message(
    archive: Archive, job: DeliveryJob, header: MessageHeader
) -> tuple[str, PatientInfo, str]:
    """ORU^R01 of a signed (``report.signed``, OBR-25 F) or amended (``report.amended``, C) report,
    or of a withdrawn one (``report.withdrawn``: OBR-25 X, OBX-11 W "post original as wrong").

    The version the event names, as it was signed: the text as TX OBX lines and its PDF, read back
    from the study's Encapsulated PDF instance, as an ED OBX. A withdrawal repeats the withdrawn
    version with a last TX line giving the reason.
    """
    data = job.event.payload
    withdrawn = job.event.type == "report.withdrawn"
    report = reports.get_signed_version(archive, int(data["report_id"]), int(data.get("version") or 1))
    summary = reports.study_summary(archive, report.study_instance_uid)
    if report.animal_id is not None:
        patient = patient_info(archive, report.animal_id)
    else:  # a study of no registered animal: PID from the study's own patient attributes
        family, _, animal = summary.patient_name.partition("^")
        patient = PatientInfo(
            patient_id=summary.patient_id,
            issuer=summary.issuer_of_patient_id,
            animal_name=animal or family,
            owner_family_name=family if animal else "",
            sex=summary.sex if summary.sex in ("M", "F", "O") else "U",
            species_name=summary.species,
            breed_name=summary.breed,
        )
    order = get_order(archive, report.order_id) if report.order_id is not None else None
    step = order.steps[0] if order is not None and order.steps else None
    info = ReportInfo(
        accession_number=report.accession_number or summary.accession_number,
        text=reports.report_text(report)
        + (f"\n\nWithdrawn (entered in error): {data.get('reason') or ''}" if withdrawn else ""),
        placer_order_number=order.placer_order_number if order is not None else "",
        procedure_code=step.procedure_code if step else "",
        procedure_name=step.procedure_name if step else "",
        result_status="X" if withdrawn else "C" if report.status.value == "amended" else "F",
        observation_status="W" if withdrawn else "",
        signed_by=report.signed_by_name or report.signed_by,
        signed_at=report.signed_at,
        pdf=reports.report_pdf(archive, report.id, version=report.version),
        study_instance_uid=report.study_instance_uid,
    )
    return build_oru_r01(header, patient, info), patient, info.accession_number


def _decimal(value: object, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValueError(f"{name} {value!r} is not a number") from exc


def _charge_message(
    archive: Archive, job: DeliveryJob, header: MessageHeader
) -> tuple[str, PatientInfo, str]:
    """DFT^P03 (IHE Charge Posting) of ``charge.posted`` (FT1-6 ``CG``) or ``charge.voided`` (``CR``).

    One FT1 per charge of the event, as posted: FT1-2 the charge id (a credit repeats the id of
    the charge it reverses), FT1-4/5 when posted (voided, for a credit), FT1-7 fee code^description,
    FT1-10 quantity, FT1-11 amount, FT1-12 unit price (with the currency), FT1-23 the accession
    number. PID from the animal as it is now.
    """
    data = job.event.payload
    charges = data.get("charges")
    if not isinstance(charges, list) or not charges:
        raise ValueError("the event carries no charges")
    credit = job.event.type == "charge.voided"
    patient = patient_info(archive, int(data["animal_id"]))
    accession = str(data.get("accession_number") or "")
    infos = []
    for c in charges:
        stamp = c.get("voided_at") if credit else c.get("posted_at")
        infos.append(
            ChargeInfo(
                transaction_id=str(c["id"]),
                code=str(c["fee_code"]),
                description=str(c.get("description") or ""),
                quantity=_decimal(c["quantity"], "quantity"),
                unit_amount=_decimal(c["unit_price"], "unit price"),
                currency=str(c.get("currency") or ""),
                accession_number=str(c.get("accession_number") or accession),
                posted_at=datetime.fromisoformat(stamp) if stamp else job.event.created_at,
                transaction_type="CR" if credit else "CG",
            )
        )
    return build_dft_p03(header, patient, infos, event_at=job.event.created_at), patient, accession


EVENT_MESSAGES: dict[str, MessageBuilder] = {
    "order.status_changed": _order_status_message,
    "report.signed": _report_message,
    "report.amended": _report_message,
    "report.withdrawn": _report_message,
    "charge.posted": _charge_message,
    "charge.voided": _charge_message,
}


# --------------------------------------------------------------------------- the transport
class Hl7Transport:
    """Sends deliveries of ``hl7`` partners over MLLP and waits for the ACK."""

    kind = "hl7"

    def __init__(self, archive: Archive, settings: Settings) -> None:
        self.archive = archive
        self.timeout = settings.delivery_timeout_seconds
        self.sending_facility = settings.issuer_of_patient_id

    def handles(self, event_type: str) -> bool:
        """Whether an HL7 message exists for this event type."""
        return event_type in EVENT_MESSAGES

    def send(self, job: DeliveryJob) -> Outcome:
        """Build, log, send and await the ACK: AA/CA delivered; AE/AR, no answer or an error retried."""
        builder = EVENT_MESSAGES.get(job.event.type)
        if builder is None:
            return Outcome(False, error=f"no HL7 message for event type {job.event.type}")
        header = MessageHeader(
            control_id=f"D{job.delivery_id}",
            receiving_application=job.partner.receiving_application,
            receiving_facility=job.partner.receiving_facility,
            sending_facility=self.sending_facility,
        )
        try:
            raw, patient, accession = builder(self.archive, job, header)
        except (NotFound, KeyError, ValueError) as exc:
            return Outcome(False, error=f"cannot build the message: {exc}")
        message_type = raw.split("\r", 1)[0].split("|")[8]
        row_id = self._log(job, header, raw, message_type, patient.patient_id, accession)
        answer = ""
        try:
            answer = self._exchange(job.partner.host, job.partner.port, raw)
            ack = parse_ack(answer)
        except (OSError, MllpError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._update(row_id, status="error", error=error)
            return Outcome(False, error=error)
        except ValueError as exc:
            self._update(row_id, status="error", error=str(exc), ack_raw=answer)
            return Outcome(False, error=f"bad ACK: {exc}")
        if ack.control_id and ack.control_id != header.control_id:
            error = f"ACK answers control id {ack.control_id!r}, not {header.control_id!r}"
            self._update(row_id, status="error", ack_code=ack.code, error=error, ack_raw=answer)
            return Outcome(False, error=error)
        if ack.accepted:
            self._update(row_id, status="sent", ack_code=ack.code, error="", ack_raw=answer)
            return Outcome(True)
        reason = "; ".join(x for x in [ack.text, *ack.errors] if x) or "no reason given"
        error = f"{ack.code}: {reason}"
        self._update(
            row_id,
            status="rejected" if ack.code in ("AR", "CR") else "error",
            ack_code=ack.code,
            error=error,
            ack_raw=answer,
        )
        return Outcome(False, error=error)

    def _exchange(self, host: str, port: int, raw: str) -> str:
        with socket.create_connection((host, port), timeout=self.timeout) as sock:
            sock.settimeout(self.timeout)
            sock.sendall(frame(raw.encode("utf-8")))
            return read_frame(sock).decode("utf-8", errors="replace")

    def _log(
        self,
        job: DeliveryJob,
        header: MessageHeader,
        raw: str,
        message_type: str,
        patient_id: str,
        accession: str,
    ) -> int:
        """The message log row of this delivery (made on the first attempt, reused on retries)."""
        key = (
            HL7_MESSAGES.c.direction == "out",
            HL7_MESSAGES.c.sending_application == header.sending_application[:64],
            HL7_MESSAGES.c.sending_facility == header.sending_facility[:64],
            HL7_MESSAGES.c.control_id == header.control_id,
        )
        with self.archive.write_transaction() as conn:
            found = conn.execute(select(HL7_MESSAGES.c.id).where(*key)).scalar()
            if found is not None:
                conn.execute(
                    update(HL7_MESSAGES).where(HL7_MESSAGES.c.id == found).values(raw=raw, status="sending")
                )
                return int(found)
            result = conn.execute(
                insert(HL7_MESSAGES).values(
                    direction="out",
                    partner_id=job.partner.id,
                    sending_application=header.sending_application[:64],
                    sending_facility=header.sending_facility[:64],
                    control_id=header.control_id,
                    message_type=message_type[:16],
                    version=header.version,
                    status="sending",
                    ack_code="",
                    error="",
                    patient_id=patient_id[:64],
                    accession_number=accession[:16],
                    raw=raw,
                    ack_raw="",
                    remote_address=f"{job.partner.host}:{job.partner.port}"[:64],
                    created_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _update(self, row_id: int, **values: str) -> None:
        with self.archive.write_transaction() as conn:
            conn.execute(update(HL7_MESSAGES).where(HL7_MESSAGES.c.id == row_id).values(**values))

    def close(self) -> None:
        """Nothing to release: one connection per message."""
