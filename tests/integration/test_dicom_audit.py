"""DIMSE traffic is audited like HTTP: who stored, searched, retrieved and moved what, from where."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import AET, HOST, dcmtk, findscu  # type: ignore[import-not-found]
from pydicom import dcmread

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]


def _audit(server: LiveServer, action: str, want: int = 1) -> list[dict[str, Any]]:
    """The audit rows of ``action`` (written by a background thread: wait for them a little)."""
    deadline = time.monotonic() + 15
    while True:
        rows: list[dict[str, Any]] = httpx.get(
            f"{server.http_url}/api/v1/audit",
            params={"action": action},
            headers=server.auth_headers(),
            timeout=10,
        ).json()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_store_find_and_get_are_audited(server: LiveServer, demo_files: list[Path], tmp_path: Path) -> None:
    ct = [p for p in demo_files if dcmread(p, stop_before_pixels=True).Modality == "CT"][:3]
    study = dcmread(ct[0], stop_before_pixels=True).StudyInstanceUID
    proc = dcmtk("storescu", "-aet", "XRAY1", "-aec", AET, HOST, str(server.dicom_port), *map(str, ct))
    assert proc.returncode == 0, proc.stderr
    (stored,) = _audit(server, "instances.stored")
    assert stored["actor"] == "dicom:XRAY1" and stored["object_id"] == study
    assert stored["detail"]["instances"] == len(ct) and stored["address"] == "127.0.0.1"

    findscu(server, "-S", ["QueryRetrieveLevel=STUDY", "PatientName=*", "StudyInstanceUID"], tmp_path / "f")
    (searched,) = _audit(server, "dicom.searched")
    assert searched["actor"] == "dicom:FINDSCU" and searched["detail"]["keys"]["PatientName"] == "*"

    out = tmp_path / "get"
    out.mkdir()
    proc = dcmtk(
        "getscu",
        "-aet",
        "GETSCU",
        "-aec",
        AET,
        "-od",
        str(out),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={study}",
        HOST,
        str(server.dicom_port),
    )
    assert proc.returncode == 0, proc.stderr
    (got,) = _audit(server, "instances.downloaded")
    assert got["actor"] == "dicom:GETSCU" and got["object_id"] == study
    assert got["detail"]["instances"] == len(ct) and got["detail"]["via"] == "C-GET"
