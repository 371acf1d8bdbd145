"""PixelInstance: frames as stored, decoded frames and pixel fidelity against uncompressed twins.

Tolerances (max absolute difference per sample; see docs/imaging.md):

=============================================  ===================================  =========
compressed file                                reference                            tolerance
=============================================  ===================================  =========
RLE, JPEG 2000 lossless, JPEG-LS lossless,     the uncompressed twin                0
JPEG lossless SV1, big endian, implicit VR
JPEG 2000 lossy (``*_J2KI``)                   twin decompressed by the encoder     0
                                               (``*_UNCI``)
JPEG baseline, dcmtk-encoded                   twin decompressed by dcmtk           2
                                               (``*_dcmd``)
JPEG baseline (dcmtk, YBR_FULL)                the RGB original (SC_rgb)            6
JPEG-LS near-lossless (NEAR=2)                 the RGB original (SC_rgb)            2
YBR_FULL / YBR_FULL_422 uncompressed           the RGB original (SC_rgb)            6
JPEG extended, deflated (no twin)              pydicom's decode of the same file    0
=============================================  ===================================  =========
"""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vetpacs.errors import Invalid, NotFound
from vetpacs.imaging import PixelInstance, frame_media_type


@cache
def _bytes(name: str) -> bytes:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"test file {name} is not installed")
    with open(str(path), "rb") as fh:
        return fh.read()


def inst(name: str) -> PixelInstance:
    return PixelInstance.from_bytes(_bytes(name))


def _mask(a: np.ndarray[Any, Any], bits_stored: int, signed: bool) -> np.ndarray[Any, Any]:
    a = a.astype(np.int64) & ((1 << bits_stored) - 1)
    if signed:
        a = np.where(a >= 1 << (bits_stored - 1), a - (1 << bits_stored), a)
    return a


LOSSLESS_PAIRS = [
    ("MR_small.dcm", "MR_small_RLE.dcm"),
    ("MR_small.dcm", "MR_small_bigendian.dcm"),
    ("MR_small.dcm", "MR_small_expb.dcm"),
    ("MR_small.dcm", "MR_small_implicit.dcm"),
    ("MR_small.dcm", "MR_small_jp2klossless.dcm"),
    ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
    ("MR_small.dcm", "MR_small_padded.dcm"),
    ("emri_small.dcm", "emri_small_RLE.dcm"),
    ("emri_small.dcm", "emri_small_big_endian.dcm"),
    ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
    ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm"),
    ("RG1_UNCR.dcm", "RG1_J2KR.dcm"),
    ("RG3_UNCR.dcm", "RG3_J2KR.dcm"),
    ("MR2_UNCR.dcm", "MR2_J2KR.dcm"),
    ("693_UNCR.dcm", "693_J2KR.dcm"),
    ("US1_UNCR.dcm", "US1_J2KR.dcm"),  # YBR_RCT -> RGB
    ("SC_rgb.dcm", "SC_rgb_rle.dcm"),
    ("SC_rgb.dcm", "SC_rgb_expb.dcm"),
    ("SC_rgb.dcm", "SC_rgb_jpeg_gdcm.dcm"),  # JPEG lossless SV1, RGB
    ("SC_rgb.dcm", "SC_rgb_gdcm_KY.dcm"),
    ("SC_rgb_2frame.dcm", "SC_rgb_rle_2frame.dcm"),
    ("SC_rgb_2frame.dcm", "SC_rgb_expb_2frame.dcm"),
    ("SC_rgb_16bit_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm"),
    ("SC_rgb_16bit_2frame.dcm", "SC_rgb_expb_16bit_2frame.dcm"),
    ("SC_rgb_32bit_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm"),
    ("SC_rgb_32bit_2frame.dcm", "SC_rgb_expb_32bit_2frame.dcm"),
    ("OBXXXX1A_2frame.dcm", "OBXXXX1A_rle_2frame.dcm"),
    ("OBXXXX1A_2frame.dcm", "OBXXXX1A_expb_2frame.dcm"),
    ("color-px.dcm", "color-pl.dcm"),  # planar configuration 1
    ("liver.dcm", "liver_expb.dcm"),  # 1 bit, 3 frames
    ("rtdose.dcm", "rtdose_rle.dcm"),  # 32 bit, 15 frames
    ("rtdose.dcm", "rtdose_expb.dcm"),
    ("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"),
    ("RG1_UNCI.dcm", "RG1_J2KI.dcm"),  # lossy J2K against the encoder's own decompression
    ("RG3_UNCI.dcm", "RG3_J2KI.dcm"),
    ("MR2_UNCI.dcm", "MR2_J2KI.dcm"),
    ("US1_UNCI.dcm", "US1_J2KI.dcm"),
    ("693_UNCI.dcm", "693_J2KI.dcm"),
    ("JPEG2000_UNC.dcm", "JPEG2000.dcm"),
]


