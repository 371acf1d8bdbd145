"""Rendered frames and thumbnails: the grayscale and colour pipelines of PS3.4 N.2 as JPEG/PNG/GIF.

Grayscale: Modality LUT (PS3.3 C.11.1: Rescale Slope/Intercept or Modality LUT Sequence), VOI
(C.11.2: a requested window, else the header's first window with its VOI LUT Function, else the
VOI LUT Sequence, else the frame's value range), then polarity (MONOCHROME1, Presentation LUT
Shape INVERSE, C.11.6) to 8 bits. For integer data up to 16 bits the whole chain is folded into
one lookup table indexed by the stored bit pattern, applied with ``np.take``.
Colour: RGB (YBR converted by the decoder), PALETTE COLOR through its palette (C.7.9), scaled to 8
bits. Then the source region and viewport of PS3.18 8.3.5.1.3, then encoding.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut

from vetpacs.errors import Invalid
from vetpacs.imaging.frames import PixelInstance

RENDERED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif")
WINDOW_FUNCTIONS = ("linear", "linear-exact", "sigmoid")
DEFAULT_JPEG_QUALITY = 90
_LUT_CHUNK = 1 << 16  # pixels per np.take call: keeps the index temporaries in cache

Array = np.ndarray[Any, Any]


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Invalid(f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise Invalid(f"{what} is not a finite number: {text!r}")
    return value


@dataclass(frozen=True)
class Viewport:
    """The ``viewport`` rendering parameter ``vw,vh[,sx,sy,sw,sh]`` (PS3.18 8.3.5.1.3).

    ``width`` x ``height`` is the box the output must fit (aspect ratio kept); ``sx,sy,sw,sh`` select
    a source region in image pixels (defaults: the whole image from ``sx,sy``); a negative ``sw`` or
    ``sh`` flips the region horizontally or vertically.
    """

    width: int
    height: int
    sx: float | None = None
    sy: float | None = None
    sw: float | None = None
    sh: float | None = None

    @classmethod
    def parse(cls, text: str) -> Viewport:
        """Parse ``vw,vh`` or ``vw,vh,sx,sy,sw,sh`` (empty source values take their default)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 6):
            raise Invalid(f"viewport needs vw,vh or vw,vh,sx,sy,sw,sh: {text!r}")
        size: list[int] = []
        for name, part in zip(("vw", "vh"), parts[:2], strict=True):
            if not part.isdigit() or int(part) <= 0:
                raise Invalid(f"viewport {name} must be a positive integer: {part!r}")
            size.append(int(part))
        region: list[float | None] = [None, None, None, None]
        for k, (name, part) in enumerate(zip(("sx", "sy", "sw", "sh"), parts[2:], strict=False)):
            value = None if part == "" else _number(part, f"viewport {name}")
            if value is not None and k < 2 and value < 0:
                raise Invalid(f"viewport {name} must not be negative: {value}")
            if value is not None and k >= 2 and value == 0:
                raise Invalid(f"viewport {name} must not be zero")
            region[k] = value
        return cls(size[0], size[1], *region)


@dataclass(frozen=True)
class Window:
    """The ``window`` rendering parameter ``center,width[,function]`` (PS3.18 8.3.5.1.4).

    ``function`` is ``linear`` (PS3.3 C.11.2.1.2.1), ``linear-exact`` (C.11.2.1.3.2) or ``sigmoid``
    (C.11.2.1.3.1).
    """

    center: float
    width: float
    function: str = "linear"

    def __post_init__(self) -> None:
        """Reject a width that is not positive or an unknown function."""
        if not self.width > 0:
            raise Invalid(f"window width must be greater than 0: {self.width}")
        if self.function not in WINDOW_FUNCTIONS:
            raise Invalid(f"window function must be one of {', '.join(WINDOW_FUNCTIONS)}: {self.function!r}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """Parse ``center,width`` or ``center,width,function`` (function case-insensitive)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise Invalid(f"window needs center,width[,function]: {text!r}")
        center = _number(parts[0], "window center")
        width = _number(parts[1], "window width")
        function = parts[2].lower().replace("_", "-") if len(parts) == 3 and parts[2] else "linear"
        return cls(center, width, function)


# ------------------------------------------------------------------ VOI functions (PS3.3 C.11.2)


def voi_linear(x: Array, center: float, width: float) -> Array:
    """LINEAR window to [0, 1] (PS3.3 C.11.2.1.2.1); widths below 1 become a threshold at c - 0.5."""
    x = np.asarray(x, np.float64)
    if width <= 1:
        return (x > center - 0.5).astype(np.float64)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0)


