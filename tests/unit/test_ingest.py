"""The one store path (store_instance), the importer and verify, on a real index and folder store."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from sqlalchemy import func, select, text

from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.importer import import_paths
from vetpacs.archive.ingest import StoreStatus, store_instance
from vetpacs.archive.models import IngestRejection, Instance, InstanceConflict, Patient, Series, Study
from vetpacs.archive.sopclasses import STORAGE_SOP_CLASSES
from vetpacs.archive.verify import verify_archive
from vetpacs.config import DuplicatePolicy
from vetpacs.errors import Conflict, Invalid, NotFound, StorageFailure

ORIGIN = Origin(OriginKind.IMPORT, user="tester", detail="unit test")

N_PATIENTS, N_STUDIES, N_SERIES, N_INSTANCES = 6, 8, 9, 24


# --------------------------------------------------------------------------- helpers


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def count(archive: Archive, model: Any) -> int:
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar_one())


def rows(archive: Archive, model: Any, **where: Any) -> list[dict[str, Any]]:
    table = model.__table__
    stmt = select(table).where(*[table.c[k] == v for k, v in where.items()]).order_by(table.c.id)
    with archive.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def one(archive: Archive, model: Any, **where: Any) -> dict[str, Any]:
    found = rows(archive, model, **where)
    assert len(found) == 1, found
    return found[0]


def store_all(archive: Archive, files: list[Path]) -> None:
    for f in files:
        assert store_instance(archive, f.read_bytes(), origin=ORIGIN).status is StoreStatus.STORED


def with_policy(archive: Archive, policy: DuplicatePolicy) -> Archive:
    return Archive(engine=archive.engine, store=archive.store, duplicate_policy=policy)


def variant(data: bytes) -> bytes:
    """Same instance (same UIDs), different bytes: flip the last pixel byte."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def bare_dataset(path: Path, *, implicit: bool) -> bytes:
    """A dataset as it travels in a C-STORE: no preamble, no 'DICM', no file meta."""
    ds = pydicom.dcmread(path)
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = implicit
    write_dataset(buf, ds)
    return buf.getvalue()


