"""Inbound HL7 v2 (ADT, ORM, OMI) applied to a real index: field mapping, ACKs, errors, idempotency."""

from __future__ import annotations

from typing import Any

import hl7
import pytest
from sqlalchemy import func, select

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor, Role
from vetpacs.integration.hl7.inbound import MESSAGES, Hl7Listener
from vetpacs.integration.hl7.parse import build_ack, check_encoding, scrape_header
from vetpacs.orders import catalog
from vetpacs.orders.lifecycle import ORDERS, STEPS
from vetpacs.patients.service import ANIMALS, OWNERS, get_animal_by_patient_id

ADMIN = Actor(username="admin", role=Role.ADMIN, via="cli")


def msg(*segments: str) -> bytes:
    return "\r".join(segments).encode()


def msh(kind: str, control: str, version: str = "2.5.1", enc: str = "^~\\&") -> str:
    return f"MSH|{enc}|PMS|CLINIC|VETPACS|VP|20300102101500||{kind}|{control}|P|{version}"


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields set by their HL7 sequence number."""
    values = [""] * max(fields)
    for n, value in fields.items():
        values[n - 1] = value
    return "|".join([name, *values])


PID_REX = seg(
    "PID",
    {
        1: "1",
        3: "P100^^^PMS^PI~956000012345678^^^MICROCHIP^RFID",
        5: "SMITH^Rex",
        7: "20190304",
        8: "M^Y",
        35: "448771007^Canis lupus familiaris^SCT",
        36: "62137007^Labrador Retriever^SCT",
    },
)
NK1_SMITH = "NK1|1|SMITH^Anna|OWN^Owner|1 High Street^^Leeds^^LS1 1AA^GB|+44 113 000000"
OBX_WEIGHT = "OBX|1|NM|29463-7^Body weight^LN||33|kg|||||F"


@pytest.fixture
def listener(archive: Archive) -> Hl7Listener:
    catalog.seed_catalog(archive, actor=ADMIN)
    catalog.seed_stations(archive, actor=ADMIN)
    return Hl7Listener(archive)


def send(listener: Hl7Listener, raw: bytes) -> hl7.Message:
    ack = listener.handle(raw, "127.0.0.1:5000").decode()
    return hl7.parse(ack)


def ack_code(ack: hl7.Message) -> str:
    return str(ack.extract_field("MSA", 1, 1, 1, 1))


def log_rows(archive: Archive) -> list[Any]:
    with archive.engine.connect() as conn:
        return list(conn.execute(select(MESSAGES).order_by(MESSAGES.c.id)))


def test_adt_a04_registers_animal_owner_species_breed_weight(listener: Hl7Listener, archive: Archive) -> None:
    ack = send(listener, msg(msh("ADT^A04^ADT_A01", "C1"), PID_REX, NK1_SMITH, OBX_WEIGHT))
    assert ack_code(ack) == "AA"
    assert str(ack.extract_field("MSA", 1, 2, 1, 1)) == "C1"
    animal = get_animal_by_patient_id(archive, "P100")
    assert animal.name == "Rex" and animal.external_id == "P100"
    assert animal.microchip == "956000012345678"
    assert animal.birth_date == "20190304"
    assert animal.sex.value == "M" and animal.neuter_status.value == "ALTERED"
    assert animal.species is not None and animal.species.code == "448771007"
    assert animal.breed is not None and animal.breed.name == "Labrador Retriever"
    assert animal.weight_kg == 33
    assert animal.patient_name == "SMITH^Rex"
    assert [(o.family_name, o.given_name, o.is_primary) for o in animal.owners] == [("SMITH", "Anna", True)]
    with archive.engine.connect() as conn:
        owner = conn.execute(select(OWNERS)).one()
    assert owner.city == "Leeds" and owner.postal_code == "LS1 1AA" and owner.phone == "+44 113 000000"
    row = log_rows(archive)[-1]
    assert (row.status, row.ack_code, row.patient_id, row.message_type) == (
        "applied",
        "AA",
        "P100",
        "ADT^A04",
    )


def test_adt_a08_updates_and_weight_in_pounds(listener: Hl7Listener, archive: Archive) -> None:
    send(listener, msg(msh("ADT^A04", "C1"), PID_REX, NK1_SMITH))
    pid = PID_REX.replace("SMITH^Rex", "SMITH^Rexy")
    ack = send(listener, msg(msh("ADT^A08", "C2"), pid, NK1_SMITH, "OBX|1|NM|WT^Weight||22|[lb_av]"))
    assert ack_code(ack) == "AA"
    animal = get_animal_by_patient_id(archive, "P100")
    assert animal.name == "Rexy" and animal.weight_kg == pytest.approx(9.979, abs=0.001)
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OWNERS)).scalar_one() == 1  # same owner
        assert conn.execute(select(func.count()).select_from(ANIMALS)).scalar_one() == 1


def test_owner_from_pid9_alias_and_v231(listener: Hl7Listener, archive: Archive) -> None:
    pid = "PID|1||P200||Bella||20200101|F^N|JONES^Mary"
    ack = send(listener, msg(msh("ADT^A01", "C1", version="2.3.1"), pid))
    assert ack_code(ack) == "AA"
    animal = get_animal_by_patient_id(archive, "P200")
    assert animal.name == "Bella" and animal.neuter_status.value == "UNALTERED"
    assert animal.owners[0].family_name == "JONES" and animal.owners[0].given_name == "Mary"


def test_unknown_species_is_ae_naming_pid35(listener: Hl7Listener, archive: Archive) -> None:
    pid = PID_REX.replace("448771007^Canis lupus familiaris", "999999^Dragon")
    ack = send(listener, msg(msh("ADT^A04", "C9"), pid, NK1_SMITH))
    assert ack_code(ack) == "AE"
    assert str(ack.extract_field("ERR", 1, 2, 1, 1)) == "PID"
    assert str(ack.extract_field("ERR", 1, 2, 1, 3)) == "35"
    assert str(ack.extract_field("ERR", 1, 3, 1, 1)) == "103"
    with archive.engine.connect() as conn:  # nothing half-applied: no owner, no animal
        assert conn.execute(select(func.count()).select_from(OWNERS)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ANIMALS)).scalar_one() == 0
    row = log_rows(archive)[-1]
    assert row.status == "error" and "PID^1^35" in row.error


def test_missing_name_and_bad_date(listener: Hl7Listener) -> None:
    ack = send(listener, msg(msh("ADT^A04", "C1"), "PID|1||P300"))
    assert ack_code(ack) == "AE" and str(ack.extract_field("ERR", 1, 2, 1, 3)) == "5"
    ack = send(listener, msg(msh("ADT^A04", "C2"), "PID|1||P300||X^Y||2019-13"))
    assert ack_code(ack) == "AE" and str(ack.extract_field("ERR", 1, 2, 1, 3)) == "7"


def test_repeated_control_id_is_not_applied_twice(listener: Hl7Listener, archive: Archive) -> None:
    raw = msg(msh("ORM^O01", "ORD1"), PID_REX, NK1_SMITH, "ORC|NW|PL1", "OBR|1|PL1||DX-THX2^Thorax 2 views")
    first = listener.handle(raw, "x")
    second = listener.handle(raw, "x")
    assert first == second and ack_code(hl7.parse(first.decode())) == "AA"
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ORDERS)).scalar_one() == 1
    assert len(log_rows(archive)) == 1


def test_orm_o01_creates_order_with_given_ids_and_booking(listener: Hl7Listener, archive: Archive) -> None:
    raw = msg(
        msh("ORM^O01", "ORD1", version="2.3.1"),
        PID_REX,
        NK1_SMITH,
        "ORC|NW|PL1|||||^^^20300102100000^^S||20300102|||VET^Sarah^Dr",
        "OBR|1|PL1||DX-THX2^Thorax 2 views||||||||||||||ACC1001|RP77|SPS77||||DX|||^^^20300102100000^^S"
        "||||Coughing^Coughing for two weeks",
        "ZDS|1.2.826.0.1.3680043.2.1125.1^100^Application^DICOM",
    )
    ack = send(listener, raw)
    assert ack_code(ack) == "AA", str(ack)
    with archive.engine.connect() as conn:
        order = conn.execute(select(ORDERS)).one()
        step = conn.execute(select(STEPS)).one()
    assert order.accession_number == "ACC1001" and order.placer_order_number == "PL1"
    assert order.priority == "STAT" and order.clinical_question == "Coughing for two weeks"
    assert order.study_instance_uid == "1.2.826.0.1.3680043.2.1125.1"
    assert (step.requested_procedure_id, step.step_id, step.modality) == ("RP77", "SPS77", "DX")
    assert log_rows(archive)[-1].accession_number == "ACC1001"


def err_location(ack: hl7.Message) -> str:
    return "^".join(str(ack.extract_field("ERR", 1, 2, 1, c)) for c in (1, 2, 3))


def test_given_order_identifiers_taken_or_malformed_are_ae_naming_the_field(
    listener: Hl7Listener, archive: Archive
) -> None:
    def omi(control: str, ipc: str, placer: str = "PLX") -> bytes:
        return msg(
            msh("OMI^O23^OMI_O23", control),
            PID_REX,
            f"ORC|NW|{placer}",
            f"OBR|1|{placer}||US-ABD^Abdominal ultrasound",
            ipc,
        )

    assert ack_code(send(listener, omi("G1", "IPC|ACC5001|RP51|1.2.3.51|SPS51|US"))) == "AA"
    cases = [
        ("G2", "IPC|ACC5001|RP52|1.2.3.52|SPS52|US", "IPC^1^1"),  # accession taken
        ("G3", "IPC|ACC5003|RP53|1.2.3.51|SPS53|US", "IPC^1^3"),  # study UID taken
        ("G4", "IPC|ACC5004|RP54|1.2.3.54|SPS51|US", "IPC^1^4"),  # step id taken
        ("G5", "IPC|ACC5005|RP55|1.2.x.55|SPS55|US", "IPC^1^3"),  # not a UID
        ("G6", "IPC|ACC5006|RP56|1.2.3.56|SPS-TOO-LONG-FOR-DICOM|US", "IPC^1^4"),  # SH: 16 chars at most
    ]
    for control, ipc, location in cases:
        ack = send(listener, omi(control, ipc, placer=f"PL{control}"))
        assert ack_code(ack) == "AE", str(ack)
        assert err_location(ack) == location, str(ack)
    orm = msg(
        msh("ORM^O01", "G7", version="2.3.1"),
        PID_REX,
        "ORC|NW|PLG7",
        "OBR|1|PLG7||US-ABD||||||||||||||ACC5007|RP57|SPS51||||US",
    )
    ack = send(listener, orm)
    assert ack_code(ack) == "AE" and err_location(ack) == "OBR^1^20", str(ack)
    assert str(ack.extract_field("ERR", 1, 3, 1, 1)) == "205"  # duplicate key
    with archive.engine.connect() as conn:  # only the first order: nothing of the refused ones stayed
        assert conn.execute(select(ORDERS.c.accession_number)).scalars().all() == ["ACC5001"]
        step = conn.execute(select(STEPS)).one()
        assert (step.requested_procedure_id, step.step_id) == ("RP51", "SPS51")
        assert conn.execute(select(ORDERS.c.study_instance_uid)).scalar_one() == "1.2.3.51"


def test_omi_o23_books_station_and_orc_ca_cancels(listener: Hl7Listener, archive: Archive) -> None:
    raw = msg(
        msh("OMI^O23^OMI_O23", "OMI1"),
        PID_REX,
        "ORC|NW|PL2",
        "TQ1|1||||||20300102103000||A",
        "OBR|1|PL2||US-ABD^Abdominal ultrasound",
        "IPC|ACC2002|RP9|1.2.3.4.5|SPS9|US|||US1|USROOM2",
    )
    ack = send(listener, raw)
    assert ack_code(ack) == "AA", str(ack)
    with archive.engine.connect() as conn:
        order = conn.execute(select(ORDERS)).one()
        step = conn.execute(select(STEPS)).one()
    assert order.status == "scheduled" and order.priority == "URGENT"
    assert step.station_id is not None and step.start.hour == 10 and step.start.minute == 30
    cancel = msg(msh("OMI^O23", "OMI2"), PID_REX, "ORC|CA|PL2", "OBR|1|PL2||US-ABD", "IPC|ACC2002")
    assert ack_code(send(listener, cancel)) == "AA"
    with archive.engine.connect() as conn:
        assert conn.execute(select(ORDERS.c.status)).scalar_one() == "cancelled"
        assert conn.execute(select(STEPS.c.status)).scalar_one() == "CANCELLED"


def test_unknown_procedure_and_order_errors(listener: Hl7Listener, archive: Archive) -> None:
    ack = send(listener, msg(msh("ORM^O01", "O1"), PID_REX, "ORC|NW|PL1", "OBR|1|PL1||NOPE^Nope"))
    assert ack_code(ack) == "AE" and str(ack.extract_field("ERR", 1, 2, 1, 3)) == "4"
    with archive.engine.connect() as conn:  # the animal of a refused order is not registered either
        assert conn.execute(select(func.count()).select_from(ANIMALS)).scalar_one() == 0
    ack = send(
        listener, msg(msh("ORM^O01", "O2"), PID_REX, "ORC|CA|NOPE", "OBR|1|NOPE||DX-THX2||||||||||||||X1")
    )
    assert ack_code(ack) == "AE" and str(ack.extract_field("ERR", 1, 3, 1, 1)) == "204"


def test_a40_merges_and_a47_changes_identifier(listener: Hl7Listener, archive: Archive) -> None:
    send(listener, msg(msh("ADT^A04", "A"), seg("PID", {3: "P1", 5: "SMITH^Rex", 35: "448771007"})))
    send(listener, msg(msh("ADT^A04", "B"), "PID|1||P2||SMITH^Rex2"))
    ack = send(listener, msg(msh("ADT^A40^ADT_A39", "M1"), "PID|1||P1||SMITH^Rex", "MRG|P2"))
    assert ack_code(ack) == "AA", str(ack)
    assert (
        get_animal_by_patient_id(archive, "P2").merged_into_id == get_animal_by_patient_id(archive, "P1").id
    )
    ack = send(listener, msg(msh("ADT^A40", "M2"), "PID|1||P1", "MRG|P999"))
    assert ack_code(ack) == "AE" and str(ack.extract_field("ERR", 1, 2, 1, 1)) == "MRG"
    ack = send(listener, msg(msh("ADT^A47^ADT_A30", "X1"), "PID|1||P1-NEW", "MRG|P1"))
    assert ack_code(ack) == "AA", str(ack)
    renamed = get_animal_by_patient_id(archive, "P1-NEW")  # the Patient ID was the PMS id: it follows
    assert (
        renamed.external_id == "P1-NEW"
        and renamed.id == get_animal_by_patient_id(archive, "P2").merged_into_id
    )
    # the new id taken by another animal: AE, nothing changed
    send(listener, msg(msh("ADT^A04", "C"), "PID|1||P3||DOE^Milo"))
    ack = send(listener, msg(msh("ADT^A47^ADT_A30", "X2"), "PID|1||P3", "MRG|P1-NEW"))
    assert ack_code(ack) == "AE" and "already used" in str(ack.extract_field("MSA", 1, 3, 1, 1)), str(ack)
    assert get_animal_by_patient_id(archive, "P1-NEW").external_id == "P1-NEW"
    # an animal with a Patient ID VetPACS assigned keeps it; only the PMS id changes
    ack = send(listener, msg(msh("ADT^A04", "D"), "PID|1||~956000099999999^^^MICROCHIP^RFID||DOE^Bella"))
    assert ack_code(ack) == "AA", str(ack)
    with archive.engine.connect() as conn:
        bella = conn.execute(select(ANIMALS).where(ANIMALS.c.microchip == "956000099999999")).one()
    assert bella.patient_id.startswith("VP") and not bella.external_id
    ack = send(listener, msg(msh("ADT^A47", "X3"), "PID|1||PMS-B7", "MRG|956000099999999^^^MICROCHIP^RFID"))
    assert ack_code(ack) == "AA", str(ack)
    after = get_animal_by_patient_id(archive, bella.patient_id)
    assert after.external_id == "PMS-B7"


@pytest.mark.parametrize(
    ("raw", "location"),
    [
        (b"hello world", "MSH"),
        (b"MSH|^~|PMS|X|||||ADT^A01|1|P|2.5.1", "MSH"),
        (msg(msh("ADT^A99", "U1")), "MSH"),
        (msg(msh("QRY^Q01", "U2")), "MSH"),
        (msg(msh("ADT^A01", "U3", version="2.8")), "MSH"),
        (msg(msh("ADT^A01", "")), "MSH"),
    ],
)
def test_rejects(listener: Hl7Listener, archive: Archive, raw: bytes, location: str) -> None:
    ack = send(listener, raw)
    assert ack_code(ack) == "AR"
    assert str(ack.extract_field("ERR", 1, 2, 1, 1)) == location
    assert log_rows(archive)[-1].status == "rejected"


def test_other_encoding_characters(listener: Hl7Listener, archive: Archive) -> None:
    raw = "\r".join(
        [
            "MSH#$%!*#PMS#CLINIC#VETPACS#VP#20300102##ADT$A04#E1#P#2.5.1",
            "PID#1##P500##DOE$Milo",
        ]
    ).encode()
    ack = listener.handle(raw, "x").decode()
    assert ack.startswith("MSH#$%!*#") and "MSA#AA#E1" in ack
    assert get_animal_by_patient_id(archive, "P500").name == "Milo"


def test_ack_builders() -> None:
    assert check_encoding("MSH|^~\\&|A") == "^~\\&"
    head = scrape_header("MSH|^~\\&|APP|FAC|||20300101||ADT^A01|42|P|2.4")
    assert (head.sending_application, head.control_id, head.trigger, head.version) == (
        "APP",
        "42",
        "A01",
        "2.4",
    )
    ack = build_ack(head, "AA", our_application="VETPACS", control_id="X", text="ok|done")
    assert ack.split("\r")[1] == "MSA|AA|42|ok\\F\\done"