def voi_linear_exact(x: Array, center: float, width: float) -> Array:
    """LINEAR_EXACT window to [0, 1] (PS3.3 C.11.2.1.3.2)."""
    y = (np.asarray(x, np.float64) - center) / width + 0.5
    return np.clip(y, 0.0, 1.0)


def voi_sigmoid(x: Array, center: float, width: float) -> Array:
    """SIGMOID window to [0, 1] (PS3.3 C.11.2.1.3.1)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-4.0 * (np.asarray(x, np.float64) - center) / width))


_VOI = {"linear": voi_linear, "linear-exact": voi_linear_exact, "sigmoid": voi_sigmoid}


def _to8(unit: Array) -> Array:
    """[0, 1] floats to 8-bit output values (rounded)."""
    out: Array = np.rint(unit * 255.0).astype(np.uint8)
    return out


# ------------------------------------------------------------------ header lookups


def _frame_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """The functional group item ``sequence`` for frame ``index`` (PS3.3 C.7.6.16), if any."""
    for groups, pick in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if seq and pick < len(seq):
            inner = seq[pick].get(sequence)
            if inner:
                item: Dataset = inner[0]
                return item
    return None


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        if not len(value):
            return None
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _modality(values: Array, ds: Dataset, index: int) -> Array:
    """Apply the Modality LUT stage (PS3.3 C.11.1) to stored values."""
    seq = ds.get("ModalityLUTSequence")
    if seq:
        item = seq[0]
        desc = [int(v) for v in item.LUTDescriptor]
        n = desc[0] or 65536
        lut = np.asarray(_lut_data(item), np.float64)[:n]
        pos = np.clip(values.astype(np.int64) - desc[1], 0, len(lut) - 1)
        out: Array = lut[pos]
        return out
    src: Dataset = _frame_item(ds, index, "PixelValueTransformationSequence") or ds
    slope = _first(src.get("RescaleSlope"))
    intercept = _first(src.get("RescaleIntercept"))
    if slope is None and intercept is None:
        return values.astype(np.float64)
    return values.astype(np.float64) * (1.0 if slope is None else slope) + (intercept or 0.0)


def _lut_data(item: Dataset) -> Array:
    elem = item["LUTData"]
    data = elem.value
    if isinstance(data, bytes | bytearray):
        bits = int(item.LUTDescriptor[2])
        return np.frombuffer(data, "<u2" if bits > 8 or elem.VR == "OW" else "u1")
    return np.asarray(data if isinstance(data, list | tuple) or hasattr(data, "__len__") else [data])


def _header_window(ds: Dataset, index: int) -> Window | None:
    src: Dataset = _frame_item(ds, index, "FrameVOILUTSequence") or ds
    center, width = _first(src.get("WindowCenter")), _first(src.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    function = str(src.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    name = {"LINEAR": "linear", "LINEAR_EXACT": "linear-exact", "SIGMOID": "sigmoid"}.get(function, "linear")
    return Window(center, width, name)


def _voi(
    values: Array, ds: Dataset, index: int, window: Window | None, value_range: tuple[float, float]
) -> Array:
    """Apply the VOI stage (PS3.3 C.11.2) to modality values, to [0, 1]."""
    win = window or _header_window(ds, index)
    if win is not None:
        return _VOI[win.function](values, win.center, win.width)
    seq = ds.get("VOILUTSequence")
    if seq:
        item = seq[0]
        desc = [int(v) for v in item.LUTDescriptor]
        lut = np.asarray(_lut_data(item), np.float64)[: desc[0] or 65536]
        top = max(float((1 << desc[2]) - 1), float(lut.max()) if lut.size else 1.0)
        pos = np.clip(np.rint(values).astype(np.int64) - desc[1], 0, len(lut) - 1)
        out: Array = lut[pos] / (top or 1.0)
        return out
    lo, hi = value_range
    if hi <= lo:
        return np.full(values.shape, 0.5 if hi == lo else 0.0)
    return voi_linear_exact(values, (lo + hi) / 2.0, hi - lo)


def _inverted(ds: Dataset) -> bool:
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    return pi == "MONOCHROME1" or (pi == "MONOCHROME2" and shape == "INVERSE")


# ------------------------------------------------------------------ grayscale and colour to 8 bits


def _gray_lut(inst: PixelInstance, index: int, raw: Array, window: Window | None) -> Array:
    """One lookup table from raw bit pattern to 8-bit output: mask/sign, modality, VOI, polarity."""
    ds = inst.dataset
    bits = raw.dtype.itemsize * 8
    patterns = np.arange(1 << bits, dtype=np.int64)
    stored = patterns & ((1 << inst.bits_stored) - 1)
    if inst.pixel_representation == 1:
        half = 1 << (inst.bits_stored - 1)
        stored = np.where(stored >= half, stored - (1 << inst.bits_stored), stored)
    modality = _modality(stored, ds, index)
    value_range = (0.0, 0.0)
    if window is None and _header_window(ds, index) is None and not ds.get("VOILUTSequence"):
        lo_raw, hi_raw = int(raw.min()), int(raw.max())
        if inst.pixel_representation == 0 and hi_raw < (1 << inst.bits_stored):
            used = modality[lo_raw : hi_raw + 1]  # stored values are the patterns themselves
        else:
            counts = np.bincount(raw.reshape(-1), minlength=1 << bits)
            used = modality[np.flatnonzero(counts)]
        value_range = (float(used.min()), float(used.max()))
    unit = _voi(modality, ds, index, window, value_range)
    if _inverted(ds):
        unit = 1.0 - unit
    return _to8(unit)


def _apply_lut(lut: Array, raw: Array) -> Array:
    out = np.empty(raw.shape, np.uint8)
    if raw.flags.c_contiguous:
        src, dst = raw.reshape(-1), out.reshape(-1)
        for start in range(0, src.size, _LUT_CHUNK):
            np.take(lut, src[start : start + _LUT_CHUNK], out=dst[start : start + _LUT_CHUNK])
    else:
        step = max(1, _LUT_CHUNK // max(1, raw.shape[1]))
        for start in range(0, raw.shape[0], step):
            np.take(lut, raw[start : start + step], out=out[start : start + step])
    return out


def _gray_float(inst: PixelInstance, index: int, values: Array, window: Window | None) -> Array:
    """The grayscale pipeline over the whole frame in floating point (32-bit and float data)."""
    ds = inst.dataset
    modality = _modality(values, ds, index)
    value_range = (float(modality.min()), float(modality.max())) if modality.size else (0.0, 0.0)
    unit = _voi(modality, ds, index, window, value_range)
    if _inverted(ds):
        unit = 1.0 - unit
    return _to8(unit)


def _color8(arr: Array, bits_stored: int) -> Array:
    """Colour samples to 8 bits (the top 8 of the stored bits)."""
    if arr.dtype == np.uint8:
        return arr
    shift = max(0, bits_stored - 8)
    out: Array = np.clip(arr.astype(np.int64) >> shift, 0, 255).astype(np.uint8)
    return out


def display_array(inst: PixelInstance, index: int, window: Window | None = None, region: Any = None) -> Array:
    """Frame ``index`` as 8-bit display values: (rows, cols) grayscale or (rows, cols, 3) RGB.

    ``region`` is an optional ``(slice_rows, slice_cols)`` crop applied before the lookup table.
    """
    pi = inst.photometric_interpretation
    crop = region if region is not None else (slice(None), slice(None))
    if pi in ("MONOCHROME1", "MONOCHROME2") and inst.samples_per_pixel == 1:
        raw = inst.stored_view(index) if inst.bits_allocated in (8, 16) else None
        if raw is None and inst.bits_allocated in (8, 16) and inst.is_encapsulated:
            decoded = inst.array(index)
            raw = decoded.view(decoded.dtype.str.replace("i", "u"))
        if raw is not None and raw.dtype.itemsize <= 2:
            lut = _gray_lut(inst, index, raw, window)
            return _apply_lut(lut, raw[crop])
        values = inst.array(index)
        if inst.bits_allocated == 1:
            on = values[crop] > 0
            out: Array = (on != _inverted(inst.dataset)).astype(np.uint8) * np.uint8(255)
            return out
        return _gray_float(inst, index, values, window)[crop]
    if pi == "PALETTE COLOR":
        values = inst.array(index)[crop]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                rgb = apply_color_lut(values, inst.dataset)
            except Exception as exc:  # a missing or malformed palette
                raise Invalid(f"cannot apply the palette: {exc}") from exc
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8).astype(np.uint8)
        return rgb[..., :3]
    arr = inst.array(index)
    if arr.ndim == 2:  # unknown single-sample interpretation: show it as grayscale
        return _gray_float(inst, index, arr, window)[crop]
    return _color8(arr[crop][..., :3], inst.bits_stored)


# ------------------------------------------------------------------ viewport and encoding


def _region(viewport: Viewport | None, rows: int, cols: int) -> tuple[float, float, float, float, bool, bool]:
    """The source region (x0, y0, x1, y1) in pixels and the flips (PS3.18 8.3.5.1.3)."""
    if viewport is None:
        return 0.0, 0.0, float(cols), float(rows), False, False
    sx, sy = viewport.sx or 0.0, viewport.sy or 0.0
    sw = viewport.sw if viewport.sw is not None else cols - sx
    sh = viewport.sh if viewport.sh is not None else rows - sy
    x0, x1 = sorted((sx, sx + sw))
    y0, y1 = sorted((sy, sy + sh))
    x0, x1 = max(0.0, x0), min(float(cols), x1)
    y0, y1 = max(0.0, y0), min(float(rows), y1)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise Invalid(f"the viewport's source region lies outside the {cols} x {rows} image")
    return x0, y0, x1, y1, sw < 0, sh < 0


def fit(width: float, height: float, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest size with the aspect ratio of ``width x height`` that fits ``box_w x box_h``."""
    scale = min(box_w / width, box_h / height)
    return max(1, min(box_w, round(width * scale))), max(1, min(box_h, round(height * scale)))


