"""C-FIND against a running ``vetpacs serve`` holding the demo studies (loaded with storescu).

Queries go through DCMTK findscu (``-X -od DIR``, answers read back with pydicom) and, for sequence
matching on Other Patient IDs and exact statuses, through pynetdicom.

The demo animals: BAKER^Max (Canine, Labrador, ALTERED), BAKER^Luna (Feline, Domestic Shorthair,
two studies), KOWALSKI^Ruby (Canine, Cavalier, UNALTERED, two studies), NIELSEN^Simba (Feline,
Maine Coon), FISCHER^Thunder (Equine, Warmblood), ROSSI^Kiwi (Lapine, Dwarf Lop); owners are
BAKER^Emma (Max and Luna), KOWALSKI^Anna, NIELSEN^Lars, FISCHER^Julia and ROSSI^Marco.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicom_support import AET, HOST, LiveServer, dcmtk, findscu, module_server, requestor
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"

# (PatientName, StudyDate) of every demo study, and its series / instance counts
DEMO_STUDIES = {
    ("BAKER^Max", "20250114"): (1, 2),
    ("BAKER^Luna", "20250122"): (1, 2),
    ("KOWALSKI^Ruby", "20250203"): (1, 1),
    ("NIELSEN^Simba", "20250218"): (1, 2),
    ("KOWALSKI^Ruby", "20250310"): (1, 8),
    ("FISCHER^Thunder", "20250402"): (1, 2),
    ("ROSSI^Kiwi", "20250512"): (2, 3),
    ("BAKER^Luna", "20250605"): (1, 4),
}
MICROCHIPS = {
    "BAKER^Max": "276098106543210",
    "BAKER^Luna": "276098106543227",
    "NIELSEN^Simba": "208250000456789",
}


@dataclass(frozen=True)
class DemoIndex:
    """UIDs of the demo files, looked up by (PatientName, StudyDate)."""

    study_uid: dict[tuple[str, str], str]
    series: dict[tuple[str, str], dict[str, str]]  # -> {SeriesDescription: SeriesInstanceUID}
    instances: dict[str, set[str]]  # SeriesInstanceUID -> SOP Instance UIDs
    patient_id: dict[str, str]


def index_demo(files: list[Path]) -> DemoIndex:
    study_uid: dict[tuple[str, str], str] = {}
    series: dict[tuple[str, str], dict[str, str]] = {}
    instances: dict[str, set[str]] = {}
    patient_id: dict[str, str] = {}
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        key = (str(ds.PatientName), str(ds.StudyDate))
        study_uid[key] = str(ds.StudyInstanceUID)
        series.setdefault(key, {})[str(ds.SeriesDescription)] = str(ds.SeriesInstanceUID)
        instances.setdefault(str(ds.SeriesInstanceUID), set()).add(str(ds.SOPInstanceUID))
        patient_id[str(ds.PatientName)] = str(ds.PatientID)
    return DemoIndex(study_uid, series, instances, patient_id)


@pytest.fixture(scope="module")
def demo(demo_files: list[Path]) -> DemoIndex:
    idx = index_demo(demo_files)
    assert set(idx.study_uid) == set(DEMO_STUDIES), "the demo generator changed: update DEMO_STUDIES"
    return idx


def store_files(server: LiveServer, files: list[Path]) -> None:
    proc = dcmtk("storescu", "-aec", AET, HOST, str(server.dicom_port), *[str(f) for f in files])
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def find_server(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("find-server")) as srv:
        store_files(srv, demo_files)
        yield srv


def studies(answers: list[Dataset]) -> list[tuple[str, str]]:
    return sorted((str(a.PatientName), str(a.StudyDate)) for a in answers)


def study_find(server: LiveServer, out_dir: Path, *keys: str) -> list[Dataset]:
    """Study root, STUDY level, returning PatientName, StudyDate and StudyInstanceUID."""
    base = ["QueryRetrieveLevel=STUDY", "PatientName", "StudyDate", "StudyInstanceUID"]
    names = {k.split("=")[0] for k in keys}
    answers = findscu(server, "-S", [*[k for k in base if k.split("=")[0] not in names], *keys], out_dir)
    for a in answers:
        assert a.QueryRetrieveLevel == "STUDY"
    return answers


def pyfind(
    server: LiveServer, model: str, identifier: Dataset, aet: str = "PYFIND"
) -> tuple[list[Dataset], int]:
    """C-FIND with pynetdicom: the pending identifiers and the final status."""
    ae = requestor(aet, [(model, ["1.2.840.10008.1.2.1"])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    assert assoc.is_established
    answers, final = [], None
    try:
        for status, ident in assoc.send_c_find(identifier, model):
            assert status is not None, "no response"
            if status.Status in (0xFF00, 0xFF01):
                answers.append(ident)
            else:
                final = int(status.Status)
    finally:
        assoc.release()
    assert final is not None
    return answers, final


# ------------------------------------------------------------------------------ matching types
def test_single_value_matching(find_server: LiveServer, tmp_path: Path, demo: DemoIndex) -> None:
    answers = study_find(
        find_server, tmp_path, "PatientName=BAKER^Max", "StudyDescription", "AccessionNumber"
    )
    assert len(answers) == 1
    a = answers[0]
    assert (str(a.PatientName), a.StudyDate) == ("BAKER^Max", "20250114")
    assert a.StudyDescription == "Thorax 2 views"
    assert a.StudyInstanceUID == demo.study_uid[("BAKER^Max", "20250114")]
    assert "AccessionNumber" in a


def test_wildcard_star(find_server: LiveServer, tmp_path: Path) -> None:
    answers = study_find(find_server, tmp_path, "PatientName=BAKER*")
    assert studies(answers) == [
        ("BAKER^Luna", "20250122"),
        ("BAKER^Luna", "20250605"),
        ("BAKER^Max", "20250114"),
    ]
    answers = study_find(find_server, tmp_path / "2", "StudyDescription=*views*")
    assert studies(answers) == [
        ("BAKER^Luna", "20250122"),
        ("BAKER^Max", "20250114"),
        ("FISCHER^Thunder", "20250402"),
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("BAKER^M?x", [("BAKER^Max", "20250114")]),
        ("KOWALSK?^Ru?y", [("KOWALSKI^Ruby", "20250203"), ("KOWALSKI^Ruby", "20250310")]),
        ("BAKER^?", []),  # ? is exactly one character
        ("?AKER^L*", [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605")]),
    ],
)
def test_wildcard_question_mark(
    find_server: LiveServer, tmp_path: Path, pattern: str, expected: list[tuple[str, str]]
) -> None:
    assert studies(study_find(find_server, tmp_path, f"PatientName={pattern}")) == expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (
            "20250201-20250331",
            [("KOWALSKI^Ruby", "20250203"), ("KOWALSKI^Ruby", "20250310"), ("NIELSEN^Simba", "20250218")],
        ),
        ("20250501-", [("BAKER^Luna", "20250605"), ("ROSSI^Kiwi", "20250512")]),
        ("-20250122", [("BAKER^Luna", "20250122"), ("BAKER^Max", "20250114")]),
        ("20250402", [("FISCHER^Thunder", "20250402")]),
        ("20250203-20250203", [("KOWALSKI^Ruby", "20250203")]),
        ("20240101-20241231", []),
    ],
)
def test_date_range(
    find_server: LiveServer, tmp_path: Path, date: str, expected: list[tuple[str, str]]
) -> None:
    assert studies(study_find(find_server, tmp_path, f"StudyDate={date}")) == expected


def test_uid_list_matching(find_server: LiveServer, tmp_path: Path, demo: DemoIndex) -> None:
    wanted = [("NIELSEN^Simba", "20250218"), ("ROSSI^Kiwi", "20250512")]
    uids = "\\".join(demo.study_uid[k] for k in wanted)
    answers = study_find(find_server, tmp_path, f"StudyInstanceUID={uids}")
    assert studies(answers) == wanted
    assert {a.StudyInstanceUID for a in answers} == {demo.study_uid[k] for k in wanted}


def test_universal_matching_returns_every_study(
    find_server: LiveServer, tmp_path: Path, demo: DemoIndex
) -> None:
    answers = study_find(find_server, tmp_path, "PatientID", "StudyDescription", "PatientSpeciesDescription")
    assert studies(answers) == sorted(DEMO_STUDIES)
    assert {a.StudyInstanceUID for a in answers} == set(demo.study_uid.values())
    for a in answers:
        assert a.PatientID == demo.patient_id[str(a.PatientName)]
        assert a.StudyDescription and a.PatientSpeciesDescription


# ------------------------------------------------------------------------------ veterinary keys
@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            ["PatientSpeciesDescription=Feline"],
            [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605"), ("NIELSEN^Simba", "20250218")],
        ),
        (["PatientSpeciesDescription=Equine"], [("FISCHER^Thunder", "20250402")]),
        (["PatientBreedDescription=Maine*"], [("NIELSEN^Simba", "20250218")]),
        (
            ["PatientBreedDescription=Cavalier King Charles Spaniel"],
            [("KOWALSKI^Ruby", "20250203"), ("KOWALSKI^Ruby", "20250310")],
        ),
        (
            ["ResponsiblePerson=BAKER*"],
            [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605"), ("BAKER^Max", "20250114")],
        ),
        (
            ["ResponsiblePerson=BAKER^Emma"],
            [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605"), ("BAKER^Max", "20250114")],
        ),
        (["ResponsiblePerson=ROSSI^Marco"], [("ROSSI^Kiwi", "20250512")]),
        (["PatientSexNeutered=UNALTERED"], [("KOWALSKI^Ruby", "20250203"), ("KOWALSKI^Ruby", "20250310")]),
        (["PatientSexNeutered=ALTERED"], sorted(k for k in DEMO_STUDIES if k[0] != "KOWALSKI^Ruby")),
        (["PatientSpeciesDescription=Canine", "ModalitiesInStudy=CT"], [("KOWALSKI^Ruby", "20250310")]),
        (["PatientSpeciesDescription=Feline", "PatientSex=M"], [("NIELSEN^Simba", "20250218")]),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) and v and isinstance(v[0], str) else None,
)
def test_veterinary_matching_keys(
    find_server: LiveServer, tmp_path: Path, keys: list[str], expected: list[tuple[str, str]]
) -> None:
    assert studies(study_find(find_server, tmp_path, *keys)) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "448771007",
            [("BAKER^Max", "20250114"), ("KOWALSKI^Ruby", "20250203"), ("KOWALSKI^Ruby", "20250310")],
        ),
        ("36571002", [("ROSSI^Kiwi", "20250512")]),
        ("35354009", [("FISCHER^Thunder", "20250402")]),
        ("999999999", []),
    ],
)
def test_species_code_sequence_matching(
    find_server: LiveServer, tmp_path: Path, code: str, expected: list[tuple[str, str]]
) -> None:
    answers = study_find(find_server, tmp_path, f"PatientSpeciesCodeSequence[0].CodeValue={code}")
    assert studies(answers) == expected
    for a in answers:
        assert a.PatientSpeciesCodeSequence[0].CodeValue == code


def test_microchip_via_other_patient_ids_sequence(find_server: LiveServer) -> None:
    for name, chip in MICROCHIPS.items():
        ident = Dataset()
        ident.QueryRetrieveLevel = "PATIENT"
        ident.PatientName = ""
        ident.PatientID = ""
        item = Dataset()
        item.PatientID = chip
        ident.OtherPatientIDsSequence = Sequence([item])
        answers, status = pyfind(find_server, PATIENT_ROOT_FIND, ident)
        assert status == 0x0000
        assert [str(a.PatientName) for a in answers] == [name]
        assert answers[0].OtherPatientIDsSequence[0].PatientID == chip

    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.PatientName = ""
    ident.StudyDate = ""
    item = Dataset()
    item.PatientID = MICROCHIPS["BAKER^Luna"]
    ident.OtherPatientIDsSequence = Sequence([item])
    answers, status = pyfind(find_server, STUDY_ROOT_FIND, ident)
    assert status == 0x0000
    assert studies(answers) == [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605")]

    item.PatientID = "999000000000001"
    answers, status = pyfind(find_server, STUDY_ROOT_FIND, ident)
    assert (answers, status) == ([], 0x0000)


def test_veterinary_return_keys(find_server: LiveServer, tmp_path: Path) -> None:
    answers = study_find(
        find_server,
        tmp_path,
        "PatientName=BAKER^Max",
        "PatientSpeciesDescription",
        "PatientSpeciesCodeSequence",
        "PatientBreedDescription",
        "PatientBreedCodeSequence",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
        "PatientSexNeutered",
        "PatientSex",
        "OtherPatientIDsSequence",
    )
    assert len(answers) == 1
    a = answers[0]
    assert a.PatientSpeciesDescription == "Canine"
    assert len(a.PatientSpeciesCodeSequence) == 1
    code = a.PatientSpeciesCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "448771007",
        "SCT",
        "Canis lupus familiaris",
    )
    assert a.PatientBreedDescription == "Labrador Retriever"
    assert "PatientBreedCodeSequence" in a
    assert str(a.ResponsiblePerson) == "BAKER^Emma"
    assert a.ResponsiblePersonRole == "OWNER"
    assert a.PatientSexNeutered == "ALTERED"
    assert a.PatientSex == "M"
    assert a.OtherPatientIDsSequence[0].PatientID == MICROCHIPS["BAKER^Max"]


# ------------------------------------------------------------------------------ computed keys
def test_modalities_in_study(find_server: LiveServer, tmp_path: Path) -> None:
    answers = study_find(find_server, tmp_path, "ModalitiesInStudy")
    mods = {}
    for a in answers:
        value = a.get("ModalitiesInStudy") or []
        mods[(str(a.PatientName), a.StudyDate)] = [value] if isinstance(value, str) else list(value)
    assert mods[("KOWALSKI^Ruby", "20250310")] == ["CT"]
    assert mods[("NIELSEN^Simba", "20250218")] == ["US"]
    assert mods[("BAKER^Luna", "20250605")] == ["IO"]
    assert mods[("ROSSI^Kiwi", "20250512")] == ["DX"]
    assert studies(study_find(find_server, tmp_path / "us", "ModalitiesInStudy=US")) == [
        ("NIELSEN^Simba", "20250218")
    ]
    assert studies(study_find(find_server, tmp_path / "io-us", "ModalitiesInStudy=IO\\US")) == [
        ("BAKER^Luna", "20250605"),
        ("NIELSEN^Simba", "20250218"),
    ]
    assert len(study_find(find_server, tmp_path / "dx", "ModalitiesInStudy=DX")) == 5


def test_number_of_study_related_series_and_instances(find_server: LiveServer, tmp_path: Path) -> None:
    answers = study_find(find_server, tmp_path, "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
    got = {
        (str(a.PatientName), a.StudyDate): (
            int(a.NumberOfStudyRelatedSeries),
            int(a.NumberOfStudyRelatedInstances),
        )
        for a in answers
    }
    assert got == DEMO_STUDIES


def test_patient_level_and_patient_related_counts(
    find_server: LiveServer, tmp_path: Path, demo: DemoIndex
) -> None:
    answers = findscu(
        find_server,
        "-P",
        [
            "QueryRetrieveLevel=PATIENT",
            "PatientName",
            "PatientID",
            "PatientSpeciesDescription",
            "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedSeries",
            "NumberOfPatientRelatedInstances",
        ],
        tmp_path,
    )
    got = {
        str(a.PatientName): (
            a.PatientID,
            a.PatientSpeciesDescription,
            int(a.NumberOfPatientRelatedStudies),
            int(a.NumberOfPatientRelatedSeries),
            int(a.NumberOfPatientRelatedInstances),
        )
        for a in answers
    }
    assert len(answers) == 6
    assert got == {
        "BAKER^Max": (demo.patient_id["BAKER^Max"], "Canine", 1, 1, 2),
        "BAKER^Luna": (demo.patient_id["BAKER^Luna"], "Feline", 2, 2, 6),
        "KOWALSKI^Ruby": (demo.patient_id["KOWALSKI^Ruby"], "Canine", 2, 2, 9),
        "NIELSEN^Simba": (demo.patient_id["NIELSEN^Simba"], "Feline", 1, 1, 2),
        "FISCHER^Thunder": (demo.patient_id["FISCHER^Thunder"], "Equine", 1, 1, 2),
        "ROSSI^Kiwi": (demo.patient_id["ROSSI^Kiwi"], "Lapine", 1, 2, 3),
    }
    answers = findscu(
        find_server,
        "-P",
        ["QueryRetrieveLevel=PATIENT", "PatientName", "ResponsiblePerson=BAKER^Emma"],
        tmp_path / "2",
    )
    assert sorted(str(a.PatientName) for a in answers) == ["BAKER^Luna", "BAKER^Max"]


def test_patient_root_study_series_image_levels(
    find_server: LiveServer, tmp_path: Path, demo: DemoIndex
) -> None:
    ruby = demo.patient_id["KOWALSKI^Ruby"]
    answers = findscu(
        find_server,
        "-P",
        ["QueryRetrieveLevel=STUDY", f"PatientID={ruby}", "StudyInstanceUID", "StudyDescription"],
        tmp_path / "st",
    )
    assert sorted(a.StudyDescription for a in answers) == [
        "CT Head (Chiari-like malformation)",
        "Pelvis VD (hip screening)",
    ]
    ct_study = demo.study_uid[("KOWALSKI^Ruby", "20250310")]
    ct_series = demo.series[("KOWALSKI^Ruby", "20250310")]["Head axial soft tissue"]
    answers = findscu(
        find_server,
        "-P",
        [
            "QueryRetrieveLevel=SERIES",
            f"PatientID={ruby}",
            f"StudyInstanceUID={ct_study}",
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
        ],
        tmp_path / "se",
    )
    assert [(a.SeriesInstanceUID, a.Modality, int(a.NumberOfSeriesRelatedInstances)) for a in answers] == [
        (ct_series, "CT", 8)
    ]
    answers = findscu(
        find_server,
        "-P",
        [
            "QueryRetrieveLevel=IMAGE",
            f"PatientID={ruby}",
            f"StudyInstanceUID={ct_study}",
            f"SeriesInstanceUID={ct_series}",
            "SOPInstanceUID",
            "SOPClassUID",
            "InstanceNumber",
        ],
        tmp_path / "im",
    )
    assert {a.SOPInstanceUID for a in answers} == demo.instances[ct_series]
    assert len(answers) == 8
    assert sorted(int(a.InstanceNumber) for a in answers) == list(range(1, 9))
    assert {a.SOPClassUID for a in answers} == {CT}


def test_study_root_series_and_image_levels(find_server: LiveServer, tmp_path: Path, demo: DemoIndex) -> None:
    kiwi = ("ROSSI^Kiwi", "20250512")
    answers = findscu(
        find_server,
        "-S",
        [
            "QueryRetrieveLevel=SERIES",
            f"StudyInstanceUID={demo.study_uid[kiwi]}",
            "SeriesInstanceUID",
            "SeriesDescription",
            "Modality",
            "BodyPartExamined",
            "NumberOfSeriesRelatedInstances",
        ],
        tmp_path / "se",
    )
    got = {
        (
            a.SeriesDescription,
            a.Modality,
            a.BodyPartExamined,
            int(a.NumberOfSeriesRelatedInstances),
            a.SeriesInstanceUID,
        )
        for a in answers
    }
    assert got == {
        ("Skull", "DX", "HEAD", 2, demo.series[kiwi]["Skull"]),
        ("Whole body", "DX", "WHOLEBODY", 1, demo.series[kiwi]["Whole body"]),
    }
    # Modality is a series key: at SERIES level it matches
    answers = findscu(
        find_server, "-S", ["QueryRetrieveLevel=SERIES", "Modality=US", "SeriesInstanceUID"], tmp_path / "us"
    )
    assert [a.SeriesInstanceUID for a in answers] == [demo.series[("NIELSEN^Simba", "20250218")]["Abdomen"]]

    ct_series = demo.series[("KOWALSKI^Ruby", "20250310")]["Head axial soft tissue"]
    answers = findscu(
        find_server,
        "-S",
        ["QueryRetrieveLevel=IMAGE", f"SeriesInstanceUID={ct_series}", "SOPInstanceUID", "InstanceNumber=3"],
        tmp_path / "im",
    )
    assert len(answers) == 1 and int(answers[0].InstanceNumber) == 3
    assert answers[0].SOPInstanceUID in demo.instances[ct_series]
    answers = findscu(
        find_server,
        "-S",
        ["QueryRetrieveLevel=IMAGE", "SOPInstanceUID", "NumberOfFrames=4"],
        tmp_path / "frames",
    )
    assert {a.SOPInstanceUID for a in answers} == demo.instances[
        demo.series[("NIELSEN^Simba", "20250218")]["Abdomen"]
    ]


# ------------------------------------------------------------------------------ case of names
@pytest.mark.parametrize(
    "key",
    [
        "PatientName=baker*",
        "PatientName=baker^max",
        "PatientName=BAKER^MAX",
        "ResponsiblePerson=baker*",
        "ResponsiblePerson=Baker^Emma",
    ],
)
def test_names_match_case_sensitively_by_default(find_server: LiveServer, tmp_path: Path, key: str) -> None:
    assert study_find(find_server, tmp_path, key) == []


def test_names_match_case_insensitively_when_configured(
    server_factory: object, demo_files: list[Path], tmp_path: Path
) -> None:
    srv = server_factory(VETPACS_CASE_INSENSITIVE_NAMES="true")  # type: ignore[operator]
    srv.start()
    baker = [
        f
        for f in demo_files
        if dcmread(f, stop_before_pixels=True).PatientName in ("BAKER^Max", "BAKER^Luna")
    ]
    assert len(baker) == 8
    store_files(srv, baker)
    expected_all = [("BAKER^Luna", "20250122"), ("BAKER^Luna", "20250605"), ("BAKER^Max", "20250114")]
    assert studies(study_find(srv, tmp_path / "1", "PatientName=baker*")) == expected_all
    assert studies(study_find(srv, tmp_path / "2", "PatientName=baker^max")) == [("BAKER^Max", "20250114")]
    assert studies(study_find(srv, tmp_path / "3", "PatientName=Baker^L?NA")) == expected_all[:2]
    assert studies(study_find(srv, tmp_path / "4", "ResponsiblePerson=baker^emma")) == expected_all
    assert studies(study_find(srv, tmp_path / "5", "PatientName=BAKER^Max")) == [("BAKER^Max", "20250114")]
    # Only person names: other attributes still match case-sensitively.
    assert study_find(srv, tmp_path / "6", "PatientSpeciesDescription=feline") == []


# ------------------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    ("model", "level"),
    [
        (STUDY_ROOT_FIND, "PATIENT"),  # no PATIENT level in the Study Root model
        (STUDY_ROOT_FIND, ""),
        (STUDY_ROOT_FIND, "WORKLIST"),
        (PATIENT_ROOT_FIND, ""),
        (PATIENT_ROOT_FIND, "FRAME"),
    ],
    ids=["study-root-patient", "study-root-empty", "study-root-worklist", "patient-root-empty", "frame"],
)
def test_invalid_identifier_gives_a900(find_server: LiveServer, model: str, level: str) -> None:
    ident = Dataset()
    ident.QueryRetrieveLevel = level
    ident.PatientName = ""
    answers, status = pyfind(find_server, model, ident)
    assert answers == []
    assert status == 0xA900
    # and the listener still answers
    ok, status = pyfind(find_server, STUDY_ROOT_FIND, study_identifier())
    assert status == 0x0000 and len(ok) == 8


def study_identifier() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    return ds
