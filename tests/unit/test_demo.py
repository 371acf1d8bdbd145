"""Tests for the deterministic demo study generator (vetpacs.demo)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileDataset

from vetpacs.demo import generate_demo_files

Demo = tuple[Path, list[Path], list[FileDataset]]
SOP_CLASSES = {
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "IO": "1.2.840.10008.5.1.4.1.1.1.3",
    "US": "1.2.840.10008.5.1.4.1.1.3.1",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
}
SPECIES_CODES = {
    "Canine": "448771007",
    "Feline": "448169003",
    "Equine": "35354009",
    "Lapine": "36571002",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    out = tmp_path_factory.mktemp("demo")
    paths = generate_demo_files(out, small=True)
    return out, paths, [pydicom.dcmread(p) for p in paths]


def test_returns_sorted_existing_paths_in_uid_layout(demo: Demo) -> None:
    out, paths, datasets = demo
    assert paths == sorted(paths)
    assert len(paths) == len(set(paths)) > 0
    for path, ds in zip(paths, datasets, strict=True):
        assert path.is_file()
        rel = path.relative_to(out)
        assert rel.parts == (ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm")


def test_species_and_modalities(demo: Demo) -> None:
    _, _, datasets = demo
    assert {ds.PatientSpeciesDescription for ds in datasets} == set(SPECIES_CODES)
    assert {ds.Modality for ds in datasets} >= {"DX", "US", "CT", "IO"}
    for ds in datasets:
        assert ds.SOPClassUID == SOP_CLASSES[ds.Modality]


def test_required_identifiers_and_file_meta(demo: Demo) -> None:
    _, _, datasets = demo
    for ds in datasets:
        for kw in (
            "SOPClassUID",
            "SOPInstanceUID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "Modality",
            "SeriesNumber",
            "InstanceNumber",
            "ContentDate",
            "ContentTime",
            "AccessionNumber",
            "StudyDate",
            "StudyTime",
            "StudyID",
            "BodyPartExamined",
            "ReferringPhysicianName",
        ):
            assert kw in ds and ds[kw].value not in (None, ""), kw
        assert ds.InstitutionName == "VetPACS Demo Clinic"
        meta = ds.file_meta
        assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert meta.ImplementationClassUID
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
            assert uid.startswith("2.25.") and len(uid) <= 64 and uid.is_valid
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)


def test_study_and_series_consistency(demo: Demo) -> None:
    _, _, datasets = demo
    studies: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    series: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for ds in datasets:
        studies[ds.StudyInstanceUID].add((ds.AccessionNumber, ds.PatientID, ds.StudyDate))
        series[ds.SeriesInstanceUID].add((ds.StudyInstanceUID, ds.Modality, str(ds.SeriesNumber)))
    assert all(len(v) == 1 for v in studies.values())
    assert all(len(v) == 1 for v in series.values())
    accessions = [next(iter(v))[0] for v in studies.values()]
    assert len(accessions) == len(set(accessions)) == len(studies) >= 7


def test_veterinary_patient_attributes_and_microchip(demo: Demo) -> None:
    _, _, datasets = demo
    pets_by_owner: dict[str, set[str]] = defaultdict(set)
    for ds in datasets:
        family, pet_name = str(ds.PatientName).split("^")
        assert family.isupper() and pet_name
        assert ds.PatientID.startswith("VP") and ds.PatientID[2:].isdigit()
        assert ds.IssuerOfPatientID == "VETPACS-DEMO"
        assert ds.PatientSex in ("M", "F")
        assert ds.PatientSexNeutered in ("ALTERED", "UNALTERED")
        assert ds.PatientBirthDate and float(ds.PatientWeight) > 0
        code = ds.PatientSpeciesCodeSequence[0]
        assert code.CodingSchemeDesignator == "SCT"
        assert code.CodeValue == SPECIES_CODES[ds.PatientSpeciesDescription]
        assert code.CodeMeaning
        assert ds.PatientBreedDescription
        assert "PatientBreedCodeSequence" in ds and "BreedRegistrationSequence" in ds
        assert str(ds.ResponsiblePerson).split("^")[0] == family
        assert ds.ResponsiblePersonRole == "OWNER"
        assert "ResponsibleOrganization" in ds
        assert ds.AnatomicalOrientationType == "QUADRUPED"
        (chip,) = ds.OtherPatientIDsSequence
        assert len(chip.PatientID) == 15 and chip.PatientID.isdigit()
        assert chip.IssuerOfPatientID == "MICROCHIP" and chip.TypeOfPatientID == "RFID"
        pets_by_owner[str(ds.ResponsiblePerson)].add(ds.PatientID)
    assert max(len(p) for p in pets_by_owner.values()) >= 2  # one owner with two pets
    breeds = {ds.PatientBreedDescription for ds in datasets}
    assert {
        "Labrador Retriever",
        "Cavalier King Charles Spaniel",
        "Domestic Shorthair",
        "Maine Coon",
        "Warmblood",
        "Dwarf Lop",
    } <= breeds


def test_pixel_data_sizes(demo: Demo) -> None:
    _, _, datasets = demo
    for ds in datasets:
        frames = int(ds.get("NumberOfFrames", 1))
        expected = ds.Rows * ds.Columns * frames * ds.SamplesPerPixel * (ds.BitsAllocated // 8)
        assert len(ds.PixelData) == expected + expected % 2
        arr = ds.pixel_array
        assert arr.max() > arr.min()  # structured content, not a blank image
        assert int(arr.max()) < 2**ds.BitsStored


def test_modality_specifics(demo: Demo) -> None:
    _, _, datasets = demo
    by_mod: dict[str, list[FileDataset]] = defaultdict(list)
    for ds in datasets:
        by_mod[ds.Modality].append(ds)
    for ds in by_mod["DX"] + by_mod["IO"]:
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.BitsAllocated == 16 and ds.PresentationIntentType == "FOR PRESENTATION"
        assert len(ds.ImagerPixelSpacing) == 2 and len(ds.PixelSpacing) == 2
        assert ds.ImageLaterality in ("R", "L", "U", "B")
    for ds in by_mod["DX"]:
        assert ds.BitsStored == 14 and ds.ViewPosition and "Laterality" in ds
    assert len(by_mod["IO"]) == 4 and {ds.BodyPartExamined for ds in by_mod["IO"]} == {"JAW"}
    assert by_mod["US"]
    for ds in by_mod["US"]:
        assert int(ds.NumberOfFrames) > 1 and ds.pixel_array.ndim >= 3
        assert ds.FrameIncrementPointer == 0x00181063 and float(ds.FrameTime) > 0
        assert ds.CineRate and ds.BitsAllocated == 8
    ct = sorted(by_mod["CT"], key=lambda d: int(d.InstanceNumber))
    assert len(ct) == 8 and len({d.SeriesInstanceUID for d in ct}) == 1
    zs = [float(d.ImagePositionPatient[2]) for d in ct]
    assert len(set(zs)) == len(zs)
    for ds in ct:
        assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
        assert (ds.Rows, ds.Columns) == (64, 64) and ds.SliceThickness and ds.WindowCenter
        assert len(ds.ImageOrientationPatient) == 6 and len(ds.PixelSpacing) == 2


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.dcm"))}


def test_deterministic(tmp_path: Path) -> None:
    a = generate_demo_files(tmp_path / "a", small=True)
    b = generate_demo_files(tmp_path / "b", small=True)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    c = generate_demo_files(tmp_path / "c", seed=8, small=True)
    assert len(c) == len(a)
    assert not set(_tree(tmp_path / "a")) & set(_tree(tmp_path / "c"))  # other seed, other UIDs
