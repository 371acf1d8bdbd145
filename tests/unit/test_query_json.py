"""QIDO's fast DICOM JSON answers equal the pydicom-built ones (archive.query.response_json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.query import Level, Query, _slow_json, find_rows, response_json

TAGS = [
    0x00080005, 0x00080020, 0x00080030, 0x00080050, 0x00080061, 0x00080090, 0x00081030, 0x00100010,
    0x00100020, 0x00100021, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206, 0x00201208,
    0x00102201, 0x00102202, 0x00102292, 0x00102293, 0x00102203, 0x00102297, 0x00102298, 0x00102299,
    0x00101002, 0x00101030, 0x00081010, 0x00080080, 0x00201200, 0x00201202, 0x00201204,
]  # fmt: skip
SERIES_TAGS = [0x00080060, 0x0008103E, 0x0020000E, 0x00200011, 0x00201209, 0x00180015, 0x00080021, 0x00080031]
IMAGE_TAGS = [0x00080016, 0x00080018, 0x00200013, 0x00280010, 0x00280011, 0x00280100, 0x00280008, 0x00280030,
              0x00181164, 0x00200037, 0x00201041, 0x7FE00010, 0x00282110]  # fmt: skip


@pytest.fixture
def filled(archive: Archive, demo_files: list[Path]) -> Archive:
    for path in demo_files:
        store_instance(archive, path.read_bytes(), origin=Origin(OriginKind.IMPORT))
    return archive


@pytest.mark.parametrize(
    ("level", "tags"),
    [
        (Level.STUDY, TAGS),
        (Level.SERIES, TAGS + SERIES_TAGS),
        (Level.IMAGE, TAGS + SERIES_TAGS + IMAGE_TAGS),
    ],
)
def test_fast_json_equals_pydicom_json(filled: Archive, level: Level, tags: list[int]) -> None:
    q = Query(level=level, return_tags=list(tags))
    rows = find_rows(filled, q)
    assert rows
    for row in rows:
        assert response_json(row, q) == _slow_json(row, q)
