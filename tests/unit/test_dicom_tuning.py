"""The direct encoder gives exactly pydicom's bytes, or defers to pydicom."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vetpacs.dicom import tuning

pydicom_encode = tuning._original_encode  # pynetdicom's own encoder (pydicom write_dataset)


def command_set() -> Dataset:
    ds = Dataset()
    ds.CommandGroupLength = 120
    ds.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.1"
    ds.CommandField = 0x8020
    ds.MessageIDBeingRespondedTo = 7
    ds.CommandDataSetType = 0x0001
    ds.Status = 0xFF00
    return ds


def find_answer(name: str = "BAKER^Max", charset: str | None = None) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.PatientID = "VP000101"
    ds.StudyInstanceUID = "1.2.3.4.5"  # odd length: padded with NUL
    ds.StudyDate = "20260101"
    ds.ModalitiesInStudy = ["DX", "CT"]
    ds.NumberOfStudyRelatedInstances = "3"
    ds.PatientSpeciesDescription = "Canine"
    ds.ResponsiblePerson = "BAKER^Emma"
    ds.AccessionNumber = ""
    ds.Rows = 512
    return ds


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize(
    "ds",
    [
        command_set(),
        find_answer(),
        find_answer("MÜLLER^Bello", "ISO_IR 192"),
        find_answer("MÜLLER^Bello", "ISO_IR 100"),
    ],
    ids=["command", "answer", "utf8", "latin1"],
)
def test_same_bytes_as_pydicom(ds: Dataset, implicit: bool) -> None:
    expected = pydicom_encode(ds, implicit, True)
    assert expected is not None
    assert tuning.fast_encode(ds, implicit, True) == expected


def test_sequences_and_other_charsets_defer_to_pydicom() -> None:
    ds = find_answer()
    item = Dataset()
    item.CodeValue = "448771007"
    item.CodingSchemeDesignator = "SCT"
    ds.PatientSpeciesCodeSequence = Sequence([item])
    assert tuning.fast_encode(ds, False, True) == pydicom_encode(ds, False, True)
    greek = find_answer("ΑΒΓ^Δ", "ISO_IR 126")
    assert tuning.fast_encode(greek, False, True) == pydicom_encode(greek, False, True)
    # non-ASCII text without a character set that can carry it: pydicom decides
    bad = find_answer("MÜLLER^Bello")
    assert tuning.fast_encode(bad, False, True) == pydicom_encode(bad, False, True)
    assert tuning.fast_encode(command_set(), True, False) == pydicom_encode(command_set(), True, False)


# ---------------------------------------------------------------- C-STORE sub-operation messages


def pynetdicom_command(primitive: object) -> bytes:
    """The command set bytes pynetdicom puts on the wire for a C-STORE primitive."""
    from pynetdicom.dimse_messages import C_STORE_RQ, C_STORE_RSP
    from pynetdicom.dimse_primitives import C_STORE

    assert isinstance(primitive, C_STORE)
    msg = C_STORE_RSP() if primitive.Status is not None else C_STORE_RQ()
    msg.primitive_to_message(primitive)
    return pydicom_encode(msg.command_set, True, True) or b""


def store_response(status: int, msg_id: int = 5, **optional: object) -> bytes:
    from pynetdicom.dimse_primitives import C_STORE

    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = msg_id
    rsp.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    rsp.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    rsp.Status = status
    for keyword, value in optional.items():
        setattr(rsp, keyword, value)
    return pynetdicom_command(rsp)


def pynetdicom_status(command: bytes) -> Dataset:
    """What pynetdicom makes of the same bytes: decode, primitive, ``_check_received_status``."""
    from pydicom.filereader import read_dataset
    from pynetdicom.dimse_messages import C_STORE_RSP

    msg = C_STORE_RSP()
    msg.command_set = read_dataset(BytesIO(command), True, True)
    primitive = msg.message_to_primitive()
    status = Dataset()
    status.Status = primitive.Status
    for keyword in primitive.STATUS_OPTIONAL_KEYWORDS:
        if getattr(primitive, keyword, None) is not None:
            setattr(status, keyword, getattr(primitive, keyword))
    return status


@pytest.mark.parametrize(
    ("status", "optional"),
    [
        (0x0000, {}),
        (0xB000, {}),
        (0xB007, {"ErrorComment": "coerced"}),
        (0xA700, {"ErrorComment": "out of space"}),  # even length
        (0xA900, {"ErrorComment": "no match"}),  # odd length: padded with a space
        (0xC211, {}),
        (0x0107, {}),
    ],
)
def test_raw_store_response_matches_pynetdicom(status: int, optional: dict[str, object]) -> None:
    command = store_response(status, **optional)
    raw = tuning.decode_store_response(command, 5)
    assert raw is not None
    assert raw == pynetdicom_status(command)
    assert raw.Status == status


def test_raw_store_response_defers_to_pynetdicom() -> None:
    # Another Message ID, an element it does not handle, a truncated or foreign command set.
    assert tuning.decode_store_response(store_response(0x0000, msg_id=6), 5) is None
    assert tuning.decode_store_response(store_response(0xC000, OffendingElement=[0x00100010]), 5) is None
    command = store_response(0x0000)
    assert tuning.decode_store_response(command[:-3], 5) is None
    assert tuning.decode_store_response(command + b"\x00\x00\x00\x09\x02\x00\x00\x00\x00\x00", 5) is None
    cmd = command_set()  # a C-FIND-RSP
    body = tuning.fast_encode(cmd, True, True) or b""
    assert tuning.decode_store_response(body, 7) is None
    # A response that says a data set follows.
    with_data = bytearray(command)
    at = with_data.find(b"\x00\x00\x00\x08\x02\x00\x00\x00")
    with_data[at + 8 : at + 10] = b"\x02\x00"
    assert tuning.decode_store_response(bytes(with_data), 5) is None


@pytest.mark.parametrize(
    ("originator_aet", "originator_id"), [(None, None), ("MOVESCU", 7), ("ODDAET", 65535)]
)
def test_store_request_command_matches_pynetdicom(
    originator_aet: str | None, originator_id: int | None
) -> None:
    from pynetdicom.dimse_primitives import C_STORE

    req = C_STORE()
    req.MessageID = 12
    req.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    req.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.12345"
    req.Priority = 2
    req.DataSet = BytesIO(b"\x08\x00\x16\x00\x00\x00\x00\x00")
    if originator_aet:
        req.MoveOriginatorApplicationEntityTitle = originator_aet
    if originator_id is not None:
        req.MoveOriginatorMessageID = originator_id
    expected = pynetdicom_command(req)
    got = tuning.store_request_command(
        "1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.8.498.12345", 12, 2, originator_aet, originator_id
    )
    assert got == expected


def test_negotiation_caches_give_pynetdicom_results() -> None:
    from pynetdicom.pdu_items import SCP_SCU_RoleSelectionSubItem, UserInformationItem

    assert tuning.apply()
    item = UserInformationItem()
    for uid in ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.1.1"):
        sub = SCP_SCU_RoleSelectionSubItem()
        sub.sop_class_uid = uid
        sub.scu_role, sub.scp_role = False, True
        item.user_data.append(sub)
    first = item.role_selection
    assert first == tuning._original_role_selection.fget(item)  # type: ignore[attr-defined]
    first.clear()  # callers get their own dict
    assert len(item.role_selection) == 2
    sub = SCP_SCU_RoleSelectionSubItem()
    sub.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4"
    item.user_data.append(sub)  # the list changed: rebuilt
    assert set(item.role_selection) == {
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.4",
    }
    for value in (b"1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2"):
        assert tuning._set_uid(value, "Transfer Syntax Name") == tuning._original_set_uid(value, "x")
    # A non-conformant UID: pynetdicom's result and warning every time, never remembered.
    assert tuning._set_uid("1.2.03", "x") == tuning._original_set_uid("1.2.03", "x")
    assert not any("1.2.03" in key for key in tuning._set_uid_cache)
    assert tuning._set_uid(None, "x") is None


def test_stored_file_reads_back_its_uids() -> None:
    stored = tuning.StoredFile("1.2.840.10008.5.1.4.1.1.2", "1.2.3.45", "1.2.840.10008.1.2.1", None, bytes)
    assert stored.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert stored.SOPInstanceUID == "1.2.3.45"  # odd length, padded on the way in
    assert "SOPInstanceUID" in stored
    assert stored.SOPInstanceUID.is_valid
