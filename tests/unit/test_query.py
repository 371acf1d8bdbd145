"""The query engine (C-FIND/QIDO/REST/UI) against the small demo archive, with exact expected sets."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from conftest import drop_database, fresh_database_url
from vetpacs.app import build_archive
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.importer import import_paths
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.query import Level, Model, Query, find_rows, query_from_identifier, run_query
from vetpacs.config import Settings
from vetpacs.errors import Invalid

PR, SR = Model.PATIENT_ROOT, Model.STUDY_ROOT

# C-FIND identifiers legitimately hold wildcards and odd spacing in CS values.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR CS")

ALL_PATIENTS = {"BAKER^Max", "BAKER^Luna", "KOWALSKI^Ruby", "NIELSEN^Simba", "FISCHER^Thunder", "ROSSI^Kiwi"}

# Accession numbers of the 8 demo studies (seed 7): VPD007 + study number.
MAX_THORAX, LUNA_THORAX, RUBY_PELVIS, SIMBA_US = "VPD0070001", "VPD0070002", "VPD0070003", "VPD0070004"
RUBY_CT, THUNDER_LIMB, KIWI_SKULL, LUNA_DENTAL = "VPD0070005", "VPD0070006", "VPD0070007", "VPD0070008"
ALL_STUDIES = {MAX_THORAX, LUNA_THORAX, RUBY_PELVIS, SIMBA_US, RUBY_CT, THUNDER_LIMB, KIWI_SKULL, LUNA_DENTAL}

# (accession, SeriesDescription) of the 9 series
ALL_SERIES = {
    (MAX_THORAX, "Thorax"),
    (LUNA_THORAX, "Thorax"),
    (RUBY_PELVIS, "Pelvis"),
    (SIMBA_US, "Abdomen"),
    (RUBY_CT, "Head axial soft tissue"),
    (THUNDER_LIMB, "Left fore foot"),
    (KIWI_SKULL, "Skull"),
    (KIWI_SKULL, "Whole body"),
    (LUNA_DENTAL, "Dental"),
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[Archive]:
    """One archive holding the small demo studies, shared by the (read-only) tests of this module."""
    tmp = tmp_path_factory.mktemp("query")
    db_url = fresh_database_url(tmp)
    arch = build_archive(Settings(data_dir=tmp / "data", database_url=db_url, storage_fsync=False))
    summary = import_paths(arch, list(demo_files))
    assert (summary.stored, summary.rejected) == (24, [])
    yield arch
    arch.engine.dispose()
    drop_database(db_url)


@pytest.fixture(scope="module")
def demo(demo_files: list[Path]) -> list[Dataset]:
    """The demo instances' headers, read with pydicom: the oracle for UID-based expectations."""
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in demo_files]


def study_uid(demo: list[Dataset], accession: str) -> str:
    return next(str(d.StudyInstanceUID) for d in demo if d.AccessionNumber == accession)


def series_uid(demo: list[Dataset], accession: str, description: str) -> str:
    return next(
        str(d.SeriesInstanceUID)
        for d in demo
        if d.AccessionNumber == accession and d.SeriesDescription == description
    )


def sops(demo: list[Dataset], pred: Any) -> set[str]:
    return {str(d.SOPInstanceUID) for d in demo if pred(d)}


def ident(level: str, **keys: Any) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw, value in keys.items():
        setattr(ds, kw, value)
    return ds


def find(archive: Archive, level: str, model: Model = SR, *, ci: bool = False, **keys: Any) -> list[Dataset]:
    """Run a C-FIND style identifier; always asks for the keys the assertions need."""
    ret = {
        "PATIENT": {"PatientName": ""},
        "STUDY": {"AccessionNumber": ""},
        "SERIES": {"AccessionNumber": "", "SeriesDescription": ""},
        "IMAGE": {},
    }[level]
    identifier = ident(level, **{**ret, **keys})
    return list(run_query(archive, query_from_identifier(identifier, model, case_insensitive=ci)))


def names(results: list[Dataset]) -> set[str]:
    out = [str(r.PatientName) for r in results]
    assert len(out) == len(set(out)), out
    return set(out)


def accessions(results: list[Dataset]) -> set[str]:
    out = [str(r.AccessionNumber) for r in results]
    assert len(out) == len(set(out)), out
    return set(out)


def series_keys(results: list[Dataset]) -> set[tuple[str, str]]:
    out = [(str(r.AccessionNumber), str(r.SeriesDescription)) for r in results]
    assert len(out) == len(set(out)), out
    return set(out)


def sop_uids(results: list[Dataset]) -> set[str]:
    out = [str(r.SOPInstanceUID) for r in results]
    assert len(out) == len(set(out)), out
    return set(out)


def seq_item(**keys: str) -> list[Dataset]:
    item = Dataset()
    for kw, value in keys.items():
        setattr(item, kw, value)
    return [item]


# --------------------------------------------------------------------------- PATIENT level (patient root)


