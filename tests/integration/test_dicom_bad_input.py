"""Bad input at the DICOM door of a running ``vetpacs serve``.

Every refused C-STORE must answer an exact failure status, store nothing (no index row, no blob
left behind), keep a row in ``ingest_rejections`` naming the sender's AE title, log a line naming it,
and leave the listener serving. Malformed and truncated data sets are sent with pynetdicom's raw
sender (``STORE_SEND_CHUNKED_DATASET``: the bytes after a file's meta information go out as they
are), so the server sees exactly the broken bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from dicom_support import (
    AET,
    HOST,
    LiveServer,
    blob_files,
    count,
    dataset_part,
    dcmtk,
    echo_ok,
    module_server,
    pynetdicom_echo_ok,
    requestor,
    sql,
)
from pydicom import dcmread, dcmwrite
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid
from pynetdicom import _config

from conftest import set_mono16_pixels

pytestmark = pytest.mark.integration

VERIFICATION = "1.2.840.10008.1.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
CANNOT_UNDERSTAND = 0xC000


@pytest.fixture(scope="module")
def bad_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("bad-input-server")) as srv:
        yield srv


@dataclass
class Snapshot:
    instances: int
    rejections: int
    conflicts: int
    blobs: set[str]

    @classmethod
    def of(cls, server: LiveServer) -> Snapshot:
        return cls(
            count(server, "instances"),
            count(server, "ingest_rejections"),
            count(server, "instance_conflicts"),
            blob_files(server),
        )


def assert_refused(server: LiveServer, before: Snapshot, aet: str, reason: str) -> None:
    """Nothing stored, one rejection row from ``aet`` with ``reason``, a log line, still serving."""
    after = Snapshot.of(server)
    assert after.instances == before.instances
    assert after.conflicts == before.conflicts
    assert after.blobs == before.blobs, "a blob was left behind"
    assert not any((server.data_dir / "blobs" / ".tmp").iterdir()), "a half-written blob was left behind"
    assert after.rejections == before.rejections + 1
    rows = sql(
        server,
        "SELECT reason, origin_kind, origin_aet, origin_address FROM ingest_rejections ORDER BY id DESC",
    )
    got_reason, kind, origin_aet, address = rows[0]
    assert reason in got_reason
    assert (kind, origin_aet) == ("dicom", aet)
    assert address.startswith("127.0.0.1:")
    assert any("rejected" in line and aet in line and reason in line for line in server.log().splitlines()), (
        f"no log line names {aet}"
    )
    assert pynetdicom_echo_ok(server)


def dx_dataset(**overrides: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "BROKEN^Bruno"
    ds.PatientID = "BAD001"
    ds.PatientSpeciesDescription = "Canine"
    ds.Modality = "DX"
    set_mono16_pixels(ds, 64, np.arange(64 * 64, dtype="<u2").tobytes())
    for kw, value in overrides.items():
        if value is None:
            delattr(ds, kw)
        else:
            setattr(ds, kw, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID") or generate_uid()
    return ds


def write(ds: Dataset, path: Path) -> Path:
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def send_raw(server: LiveServer, path: Path, aet: str, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """Send the bytes after ``path``'s file meta as they are; return the C-STORE response."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    meta = read_file_meta_info(path)
    ae = requestor(aet, [(str(meta.MediaStorageSOPClassUID), [str(meta.TransferSyntaxUID)])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        rsp = assoc.send_c_store(path)
    finally:
        assoc.release()
    assert rsp is not None and "Status" in rsp, "no C-STORE response"
    return rsp


def send_dataset(server: LiveServer, ds: Dataset, aet: str) -> Dataset:
    ae = requestor(aet, [(str(ds.SOPClassUID), [ExplicitVRLittleEndian])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        rsp = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert rsp is not None and "Status" in rsp, "no C-STORE response"
    return rsp


def with_meta(path: Path, sop_class: str) -> Path:
    """Rewrite ``path``'s file meta so it claims ``sop_class`` (the data set is left as it is)."""
    data = path.read_bytes()
    old = dcmread(path, stop_before_pixels=True).file_meta
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = old.MediaStorageSOPInstanceUID
    meta.TransferSyntaxUID = old.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    buf = BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    path.write_bytes(buf.getvalue() + dataset_part(data))
    return path


def cut(path: Path, out: Path, keep: int) -> Path:
    out.write_bytes(path.read_bytes()[:keep])
    return out


# ------------------------------------------------------------------------------ malformed bytes
def test_truncated_pixel_data(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = write(dx_dataset(), tmp_path / "full.dcm")
    size = full.stat().st_size
    broken = cut(full, tmp_path / "cut.dcm", int(size * 0.7))
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, broken, "TRUNCSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert "truncated" in rsp.ErrorComment
    assert_refused(bad_server, before, "TRUNCSCU", "truncated")


def test_truncated_inside_an_element_header(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream stops 6 bytes into the Pixel Data element's header: every UID has arrived, but
    the object is incomplete and must not be stored as if it were whole."""
    full = write(dx_dataset(), tmp_path / "full.dcm")
    data = full.read_bytes()
    pixel_tag = data.rindex(b"\xe0\x7f\x10\x00OW")
    broken = cut(full, tmp_path / "cut.dcm", pixel_tag + 6)
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, broken, "HEADCUTSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert_refused(bad_server, before, "HEADCUTSCU", "truncated")


def test_truncated_encapsulated_pixel_data(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = Path(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds = dcmread(src)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    full = tmp_path / "jpeg.dcm"
    ds.save_as(full, enforce_file_format=True)
    size = full.stat().st_size
    broken = cut(full, tmp_path / "cut.dcm", size - 300)  # inside the last fragment, no delimiter
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, broken, "JPEGCUTSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert_refused(bad_server, before, "JPEGCUTSCU", "truncated")


def test_garbage_after_the_file_meta(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(dx_dataset(), tmp_path / "good.dcm")
    data = good.read_bytes()
    meta_end = len(data) - len(dataset_part(data))
    path = tmp_path / "garbage.dcm"
    junk = np.random.default_rng(20250114).integers(0, 256, 64, dtype=np.uint8).tobytes()
    path.write_bytes(data[:meta_end] + junk + b"\xff" * 64)
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, path, "JUNKSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert_refused(bad_server, before, "JUNKSCU", "")


# ------------------------------------------------------------------------------ identifiers
def test_missing_sop_instance_uid(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pynetdicom will not send a Dataset without SOP Instance UID: send the raw data set instead,
    # with the UID only in the file meta (it becomes the request's Affected SOP Instance UID).
    path = write(dx_dataset(SOPInstanceUID=None), tmp_path / "nosop.dcm")
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, path, "NOSOPSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert "missing SOPInstanceUID" in rsp.ErrorComment
    assert_refused(bad_server, before, "NOSOPSCU", "missing SOPInstanceUID")


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
@pytest.mark.parametrize(
    ("aet", "overrides", "reason"),
    [
        ("NOSTUDYSCU", {"StudyInstanceUID": None}, "missing StudyInstanceUID"),
        ("NOSERIESSCU", {"SeriesInstanceUID": None}, "missing SeriesInstanceUID"),
        ("BADSTUDYSCU", {"StudyInstanceUID": "1.2.840.abc.7"}, "invalid StudyInstanceUID"),
        ("BADSERIESSCU", {"SeriesInstanceUID": "1.2.03.4"}, "invalid SeriesInstanceUID"),
        ("LONGUIDSCU", {"StudyInstanceUID": "1.2." + "3" * 64}, "invalid StudyInstanceUID"),
    ],
    ids=["no-study-uid", "no-series-uid", "letters-in-uid", "leading-zero-uid", "uid-over-64"],
)
def test_missing_or_invalid_uids(
    bad_server: LiveServer, aet: str, overrides: dict[str, object], reason: str
) -> None:
    before = Snapshot.of(bad_server)
    rsp = send_dataset(bad_server, dx_dataset(**overrides), aet)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert reason in rsp.ErrorComment
    assert_refused(bad_server, before, aet, reason)


def test_data_set_of_an_unsupported_class_in_an_accepted_context(
    bad_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The context says CT, the data set is an RT Plan: refused after reading it."""
    ds = dx_dataset(SOPClassUID=RT_PLAN, Modality="RTPLAN")
    path = with_meta(write(ds, tmp_path / "rtplan-as-ct.dcm"), CT)
    before = Snapshot.of(bad_server)
    rsp = send_raw(bad_server, path, "RTPLANSCU", monkeypatch)
    assert rsp.Status == CANNOT_UNDERSTAND
    assert rsp.ErrorComment.startswith(f"SOP class {RT_PLAN} is not a supported")
    assert_refused(bad_server, before, "RTPLANSCU", "not a supported storage SOP class")


def test_unsupported_sop_class_is_refused_at_negotiation(bad_server: LiveServer) -> None:
    before = Snapshot.of(bad_server)
    ds = dx_dataset(SOPClassUID=RT_PLAN, Modality="RTPLAN")
    ae = requestor(
        "RTNEGSCU", [(RT_PLAN, [ExplicitVRLittleEndian]), (VERIFICATION, [ExplicitVRLittleEndian])]
    )
    assoc = ae.associate(HOST, bad_server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        assert [str(cx.abstract_syntax) for cx in assoc.accepted_contexts] == [VERIFICATION]
        assert [str(cx.abstract_syntax) for cx in assoc.rejected_contexts] == [RT_PLAN]
        with pytest.raises(ValueError, match="No presentation context"):
            assoc.send_c_store(ds)
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000  # the association is still usable
    finally:
        assoc.release()
    after = Snapshot.of(bad_server)
    assert (after.instances, after.rejections, after.blobs) == (
        before.instances,
        before.rejections,
        before.blobs,
    )


# ------------------------------------------------------------------------------ association level
@pytest.mark.dcmtk
def test_unknown_called_ae_title_is_rejected(bad_server: LiveServer, tmp_path: Path) -> None:
    before = Snapshot.of(bad_server)
    proc = dcmtk("echoscu", "-aet", "WRONGCALLER", "-aec", "WRONG", HOST, str(bad_server.dicom_port))
    assert proc.returncode != 0
    assert "Called AE Title Not Recognized" in proc.stdout + proc.stderr
    path = write(dx_dataset(), tmp_path / "ok.dcm")
    proc = dcmtk(
        "storescu", "-aet", "WRONGCALLER", "-aec", "NOTVETPACS", HOST, str(bad_server.dicom_port), str(path)
    )
    assert proc.returncode != 0
    after = Snapshot.of(bad_server)
    assert (after.instances, after.blobs) == (before.instances, before.blobs)
    assert "association rejected: calling AE 'WRONGCALLER' called AE 'WRONG'" in bad_server.log()
    assert "association rejected: calling AE 'WRONGCALLER' called AE 'NOTVETPACS'" in bad_server.log()
    assert echo_ok(bad_server)


@pytest.mark.dcmtk
def test_calling_ae_allow_list(server_factory: object, tmp_path: Path) -> None:
    srv = server_factory(VETPACS_ALLOWED_CALLING_AETS="GOODSCU,OTHERSCU")  # type: ignore[operator]
    srv.start()
    port = str(srv.dicom_port)
    proc = dcmtk("echoscu", "-aet", "EVILSCU", "-aec", AET, HOST, port)
    assert proc.returncode != 0
    assert "Calling AE Title Not Recognized" in proc.stdout + proc.stderr
    first = write(dx_dataset(), tmp_path / "a.dcm")
    proc = dcmtk("storescu", "-aet", "EVILSCU", "-aec", AET, HOST, port, str(first))
    assert proc.returncode != 0
    assert count(srv, "instances") == 0
    assert blob_files(srv) == set()
    assert "association rejected: calling AE 'EVILSCU'" in srv.log()

    assert dcmtk("echoscu", "-aet", "GOODSCU", "-aec", AET, HOST, port).returncode == 0
    proc = dcmtk("storescu", "-aet", "OTHERSCU", "-aec", AET, HOST, port, str(first))
    assert proc.returncode == 0, proc.stderr
    assert sql(srv, "SELECT origin_aet FROM instances") == [("OTHERSCU",)]
