"""C-ECHO and C-STORE against a running ``vetpacs serve``: DCMTK echoscu/storescu and pynetdicom.

Every stored instance is checked byte for byte: the data set in the blob (after the file meta the
server writes) must be exactly what went over the wire. storescu re-encodes what it reads (explicit
lengths, no trailing padding, deflate re-run), so each test file is first written once with DCMTK's
own encoder (``dcmconv -p``): then the file's data set *is* what storescu transmits. The pynetdicom
raw sends (``STORE_SEND_CHUNKED_DATASET``) transmit the original files' data sets untouched.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from dicom_support import (
    AET,
    DEFLATED,
    EXPLICIT_LE,
    HOST,
    LiveServer,
    blob_files,
    count,
    dataset_part,
    dcmtk,
    module_server,
    requestor,
    same_dataset_bytes,
    sql,
    stored_bytes,
    stored_row,
)
from pydicom import dcmread, dcmwrite
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import _config

from conftest import set_mono16_pixels

pytestmark = pytest.mark.integration

VERIFICATION = "1.2.840.10008.1.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
VIDEO_SYNTAXES = [f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)]  # MPEG-2, H.264, HEVC


@pytest.fixture(scope="module")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("store-server")) as srv:
        yield srv


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def storescu(server: LiveServer, files: list[Path], *options: str, aet: str = "STORESCU") -> str:
    proc = dcmtk(
        "storescu",
        "-v",
        *options,
        "-aet",
        aet,
        "-aec",
        AET,
        HOST,
        str(server.dicom_port),
        *[str(f) for f in files],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def assert_stored_as_sent(server: LiveServer, sent: bytes, *, aet: str) -> dict[str, object]:
    """The instance in ``sent`` is indexed and its blob holds exactly the data set that was sent."""
    ds = dcmread(BytesIO(sent), stop_before_pixels=True)
    ts = str(ds.file_meta.TransferSyntaxUID)
    row = stored_row(server, str(ds.SOPInstanceUID))
    assert row is not None, f"{ds.SOPInstanceUID} was not stored"
    assert row["transfer_syntax_uid"] == ts
    assert row["sop_class_uid"] == str(ds.SOPClassUID)
    assert row["origin_aet"] == aet
    blob = stored_bytes(server, str(ds.SOPInstanceUID))
    assert row["size"] == len(blob)
    assert row["checksum"] == sha256(blob)
    meta = dcmread(BytesIO(blob), stop_before_pixels=True).file_meta
    assert str(meta.TransferSyntaxUID) == ts
    assert str(meta.MediaStorageSOPInstanceUID) == str(ds.SOPInstanceUID)
    assert str(meta.MediaStorageSOPClassUID) == str(ds.SOPClassUID)
    assert same_dataset_bytes(sent, blob, ts), (
        f"{ds.SOPInstanceUID}: stored data set ({len(dataset_part(blob))} bytes) differs from the "
        f"sent one ({len(dataset_part(sent))} bytes)"
    )
    return row


# --------------------------------------------------------------------------------------- C-ECHO
@pytest.mark.dcmtk
def test_echoscu(store_server: LiveServer) -> None:
    proc = dcmtk("echoscu", "-v", "-aec", AET, HOST, str(store_server.dicom_port))
    assert proc.returncode == 0, proc.stderr
    assert "Received Echo Response (Success)" in proc.stdout + proc.stderr


def test_echo_status_is_exactly_success(store_server: LiveServer) -> None:
    ae = requestor("ECHOPYNET", [(VERIFICATION, [ExplicitVRLittleEndian])])
    assoc = ae.associate(HOST, store_server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        rsp = assoc.send_c_echo()
        assert rsp.Status == 0x0000
    finally:
        assoc.release()


# --------------------------------------------------------------------------------------- demo data
@pytest.mark.dcmtk
def test_storescu_demo_files_byte_for_byte(store_server: LiveServer, demo_files: list[Path]) -> None:
    assert len(demo_files) == 24
    before = count(store_server, "instances")
    studies_before = count(store_server, "studies")
    blobs_before = blob_files(store_server)
    out = storescu(store_server, demo_files, aet="DEMOSCU")
    assert out.count("Received Store Response (Success)") == 24
    assert count(store_server, "instances") == before + 24
    assert count(store_server, "studies") == studies_before + 8
    assert len(blob_files(store_server) - blobs_before) == 24
    for path in demo_files:
        row = assert_stored_as_sent(store_server, path.read_bytes(), aet="DEMOSCU")
        assert row["transfer_syntax_uid"] == EXPLICIT_LE


# --------------------------------------------------------------------------------------- syntaxes
# (case id, pydicom test file, storescu option, transfer syntax the instance must be stored in)
TS_CASES = [
    ("explicit-le", "CT_small.dcm", None, "1.2.840.10008.1.2.1"),
    ("implicit-le", "MR_small_implicit.dcm", None, "1.2.840.10008.1.2"),
    ("big-endian", "MR_small_bigendian.dcm", "-xb", "1.2.840.10008.1.2.2"),
    ("deflated", "image_dfl.dcm", "-xd", DEFLATED),
    ("jpeg-baseline", "SC_rgb_jpeg_dcmtk.dcm", "-xy", "1.2.840.10008.1.2.4.50"),
    ("jpeg-extended", "JPEG-lossy.dcm", "-xx", "1.2.840.10008.1.2.4.51"),
    ("jpeg-lossless-sv1", "JPEG-LL.dcm", "-xs", "1.2.840.10008.1.2.4.70"),
    ("jpeg-ls-lossless", "MR_small_jpeg_ls_lossless.dcm", "-xt", "1.2.840.10008.1.2.4.80"),
    ("jpeg-ls-near-lossless", "JPEGLSNearLossless_16.dcm", "-xu", "1.2.840.10008.1.2.4.81"),
    ("j2k-lossless", "US1_J2KR.dcm", "-xv", "1.2.840.10008.1.2.4.90"),
    ("j2k", "US1_J2KI.dcm", "-xw", "1.2.840.10008.1.2.4.91"),
    ("rle", "MR_small_RLE.dcm", "-xr", "1.2.840.10008.1.2.5"),
]


def case_uid(case: str, what: str) -> str:
    return "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, f"vetpacs-test/{case}/{what}").int)


def dcmtk_encoded_copy(case: str, name: str, out_dir: Path) -> Path:
    """The test file with its own SOP Instance UID (several share one), re-encoded by DCMTK."""
    src = get_testdata_file(name)
    if src is None:
        pytest.fail(f"pydicom test file {name} is missing (pydicom / pydicom-data not installed?)")
    ds = dcmread(src)
    ds.SOPInstanceUID = case_uid(case, "sop")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for kw in ("StudyInstanceUID", "SeriesInstanceUID"):  # JPEGLSNearLossless_16 has neither
        if not ds.get(kw):
            setattr(ds, kw, case_uid(case, kw))
    rewritten = out_dir / f"{case}-pydicom.dcm"
    ds.save_as(rewritten, enforce_file_format=True)
    final = out_dir / f"{case}.dcm"
    proc = dcmtk("dcmconv", "-p", str(rewritten), str(final))
    assert proc.returncode == 0, proc.stderr
    return final


@pytest.mark.dcmtk
@pytest.mark.parametrize(("case", "name", "option", "ts"), TS_CASES, ids=[c[0] for c in TS_CASES])
def test_storescu_transfer_syntax_byte_for_byte(
    store_server: LiveServer, tmp_path: Path, case: str, name: str, option: str | None, ts: str
) -> None:
    path = dcmtk_encoded_copy(case, name, tmp_path)
    sent = path.read_bytes()
    assert str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID) == ts
    before = count(store_server, "instances")
    rejected_before = count(store_server, "ingest_rejections")
    out = storescu(store_server, [path], *([option] if option else []), aet="TSSCU")
    assert "Received Store Response (Success)" in out
    assert count(store_server, "instances") == before + 1
    assert count(store_server, "ingest_rejections") == rejected_before
    row = assert_stored_as_sent(store_server, sent, aet="TSSCU")
    assert row["transfer_syntax_uid"] == ts


RAW_FILES = ["CT_small.dcm", "image_dfl.dcm", "JPEG-lossy.dcm", "US1_J2KI.dcm", "SC_rgb_rle.dcm"]


def test_raw_data_sets_are_stored_untouched(
    store_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynetdicom sends each original file's data set bytes as they are (trailing padding, undefined
    lengths, an odd-length deflate stream); the blob must hold exactly those bytes."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    paths = [Path(get_testdata_file(n)) for n in RAW_FILES]
    metas = [dcmread(p, stop_before_pixels=True) for p in paths]
    ae = requestor("RAWSCU", [(str(m.SOPClassUID), [str(m.file_meta.TransferSyntaxUID)]) for m in metas])
    before = count(store_server, "instances")
    assoc = ae.associate(HOST, store_server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        statuses = [assoc.send_c_store(p).Status for p in paths]
    finally:
        assoc.release()
    assert statuses == [0x0000] * len(paths)
    assert count(store_server, "instances") == before + len(paths)
    for path in paths:
        sent = path.read_bytes()
        blob = stored_bytes(store_server, str(dcmread(path, stop_before_pixels=True).SOPInstanceUID))
        assert dataset_part(blob) == dataset_part(sent), path.name


def video_file(path: Path, ts: str) -> Path:
    """A synthetic Video Endoscopic instance: encapsulated pixel data with one fake fragment."""
    ds = Dataset()
    ds.SOPClassUID = VIDEO_ENDOSCOPIC
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = case_uid("video", "study")
    ds.SeriesInstanceUID = case_uid("video", ts)
    ds.PatientName = "VIDEO^Bella"
    ds.PatientID = "VID001"
    ds.PatientSpeciesDescription = "Canine"
    ds.ResponsiblePerson = "VIDEO^Owner"
    ds.Modality = "ES"
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = 480, 640
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = 25
    ds.FrameTime = 40.0
    ds.FrameIncrementPointer = 0x00181063
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(range(256)) * 8 + ts.encode()[-1:] * 2])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = VIDEO_ENDOSCOPIC
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_video_transfer_syntaxes_with_pynetdicom(
    store_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MPEG-2, H.264 and HEVC: no test files exist, so synthetic ones, one per syntax."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    files = {ts: video_file(tmp_path / f"{ts}.dcm", ts) for ts in VIDEO_SYNTAXES}
    ae = requestor("VIDEOSCU", [(VIDEO_ENDOSCOPIC, [ts]) for ts in VIDEO_SYNTAXES])
    before = count(store_server, "instances")
    assoc = ae.associate(HOST, store_server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        accepted = {str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        assert accepted == set(VIDEO_SYNTAXES)
        statuses = {ts: assoc.send_c_store(path).Status for ts, path in files.items()}
    finally:
        assoc.release()
    assert statuses == {ts: 0x0000 for ts in VIDEO_SYNTAXES}
    assert count(store_server, "instances") == before + len(VIDEO_SYNTAXES)
    for ts, path in files.items():
        row = assert_stored_as_sent(store_server, path.read_bytes(), aet="VIDEOSCU")
        assert row["transfer_syntax_uid"] == ts


# --------------------------------------------------------------------------------------- duplicates
def dx_file(path: Path, sop_uid: str, weight: str) -> Path:
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = case_uid("dup", "study")
    ds.SeriesInstanceUID = case_uid("dup", "series")
    ds.PatientName = "REPEAT^Rex"
    ds.PatientID = "DUP001"
    ds.PatientWeight = weight
    ds.PatientSpeciesDescription = "Canine"
    ds.Modality = "DX"
    ds.InstanceNumber = 1
    set_mono16_pixels(ds, 32, np.arange(32 * 32, dtype="<u2").tobytes())
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.mark.dcmtk
def test_repeated_store_is_a_no_op_and_a_changed_copy_keeps_the_first(
    store_server: LiveServer, tmp_path: Path
) -> None:
    sop = generate_uid()
    first = dx_file(tmp_path / "first.dcm", sop, "30.5")
    second = dx_file(tmp_path / "second.dcm", sop, "31.0")
    assert dataset_part(first.read_bytes()) != dataset_part(second.read_bytes())

    before = count(store_server, "instances")
    storescu(store_server, [first], aet="REPEATSCU")
    assert count(store_server, "instances") == before + 1
    original = stored_bytes(store_server, sop)
    blobs = blob_files(store_server)
    conflicts = count(store_server, "instance_conflicts")

    # The same bytes again: success, and nothing changes at all.
    out = storescu(store_server, [first], aet="REPEATSCU")
    assert "Received Store Response (Success)" in out
    assert count(store_server, "instances") == before + 1
    assert count(store_server, "instance_conflicts") == conflicts
    assert blob_files(store_server) == blobs
    assert stored_bytes(store_server, sop) == original

    # Different bytes under the same SOP Instance UID: default policy keep-first answers success,
    # keeps the first version indexed and records the conflict (with the other version's blob).
    out = storescu(store_server, [second], aet="REPEATSCU")
    assert "Received Store Response (Success)" in out
    assert count(store_server, "instances") == before + 1
    assert stored_bytes(store_server, sop) == original
    rows = sql(
        store_server,
        "SELECT kept_checksum, other_checksum, other_blob_key, policy, origin_aet "
        "FROM instance_conflicts WHERE sop_instance_uid = :u",
        u=sop,
    )
    assert len(rows) == 1
    kept, other, other_key, policy, origin_aet = rows[0]
    assert kept == sha256(original)
    assert other != kept
    assert policy == "keep-first"
    assert origin_aet == "REPEATSCU"
    other_blob = (store_server.data_dir / "blobs" / other_key).read_bytes()
    assert other == sha256(other_blob)
    assert dataset_part(other_blob) == dataset_part(second.read_bytes())
    assert count(store_server, "instance_conflicts") == conflicts + 1
    assert sop in store_server.log() and "REPEATSCU" in store_server.log()