def test_patient_universal_matching(qa: Archive) -> None:
    assert names(find(qa, "PATIENT", PR)) == ALL_PATIENTS
    assert names(find(qa, "PATIENT", PR, PatientName="*")) == ALL_PATIENTS
    assert names(find(qa, "PATIENT", PR, PatientID="")) == ALL_PATIENTS


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"PatientName": "BAKER^Max"}, {"BAKER^Max"}),
        ({"PatientName": "BAKER"}, set()),  # single value matching is exact
        ({"PatientName": "BAKER*"}, {"BAKER^Max", "BAKER^Luna"}),
        ({"PatientName": "*^Ruby"}, {"KOWALSKI^Ruby"}),
        ({"PatientName": "?OSSI^K?wi"}, {"ROSSI^Kiwi"}),
        ({"PatientName": "BAKER^????"}, {"BAKER^Luna"}),
        ({"PatientName": "*I*"}, {"KOWALSKI^Ruby", "NIELSEN^Simba", "FISCHER^Thunder", "ROSSI^Kiwi"}),
        ({"PatientID": "VP000103"}, {"KOWALSKI^Ruby"}),
        ({"PatientID": "VP00010?"}, ALL_PATIENTS),
        ({"PatientID": "VP0001*"}, ALL_PATIENTS),
        ({"PatientID": "VP_*"}, set()),  # '_' is literal, not an SQL wildcard
        ({"PatientID": "VP%"}, set()),  # '%' is literal, not an SQL wildcard
        ({"IssuerOfPatientID": "VETPACS-DEMO"}, ALL_PATIENTS),
        ({"PatientSex": "F"}, {"BAKER^Luna", "KOWALSKI^Ruby", "ROSSI^Kiwi"}),
        ({"PatientBirthDate": "20190803"}, {"BAKER^Luna"}),
        ({"PatientBirthDate": "20160101-20200101"}, {"BAKER^Max", "BAKER^Luna", "NIELSEN^Simba"}),
        ({"PatientBirthDate": "-20150101"}, {"FISCHER^Thunder"}),
        ({"PatientBirthDate": "20210101-"}, {"KOWALSKI^Ruby", "ROSSI^Kiwi"}),
        ({"PatientBirthDate": "20170412-20170412"}, {"BAKER^Max"}),
        ({"PatientBirthDate": "20300101-"}, set()),
    ],
)
def test_patient_matching(qa: Archive, keys: dict[str, str], expected: set[str]) -> None:
    assert names(find(qa, "PATIENT", PR, **keys)) == expected


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"PatientSpeciesDescription": "Feline"}, {"BAKER^Luna", "NIELSEN^Simba"}),
        ({"PatientSpeciesDescription": "Canine"}, {"BAKER^Max", "KOWALSKI^Ruby"}),
        ({"PatientSpeciesDescription": "Equine"}, {"FISCHER^Thunder"}),
        ({"PatientSpeciesDescription": "Lapine"}, {"ROSSI^Kiwi"}),
        ({"PatientSpeciesDescription": "*ine"}, ALL_PATIENTS),
        ({"PatientSpeciesDescription": "feline"}, set()),
        ({"PatientBreedDescription": "Maine Coon"}, {"NIELSEN^Simba"}),
        ({"PatientBreedDescription": "*Spaniel"}, {"KOWALSKI^Ruby"}),
        ({"PatientBreedDescription": "D*"}, {"BAKER^Luna", "ROSSI^Kiwi"}),
        ({"ResponsiblePerson": "BAKER^Emma"}, {"BAKER^Max", "BAKER^Luna"}),
        ({"ResponsiblePerson": "KOWALSKI^Anna"}, {"KOWALSKI^Ruby"}),
        ({"ResponsiblePerson": "*^Lars"}, {"NIELSEN^Simba"}),
        ({"ResponsiblePersonRole": "OWNER"}, ALL_PATIENTS),
        ({"PatientSexNeutered": "UNALTERED"}, {"KOWALSKI^Ruby"}),
        ({"PatientSexNeutered": "ALTERED"}, ALL_PATIENTS - {"KOWALSKI^Ruby"}),
        ({"PatientSpeciesDescription": "Canine", "PatientSexNeutered": "ALTERED"}, {"BAKER^Max"}),
        ({"PatientSpeciesDescription": "Feline", "ResponsiblePerson": "BAKER^Emma"}, {"BAKER^Luna"}),
        ({"PatientSpeciesDescription": "Feline", "PatientSex": "M"}, {"NIELSEN^Simba"}),
    ],
)
def test_patient_veterinary_attributes(qa: Archive, keys: dict[str, str], expected: set[str]) -> None:
    assert names(find(qa, "PATIENT", PR, **keys)) == expected


@pytest.mark.parametrize(
    ("chip", "expected"),
    [
        ("276098106543227", {"BAKER^Luna"}),
        ("616093900123456", {"KOWALSKI^Ruby"}),
        ("276*", {"BAKER^Max", "BAKER^Luna", "FISCHER^Thunder"}),
        ("38026010123456?", {"ROSSI^Kiwi"}),
        ("999999999999999", set()),
        ("*", ALL_PATIENTS),
        ("", ALL_PATIENTS),
    ],
)
def test_microchip_via_other_patient_ids_sequence(qa: Archive, chip: str, expected: set[str]) -> None:
    results = find(qa, "PATIENT", PR, OtherPatientIDsSequence=seq_item(PatientID=chip))
    assert names(results) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("448169003", {"BAKER^Luna", "NIELSEN^Simba"}),
        ("448771007", {"BAKER^Max", "KOWALSKI^Ruby"}),
        ("35354009", {"FISCHER^Thunder"}),
        ("3*", {"FISCHER^Thunder", "ROSSI^Kiwi"}),
        ("12345", set()),
    ],
)
def test_species_via_code_sequence(qa: Archive, code: str, expected: set[str]) -> None:
    results = find(qa, "PATIENT", PR, PatientSpeciesCodeSequence=seq_item(CodeValue=code))
    assert names(results) == expected


