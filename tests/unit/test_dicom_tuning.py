"""The direct encoder gives exactly pydicom's bytes, or defers to pydicom."""

from __future__ import annotations

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