@pytest.mark.parametrize(("plain", "coded"), LOSSLESS_PAIRS)
def test_decoded_frames_equal_the_uncompressed_twin(plain: str, coded: str) -> None:
    ref, got = inst(plain), inst(coded)
    assert got.number_of_frames == ref.number_of_frames
    ref_all = dcmread(get_testdata_file(plain)).pixel_array  # pydicom's decode of the twin
    for i in range(got.number_of_frames):
        expected = ref_all[i] if ref.number_of_frames > 1 else ref_all
        np.testing.assert_array_equal(got.array(i), expected)
        np.testing.assert_array_equal(ref.array(i), expected)
        # native_frame: little-endian bytes of the same values (unused high bits ignored)
        if got.bits_allocated == 1:
            assert got.native_frame(i) == ref.native_frame(i)
            continue
        dtype = np.dtype(f"<u{got.bits_allocated // 8}")
        a = np.frombuffer(got.native_frame(i), dtype)
        b = np.frombuffer(ref.native_frame(i), dtype)
        if got.native_planar_configuration != ref.native_planar_configuration:
            continue
        signed = got.pixel_representation == 1
        np.testing.assert_array_equal(_mask(a, got.bits_stored, signed), _mask(b, ref.bits_stored, signed))


LOSSY_PAIRS = [
    ("SC_rgb_dcmtk_ebcr_dcmd.dcm", "SC_rgb_dcmtk_+eb+cr.dcm", 2),
    ("SC_rgb_dcmtk_ebcyn1_dcmd.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm", 2),
    ("SC_rgb_dcmtk_ebcyn2_dcmd.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm", 2),
    ("SC_rgb_dcmtk_ebcynp_dcmd.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", 2),
    ("SC_rgb_dcmtk_ebcys2_dcmd.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", 2),
    ("SC_rgb_dcmtk_ebcys4_dcmd.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm", 2),
    ("SC_rgb_jpeg_dcmd.dcm", "SC_rgb_jpeg.dcm", 2),
    ("SC_rgb.dcm", "SC_rgb_jpeg_dcmtk.dcm", 6),
    ("SC_rgb.dcm", "SC_rgb_jls_lossy_line.dcm", 2),
    ("SC_rgb.dcm", "SC_rgb_jls_lossy_sample.dcm", 2),
    ("SC_rgb.dcm", "SC_ybr_full_uncompressed.dcm", 6),
    ("SC_rgb.dcm", "SC_ybr_full_422_uncompressed.dcm", 6),
]


@pytest.mark.parametrize(("plain", "coded", "tolerance"), LOSSY_PAIRS)
def test_lossy_frames_within_tolerance(plain: str, coded: str, tolerance: int) -> None:
    ref = dcmread(get_testdata_file(plain)).pixel_array.astype(np.int64)
    got = inst(coded).array(0).astype(np.int64)
    assert got.shape == ref.shape
    assert int(np.abs(got - ref).max()) <= tolerance