def test_person_names_case_sensitive_by_default(qa: Archive) -> None:
    assert names(find(qa, "PATIENT", PR, PatientName="baker*")) == set()
    assert names(find(qa, "PATIENT", PR, PatientName="baker^max")) == set()
    assert names(find(qa, "PATIENT", PR, ResponsiblePerson="baker^emma")) == set()


def test_person_names_case_insensitive_when_asked(qa: Archive) -> None:
    assert names(find(qa, "PATIENT", PR, ci=True, PatientName="baker*")) == {"BAKER^Max", "BAKER^Luna"}
    assert names(find(qa, "PATIENT", PR, ci=True, PatientName="baker^max")) == {"BAKER^Max"}
    assert names(find(qa, "PATIENT", PR, ci=True, PatientName="?Ossi^kiwi")) == {"ROSSI^Kiwi"}
    assert names(find(qa, "PATIENT", PR, ci=True, ResponsiblePerson="baker^emma")) == {
        "BAKER^Max",
        "BAKER^Luna",
    }
    # Non-PN attributes stay case-sensitive.
    assert names(find(qa, "PATIENT", PR, ci=True, PatientSpeciesDescription="feline")) == set()
    # The same through a Query object and through the archive-wide setting.
    q = Query(
        level=Level.PATIENT,
        model=PR,
        match={0x00100010: "kowalski*"},
        return_tags=[0x00100010],
        case_insensitive=True,
    )
    assert names(list(run_query(qa, q))) == {"KOWALSKI^Ruby"}
    ci_archive = Archive(engine=qa.engine, store=qa.store, case_insensitive_names=True)
    q.case_insensitive = False
    assert names(list(run_query(ci_archive, q))) == {"KOWALSKI^Ruby"}
    assert names(list(run_query(qa, q))) == set()


def test_referring_physician_case_insensitive(qa: Archive) -> None:
    """Regression: PN columns without an upper-case shadow column ignored case-insensitive matching."""
    found = find(qa, "STUDY", ci=True, ReferringPhysicianName="stein^miriam^^dr.")
    assert accessions(found) == {LUNA_THORAX, RUBY_CT, LUNA_DENTAL}


def test_patient_counts_and_vet_return_keys(qa: Archive) -> None:
    results = find(
        qa,
        "PATIENT",
        PR,
        PatientID="",
        PatientSpeciesDescription="",
        PatientBreedDescription="",
        ResponsiblePerson="",
        PatientSexNeutered="",
        PatientSpeciesCodeSequence=[],
        OtherPatientIDsSequence=[],
        NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedSeries="",
        NumberOfPatientRelatedInstances="",
    )
    got = {
        str(r.PatientName): (
            r.PatientID,
            r.PatientSpeciesDescription,
            r.PatientBreedDescription,
            str(r.ResponsiblePerson),
            r.PatientSexNeutered,
            r.PatientSpeciesCodeSequence[0].CodeValue,
            r.OtherPatientIDsSequence[0].PatientID,
            r.OtherPatientIDsSequence[0].TypeOfPatientID,
            int(r.NumberOfPatientRelatedStudies),
            int(r.NumberOfPatientRelatedSeries),
            int(r.NumberOfPatientRelatedInstances),
        )
        for r in results
    }
    assert got == {
        "BAKER^Max": (
            "VP000101",
            "Canine",
            "Labrador Retriever",
            "BAKER^Emma",
            "ALTERED",
            "448771007",
            "276098106543210",
            "RFID",
            1,
            1,
            2,
        ),
        "BAKER^Luna": (
            "VP000102",
            "Feline",
            "Domestic Shorthair",
            "BAKER^Emma",
            "ALTERED",
            "448169003",
            "276098106543227",
            "RFID",
            2,
            2,
            6,
        ),
        "KOWALSKI^Ruby": (
            "VP000103",
            "Canine",
            "Cavalier King Charles Spaniel",
            "KOWALSKI^Anna",
            "UNALTERED",
            "448771007",
            "616093900123456",
            "RFID",
            2,
            2,
            9,
        ),
        "NIELSEN^Simba": (
            "VP000104",
            "Feline",
            "Maine Coon",
            "NIELSEN^Lars",
            "ALTERED",
            "448169003",
            "208250000456789",
            "RFID",
            1,
            1,
            2,
        ),
        "FISCHER^Thunder": (
            "VP000105",
            "Equine",
            "Warmblood",
            "FISCHER^Julia",
            "ALTERED",
            "35354009",
            "276020000987654",
            "RFID",
            1,
            1,
            2,
        ),
        "ROSSI^Kiwi": (
            "VP000106",
            "Lapine",
            "Dwarf Lop",
            "ROSSI^Marco",
            "ALTERED",
            "36571002",
            "380260101234567",
            "RFID",
            1,
            2,
            3,
        ),
    }
    for r in results:
        assert r.QueryRetrieveLevel == "PATIENT"
        assert "StudyInstanceUID" not in r  # nothing below the query level


def test_patient_response_holds_only_requested_and_unique_keys(qa: Archive) -> None:
    results = find(qa, "PATIENT", PR, PatientName="BAKER^Max")
    assert len(results) == 1
    assert {e.keyword for e in results[0]} == {"QueryRetrieveLevel", "PatientName", "PatientID"}


