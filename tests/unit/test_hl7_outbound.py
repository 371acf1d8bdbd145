"""HL7 v2 sender: message builders checked with an independent parser (python-hl7), and ORM status
updates sent over MLLP to a small socket receiver in the test that answers scripted ACKs."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import hl7
import pytest
from sqlalchemy import select

from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM
from vetpacs.config import Settings
from vetpacs.integration.dispatcher import Dispatcher
from vetpacs.integration.hl7.outbound import (
    HL7_MESSAGES,
    ChargeInfo,
    MessageHeader,
    OrderInfo,
    PatientInfo,
    ReportInfo,
    build_dft_p03,
    build_orm_status,
    build_oru_r01,
    escape,
    parse_ack,
)
from vetpacs.integration.webhooks import partners as svc
from vetpacs.integration.webhooks.partners import PartnerCreate, PartnerKind
from vetpacs.orders import catalog
from vetpacs.orders.schemas import OrderCreate
from vetpacs.orders.service import cancel_order, create_order, mark_arrived
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink
from vetpacs.patients.service import create_animal, create_owner, link_owner

DOG = "448771007"
HEADER = MessageHeader(
    control_id="D7", receiving_application="PMS", receiving_facility="CLINIC", sending_facility="VETPACS"
)
REX = PatientInfo(
    patient_id="VP000001",
    issuer="VETPACS",
    animal_name="Rex",
    owner_family_name="Smith|Jones",
    owner_given_name="Ann",
    birth_date="20200101",
    sex="M",
    species_code=DOG,
    species_name="Canine",
    species_scheme="SCT",
    breed_code="BR1",
    breed_name="Labrador",
    breed_scheme="99VETPACS",
)


def field_of(msg: hl7.Message, segment: str, n: int) -> str:
    return str(msg.segment(segment)[n])


def test_orm_status_update_fields() -> None:
    order = OrderInfo(
        accession_number="A2611290001",
        status="cancelled",
        placer_order_number="PMS-42",
        procedure_code="DX-THX2",
        procedure_name="Thorax 2 views",
        requested_procedure_id="RP1",
        step_id="SPS1",
        modality="DX",
        study_instance_uid="1.2.3",
        reason="owner called",
        changed_at=datetime(2026, 11, 29, 10, 0, 0),
    )
    raw = build_orm_status(HEADER, REX, order)
    msg = hl7.parse(raw)
    assert field_of(msg, "MSH", 9) == "ORM^O01"
    assert field_of(msg, "MSH", 10) == "D7"
    assert field_of(msg, "MSH", 5) == "PMS"
    assert field_of(msg, "ORC", 1) == "SC"
    assert field_of(msg, "ORC", 2) == "PMS-42"
    assert field_of(msg, "ORC", 3) == "A2611290001"
    assert field_of(msg, "ORC", 5) == "CA"
    assert field_of(msg, "ORC", 9) == "20261129100000+0000"
    assert field_of(msg, "OBR", 4) == "DX-THX2^Thorax 2 views^L"
    assert field_of(msg, "OBR", 18) == "A2611290001"
    assert field_of(msg, "OBR", 24) == "DX"
    pid = msg.segment("PID")
    assert str(pid[3]) == "VP000001^^^VETPACS"
    assert str(pid[5]) == "Smith\\F\\Jones^Rex"  # delimiters escaped (HL7 2.9)
    assert str(pid[35]) == f"{DOG}^Canine^SCT"
    assert str(pid[36]) == "BR1^Labrador^99VETPACS"
    assert str(msg.segment("ZDS")[1]).startswith("1.2.3^")
    for status, code in [("arrived", "IP"), ("completed", "CM"), ("discontinued", "DC"), ("scheduled", "SC")]:
        again = hl7.parse(build_orm_status(HEADER, REX, OrderInfo("A1", status)))
        assert field_of(again, "ORC", 5) == code


def test_oru_r01_carries_text_and_pdf() -> None:
    pdf = b"%PDF-1.4\n...binary\x00\xff"
    report = ReportInfo(
        accession_number="A1",
        text="Heart: normal size.\nLungs: clear | no ^ effusion",
        signed_by="Dr Vet",
        signed_at=datetime(2026, 11, 29, 9, 30),
        pdf=pdf,
        study_instance_uid="1.2.3",
    )
    msg = hl7.parse(build_oru_r01(HEADER, REX, report))
    assert field_of(msg, "MSH", 9) == "ORU^R01"
    obx = msg.segments("OBX")
    assert [str(o[2]) for o in obx] == ["TX", "TX", "ED"]
    assert str(obx[0][5]) == "Heart: normal size."
    assert str(obx[1][5]) == "Lungs: clear \\F\\ no \\S\\ effusion"
    assert all(str(o[11]) == "F" for o in obx)
    ed = str(obx[2][5]).split("^")
    assert ed[1:4] == ["application", "pdf", "Base64"]
    assert base64.b64decode(ed[4]) == pdf
    assert field_of(msg, "OBR", 25) == "F"
    assert field_of(msg, "OBR", 32) == "Dr Vet"


def test_dft_p03_one_ft1_per_charge() -> None:
    charges = [
        ChargeInfo(
            "C1", "DX-THX2", "Thorax", Decimal(2), Decimal("45.50"), "EUR", "A1", datetime(2026, 11, 29)
        ),
        ChargeInfo("C2", "CONTRAST", "Contrast", Decimal(1), Decimal("12"), "EUR", "A1"),
    ]
    msg = hl7.parse(build_dft_p03(HEADER, REX, charges))
    assert field_of(msg, "MSH", 9) == "DFT^P03"
    assert field_of(msg, "EVN", 1) == "P03"
    ft1 = msg.segments("FT1")
    assert len(ft1) == 2
    assert str(ft1[0][2]) == "C1" and str(ft1[0][6]) == "CG"
    assert str(ft1[0][7]) == "DX-THX2^Thorax^L"
    assert str(ft1[0][10]) == "2"
    assert str(ft1[0][11]) == "91.00^EUR" and str(ft1[0][12]) == "45.50^EUR"
    assert str(ft1[0][23]) == "A1"
    assert str(ft1[1][11]) == "12.00^EUR"


def test_escape_and_ack_parsing() -> None:
    assert escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    ack = parse_ack("MSH|^~\\&|PMS|X|VETPACS|Y|20261129||ACK|9|P|2.3.1\rMSA|AE|D7|bad field\rERR|PID^1^3")
    assert ack.code == "AE" and ack.control_id == "D7" and ack.text == "bad field" and not ack.accepted
    assert ack.errors == ["PID^1^3"]
    assert parse_ack("MSH|^~\\&|A\nMSA|CA|D1").accepted
    with pytest.raises(ValueError):
        parse_ack("HTTP/1.1 200 OK")
    with pytest.raises(ValueError):
        parse_ack("MSH|^~\\&|A\rPID|1")


# --------------------------------------------------------------------------- over MLLP
@dataclass
class MllpReceiver:
    """A PMS stand-in: reads MLLP frames, keeps each message, answers ``answer(message)``'s ACK code."""

    answer: Callable[[str], str] = lambda raw: "AA"
    messages: list[str] = field(default_factory=list)
    sock: socket.socket | None = None

    def start(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        assert self.sock is not None
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\x1c\r" in buf:
                    block, buf = buf.split(b"\x1c\r", 1)
                    raw = block.lstrip(b"\x0b").decode()
                    self.messages.append(raw)
                    msh = raw.split("\r")[0].split("|")
                    code = self.answer(raw)
                    n = len(self.messages)
                    ack = f"MSH|^~\\&|PMS|CLINIC|{msh[2]}|{msh[3]}|20261129||ACK|A{n}|P|2.3.1\r"
                    ack += f"MSA|{code}|{msh[9]}|{'' if code == 'AA' else 'order unknown here'}\r"
                    if code != "AA":
                        ack += "ERR|ORC^1^3\r"
                    conn.sendall(b"\x0b" + ack.encode() + b"\x1c\r")

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()


@pytest.fixture
def pms() -> Iterator[MllpReceiver]:
    r = MllpReceiver()
    yield r
    r.stop()


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "delivery_backoff_seconds": 0.05,
        "delivery_backoff_max_seconds": 0.2,
        "delivery_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def order_for_a_dog(archive: Archive) -> int:
    catalog.seed_catalog(archive, actor=SYSTEM)
    owner = create_owner(archive, OwnerCreate(family_name="Smith", given_name="Ann"), actor=SYSTEM)
    rex = create_animal(archive, AnimalCreate(name="Rex", species_code=DOG), actor=SYSTEM)
    link_owner(archive, rex.id, OwnerLink(owner_id=owner.id, is_primary=True), actor=SYSTEM)
    order = create_order(
        archive,
        OrderCreate(animal_id=rex.id, procedure_codes=["DX-THX2"], placer_order_number="PMS-9"),
        actor=SYSTEM,
    )
    return order.id


def drain(d: Dispatcher, until: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "deliveries did not settle in time"
        if not d.run_once():
            time.sleep(0.02)


def test_order_status_updates_reach_an_hl7_partner_in_order(
    archive: Archive, pms: MllpReceiver, tmp_path: Path
) -> None:
    answers = iter(["AE"])  # the first message is refused once, then everything is accepted
    pms.answer = lambda raw: next(answers, "AA")
    port = pms.start()
    partner = svc.create_partner(
        archive,
        PartnerCreate(
            name="legacy-pms",
            kind=PartnerKind.HL7,
            host="127.0.0.1",
            port=port,
            receiving_application="PMS",
            receiving_facility="CLINIC",
        ),
        actor=SYSTEM,
    )
    assert partner.secret is None
    time.sleep(0.01)
    order_id = order_for_a_dog(archive)
    mark_arrived(archive, order_id, actor=SYSTEM)
    cancel_order(archive, order_id, actor=SYSTEM, reason="owner called")
    d = Dispatcher(archive, settings(tmp_path))
    try:
        drain(d, lambda: svc.list_deliveries(archive, partner_id=partner.id, status="delivered").total == 2)
    finally:
        d.stop()
    # order.created, animal.created... are not HL7 messages: only the two status changes went out
    orc5 = [str(hl7.parse(m).segment("ORC")[5]) for m in pms.messages]
    assert orc5 == ["IP", "IP", "CA"]  # the refused first one was sent again before the second
    first, again = hl7.parse(pms.messages[0]), hl7.parse(pms.messages[1])
    assert str(first.segment("MSH")[10]) == str(again.segment("MSH")[10])  # same control id on retry
    last = hl7.parse(pms.messages[-1])
    assert str(last.segment("MSH")[5]) == "PMS" and str(last.segment("ORC")[1]) == "SC"
    assert str(last.segment("PID")[5]) == "Smith^Rex" and str(last.segment("PID")[35]).startswith(DOG)
    assert str(last.segment("ORC")[2]) == "PMS-9"
    with archive.engine.connect() as conn:
        log = conn.execute(select(HL7_MESSAGES).where(HL7_MESSAGES.c.direction == "out")).all()
    assert len(log) == 2
    assert {row.status for row in log} == {"sent"} and {row.ack_code for row in log} == {"AA"}
    assert all(row.message_type == "ORM^O01" and row.partner_id == partner.id for row in log)
    delivered = svc.list_deliveries(archive, partner_id=partner.id)
    assert sorted(item.attempts for item in delivered.items) == [1, 2]


def test_rejected_messages_go_dead_with_the_reason(
    archive: Archive, pms: MllpReceiver, tmp_path: Path
) -> None:
    pms.answer = lambda raw: "AR"
    port = pms.start()
    svc.create_partner(
        archive, PartnerCreate(name="strict", kind=PartnerKind.HL7, host="127.0.0.1", port=port), actor=SYSTEM
    )
    time.sleep(0.01)
    order_id = order_for_a_dog(archive)
    mark_arrived(archive, order_id, actor=SYSTEM)
    d = Dispatcher(archive, settings(tmp_path, delivery_max_attempts=2))
    try:
        drain(d, lambda: svc.list_deliveries(archive, status="dead").total == 1)
    finally:
        d.stop()
    dead = svc.list_deliveries(archive, status="dead").items[0]
    assert dead.attempts == 2 and "AR: order unknown here" in dead.last_error and "ORC^1^3" in dead.last_error
    with archive.engine.connect() as conn:
        row = conn.execute(select(HL7_MESSAGES).where(HL7_MESSAGES.c.direction == "out")).one()
    assert row.status == "rejected" and row.ack_code == "AR" and "order unknown" in row.error


def test_unreachable_hl7_partner_is_retried(archive: Archive, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    svc.create_partner(
        archive, PartnerCreate(name="down", kind=PartnerKind.HL7, host="127.0.0.1", port=port), actor=SYSTEM
    )
    time.sleep(0.01)
    mark_arrived(archive, order_for_a_dog(archive), actor=SYSTEM)
    d = Dispatcher(archive, settings(tmp_path))
    try:
        drain(d, lambda: any(i.attempts >= 2 for i in svc.list_deliveries(archive, status="pending").items))
    finally:
        d.stop()
    item = svc.list_deliveries(archive, status="pending").items[0]
    assert "ConnectionRefused" in item.last_error