@pytest.mark.parametrize(
    "name",
    [
        "JPGExtended.dcm",
        "JPEG-LL.dcm",
        "JPGLosslessP14SV1_1s_1f_8b.dcm",
        "image_dfl.dcm",
        "JPEGLSNearLossless_08.dcm",
        "JPEGLSNearLossless_16.dcm",
        "color3d_jpeg_baseline.dcm",
    ],
)
def test_files_without_twin_match_pydicom(name: str) -> None:
    ref = dcmread(get_testdata_file(name)).pixel_array
    got = inst(name)
    np.testing.assert_array_equal(got.array(0), ref[0] if got.number_of_frames > 1 else ref)
    if got.number_of_frames > 1:
        np.testing.assert_array_equal(got.array(got.number_of_frames - 1), ref[-1])


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", b"\xff\xd8"),
        ("JPGExtended.dcm", b"\xff\xd8\xff\xc1"),
        ("JPEG-LL.dcm", b"\xff\xd8\xff\xc3"),
        ("MR_small_jp2klossless.dcm", b"\xff\x4f\xff\x51"),
        ("US1_J2KI.dcm", b"\xff\x4f\xff\x51"),
        ("MR_small_jpeg_ls_lossless.dcm", b"\xff\xd8\xff\xf7"),
        ("emri_small_jpeg_ls_lossless.dcm", b"\xff\xd8\xff\xf7"),
        ("MR_small_RLE.dcm", b"\x02\x00\x00\x00"),  # RLE header: number of segments (2 for 16 bit)
    ],
)
def test_raw_frame_is_the_codestream(name: str, marker: bytes) -> None:
    i = inst(name)
    assert i.is_encapsulated
    for k in range(i.number_of_frames):
        frame = i.raw_frame(k)
        assert frame.startswith(marker)
    if marker.startswith(b"\xff\xd8"):
        assert b"\xff\xd9" in i.raw_frame(0)[-4:]  # EOI, maybe followed by padding


def test_multiframe_frames_are_distinct_and_ordered() -> None:
    i = inst("emri_small_jpeg_2k_lossless.dcm")
    ref = dcmread(get_testdata_file("emri_small.dcm")).pixel_array
    assert i.number_of_frames == 10
    frames = [i.array(k) for k in (0, 5, 9)]
    np.testing.assert_array_equal(frames[1], ref[5])
    np.testing.assert_array_equal(frames[2], ref[9])
    assert not np.array_equal(frames[0], frames[2])


def test_native_frame_is_raw_frame_for_little_endian() -> None:
    i = inst("emri_small.dcm")
    assert i.native_frame(3) == i.raw_frame(3)
    assert len(i.raw_frame(3)) == 64 * 64 * 2
    assert i.frame_length == 64 * 64 * 2


def test_properties() -> None:
    i = inst("US1_J2KR.dcm")
    assert i.sop_instance_uid
    assert i.transfer_syntax_uid == "1.2.840.10008.1.2.4.90"
    assert (i.rows, i.columns, i.number_of_frames) == (480, 640, 1)
    assert i.is_encapsulated
    assert i.native_photometric_interpretation == "RGB"
    assert len(i.native_frame(0)) == 480 * 640 * 3
    plain = inst("MR_small.dcm")
    assert not plain.is_encapsulated
    assert plain.native_photometric_interpretation == "MONOCHROME2"


def test_bit_packed_frames_with_odd_size() -> None:
    ds = _small_dataset(rows=3, cols=3, bits=1, frames=3)
    bits = np.array([[1, 0, 1, 0, 1, 0, 1, 0, 1], [0] * 9, [1] * 9], np.uint8)
    ds.PixelData = np.packbits(bits.reshape(-1), bitorder="little").tobytes()
    i = PixelInstance.from_bytes(_to_bytes(ds))
    for k in range(3):
        assert np.unpackbits(np.frombuffer(i.raw_frame(k), np.uint8), bitorder="little")[:9].tolist() == (
            bits[k].tolist()
        )
    np.testing.assert_array_equal(i.array(2), np.ones((3, 3), np.uint8))


def test_signed_bits_stored_are_sign_extended() -> None:
    ds = _small_dataset(rows=1, cols=4, bits=16, stored=12, signed=True)
    # 12-bit two's complement: 0xFFF = -1, 0x800 = -2048, 0x7FF = 2047; junk in the high nibble
    ds.PixelData = np.array([0xFFFF, 0xA800, 0x07FF, 0x5001], "<u2").tobytes()
    i = PixelInstance.from_bytes(_to_bytes(ds))
    assert i.array(0).tolist() == [[-1, -2048, 2047, 1]]


def test_unsigned_bits_stored_are_masked() -> None:
    ds = _small_dataset(rows=1, cols=2, bits=16, stored=10)
    ds.PixelData = np.array([0xFC01, 0x03FF], "<u2").tobytes()
    assert PixelInstance.from_bytes(_to_bytes(ds)).array(0).tolist() == [[1, 1023]]