def test_patient_non_indexed_key_through_header(qa: Archive) -> None:
    # (0010,1030) PatientWeight is not an index column: matched against the stored header.
    assert names(find(qa, "PATIENT", PR, PatientWeight="34.2")) == {"BAKER^Max"}
    assert names(find(qa, "PATIENT", PR, PatientWeight="4.1")) == {"BAKER^Luna"}
    assert names(find(qa, "PATIENT", PR, PatientWeight="9.9")) == set()
    assert names(find(qa, "PATIENT", PR, AnatomicalOrientationType="QUADRUPED")) == ALL_PATIENTS


def test_non_indexed_integral_decimal_string(qa: Archive) -> None:
    """Regression: DS '585' is 585.0 in DICOM JSON; header matching compared against '585.0'."""
    assert names(find(qa, "PATIENT", PR, PatientWeight="585")) == {"FISCHER^Thunder"}


# --------------------------------------------------------------------------- STUDY level


def test_study_universal_matching(qa: Archive) -> None:
    assert accessions(find(qa, "STUDY")) == ALL_STUDIES
    assert accessions(find(qa, "STUDY", PR)) == ALL_STUDIES
    assert accessions(find(qa, "STUDY", StudyDate="", PatientName="", ModalitiesInStudy="")) == ALL_STUDIES
    q = Query(level=Level.STUDY, match={0x00100010: "*", 0x00080020: "*"}, return_tags=[0x00080050])
    assert accessions(list(run_query(qa, q))) == ALL_STUDIES


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"StudyDate": "20250310"}, {RUBY_CT}),
        ({"StudyDate": "20250311"}, set()),
        ({"StudyDate": "20250201-20250331"}, {RUBY_PELVIS, SIMBA_US, RUBY_CT}),
        ({"StudyDate": "20250203-20250218"}, {RUBY_PELVIS, SIMBA_US}),  # bounds are inclusive
        ({"StudyDate": "-20250131"}, {MAX_THORAX, LUNA_THORAX}),
        ({"StudyDate": "20250501-"}, {KIWI_SKULL, LUNA_DENTAL}),
        ({"StudyTime": "1200-1700"}, {SIMBA_US, LUNA_DENTAL, MAX_THORAX, RUBY_CT, RUBY_PELVIS}),
        ({"StudyTime": "-0900"}, {KIWI_SKULL}),
        ({"StudyTime": "1700-"}, {THUNDER_LIMB}),
        ({"StudyTime": "164242"}, {LUNA_DENTAL}),
        ({"AccessionNumber": "VPD0070006"}, {THUNDER_LIMB}),
        ({"AccessionNumber": "VPD007000?"}, ALL_STUDIES),
        ({"AccessionNumber": "VPD_07*"}, set()),
        ({"StudyID": "7"}, {KIWI_SKULL}),
        ({"StudyDescription": "Thorax 2 views"}, {MAX_THORAX, LUNA_THORAX}),
        ({"StudyDescription": "*views"}, {MAX_THORAX, LUNA_THORAX, THUNDER_LIMB}),
        ({"StudyDescription": "CT Head (Chiari-like malformation)"}, {RUBY_CT}),
        ({"StudyDescription": "*ultrasound"}, {SIMBA_US}),
        ({"ReferringPhysicianName": "STEIN^Miriam^^Dr."}, {LUNA_THORAX, RUBY_CT, LUNA_DENTAL}),
        ({"ReferringPhysicianName": "HOLLOWAY*"}, {RUBY_PELVIS, THUNDER_LIMB}),
        ({"InstitutionName": "VetPACS Demo Clinic"}, ALL_STUDIES),
        ({"InstitutionName": "Other Clinic"}, set()),
        # patient-level keys in a study-level query
        ({"PatientName": "BAKER^*"}, {MAX_THORAX, LUNA_THORAX, LUNA_DENTAL}),
        ({"PatientID": "VP000103"}, {RUBY_PELVIS, RUBY_CT}),
        ({"PatientSpeciesDescription": "Feline"}, {LUNA_THORAX, SIMBA_US, LUNA_DENTAL}),
        ({"PatientBreedDescription": "Warmblood"}, {THUNDER_LIMB}),
        ({"ResponsiblePerson": "KOWALSKI^Anna"}, {RUBY_PELVIS, RUBY_CT}),
        ({"PatientSexNeutered": "UNALTERED"}, {RUBY_PELVIS, RUBY_CT}),
        ({"PatientName": "BAKER^Luna", "StudyDate": "20250601-"}, {LUNA_DENTAL}),
        ({"PatientSpeciesDescription": "Canine", "StudyDescription": "CT*"}, {RUBY_CT}),
    ],
)
def test_study_matching(qa: Archive, keys: dict[str, str], expected: set[str]) -> None:
    assert accessions(find(qa, "STUDY", **keys)) == expected


