"""Every one of pydicom's own test files (good, odd and malformed) goes through the one ingest path:
each is stored or refused with a reason, nothing crashes, and the archive stays consistent."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from sqlalchemy import func, select

from vetpacs.archive.context import Archive
from vetpacs.archive.importer import import_paths
from vetpacs.archive.models import IngestRejection, Instance
from vetpacs.archive.verify import verify_archive

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
MALFORMED = [
    "MR_truncated.dcm",
    "rtplan_truncated.dcm",
    "no_meta.dcm",
    "no_meta_group_length.dcm",
    "meta_missing_tsyntax.dcm",
    "badVR.dcm",
    "SC_rgb_small_odd.dcm",
    "empty_charset_LEI.dcm",
]


def local_test_files() -> list[Path]:
    # Only files on disk: pydicom.data.get_testdata_files() would try to download the rest.
    # DICOMDIRs are left out: they reference files that are in the list anyway.
    return sorted(p for p in TEST_FILES.glob("*.dcm") if p.is_file())


def test_known_malformed_files_are_on_disk() -> None:
    for name in MALFORMED:
        assert (TEST_FILES / name).is_file(), name


def test_every_pydicom_test_file_is_stored_or_refused_with_a_reason(archive: Archive) -> None:
    files = local_test_files()
    assert len(files) > 60
    summary = import_paths(archive, files, user="robustness")
    assert summary.total == len(files)
    assert summary.stored > 30
    for name, reason in summary.rejected:
        assert reason.strip(), f"{name} refused without a reason"
    rejected = {Path(name).name for name, _ in summary.rejected}
    assert {"MR_truncated.dcm", "rtplan_truncated.dcm"} <= rejected
    with archive.engine.connect() as conn:
        n_instances = conn.execute(select(func.count()).select_from(Instance)).scalar_one()
        n_rejections = conn.execute(select(func.count()).select_from(IngestRejection)).scalar_one()
    assert n_instances == summary.stored
    assert n_rejections == len(summary.rejected)
    report = verify_archive(archive)
    assert report.healthy and report.ok == n_instances
    # Only blobs of stored instances and kept conflict versions remain.
    assert len(report.orphans) == 0


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_truncated_files_leave_no_blob(archive: Archive, name: str) -> None:
    summary = import_paths(archive, [TEST_FILES / name], user="robustness")
    assert summary.stored == 0 and len(summary.rejected) == 1
    assert list(archive.store.keys()) == []