def _encode(img: Image.Image, media_type: str, quality: int | None) -> bytes:
    buf = BytesIO()
    if media_type == "image/jpeg":
        img.save(buf, "JPEG", quality=quality or DEFAULT_JPEG_QUALITY)
    elif media_type == "image/png":
        # zlib level 1 with the RLE strategy: fastest here, and smaller than the default strategy
        img.save(buf, "PNG", compress_level=1, compress_type=zlib.Z_RLE, optimize=False)
    else:
        if img.mode == "RGB":
            img = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        img.save(buf, "GIF")
    return buf.getvalue()


def render_frame(
    inst: PixelInstance,
    index: int,
    *,
    media_type: str = "image/jpeg",
    window: Window | None = None,
    viewport: Viewport | None = None,
    quality: int | None = None,
) -> bytes:
    """Render frame ``index`` (0-based) as a JPEG, PNG or GIF (PS3.18 8.3.5, pipeline PS3.4 N.2).

    Raises :class:`~vetpacs.errors.NotFound` for a frame out of range, :class:`Invalid` for bad
    parameters or undecodable data, :class:`~vetpacs.errors.Unsupported` for data without a decoder.
    """
    if media_type not in RENDERED_MEDIA_TYPES:
        raise Invalid(f"cannot render as {media_type!r}; use one of {', '.join(RENDERED_MEDIA_TYPES)}")
    if quality is not None and not 1 <= quality <= 100:
        raise Invalid(f"quality must be between 1 and 100: {quality}")
    rows, cols = inst.rows, inst.columns
    x0, y0, x1, y1, flip_x, flip_y = _region(viewport, rows, cols)
    # crop whole pixels before the lookup table, keep the fractional part for the resize
    ix0, iy0, ix1, iy1 = math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)
    cropped = (ix0, iy0, ix1, iy1) != (0, 0, cols, rows)
    region = (slice(iy0, iy1), slice(ix0, ix1)) if cropped else None
    pixels = display_array(inst, index, window, region)
    img = Image.fromarray(np.ascontiguousarray(pixels))
    box = (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)
    src_w, src_h = x1 - x0, y1 - y0
    size = fit(src_w, src_h, viewport.width, viewport.height) if viewport else (round(src_w), round(src_h))
    if size != img.size or box != (0, 0, img.width, img.height):
        img = img.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=2.0)
    if flip_x:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip_y:
        img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return _encode(img, media_type, quality)


def render_thumbnail(inst: PixelInstance, *, size: int = 128, media_type: str = "image/jpeg") -> bytes:
    """Render the middle frame to fit ``size`` x ``size``, keeping the aspect ratio."""
    if size <= 0:
        raise Invalid(f"thumbnail size must be positive: {size}")
    return render_frame(
        inst, inst.number_of_frames // 2, media_type=media_type, viewport=Viewport(size, size), quality=85
    )