def test_study_level_on_patient_root_is_scoped_by_patient(qa: Archive) -> None:
    assert accessions(find(qa, "STUDY", PR, PatientID="VP000102")) == {LUNA_THORAX, LUNA_DENTAL}


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [
        ("CT", {RUBY_CT}),
        ("US", {SIMBA_US}),
        ("IO", {LUNA_DENTAL}),
        ("DX", {MAX_THORAX, LUNA_THORAX, RUBY_PELVIS, THUNDER_LIMB, KIWI_SKULL}),
        ("CT\\US", {RUBY_CT, SIMBA_US}),
        ("MR\\IO", {LUNA_DENTAL}),
        ("MR", set()),
        ("D", set()),  # no prefix matching inside the multi-valued column
    ],
)
def test_modalities_in_study(qa: Archive, modalities: str, expected: set[str]) -> None:
    results = find(qa, "STUDY", ModalitiesInStudy=modalities)
    assert accessions(results) == expected
    for r in results:
        assert set(r.ModalitiesInStudy if r["ModalitiesInStudy"].VM > 1 else [r.ModalitiesInStudy]) & set(
            modalities.split("\\")
        )


@pytest.mark.parametrize(
    ("body_part", "expected"),
    [
        ("HEAD", {RUBY_CT, KIWI_SKULL}),  # Kiwi: one of two series is HEAD
        # Kiwi's study stores body parts as WHOLEBODY\\HEAD (import order): WHOLEBODY is the first value
        pytest.param("WHOLEBODY", {KIWI_SKULL}),
        ("CHEST", {MAX_THORAX, LUNA_THORAX}),
        ("JAW", {LUNA_DENTAL}),
        ("CHEST\\FOOT", {MAX_THORAX, LUNA_THORAX, THUNDER_LIMB}),
        ("TAIL", set()),
        ("HEA", set()),
    ],
)
def test_body_part_examined_at_study_level(qa: Archive, body_part: str, expected: set[str]) -> None:
    assert accessions(find(qa, "STUDY", BodyPartExamined=body_part)) == expected


@pytest.fixture(scope="module")
def two_modality_study(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[Archive]:
    """Luna's dental study (IO, JAW) plus one extra DX/SKULL series: ModalitiesInStudy = IO\\DX."""
    tmp = tmp_path_factory.mktemp("multi")
    db_url = fresh_database_url(tmp)
    arch = build_archive(Settings(data_dir=tmp / "data", database_url=db_url, storage_fsync=False))
    dental = [
        p for p in demo_files if pydicom.dcmread(p, stop_before_pixels=True).AccessionNumber == LUNA_DENTAL
    ]
    origin = Origin(OriginKind.IMPORT)
    for p in dental:
        store_instance(arch, p.read_bytes(), origin=origin)
    ds = pydicom.dcmread(dental[0])
    ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".9"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.Modality, ds.BodyPartExamined = "DX", "SKULL"
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    store_instance(arch, buf.getvalue(), origin=origin)
    yield arch
    arch.engine.dispose()
    drop_database(db_url)


def test_two_modality_study_stored_as_multi_value(two_modality_study: Archive) -> None:
    (study,) = find(two_modality_study, "STUDY", ModalitiesInStudy="", NumberOfStudyRelatedSeries="")
    assert list(study.ModalitiesInStudy) == ["IO", "DX"]
    assert int(study.NumberOfStudyRelatedSeries) == 2


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"ModalitiesInStudy": "DX"}, {LUNA_DENTAL}),  # the second value
        pytest.param({"ModalitiesInStudy": "IO"}, {LUNA_DENTAL}),  # the first value
        ({"ModalitiesInStudy": "CT\\DX"}, {LUNA_DENTAL}),
        ({"ModalitiesInStudy": "CT"}, set()),
        pytest.param({"ModalitiesInStudy": "X"}, set()),  # no suffix matching
        ({"ModalitiesInStudy": "I"}, set()),  # no prefix matching
        pytest.param({"BodyPartExamined": "JAW"}, {LUNA_DENTAL}),
        ({"BodyPartExamined": "SKULL"}, {LUNA_DENTAL}),
        pytest.param({"BodyPartExamined": "KULL"}, set()),  # no suffix matching
    ],
)
def test_multi_valued_study_columns(
    two_modality_study: Archive, keys: dict[str, str], expected: set[str]
) -> None:
    assert accessions(find(two_modality_study, "STUDY", **keys)) == expected


def test_study_uid_list_matching(qa: Archive, demo: list[Dataset]) -> None:
    wanted = [study_uid(demo, MAX_THORAX), study_uid(demo, KIWI_SKULL), "1.2.3.4.5"]
    results = find(qa, "STUDY", StudyInstanceUID=wanted)
    assert accessions(results) == {MAX_THORAX, KIWI_SKULL}
    assert {r.StudyInstanceUID for r in results} == set(wanted[:2])
    assert accessions(find(qa, "STUDY", StudyInstanceUID=study_uid(demo, RUBY_CT))) == {RUBY_CT}
    assert accessions(find(qa, "STUDY", StudyInstanceUID="1.2.3")) == set()


def test_study_vet_keys_via_sequences(qa: Archive) -> None:
    feline = find(qa, "STUDY", PatientSpeciesCodeSequence=seq_item(CodeValue="448169003"))
    assert accessions(feline) == {LUNA_THORAX, SIMBA_US, LUNA_DENTAL}
    ruby = find(qa, "STUDY", OtherPatientIDsSequence=seq_item(PatientID="616093900123456"))
    assert accessions(ruby) == {RUBY_PELVIS, RUBY_CT}