def test_frame_out_of_range_is_not_found() -> None:
    for name in ("MR_small.dcm", "MR_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"):
        i = inst(name)
        for call in (i.raw_frame, i.native_frame, i.array):
            with pytest.raises(NotFound):
                call(i.number_of_frames)
            with pytest.raises(NotFound):
                call(-1)


def test_no_pixel_data_is_invalid() -> None:
    with pytest.raises(Invalid, match="no Pixel Data"):
        inst("rtplan.dcm")
    with pytest.raises(Invalid):
        PixelInstance.from_bytes(b"not dicom at all" * 10)
    with pytest.raises(Invalid):
        PixelInstance.from_bytes(b"")


def test_truncated_pixel_data_is_invalid() -> None:
    i = inst("MR_truncated.dcm")  # the value is shorter than Rows x Columns x 2
    with pytest.raises(Invalid, match="truncated"):
        i.array(0)
    with pytest.raises(Invalid, match="truncated"):
        i.raw_frame(0)


def test_truncated_file_is_invalid_not_a_crash() -> None:
    data = _bytes("MR_small_RLE.dcm")
    for cut in (len(data) // 2, len(data) - 100, 300):
        try:
            i = PixelInstance.from_bytes(data[:cut])
            i.array(0)
        except Invalid:
            pass


def test_undecodable_codestream_is_invalid() -> None:
    i = inst("JPEG-lossy.dcm")  # 12-bit lossy JPEG: libjpeg rejects this codestream
    with pytest.raises(Invalid, match="JPEG extended decoder failed"):
        i.array(0)


def test_corrupt_codestream_is_invalid() -> None:
    ds = dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    frame = bytearray(inst("MR_small_jp2klossless.dcm").raw_frame(0))
    frame[20:] = b"\x00" * (len(frame) - 20)
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([bytes(frame)])
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(Invalid, match="JPEG 2000 decoder failed"):
        PixelInstance.from_bytes(buf.getvalue()).array(0)


def test_frame_media_types() -> None:
    assert frame_media_type("1.2.840.10008.1.2.4.50") == "image/jpeg"
    assert frame_media_type("1.2.840.10008.1.2.4.51") == "image/jpeg"
    assert frame_media_type("1.2.840.10008.1.2.4.57") == "image/jpeg"
    assert frame_media_type("1.2.840.10008.1.2.4.70") == "image/jpeg"
    assert frame_media_type("1.2.840.10008.1.2.4.80") == "image/jls"
    assert frame_media_type("1.2.840.10008.1.2.4.81") == "image/jls"
    assert frame_media_type("1.2.840.10008.1.2.4.90") == "image/jp2"
    assert frame_media_type("1.2.840.10008.1.2.4.91") == "image/jp2"
    assert frame_media_type("1.2.840.10008.1.2.4.92") == "image/jpx"
    assert frame_media_type("1.2.840.10008.1.2.4.93") == "image/jpx"
    assert frame_media_type("1.2.840.10008.1.2.5") == "image/x-dicom-rle"
    assert frame_media_type("1.2.840.10008.1.2.4.100") == "video/mpeg"
    assert frame_media_type("1.2.840.10008.1.2.4.101.1") == "video/mpeg"
    for uid in ("1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.106.1"):
        assert frame_media_type(uid) == "video/mp4"
    assert frame_media_type("1.2.840.10008.1.2.4.107") == "video/H265"
    assert frame_media_type("1.2.840.10008.1.2.4.108") == "video/H265"
    for native in (
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
    ):
        assert frame_media_type(native) is None


def test_deflated_file_decodes() -> None:
    i = inst("image_dfl.dcm")
    assert i.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    assert not i.is_encapsulated
    data = _bytes("image_dfl.dcm")
    assert zlib.crc32(i.native_frame(0)) == zlib.crc32(i.raw_frame(0))
    assert len(data) < len(i.native_frame(0))  # it really was deflated


# ---------------------------------------------------------------- helpers


def _small_dataset(
    *, rows: int, cols: int, bits: int, stored: int | None = None, signed: bool = False, frames: int = 1
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    return ds


def _to_bytes(ds: Dataset) -> bytes:
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