def read_testdata(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(path).read_bytes()


def by_name(demo_files: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in demo_files:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out.setdefault(str(ds.PatientName), []).append(p)
    return out


# --------------------------------------------------------------------------- store_instance: the happy path


def level_counts(archive: Archive) -> tuple[int, int, int, int]:
    """Rows in the patients, studies, series and instances tables."""
    return (count(archive, Patient), count(archive, Study), count(archive, Series), count(archive, Instance))


def test_store_demo_files_indexes_every_level(archive: Archive, demo_files: list[Path]) -> None:
    assert len(demo_files) == N_INSTANCES
    results = [store_instance(archive, f.read_bytes(), origin=ORIGIN) for f in demo_files]
    assert {r.status for r in results} == {StoreStatus.STORED}
    assert level_counts(archive) == (N_PATIENTS, N_STUDIES, N_SERIES, N_INSTANCES)
    assert count(archive, InstanceConflict) == 0
    assert count(archive, IngestRejection) == 0
    assert len(list(archive.store.keys())) == N_INSTANCES

    studies = {r["study_description"]: r for r in rows(archive, Study)}
    assert set(studies) == {
        "Thorax 2 views",
        "Pelvis VD (hip screening)",
        "Abdominal ultrasound",
        "CT Head (Chiari-like malformation)",
        "Left fore distal limb 2 views",
        "Skull and whole body",
        "Dental radiographs",
    }
    summary = {
        (r["study_description"], r["study_date"]): (
            r["num_series"],
            r["num_instances"],
            r["modalities_in_study"],
            frozenset(r["body_parts_examined"].split("\\")),
        )
        for r in rows(archive, Study)
    }
    assert summary == {
        ("Thorax 2 views", "20250114"): (1, 2, "DX", {"CHEST"}),
        ("Thorax 2 views", "20250122"): (1, 2, "DX", {"CHEST"}),
        ("Pelvis VD (hip screening)", "20250203"): (1, 1, "DX", {"PELVIS"}),
        ("Abdominal ultrasound", "20250218"): (1, 2, "US", {"ABDOMEN"}),
        ("CT Head (Chiari-like malformation)", "20250310"): (1, 8, "CT", {"HEAD"}),
        ("Left fore distal limb 2 views", "20250402"): (1, 2, "DX", {"FOOT"}),
        ("Skull and whole body", "20250512"): (2, 3, "DX", {"HEAD", "WHOLEBODY"}),
        ("Dental radiographs", "20250605"): (1, 4, "IO", {"JAW"}),
    }
    kiwi_study = studies["Skull and whole body"]
    assert kiwi_study["institution_name"] == "VetPACS Demo Clinic"
    assert kiwi_study["accession_number"] == "VPD0070007"
    series = {
        r["series_description"]: (r["modality"], r["body_part_examined"], r["num_instances"])
        for r in rows(archive, Series, study_pk=kiwi_study["id"])
    }
    assert series == {"Skull": ("DX", "HEAD", 2), "Whole body": ("DX", "WHOLEBODY", 1)}
    assert sum(r["num_instances"] for r in rows(archive, Series)) == N_INSTANCES

    patients = {r["patient_name"]: r for r in rows(archive, Patient)}
    assert {n: r["num_studies"] for n, r in patients.items()} == {
        "BAKER^Max": 1,
        "BAKER^Luna": 2,
        "KOWALSKI^Ruby": 2,
        "NIELSEN^Simba": 1,
        "FISCHER^Thunder": 1,
        "ROSSI^Kiwi": 1,
    }


def test_patient_veterinary_columns(archive: Archive, demo_files: list[Path]) -> None:
    store_all(archive, demo_files)
    vet = {
        r["patient_name"]: (
            r["patient_id"],
            r["issuer_of_patient_id"],
            r["patient_species_description"],
            r["patient_species_code"],
            r["patient_breed_description"],
            r["responsible_person"],
            r["responsible_person_role"],
            r["patient_sex"],
            r["patient_sex_neutered"],
            r["microchip"],
            r["patient_birth_date"],
            r["patient_name_upper"],
            r["responsible_person_upper"],
        )
        for r in rows(archive, Patient)
    }
    assert vet == {
        "BAKER^Max": (
            "VP000101",
            "VETPACS-DEMO",
            "Canine",
            "448771007",
            "Labrador Retriever",
            "BAKER^Emma",
            "OWNER",
            "M",
            "ALTERED",
            "276098106543210",
            "20170412",
            "BAKER^MAX",
            "BAKER^EMMA",
        ),
        "BAKER^Luna": (
            "VP000102",
            "VETPACS-DEMO",
            "Feline",
            "448169003",
            "Domestic Shorthair",
            "BAKER^Emma",
            "OWNER",
            "F",
            "ALTERED",
            "276098106543227",
            "20190803",
            "BAKER^LUNA",
            "BAKER^EMMA",
        ),
        "KOWALSKI^Ruby": (
            "VP000103",
            "VETPACS-DEMO",
            "Canine",
            "448771007",
            "Cavalier King Charles Spaniel",
            "KOWALSKI^Anna",
            "OWNER",
            "F",
            "UNALTERED",
            "616093900123456",
            "20220115",
            "KOWALSKI^RUBY",
            "KOWALSKI^ANNA",
        ),
        "NIELSEN^Simba": (
            "VP000104",
            "VETPACS-DEMO",
            "Feline",
            "448169003",
            "Maine Coon",
            "NIELSEN^Lars",
            "OWNER",
            "M",
            "ALTERED",
            "208250000456789",
            "20160921",
            "NIELSEN^SIMBA",
            "NIELSEN^LARS",
        ),
        "FISCHER^Thunder": (
            "VP000105",
            "VETPACS-DEMO",
            "Equine",
            "35354009",
            "Warmblood",
            "FISCHER^Julia",
            "OWNER",
            "M",
            "ALTERED",
            "276020000987654",
            "20120505",
            "FISCHER^THUNDER",
            "FISCHER^JULIA",
        ),
        "ROSSI^Kiwi": (
            "VP000106",
            "VETPACS-DEMO",
            "Lapine",
            "36571002",
            "Dwarf Lop",
            "ROSSI^Marco",
            "OWNER",
            "F",
            "ALTERED",
            "380260101234567",
            "20210301",
            "ROSSI^KIWI",
            "ROSSI^MARCO",
        ),
    }


def test_stored_blob_is_byte_identical_with_checksum(archive: Archive, demo_files: list[Path]) -> None:
    for f in demo_files[:6]:
        data = f.read_bytes()
        ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
        result = store_instance(archive, data, origin=ORIGIN)
        assert result.status is StoreStatus.STORED
        assert result.sop_instance_uid == ds.SOPInstanceUID
        assert result.sop_class_uid == ds.SOPClassUID
        assert result.study_instance_uid == ds.StudyInstanceUID
        assert result.checksum == sha(data)
        assert result.checksum.startswith("sha256:") and len(result.checksum) == 7 + 64
        row = one(archive, Instance, sop_instance_uid=ds.SOPInstanceUID)
        assert row["checksum"] == sha(data)
        assert row["size"] == len(data)
        assert row["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
        assert row["sop_class_uid"] == ds.SOPClassUID
        assert row["origin_kind"] == "import" and row["origin_user"] == "tester"
        assert row["rows"] == ds.Rows and row["columns"] == ds.Columns
        assert archive.store.get(row["blob_key"]) == data
        path = archive.store.local_path(row["blob_key"])
        assert path is not None and path.read_bytes() == data
    assert len(list(archive.store.keys())) == 6


def test_multiframe_instance_records_frames(archive: Archive, demo_files: list[Path]) -> None:
    simba = by_name(demo_files)["NIELSEN^Simba"]
    store_all(archive, simba)
    assert sorted(r["number_of_frames"] for r in rows(archive, Instance)) == [4, 4]


def test_header_json_has_no_pixel_data(archive: Archive, demo_files: list[Path]) -> None:
    store_all(archive, demo_files[:1])
    row = one(archive, Instance)
    assert "7FE00010" not in row["header_json"]
    assert '"00100010"' in row["header_json"]  # PatientName is there
    assert "00020010" not in row["header_json"]  # file meta is not


# --------------------------------------------------------------------------- duplicates


def test_identical_restore_is_already_present(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    first = store_instance(archive, data, origin=ORIGIN)
    keys_before = set(archive.store.keys())
    again = store_instance(archive, data, origin=ORIGIN)
    assert first.status is StoreStatus.STORED
    assert again.status is StoreStatus.ALREADY_PRESENT
    assert again.checksum == first.checksum
    assert set(archive.store.keys()) == keys_before
    assert count(archive, Instance) == 1
    assert count(archive, InstanceConflict) == 0
    assert one(archive, Study)["num_instances"] == 1
    assert one(archive, Patient)["num_studies"] == 1


def test_conflict_keeps_first_by_default(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    other = variant(data)
    store_instance(archive, data, origin=ORIGIN)
    first_key = one(archive, Instance)["blob_key"]
    result = store_instance(
        archive, other, origin=Origin(OriginKind.DICOM, ae_title="MODALITY1", address="10.0.0.5")
    )
    assert result.status is StoreStatus.CONFLICT_KEPT_FIRST
    assert result.checksum == sha(other)
    inst = one(archive, Instance)
    assert inst["checksum"] == sha(data) and inst["blob_key"] == first_key
    assert archive.store.get(first_key) == data
    conflict = one(archive, InstanceConflict)
    assert conflict["sop_instance_uid"] == result.sop_instance_uid
    assert conflict["kept_checksum"] == sha(data)
    assert conflict["other_checksum"] == sha(other)
    assert conflict["policy"] == "keep-first"
    assert (conflict["origin_kind"], conflict["origin_aet"], conflict["origin_address"]) == (
        "dicom",
        "MODALITY1",
        "10.0.0.5",
    )
    # The second version is kept as a blob and referenced by the conflict row.
    assert set(archive.store.keys()) == {first_key, conflict["other_blob_key"]}
    assert archive.store.get(conflict["other_blob_key"]) == other
    assert one(archive, Study)["num_instances"] == 1
    report = verify_archive(archive)
    assert report.healthy and report.orphans == []


def test_conflict_reject_policy_raises(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    rejecting = with_policy(archive, DuplicatePolicy.REJECT)
    store_instance(rejecting, data, origin=ORIGIN)
    keys_before = set(archive.store.keys())
    with pytest.raises(Conflict):
        store_instance(rejecting, variant(data), origin=ORIGIN)
    assert set(archive.store.keys()) == keys_before
    assert one(archive, Instance)["checksum"] == sha(data)
    conflict = one(archive, InstanceConflict)
    assert (
        conflict["kept_checksum"],
        conflict["other_checksum"],
        conflict["other_blob_key"],
        conflict["policy"],
    ) == (
        sha(data),
        sha(variant(data)),
        "",
        "reject",
    )
    rejection = one(archive, IngestRejection)
    assert rejection["sop_instance_uid"] == one(archive, Instance)["sop_instance_uid"]
    assert "already stored with different content" in rejection["reason"]
    # identical bytes are still fine under reject
    assert store_instance(rejecting, data, origin=ORIGIN).status is StoreStatus.ALREADY_PRESENT


def test_conflict_replace_policy_stores_new_version(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    other = variant(data)
    replacing = with_policy(archive, DuplicatePolicy.REPLACE)
    store_instance(replacing, data, origin=ORIGIN)
    result = store_instance(replacing, other, origin=ORIGIN)
    assert result.status is StoreStatus.REPLACED
    assert result.checksum == sha(other) != sha(data)
    inst = one(archive, Instance)
    assert inst["checksum"] == sha(other)
    assert inst["size"] == len(other)
    assert archive.store.get(inst["blob_key"]) == other
    conflict = one(archive, InstanceConflict)
    assert (conflict["kept_checksum"], conflict["other_checksum"], conflict["policy"]) == (
        sha(other),
        sha(data),
        "replace",
    )
    assert count(archive, Instance) == 1
    study = one(archive, Study)
    assert (study["num_series"], study["num_instances"]) == (1, 1)
    assert one(archive, Series)["num_instances"] == 1
    report = verify_archive(archive)
    assert report.healthy and report.ok == 1
    # and storing the new version again is a no-op
    assert store_instance(replacing, other, origin=ORIGIN).status is StoreStatus.ALREADY_PRESENT


def test_replace_keeps_old_blob_referenced_by_conflict_row(archive: Archive, demo_files: list[Path]) -> None:
    """Regression: REPLACE once left other_blob_key='' so the old version became an orphan blob."""
    data = demo_files[0].read_bytes()
    replacing = with_policy(archive, DuplicatePolicy.REPLACE)
    store_instance(replacing, data, origin=ORIGIN)
    old_key = one(archive, Instance)["blob_key"]
    store_instance(replacing, variant(data), origin=ORIGIN)
    assert archive.store.get(old_key) == data
    assert one(archive, InstanceConflict)["other_blob_key"] == old_key
    assert verify_archive(archive).orphans == []


# --------------------------------------------------------------------------- refusals


def _assert_refused(archive: Archive, data: bytes, reason_part: str, *, strict_meta: bool = True) -> None:
    before = count(archive, IngestRejection)
    with pytest.raises(Invalid) as info:
        store_instance(archive, data, origin=ORIGIN, strict_meta=strict_meta)
    assert reason_part in str(info.value)
    assert list(archive.store.keys()) == []
    assert os.listdir(archive.store.tmp) == []  # type: ignore[attr-defined]
    assert count(archive, Instance) == 0 and count(archive, Patient) == 0
    assert count(archive, IngestRejection) == before + 1
    row = rows(archive, IngestRejection)[-1]
    assert reason_part in row["reason"]
    assert row["origin_kind"] == "import"
    assert row["origin_detail"] == "unit test"
    assert row["received_at"] is not None


def test_truncated_pixel_data_refused(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    _assert_refused(archive, data[: len(data) // 2], "truncated")
    _assert_refused(archive, data[:-1], "truncated")


def test_truncated_header_refused(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[0].read_bytes()
    _assert_refused(archive, data[:1000], "truncated")
    _assert_refused(archive, data[:200], "no data element could be read")


def test_pydicom_truncated_file_refused(archive: Archive) -> None:
    _assert_refused(archive, read_testdata("MR_truncated.dcm"), "truncated")


def test_random_bytes_refused(archive: Archive) -> None:
    _assert_refused(archive, os.urandom(4096), "not a DICOM file")
    _assert_refused(archive, b"", "not a DICOM file")
    _assert_refused(archive, b"hello, this is not DICOM\n" * 40, "not a DICOM file")


def test_missing_sop_instance_uid_refused(archive: Archive, demo_files: list[Path]) -> None:
    ds = pydicom.dcmread(demo_files[0])
    del ds.SOPInstanceUID
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    _assert_refused(archive, buf.getvalue(), "missing SOPInstanceUID")


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_invalid_uid_refused(archive: Archive, demo_files: list[Path]) -> None:
    ds = pydicom.dcmread(demo_files[0])
    ds.StudyInstanceUID = "1.2.03.x"
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    _assert_refused(archive, buf.getvalue(), "invalid StudyInstanceUID")


def test_dicomdir_refused(archive: Archive) -> None:
    _assert_refused(archive, read_testdata("DICOMDIR"), "missing SOPClassUID")


def test_rt_plan_is_not_a_storage_class(archive: Archive) -> None:
    assert "1.2.840.10008.5.1.4.1.1.481.5" not in STORAGE_SOP_CLASSES
    _assert_refused(
        archive, read_testdata("rtplan.dcm"), "not a supported storage SOP class", strict_meta=False
    )


def test_meta_sop_uid_mismatch_refused_when_strict(archive: Archive) -> None:
    # pydicom's rtplan.dcm has a file meta SOP Instance UID that differs from the dataset's
    _assert_refused(archive, read_testdata("rtplan.dcm"), "differs from the dataset")


def test_refusal_after_success_leaves_index_and_store_untouched(
    archive: Archive, demo_files: list[Path]
) -> None:
    data = demo_files[0].read_bytes()
    store_instance(archive, data, origin=ORIGIN)
    keys = set(archive.store.keys())
    with pytest.raises(Invalid):
        store_instance(archive, data[:-10], origin=ORIGIN)
    assert set(archive.store.keys()) == keys
    assert count(archive, Instance) == 1
    assert count(archive, IngestRejection) == 1


def test_storage_failure_writes_no_index_row(archive: Archive, demo_files: list[Path]) -> None:
    class BrokenStore:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def put(self, key: str, data: bytes) -> None:
            raise StorageFailure("disk full")

        def delete(self, key: str) -> None:
            self.deleted.append(key)

    broken = BrokenStore()
    arch = Archive(engine=archive.engine, store=broken)  # type: ignore[arg-type]
    with pytest.raises(StorageFailure):
        store_instance(arch, demo_files[0].read_bytes(), origin=ORIGIN)
    assert count(archive, Instance) == 0 and count(archive, Study) == 0
    assert len(broken.deleted) == 1


# --------------------------------------------------------------------------- bare datasets


@pytest.mark.parametrize("implicit", [False, True])
def test_bare_dataset_is_wrapped_and_stored(archive: Archive, demo_files: list[Path], implicit: bool) -> None:
    path = demo_files[3]
    bare = bare_dataset(path, implicit=implicit)
    assert bare[128:132] != b"DICM"
    result = store_instance(archive, bare, origin=ORIGIN)
    assert result.status is StoreStatus.STORED
    inst = one(archive, Instance)
    stored = archive.store.get(inst["blob_key"])
    assert stored[:128] == b"\x00" * 128 and stored[128:132] == b"DICM"
    assert stored.endswith(bare)
    assert inst["checksum"] == sha(stored) == result.checksum
    assert inst["transfer_syntax_uid"] == ("1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1")
    original = pydicom.dcmread(path)
    back = pydicom.dcmread(BytesIO(stored))
    assert back.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPClassUID == original.SOPClassUID
    assert back.SOPInstanceUID == original.SOPInstanceUID
    assert back.PixelData == original.PixelData
    # the same bare dataset again is a no-op
    assert store_instance(archive, bare, origin=ORIGIN).status is StoreStatus.ALREADY_PRESENT


# --------------------------------------------------------------------------- concurrency


def test_concurrent_stores(archive: Archive, demo_files: list[Path]) -> None:
    datas = [f.read_bytes() for f in demo_files]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda d: store_instance(archive, d, origin=ORIGIN), datas))
    assert {r.status for r in results} == {StoreStatus.STORED}
    assert level_counts(archive) == (N_PATIENTS, N_STUDIES, N_SERIES, N_INSTANCES)
    assert sum(r["num_instances"] for r in rows(archive, Study)) == N_INSTANCES
    assert sum(r["num_series"] for r in rows(archive, Study)) == N_SERIES
    assert sum(r["num_studies"] for r in rows(archive, Patient)) == N_STUDIES
    assert len(list(archive.store.keys())) == N_INSTANCES


def test_concurrent_identical_stores_keep_one_blob(archive: Archive, demo_files: list[Path]) -> None:
    data = demo_files[5].read_bytes()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: store_instance(archive, data, origin=ORIGIN), range(6)))
    assert Counter(r.status for r in results)[StoreStatus.STORED] == 1
    assert {r.status for r in results} <= {StoreStatus.STORED, StoreStatus.ALREADY_PRESENT}
    assert count(archive, Instance) == 1
    assert len(list(archive.store.keys())) == 1
    assert one(archive, Study)["num_instances"] == 1


# --------------------------------------------------------------------------- import_paths


def test_import_folder_with_zip_and_text_file(
    archive: Archive, demo_files: list[Path], tmp_path: Path
) -> None:
    src = tmp_path / "incoming"
    (src / "sub").mkdir(parents=True)
    loose, zipped = demo_files[:3], demo_files[3:8]
    for i, f in enumerate(loose):
        shutil.copy(f, src / "sub" / f"img{i}.dcm")
    with zipfile.ZipFile(src / "batch.zip", "w") as zf:
        for i, f in enumerate(zipped):
            zf.write(f, f"study/{i}.dcm")
        zf.write(loose[0], "dup/again.dcm")  # the same instance twice: one is "already present"
        zf.writestr("DICOMDIR", b"ignored inside zip files")
        zf.writestr("folder/", b"")
    (src / "notes.txt").write_text("call the owner about Max\n")
    seen: list[tuple[str, str]] = []
    summary = import_paths(archive, [src], user="alice", progress=lambda n, o: seen.append((n, o)))
    assert summary.stored == 8
    assert summary.already_present == 1
    assert summary.conflicts == 0
    assert summary.rejected == [
        (str(src / "notes.txt"), "not a DICOM file: no SOP Class or SOP Instance UID")
    ]
    assert summary.total == 10
    assert len(seen) == 10
    assert (str(src / "notes.txt"), "rejected: not a DICOM file: no SOP Class or SOP Instance UID") in seen
    assert f"{src / 'batch.zip'}!study/0.dcm" in {n for n, _ in seen}
    assert count(archive, Instance) == 8
    assert len(list(archive.store.keys())) == 8
    rejection = one(archive, IngestRejection)
    assert rejection["origin_detail"] == str(src / "notes.txt")
    assert rejection["origin_kind"] == "import"
    assert {r["origin_user"] for r in rows(archive, Instance)} == {"alice"}
    # a second import of the same folder stores nothing new
    again = import_paths(archive, [src])
    assert (again.stored, again.already_present, len(again.rejected)) == (0, 9, 1)


def test_import_single_files_missing_path_and_conflict(
    archive: Archive, demo_files: list[Path], tmp_path: Path
) -> None:
    changed = tmp_path / "changed.dcm"
    changed.write_bytes(variant(demo_files[0].read_bytes()))
    missing = tmp_path / "nope.dcm"
    summary = import_paths(archive, [demo_files[0], changed, missing, demo_files[1]])
    assert (summary.stored, summary.already_present, summary.conflicts) == (2, 0, 1)
    assert len(summary.rejected) == 1
    name, reason = summary.rejected[0]
    assert name == str(missing) and reason.startswith("cannot read:")


def test_import_with_reject_policy_counts_conflict_as_rejected(
    archive: Archive, demo_files: list[Path], tmp_path: Path
) -> None:
    changed = tmp_path / "changed.dcm"
    changed.write_bytes(variant(demo_files[0].read_bytes()))
    summary = import_paths(with_policy(archive, DuplicatePolicy.REJECT), [demo_files[0], changed])
    assert summary.stored == 1
    assert [n for n, _ in summary.rejected] == [str(changed)]
    assert "already stored with different content" in summary.rejected[0][1]


def test_import_dicomdir(archive: Archive) -> None:
    dicomdir = Path(get_testdata_file("DICOMDIR"))  # type: ignore[arg-type]
    referenced = [r for r in pydicom.dcmread(dicomdir).DirectoryRecordSequence if r.get("ReferencedFileID")]
    summary = import_paths(archive, [dicomdir])
    assert summary.rejected == []
    assert summary.stored == len(referenced) == count(archive, Instance)


# --------------------------------------------------------------------------- verify_archive


def test_verify_healthy_after_import(archive: Archive, demo_files: list[Path]) -> None:
    summary = import_paths(archive, list(demo_files))
    assert summary.stored == N_INSTANCES and summary.rejected == []
    progress: list[tuple[int, int]] = []
    report = verify_archive(archive, progress=lambda i, n: progress.append((i, n)))
    assert report.healthy
    assert (report.checked, report.ok) == (N_INSTANCES, N_INSTANCES)
    assert report.mismatched == [] and report.missing == [] and report.orphans == []
    assert progress == [(i, N_INSTANCES) for i in range(1, N_INSTANCES + 1)]


def test_verify_empty_archive(archive: Archive) -> None:
    report = verify_archive(archive)
    assert report.healthy and report.checked == 0 and report.orphans == []


def test_verify_finds_corrupt_missing_and_orphan_blobs(archive: Archive, demo_files: list[Path]) -> None:
    store_all(archive, demo_files[:5])
    inst = rows(archive, Instance)
    corrupt, gone = inst[0], inst[1]
    path = archive.store.local_path(corrupt["blob_key"])
    assert path is not None
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x55
    path.write_bytes(bytes(raw))
    gone_path = archive.store.local_path(gone["blob_key"])
    assert gone_path is not None
    gone_path.unlink()
    extra = "ee/ff/" + "e" * 32
    archive.store.put(extra, b"stray")

    report = verify_archive(archive)
    assert not report.healthy
    assert report.checked == 5
    assert report.ok == 3
    assert report.mismatched == [(corrupt["sop_instance_uid"], corrupt["blob_key"])]
    assert report.missing == [(gone["sop_instance_uid"], gone["blob_key"])]
    assert report.orphans == [extra]
    with pytest.raises(NotFound):
        archive.store.get(gone["blob_key"])

    repaired = verify_archive(archive, repair_orphans=True)
    assert repaired.orphans == [extra]
    assert not archive.store.exists(extra)
    assert verify_archive(archive).orphans == []


def test_verify_orphans_only_is_still_healthy(archive: Archive, demo_files: list[Path]) -> None:
    store_all(archive, demo_files[:1])
    archive.store.put("aa/bb/" + "a" * 32, b"left by a crash between blob and index")
    report = verify_archive(archive)
    assert report.healthy
    assert report.orphans == ["aa/bb/" + "a" * 32]


def test_verify_progress_counts_missing_blobs(archive: Archive, demo_files: list[Path]) -> None:
    store_all(archive, demo_files[:3])
    first = rows(archive, Instance)[0]
    archive.store.delete(first["blob_key"])
    progress: list[tuple[int, int]] = []
    report = verify_archive(archive, progress=lambda i, n: progress.append((i, n)))
    assert len(report.missing) == 1
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_rejections_table_is_queryable(archive: Archive) -> None:
    with pytest.raises(Invalid):
        store_instance(archive, b"junk", origin=Origin(OriginKind.STOW, user="bob", address="192.0.2.1"))
    with archive.engine.connect() as conn:
        got = conn.execute(text("SELECT origin_kind, origin_address FROM ingest_rejections")).all()
    assert [tuple(r) for r in got] == [("stow", "192.0.2.1")]