def test_study_non_indexed_key_through_header(qa: Archive) -> None:
    assert accessions(find(qa, "STUDY", ManufacturerModelName="Demo CT")) == {RUBY_CT}
    assert accessions(find(qa, "STUDY", ManufacturerModelName="Demo ?X")) == {
        MAX_THORAX,
        LUNA_THORAX,
        RUBY_PELVIS,
        THUNDER_LIMB,
        KIWI_SKULL,
    }
    assert accessions(find(qa, "STUDY", ManufacturerModelName="Demo US\\Demo IO")) == {SIMBA_US, LUNA_DENTAL}
    assert accessions(find(qa, "STUDY", Manufacturer="VetPACS")) == ALL_STUDIES
    assert accessions(find(qa, "STUDY", Manufacturer="GE*")) == set()
    assert accessions(find(qa, "STUDY", Manufacturer="VetPACS", PatientSpeciesDescription="Equine")) == {
        THUNDER_LIMB
    }
    # header values come back as return keys too
    (ct,) = find(qa, "STUDY", AccessionNumber=RUBY_CT, ManufacturerModelName="", PatientAge="")
    assert (ct.ManufacturerModelName, ct.PatientAge) == ("Demo CT", "003Y")


def test_study_counts_and_return_keys(qa: Archive) -> None:
    results = find(
        qa,
        "STUDY",
        NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="",
        ModalitiesInStudy="",
        NumberOfPatientRelatedStudies="",
        PatientName="",
        StudyDate="",
        StudyDescription="",
        PatientSpeciesCodeSequence=[],
    )
    got = {
        r.AccessionNumber: (
            int(r.NumberOfStudyRelatedSeries),
            int(r.NumberOfStudyRelatedInstances),
            tuple(r["ModalitiesInStudy"].value if r["ModalitiesInStudy"].VM > 1 else [r.ModalitiesInStudy]),
            int(r.NumberOfPatientRelatedStudies),
            str(r.PatientName),
            r.StudyDate,
            r.PatientSpeciesCodeSequence[0].CodeValue,
        )
        for r in results
    }
    assert got == {
        MAX_THORAX: (1, 2, ("DX",), 1, "BAKER^Max", "20250114", "448771007"),
        LUNA_THORAX: (1, 2, ("DX",), 2, "BAKER^Luna", "20250122", "448169003"),
        RUBY_PELVIS: (1, 1, ("DX",), 2, "KOWALSKI^Ruby", "20250203", "448771007"),
        SIMBA_US: (1, 2, ("US",), 1, "NIELSEN^Simba", "20250218", "448169003"),
        RUBY_CT: (1, 8, ("CT",), 2, "KOWALSKI^Ruby", "20250310", "448771007"),
        THUNDER_LIMB: (1, 2, ("DX",), 1, "FISCHER^Thunder", "20250402", "35354009"),
        KIWI_SKULL: (2, 3, ("DX",), 1, "ROSSI^Kiwi", "20250512", "36571002"),
        LUNA_DENTAL: (1, 4, ("IO",), 2, "BAKER^Luna", "20250605", "448169003"),
    }
    for r in results:
        assert r.QueryRetrieveLevel == "STUDY"
        assert "StudyInstanceUID" in r  # the level's unique key is always returned
        assert "SeriesInstanceUID" not in r


def test_study_lower_level_key_is_ignored(qa: Archive) -> None:
    # Modality is a series-level key; in a study-level query it does not restrict (PS3.4 C.4.1.1.3.1).
    assert accessions(find(qa, "STUDY", Modality="CT")) == ALL_STUDIES


def test_limit_and_offset(qa: Archive) -> None:
    base = Query(level=Level.STUDY, return_tags=[0x00080050])
    everything = [r.AccessionNumber for r in run_query(qa, base)]
    assert set(everything) == ALL_STUDIES and len(everything) == 8
    pages = []
    for offset in (0, 3, 6):
        q = Query(level=Level.STUDY, return_tags=[0x00080050], limit=3, offset=offset)
        pages.append([r.AccessionNumber for r in run_query(qa, q)])
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [a for p in pages for a in p] == everything  # stable order, no overlap
    assert list(run_query(qa, Query(level=Level.STUDY, offset=8))) == []
    # offset/limit with an indexed filter
    dx = Query(level=Level.STUDY, match={0x00080061: "DX"}, return_tags=[0x00080050], limit=2, offset=1)
    all_dx = [
        r.AccessionNumber
        for r in run_query(qa, Query(level=Level.STUDY, match={0x00080061: "DX"}, return_tags=[0x00080050]))
    ]
    assert [r.AccessionNumber for r in run_query(qa, dx)] == all_dx[1:3]
    # offset/limit with a filter on the stored header (applied after matching)
    hdr = {0x00081090: "Demo ?X"}  # ManufacturerModelName, not indexed
    all_hdr = [
        r.AccessionNumber
        for r in run_query(qa, Query(level=Level.STUDY, match=hdr, return_tags=[0x00080050]))
    ]
    assert set(all_hdr) == {MAX_THORAX, LUNA_THORAX, RUBY_PELVIS, THUNDER_LIMB, KIWI_SKULL}
    paged = Query(level=Level.STUDY, match=hdr, return_tags=[0x00080050], limit=2, offset=2)
    assert [r.AccessionNumber for r in run_query(qa, paged)] == all_hdr[2:4]


