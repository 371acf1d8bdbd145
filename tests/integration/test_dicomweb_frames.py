"""Pixel fidelity over DICOMweb: pydicom's compressed test files, stored by STOW-RS, come back frame
by frame as stored (``transfer-syntax=*``) and decoded (application/octet-stream), equal to
pydicom's own decoding of the same file; whole instances come back in Explicit VR Little Endian."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid
from test_dicomweb import _multipart, _stow_body  # type: ignore[import-not-found]

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

FILES = [
    "MR_small.dcm",  # explicit VR little endian
    "MR_small_bigendian.dcm",  # explicit VR big endian
    "image_dfl.dcm",  # deflated
    "JPEG-lossy.dcm",  # JPEG extended (12-bit)
    "SC_rgb_dcmtk_+eb+cy+np.dcm",  # JPEG baseline, YBR
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless SV1
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    "JPEGLSNearLossless_16.dcm",  # JPEG-LS near-lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
    "JPEG2000.dcm",  # JPEG 2000
    "MR_small_RLE.dcm",  # RLE
    "SC_rgb_rle_2frame.dcm",  # RLE, RGB, two frames
]
# 12-bit lossy JPEG that neither libjpeg nor Pillow decodes: stored and served as is, decoding is a 400
UNDECODABLE = {"JPEG-lossy.dcm"}
MARKERS = {
    "1.2.840.10008.1.2.4.50": b"\xff\xd8",
    "1.2.840.10008.1.2.4.51": b"\xff\xd8",
    "1.2.840.10008.1.2.4.57": b"\xff\xd8",
    "1.2.840.10008.1.2.4.70": b"\xff\xd8",
    "1.2.840.10008.1.2.4.80": b"\xff\xd8\xff\xf7",
    "1.2.840.10008.1.2.4.81": b"\xff\xd8\xff\xf7",
    "1.2.840.10008.1.2.4.90": b"\xff\x4f",
    "1.2.840.10008.1.2.4.91": b"\xff\x4f",
}


def _fresh_copy(name: str, folder: Path) -> Path:
    """The test file with new UIDs (several of pydicom's files share theirs), pixel data untouched."""
    ds = dcmread(get_testdata_file(name))
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = folder / name
    ds.save_as(out)
    return out


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frame-files")
    return {name: _fresh_copy(name, folder) for name in FILES}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, copies: dict[str, Path]) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("frames")) as srv:
        body, ctype = _stow_body([p.read_bytes() for p in copies.values()])
        r = httpx.post(
            f"{srv.http_url}/dicom-web/studies",
            content=body,
            headers={**srv.auth_headers(), "Content-Type": ctype},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        yield srv


def _url(ds: Dataset) -> str:
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def _decoded_frames(path: Path) -> list[bytes]:
    """pydicom's decoding of every frame, as Explicit VR Little Endian pixel data would hold it."""
    copy = dcmread(path)
    if copy.file_meta.TransferSyntaxUID.is_compressed:
        copy.decompress()
    n = int(copy.get("NumberOfFrames", 1) or 1)
    arr = copy.pixel_array
    frames = [arr] if n == 1 else list(arr)
    return [np.ascontiguousarray(f).astype(f.dtype.newbyteorder("<")).tobytes() for f in frames]


@pytest.mark.parametrize("name", FILES)
def test_frames_as_stored_and_decoded(web: LiveServer, copies: dict[str, Path], name: str) -> None:
    path = copies[name]
    ds = dcmread(path)
    ts = ds.file_meta.TransferSyntaxUID
    n = int(ds.get("NumberOfFrames", 1) or 1)
    numbers = ",".join(str(i + 1) for i in range(n))
    with httpx.Client(base_url=f"{web.http_url}/dicom-web", headers=web.auth_headers(), timeout=60) as http:
        stored = http.get(
            f"{_url(ds)}/frames/{numbers}",
            headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'},
        )
        assert stored.status_code == 200, stored.text
        parts = _multipart(stored)
        assert len(parts) == n
        if ts.is_compressed:
            expected = list(generate_frames(ds.PixelData, number_of_frames=n))
            assert [body for _, body in parts] == expected
            assert parts[0][1].startswith(MARKERS.get(ts, b""))
            assert f"transfer-syntax={ts}" in parts[0][0]["content-type"]
        decoded = http.get(
            f"{_url(ds)}/frames/{numbers}",
            headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        )
        if name in UNDECODABLE:
            assert decoded.status_code == 400 and "decoder failed" in decoded.json()["detail"]
            return
        assert decoded.status_code == 200, decoded.text
        got = [body for _, body in _multipart(decoded)]
        assert got == _decoded_frames(path)


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm"])
def test_whole_instance_default_is_explicit_little_endian(
    web: LiveServer, copies: dict[str, Path], name: str
) -> None:
    ds = dcmread(copies[name])
    client = DICOMwebClient(url=f"{web.http_url}/dicom-web", headers=web.auth_headers())
    # no transfer syntax asked for (dicomweb-client's own default is "*")
    got = client.retrieve_instance(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        media_types=("application/dicom",),
    )
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(got.pixel_array, ds.pixel_array)
    as_stored = client.retrieve_instance(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        media_types=(("application/dicom", "*"),),
    )
    assert as_stored.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
