"""Nothing acknowledged is ever lost: SIGKILL mid-ingest from several associations, then restart.

Also: SIGTERM lets in-flight stores finish before the process exits.
"""

from __future__ import annotations

import threading
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from sqlalchemy import create_engine, text

from conftest import set_mono16_pixels

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DX = "1.2.840.10008.5.1.4.1.1.1.1"


def make_instance(study_uid: str, series_uid: str, n: int, size: int = 256) -> Dataset:
    """A small DX instance with random pixel data (so every instance has distinct bytes)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = "DUR1"
    ds.PatientName = "DURABLE^Rex"
    ds.PatientSpeciesDescription = "Canine"
    ds.ResponsiblePerson = "DURABLE^Ann"
    ds.Modality = "DX"
    ds.InstanceNumber = n
    set_mono16_pixels(
        ds, size, np.random.default_rng(n).integers(0, 4095, (size, size), dtype=np.uint16).tobytes()
    )
    return ds


def encoded(ds: Dataset) -> bytes:
    """The dataset part (no meta) as pynetdicom sends it in Explicit VR Little Endian."""
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    return data


def dataset_part(part10: bytes) -> bytes:
    ds = dcmread(BytesIO(part10), stop_before_pixels=True)
    del ds
    # the file meta group length tells where the dataset starts
    meta_len = int.from_bytes(part10[140:144], "little")
    return part10[144 + meta_len :]


def sender(port: int, items: list[Dataset], acked: list[str], stop: threading.Event) -> None:
    ae = AE(ae_title="DURSCU")
    ae.add_requested_context(DX, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="VETPACS")
    if not assoc.is_established:
        return
    try:
        for ds in items:
            if stop.is_set():
                break
            try:
                status = assoc.send_c_store(ds)
            except Exception:
                break
            if status and getattr(status, "Status", None) == 0x0000:
                acked.append(ds.SOPInstanceUID)
            if not assoc.is_established:
                break
    finally:
        if assoc.is_established:
            assoc.abort()


def index_rows(db_url: str) -> dict[str, tuple[str, str]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sop_instance_uid, blob_key, checksum FROM instances")).all()
    engine.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_sigkill_mid_ingest_loses_nothing_acknowledged(server_factory: object) -> None:
    srv = server_factory()  # type: ignore[operator]
    srv.start()
    study = generate_uid()
    per_thread = 150
    batches = [
        [make_instance(study, generate_uid() if i == 0 else "", t * 1000 + i) for i in range(per_thread)]
        for t in range(4)
    ]
    for _t, batch in enumerate(batches):
        series = generate_uid()
        for ds in batch:
            ds.SeriesInstanceUID = series
    sent = {ds.SOPInstanceUID: ds for batch in batches for ds in batch}
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=sender, args=(srv.dicom_port, batch, acked, stop)) for batch in batches
    ]
    for th in threads:
        th.start()
    # Kill once a good part (but not all) has been acknowledged.
    deadline = time.monotonic() + 60
    while len(acked) < 80 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.kill()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    acked_now = set(acked)
    assert 80 <= len(acked_now) < len(sent), f"the kill did not land mid-way ({len(acked_now)} acked)"

    # Restart on the same data: half-written files are cleaned, acknowledged instances all there.
    srv.start()
    rows = index_rows(srv.database_url)
    missing = acked_now - set(rows)
    assert not missing, f"{len(missing)} acknowledged instances lost"
    blobs = srv.data_dir / "blobs"
    for sop_uid in acked_now:
        key, _checksum = rows[sop_uid]
        stored = (blobs / key).read_bytes()
        assert dataset_part(stored) == dataset_part(encoded(sent[sop_uid])), sop_uid
    # No orphan index row: every row's blob exists; no half-written file left behind.
    for sop_uid, (key, _) in rows.items():
        assert (blobs / key).is_file(), f"index row {sop_uid} has no blob"
    assert list((blobs / ".tmp").iterdir()) == []
    result = srv.cli("verify")
    assert "mismatched: 0" in result.stdout and "missing: 0" in result.stdout, result.stdout


def test_sigterm_finishes_in_flight_stores(server_factory: object) -> None:
    srv = server_factory()  # type: ignore[operator]
    srv.start()
    study = generate_uid()
    series = generate_uid()
    items = [make_instance(study, series, i, size=512) for i in range(40)]
    acked: list[str] = []
    stop = threading.Event()
    th = threading.Thread(target=sender, args=(srv.dicom_port, items, acked, stop))
    th.start()
    deadline = time.monotonic() + 30
    while len(acked) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert srv.proc is not None
    srv.proc.terminate()  # SIGTERM while the association is busy storing
    th.join(timeout=60)
    code = srv.proc.wait(timeout=60)
    assert code == 0, srv.log()
    srv.proc = None
    rows = index_rows(srv.database_url)
    assert set(acked) <= set(rows)
    # The open association was allowed to complete: everything it sent got stored.
    assert len(acked) == len(items), f"only {len(acked)} of {len(items)} stored before exit"
    assert "VetPACS stopped" in srv.log()


def test_health_reports_database_and_storage(server: object) -> None:
    import httpx

    r = httpx.get(f"{server.http_url}/health", timeout=10)  # type: ignore[attr-defined]
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    # Nothing but /health is open without authentication.
    assert httpx.get(f"{server.http_url}/docs", timeout=10).status_code in (401, 404)  # type: ignore[attr-defined]


_ = Path


def test_sigterm_does_not_wait_forever_for_an_idle_association(server_factory: object) -> None:
    """A modality that keeps an idle association open cannot hold a shutdown past the grace time."""
    srv = server_factory(VETPACS_SHUTDOWN_GRACE="1.5")  # type: ignore[operator]
    srv.start()
    ae = AE(ae_title="IDLESCU")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", srv.dicom_port, ae_title="VETPACS")
    assert assoc.is_established
    try:
        assert srv.proc is not None
        start = time.monotonic()
        srv.proc.terminate()
        code = srv.proc.wait(timeout=30)
        elapsed = time.monotonic() - start
        srv.proc = None
        assert code == 0
        assert 1.0 <= elapsed < 10, f"shutdown took {elapsed:.1f}s"
    finally:
        if assoc.is_established:
            assoc.abort()