def test_find_rows_matches_run_query(qa: Archive) -> None:
    q = Query(level=Level.STUDY, match={0x00102201: "Canine"})
    found = find_rows(qa, q)
    assert {r["accession_number"] for r in found} == {MAX_THORAX, RUBY_PELVIS, RUBY_CT}
    assert all(r["PATIENT__patient_species_description"] == "Canine" for r in found)


# --------------------------------------------------------------------------- SERIES level


def test_series_universal(qa: Archive) -> None:
    assert series_keys(find(qa, "SERIES")) == ALL_SERIES


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"Modality": "DX"},
            {
                (MAX_THORAX, "Thorax"),
                (LUNA_THORAX, "Thorax"),
                (RUBY_PELVIS, "Pelvis"),
                (THUNDER_LIMB, "Left fore foot"),
                (KIWI_SKULL, "Skull"),
                (KIWI_SKULL, "Whole body"),
            },
        ),
        ({"Modality": "CT\\US"}, {(RUBY_CT, "Head axial soft tissue"), (SIMBA_US, "Abdomen")}),
        ({"BodyPartExamined": "HEAD"}, {(RUBY_CT, "Head axial soft tissue"), (KIWI_SKULL, "Skull")}),
        ({"BodyPartExamined": "WHOLEBODY\\JAW"}, {(KIWI_SKULL, "Whole body"), (LUNA_DENTAL, "Dental")}),
        ({"SeriesNumber": "2"}, {(KIWI_SKULL, "Whole body")}),
        ({"SeriesDescription": "*foot"}, {(THUNDER_LIMB, "Left fore foot")}),
        ({"SeriesDescription": "Thorax"}, {(MAX_THORAX, "Thorax"), (LUNA_THORAX, "Thorax")}),
        (
            {"SeriesDate": "20250501-"},
            {(KIWI_SKULL, "Skull"), (KIWI_SKULL, "Whole body"), (LUNA_DENTAL, "Dental")},
        ),
        ({"PatientName": "ROSSI^Kiwi"}, {(KIWI_SKULL, "Skull"), (KIWI_SKULL, "Whole body")}),
        ({"PatientSpeciesDescription": "Feline", "Modality": "DX"}, {(LUNA_THORAX, "Thorax")}),
        ({"StudyDate": "20250512", "SeriesNumber": "1"}, {(KIWI_SKULL, "Skull")}),
        ({"ManufacturerModelName": "Demo IO"}, {(LUNA_DENTAL, "Dental")}),  # non-indexed: header JSON
        ({"StationName": "*"}, ALL_SERIES),
        ({"StationName": "XRAY1"}, set()),
    ],
)
def test_series_matching(qa: Archive, keys: dict[str, str], expected: set[tuple[str, str]]) -> None:
    assert series_keys(find(qa, "SERIES", **keys)) == expected


def test_series_of_one_study_with_counts(qa: Archive, demo: list[Dataset]) -> None:
    kiwi = study_uid(demo, KIWI_SKULL)
    results = find(
        qa,
        "SERIES",
        StudyInstanceUID=kiwi,
        SeriesInstanceUID="",
        Modality="",
        SeriesNumber="",
        NumberOfSeriesRelatedInstances="",
        NumberOfStudyRelatedInstances="",
    )
    got = {
        r.SeriesDescription: (
            r.SeriesInstanceUID,
            r.Modality,
            str(r.SeriesNumber),
            int(r.NumberOfSeriesRelatedInstances),
            int(r.NumberOfStudyRelatedInstances),
            r.StudyInstanceUID,
        )
        for r in results
    }
    assert got == {
        "Skull": (series_uid(demo, KIWI_SKULL, "Skull"), "DX", "1", 2, 3, kiwi),
        "Whole body": (series_uid(demo, KIWI_SKULL, "Whole body"), "DX", "2", 1, 3, kiwi),
    }
    for r in results:
        assert r.QueryRetrieveLevel == "SERIES"


def test_series_uid_list(qa: Archive, demo: list[Dataset]) -> None:
    wanted = [series_uid(demo, RUBY_CT, "Head axial soft tissue"), series_uid(demo, LUNA_DENTAL, "Dental")]
    assert series_keys(find(qa, "SERIES", SeriesInstanceUID=wanted)) == {
        (RUBY_CT, "Head axial soft tissue"),
        (LUNA_DENTAL, "Dental"),
    }


def test_series_level_patient_root(qa: Archive, demo: list[Dataset]) -> None:
    results = find(qa, "SERIES", PR, PatientID="VP000103", StudyInstanceUID=study_uid(demo, RUBY_CT))
    assert series_keys(results) == {(RUBY_CT, "Head axial soft tissue")}


# --------------------------------------------------------------------------- IMAGE level


def test_image_level_by_series_and_instance_number(qa: Archive, demo: list[Dataset]) -> None:
    ct_series = series_uid(demo, RUBY_CT, "Head axial soft tissue")
    results = find(qa, "IMAGE", SeriesInstanceUID=ct_series, SOPInstanceUID="", InstanceNumber="")
    assert sop_uids(results) == sops(demo, lambda d: d.SeriesInstanceUID == ct_series)
    assert len(results) == 8
    assert sorted(int(r.InstanceNumber) for r in results) == list(range(1, 9))
    third = find(qa, "IMAGE", SeriesInstanceUID=ct_series, InstanceNumber="3")
    assert sop_uids(third) == sops(demo, lambda d: d.SeriesInstanceUID == ct_series and d.InstanceNumber == 3)
    for r in results:
        assert r.QueryRetrieveLevel == "IMAGE"
        assert r.StudyInstanceUID == study_uid(demo, RUBY_CT)
        assert r.SeriesInstanceUID == ct_series


