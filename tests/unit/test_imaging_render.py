"""Rendered frames: windowing maths, polarity, rescale, palette, YBR, viewport, encodings."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.pixels.processing import apply_color_lut
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vetpacs.errors import Invalid, NotFound, Unsupported
from vetpacs.imaging import (
    RENDERED_MEDIA_TYPES,
    PixelInstance,
    Viewport,
    Window,
    render_frame,
    render_thumbnail,
)
from vetpacs.imaging.render import fit, voi_linear, voi_linear_exact, voi_sigmoid


def _file(name: str) -> PixelInstance:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    with open(str(path), "rb") as fh:
        return PixelInstance.from_bytes(fh.read())


def _image(
    values: Any,
    *,
    signed: bool = False,
    bits: int = 16,
    stored: int | None = None,
    pi: str = "MONOCHROME2",
    **attrs: Any,
) -> PixelInstance:
    arr = np.asarray(values, dtype=f"<{'i' if signed else 'u'}{bits // 8}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = arr.shape[-2], arr.shape[-1]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = pi
    ds.BitsAllocated = bits
    ds.BitsStored = stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = arr.tobytes()
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return PixelInstance.from_bytes(buf.getvalue())


def _png(inst: PixelInstance, index: int = 0, **kw: Any) -> np.ndarray[Any, Any]:
    data = render_frame(inst, index, media_type="image/png", **kw)
    assert data.startswith(b"\x89PNG")
    return np.asarray(Image.open(BytesIO(data)))


# ------------------------------------------------------------------ windowing maths (PS3.3 C.11.2)


def test_linear_window_hand_computed() -> None:
    # c=40, w=400: bottom edge c - 0.5 - (w-1)/2 = -160, top edge c - 0.5 + (w-1)/2 = 239
    x = np.array([-200, -160, -60, 40, 239, 240])
    y = voi_linear(x, 40, 400) * 255
    # ((x - 39.5) / 399 + 0.5) * 255 for the inner points
    assert np.allclose(y, [0, 0, 63.9097744, 127.8195489, 255, 255])


def test_linear_exact_window_hand_computed() -> None:
    y = voi_linear_exact(np.array([-60, -50, -25, 0, 25, 50, 60]), 0, 100) * 255
    assert np.allclose(y, [0, 0, 63.75, 127.5, 191.25, 255, 255])


def test_sigmoid_window_hand_computed() -> None:
    y = voi_sigmoid(np.array([-25, 0, 25]), 0, 100) * 255
    # 255 / (1 + exp(-4 (x - c) / w)): exp(1) = 2.718281828
    assert np.allclose(y, [255 / (1 + 2.718281828), 127.5, 255 / (1 + 1 / 2.718281828)])


def test_render_linear_window_with_rescale() -> None:
    # CT: HU = stored - 1024; window 40/400 as requested
    hu = np.array([-200, -160, -60, 40, 239, 240])
    inst = _image(hu + 1024, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=0, WindowWidth=10)
    out = _png(inst, window=Window(40, 400))
    assert out.tolist() == [[0, 0, 64, 128, 255, 255]]


def test_rescale_slope_is_applied() -> None:
    inst = _image([0, 25, 50], RescaleSlope=2, RescaleIntercept=-50)  # values -50, 0, 50
    assert _png(inst, window=Window(0, 200, "linear-exact")).tolist() == [[64, 128, 191]]


def test_header_window_with_voi_lut_function_and_request_wins() -> None:
    inst = _image([975, 1000, 1025], WindowCenter=1000, WindowWidth=100, VOILUTFunction="SIGMOID")
    assert _png(inst).tolist() == [[69, 128, 186]]
    assert _png(inst, window=Window(1000, 100, "linear-exact")).tolist() == [[64, 128, 191]]


def test_first_of_several_header_windows() -> None:
    inst = _image(
        [0, 50, 100], WindowCenter=[50, 500], WindowWidth=[100, 1000], VOILUTFunction="LINEAR_EXACT"
    )
    assert _png(inst).tolist() == [[0, 128, 255]]


def test_without_window_the_frame_range_is_used() -> None:
    inst = _image([[100, 150, 200]], signed=True, stored=12)
    assert _png(inst).tolist() == [[0, 128, 255]]
    neg = _image([-100, 0, 100], signed=True)
    assert _png(neg).tolist() == [[0, 128, 255]]


def test_voi_lut_sequence() -> None:
    item = Dataset()
    item.LUTDescriptor = [4, 10, 8]
    item.add_new(0x00283006, "US", [0, 200, 100, 255])  # LUT Data
    inst = _image([9, 10, 11, 12, 13, 14], VOILUTSequence=Sequence([item]))
    assert _png(inst).tolist() == [[0, 0, 200, 100, 255, 255]]


def test_monochrome1_is_inverted() -> None:
    m2 = _image([0, 50, 100], WindowCenter=50, WindowWidth=100, VOILUTFunction="LINEAR_EXACT")
    m1 = _image(
        [0, 50, 100], pi="MONOCHROME1", WindowCenter=50, WindowWidth=100, VOILUTFunction="LINEAR_EXACT"
    )
    assert _png(m2).tolist() == [[0, 128, 255]]
    assert _png(m1).tolist() == [[255, 128, 0]]  # inverted before rounding: 1 - 0.5


def test_monochrome1_radiograph_has_white_bone() -> None:
    inst = _file("RG1_UNCR.dcm")  # MONOCHROME1 CR: low stored values (bone) must render bright
    out = _png(inst, viewport=Viewport(256, 256))
    raw = inst.array(0)
    low = raw <= np.percentile(raw, 5)
    high = raw >= np.percentile(raw, 95)
    small = np.asarray(Image.fromarray(low.astype(np.uint8) * 255).resize(out.shape[::-1])) > 128
    small_high = np.asarray(Image.fromarray(high.astype(np.uint8) * 255).resize(out.shape[::-1])) > 128
    assert out[small].mean() > out[small_high].mean() + 100


def test_modality_lut_sequence() -> None:
    inst = _file("mlut_18.dcm")
    out = _png(inst)
    assert out.shape == (512, 512)
    assert out.min() == 0 and out.max() == 255


# ------------------------------------------------------------------ colour


def test_palette_colour_matches_pydicom() -> None:
    inst = _file("OBXXXX1A.dcm")
    ds = dcmread(get_testdata_file("OBXXXX1A.dcm"))
    expected = apply_color_lut(ds.pixel_array, ds)
    if expected.dtype != np.uint8:
        expected = (expected >> 8).astype(np.uint8)
    out = _png(inst)
    assert out.shape == (600, 800, 3)
    np.testing.assert_array_equal(out, expected[..., :3])


def test_palette_colour_16_bit() -> None:
    out = _png(_file("gdcm-US-ALOKA-16.dcm"))
    assert out.shape == (480, 640, 3)
    assert out.std() > 0


def test_ybr_renders_as_rgb() -> None:
    rgb = _png(_file("SC_rgb.dcm")).astype(int)
    for name in ("SC_rgb_jpeg_dcmtk.dcm", "SC_ybr_full_uncompressed.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        out = _png(_file(name)).astype(int)
        assert out.shape == (100, 100, 3)
        assert np.abs(out - rgb).max() <= 6, name


def test_rgb_16_bit_is_scaled_to_8() -> None:
    a, b = _png(_file("SC_rgb.dcm")), _png(_file("SC_rgb_16bit.dcm"))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ------------------------------------------------------------------ frames


def test_multiframe_any_frame() -> None:
    plain, rle = _file("emri_small.dcm"), _file("emri_small_RLE.dcm")
    first, last = _png(plain, 0), _png(plain, 9)
    assert not np.array_equal(first, last)
    np.testing.assert_array_equal(_png(rle, 9), last)
    with pytest.raises(NotFound):
        render_frame(plain, 10)


def test_encapsulated_and_native_render_alike() -> None:
    np.testing.assert_array_equal(_png(_file("MR_small_jp2klossless.dcm")), _png(_file("MR_small.dcm")))
    np.testing.assert_array_equal(_png(_file("MR_small_bigendian.dcm")), _png(_file("MR_small.dcm")))


def test_video_frames_are_unsupported() -> None:
    ds = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"
    ds.PixelData = encapsulate([b"\x00\x00\x00\x01fake h264"])
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    inst = PixelInstance.from_bytes(buf.getvalue())
    assert inst.raw_frame(0).startswith(b"\x00\x00\x00\x01")
    with pytest.raises(Unsupported):
        render_frame(inst, 0)


# ------------------------------------------------------------------ viewport


def test_viewport_parse() -> None:
    assert Viewport.parse("512,256") == Viewport(512, 256)
    assert Viewport.parse("512, 256, 10, 20, 100.5, -50") == Viewport(512, 256, 10, 20, 100.5, -50)
    assert Viewport.parse("64,64,,,10,10") == Viewport(64, 64, None, None, 10, 10)
    for bad in ("", "512", "0,10", "-5,10", "a,b", "10,10,1,2,3", "10,10,-1,0,5,5", "10,10,0,0,0,5", "1.5,2"):
        with pytest.raises(Invalid):
            Viewport.parse(bad)


def test_fit_keeps_aspect() -> None:
    assert fit(2000, 2500, 512, 512) == (410, 512)
    assert fit(2500, 2000, 128, 128) == (128, 102)
    assert fit(64, 64, 256, 128) == (128, 128)


def test_viewport_scales_inside_the_box() -> None:
    inst = _image(np.arange(200 * 100).reshape(100, 200) % 4096)
    assert _png(inst, viewport=Viewport(50, 50)).shape == (25, 50)
    assert _png(inst, viewport=Viewport(400, 400)).shape == (200, 400)


def test_viewport_source_region_and_flip() -> None:
    img = np.zeros((100, 200), np.uint16)
    img[:, 100:] = 1000  # right half bright
    inst = _image(img)
    left = _png(inst, viewport=Viewport(50, 50, 0, 0, 100, 100))
    assert left.shape == (50, 50) and left.max() == 0
    right = _png(inst, viewport=Viewport(50, 50, 100, 0, 100, 100))
    assert right.min() == 255
    # sw negative: the region x in [50, 150) flipped left-right: bright part ends up on the left
    flipped = _png(inst, viewport=Viewport(100, 100, 150, 0, -100, 100))
    assert flipped[:, :40].min() == 255 and flipped[:, 60:].max() == 0
    with pytest.raises(Invalid):
        render_frame(inst, 0, viewport=Viewport(10, 10, 500, 0, 10, 10))


# ------------------------------------------------------------------ parameters and encodings


def test_window_parse() -> None:
    assert Window.parse("40,400") == Window(40.0, 400.0, "linear")
    assert Window.parse("-600, 1500, SIGMOID") == Window(-600.0, 1500.0, "sigmoid")
    assert Window.parse("40,400,LINEAR_EXACT").function == "linear-exact"
    for bad in ("", "40", "40,0", "40,-1", "a,400", "40,400,cubic", "40,400,linear,x", "nan,10", "40,inf"):
        with pytest.raises(Invalid):
            Window.parse(bad)
    with pytest.raises(Invalid):
        Window(1, 0)


def test_media_types_and_quality() -> None:
    inst = _file("CT_small.dcm")
    assert render_frame(inst, 0).startswith(b"\xff\xd8")
    assert render_frame(inst, 0, media_type="image/gif").startswith(b"GIF8")
    assert render_frame(_file("SC_rgb.dcm"), 0, media_type="image/gif").startswith(b"GIF8")
    assert set(RENDERED_MEDIA_TYPES) == {"image/jpeg", "image/png", "image/gif"}
    low = render_frame(inst, 0, quality=5)
    high = render_frame(inst, 0, quality=100)
    assert len(low) < len(high)
    with pytest.raises(Invalid):
        render_frame(inst, 0, media_type="image/webp")
    for q in (0, 101):
        with pytest.raises(Invalid):
            render_frame(inst, 0, quality=q)


def test_thumbnail_middle_frame_fits() -> None:
    thumb = Image.open(BytesIO(render_thumbnail(_file("emri_small.dcm"), size=32, media_type="image/png")))
    assert thumb.size == (32, 32)
    middle = _png(_file("emri_small.dcm"), 5, viewport=Viewport(32, 32))
    np.testing.assert_array_equal(np.asarray(thumb), middle)
    wide = Image.open(BytesIO(render_thumbnail(_file("OBXXXX1A.dcm"))))
    assert wide.size == (128, 96) and wide.format == "JPEG"
    with pytest.raises(Invalid):
        render_thumbnail(_file("CT_small.dcm"), size=0)


def test_bit_packed_and_32_bit_images_render() -> None:
    assert _png(_file("liver.dcm"), 1).shape == (512, 512)
    dose = _png(_file("rtdose.dcm"), 3)
    assert dose.shape == (10, 10) and dose.max() == 255


def test_full_size_radiograph_renders() -> None:
    inst = _file("RG3_UNCR.dcm")
    jpeg = render_frame(inst, 0)
    assert Image.open(BytesIO(jpeg)).size == (1760, 1760)