def test_image_level_matching(qa: Archive, demo: list[Dataset]) -> None:
    assert sop_uids(find(qa, "IMAGE")) == sops(demo, lambda d: True)
    assert len(sops(demo, lambda d: True)) == 24
    us_class = "1.2.840.10008.5.1.4.1.1.3.1"
    assert sop_uids(find(qa, "IMAGE", SOPClassUID=us_class)) == sops(demo, lambda d: d.Modality == "US")
    assert sop_uids(find(qa, "IMAGE", Rows=64)) == sops(demo, lambda d: d.Modality == "CT")
    assert sop_uids(find(qa, "IMAGE", NumberOfFrames="4")) == sops(demo, lambda d: d.Modality == "US")
    assert sop_uids(find(qa, "IMAGE", PatientSpeciesDescription="Equine")) == sops(
        demo, lambda d: d.PatientName == "FISCHER^Thunder"
    )
    assert sop_uids(find(qa, "IMAGE", PatientName="BAKER^Luna", Modality="IO")) == sops(
        demo, lambda d: d.AccessionNumber == LUNA_DENTAL
    )
    # a non-indexed key matched through the instance's stored header
    lateral = sops(demo, lambda d: str(d.get("ImageComments", "")).endswith("lateral"))
    assert len(lateral) == 4
    assert sop_uids(find(qa, "IMAGE", ImageComments="*lateral")) == lateral
    assert sop_uids(find(qa, "IMAGE", ImageLaterality="L", Modality="IO")) == sops(
        demo, lambda d: d.Modality == "IO" and d.ImageLaterality == "L"
    )


def test_image_sop_uid_list_and_return_keys(qa: Archive, demo: list[Dataset]) -> None:
    picked = sorted(sops(demo, lambda d: True))[:3]
    results = find(
        qa, "IMAGE", SOPInstanceUID=picked, SOPClassUID="", Rows=None, Columns=None, ImageComments=""
    )
    assert sop_uids(results) == set(picked)
    by_uid = {str(d.SOPInstanceUID): d for d in demo}
    for r in results:
        d = by_uid[r.SOPInstanceUID]
        assert (r.SOPClassUID, r.Rows, r.Columns, r.ImageComments) == (
            d.SOPClassUID,
            d.Rows,
            d.Columns,
            d.get("ImageComments"),
        )


def test_image_level_patient_root(qa: Archive, demo: list[Dataset]) -> None:
    kiwi = study_uid(demo, KIWI_SKULL)
    whole = series_uid(demo, KIWI_SKULL, "Whole body")
    results = find(qa, "IMAGE", PR, PatientID="VP000106", StudyInstanceUID=kiwi, SeriesInstanceUID=whole)
    assert sop_uids(results) == sops(demo, lambda d: d.SeriesInstanceUID == whole)
    assert len(results) == 1


def test_image_level_limit(qa: Archive) -> None:
    q = Query(level=Level.IMAGE, match={0x00080060: "CT"}, return_tags=[0x00080018], limit=5, offset=4)
    assert len(list(run_query(qa, q))) == 4


# --------------------------------------------------------------------------- invalid queries


def test_patient_level_on_study_root_is_invalid(qa: Archive) -> None:
    with pytest.raises(Invalid):
        query_from_identifier(ident("PATIENT", PatientName="*"), SR)


@pytest.mark.parametrize("level", ["", "FOO", "INSTANCE", "STUDIES"])
def test_invalid_level_is_invalid(level: str) -> None:
    with pytest.raises(Invalid):
        query_from_identifier(ident(level, PatientName="*"), SR)
    with pytest.raises(Invalid):
        query_from_identifier(ident(level, PatientName="*"), PR)


def test_missing_level_is_invalid() -> None:
    ds = Dataset()
    ds.PatientName = "*"
    with pytest.raises(Invalid):
        query_from_identifier(ds, SR)


def test_level_is_case_and_space_tolerant() -> None:
    q = query_from_identifier(ident("study ", PatientName="BAKER*"), SR)
    assert q.level is Level.STUDY


def test_invalid_numeric_key_is_invalid(qa: Archive) -> None:
    with pytest.raises(Invalid):
        list(run_query(qa, Query(level=Level.IMAGE, match={0x00280010: "many"})))


def test_query_from_identifier_splits_matching_and_return_keys() -> None:
    identifier = ident(
        "STUDY",
        PatientName="BAKER*",
        StudyDate="",
        ModalitiesInStudy="*",
        SpecificCharacterSet="ISO_IR 100",
        PatientSpeciesCodeSequence=seq_item(CodeValue="448169003"),
        OtherPatientIDsSequence=[],
    )
    identifier.add_new(0x00091010, "LO", "private")
    q = query_from_identifier(identifier, SR)
    assert q.level is Level.STUDY and q.model is SR
    assert set(q.return_tags) == {0x00100010, 0x00080020, 0x00080061, 0x00102202, 0x00101002}
    assert set(q.match) == {0x00100010, 0x00102202}
    assert q.match[0x00100010] == "BAKER*"
    assert q.match[0x00102202].CodeValue == "448169003"
    assert Tag(0x00091010) not in q.return_tags
