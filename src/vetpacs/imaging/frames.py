"""Opening stored instances for pixel access: frames as stored, decoded and as arrays.

Implements frame extraction for native (PS3.5 8.1.1) and encapsulated (PS3.5 A.4) Pixel Data,
decoding through pydicom 3's decoders (pylibjpeg plugins for JPEG, JPEG-LS, JPEG 2000, RLE), and
the compressed frame media types of PS3.18 Table 8.7.3-2.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from functools import cached_property
from io import BytesIO
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pack_bits
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from vetpacs.errors import Invalid, NotFound, Unsupported

#: Transfer syntaxes whose Pixel Data is native little endian once the dataset is read.
NATIVE_LE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})

_JPEG = "image/jpeg"
_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": _JPEG,  # baseline (process 1)
    "1.2.840.10008.1.2.4.51": _JPEG,  # extended (process 2 and 4)
    "1.2.840.10008.1.2.4.57": _JPEG,  # lossless (process 14)
    "1.2.840.10008.1.2.4.70": _JPEG,  # lossless SV1
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": "image/jphc",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": "image/jphc",  # HTJ2K
    "1.2.840.10008.1.2.4.110": "image/jxl",  # JPEG XL lossless
    "1.2.840.10008.1.2.4.111": "image/jxl",  # JPEG XL JPEG recompression
    "1.2.840.10008.1.2.4.112": "image/jxl",  # JPEG XL
    "1.2.840.10008.1.2.5": "image/x-dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg",
    "1.2.840.10008.1.2.4.100.1": "video/mpeg",
    "1.2.840.10008.1.2.4.101": "video/mpeg",
    "1.2.840.10008.1.2.4.101.1": "video/mpeg",
    **{f"1.2.840.10008.1.2.4.{n}{f}": "video/mp4" for n in range(102, 107) for f in ("", ".1")},
    "1.2.840.10008.1.2.4.107": "video/H265",
    "1.2.840.10008.1.2.4.108": "video/H265",
}

_CODEC_NAMES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "JPEG baseline",
    "1.2.840.10008.1.2.4.51": "JPEG extended",
    "1.2.840.10008.1.2.4.57": "JPEG lossless",
    "1.2.840.10008.1.2.4.70": "JPEG lossless",
    "1.2.840.10008.1.2.4.80": "JPEG-LS",
    "1.2.840.10008.1.2.4.81": "JPEG-LS",
    "1.2.840.10008.1.2.4.90": "JPEG 2000",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2",
    "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2",
    "1.2.840.10008.1.2.4.201": "HTJ2K",
    "1.2.840.10008.1.2.4.202": "HTJ2K",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
    "1.2.840.10008.1.2.5": "RLE",
}


def frame_media_type(transfer_syntax_uid: str) -> str | None:
    """The media type of one compressed frame in this transfer syntax (PS3.18 Table 8.7.3-2).

    None for native syntaxes (implicit/explicit little endian, big endian, deflated): their frames
    are served as ``application/octet-stream`` in Explicit VR Little Endian after decoding.
    """
    return _MEDIA_TYPES.get(transfer_syntax_uid.strip())


def codec_name(transfer_syntax_uid: str) -> str:
    """A short human name of the codec used by this transfer syntax, for error messages."""
    uid = UID(transfer_syntax_uid)
    return _CODEC_NAMES.get(uid, uid.name if uid.is_transfer_syntax else transfer_syntax_uid)


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if isinstance(value, list | tuple):  # a multi-valued IS or US: the first value counts
        value = value[0] if value else default
    if value is None or value == "":
        if default is None:
            raise Invalid(f"the image has no {keyword}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{keyword} is not an integer: {value!r}") from None


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid:
        return UID(str(tsuid).strip("\x00 "))
    implicit, little = ds.original_encoding
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


class PixelInstance:
    """One stored instance opened for pixel access (PS3.3 C.7.6.3 Image Pixel module).

    Frames are addressed 0-based. The dataset is read once; frames are cut out or decoded on demand.
    Instances are not shared between threads by the callers, but every method is read-only on the
    parsed dataset, so sharing one is harmless.
    """

    def __init__(self, ds: Dataset, transfer_syntax_uid: str) -> None:
        """Wrap a dataset that holds Pixel Data; prefer :meth:`from_bytes`."""
        if "PixelData" not in ds:
            kind = "Float Pixel Data" if ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds) else ""
            if kind:
                raise Unsupported(f"{kind} is not supported")
            raise Invalid("the instance has no Pixel Data")
        self.dataset = ds
        self.transfer_syntax_uid: str = str(transfer_syntax_uid)
        self._uid = UID(self.transfer_syntax_uid)
        self.sop_instance_uid: str = str(ds.get("SOPInstanceUID", ""))
        self.rows: int = _int(ds, "Rows")
        self.columns: int = _int(ds, "Columns")
        self.samples_per_pixel: int = _int(ds, "SamplesPerPixel", 1)
        self.bits_allocated: int = _int(ds, "BitsAllocated")
        self.bits_stored: int = _int(ds, "BitsStored", self.bits_allocated)
        self.pixel_representation: int = _int(ds, "PixelRepresentation", 0)
        self.planar_configuration: int = _int(ds, "PlanarConfiguration", 0)
        self.photometric_interpretation: str = str(ds.get("PhotometricInterpretation", "")).strip()
        frames = _int(ds, "NumberOfFrames", 1)
        self.number_of_frames: int = frames if frames > 0 else 1
        if self.rows <= 0 or self.columns <= 0:
            raise Invalid(f"the image is {self.rows} x {self.columns} pixels")
        if self.bits_allocated not in (1, 8, 16, 32, 64) or self.samples_per_pixel not in (1, 3, 4):
            raise Invalid(
                f"unsupported pixel layout: BitsAllocated {self.bits_allocated}, "
                f"SamplesPerPixel {self.samples_per_pixel}"
            )
        if not 1 <= self.bits_stored <= self.bits_allocated:
            raise Invalid(f"BitsStored {self.bits_stored} does not fit BitsAllocated {self.bits_allocated}")
        self._pixel_data: bytes = ds.PixelData
        if self._uid.is_transfer_syntax:
            self.is_encapsulated: bool = self._uid.is_encapsulated
        else:
            self.is_encapsulated = self._pixel_data[:4] == b"\xfe\xff\x00\xe0"

    @classmethod
    def from_bytes(cls, data: bytes) -> PixelInstance:
        """Parse Part 10 bytes as stored (PS3.10 7.1); :class:`Invalid` if unreadable or without pixels."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(BytesIO(data), force=True)
                tsuid = _transfer_syntax(ds)
                # Touch the pixel element so that reading errors (truncation) surface here.
                _ = ds.get("PixelData")
        except (
            InvalidDicomError,
            EOFError,
            ValueError,
            KeyError,
            TypeError,
            struct.error,
            zlib.error,
        ) as exc:
            raise Invalid(f"not a readable DICOM instance: {exc}") from exc
        except Exception as exc:  # pydicom raises many kinds on malformed input
            raise Invalid(f"not a readable DICOM instance: {type(exc).__name__}: {exc}") from exc
        if not isinstance(ds.get("PixelData", b""), bytes | bytearray):
            raise Invalid("the Pixel Data element could not be read")
        return cls(ds, tsuid)

    # ------------------------------------------------------------------ frame layout

    @property
    def is_native_little_endian(self) -> bool:
        """True when the Pixel Data is native little endian (frames can be viewed without decoding)."""
        return not self.is_encapsulated and self._uid in NATIVE_LE

    @property
    def native_photometric_interpretation(self) -> str:
        """The Photometric Interpretation of :meth:`native_frame` bytes.

        Decoded YBR_* frames of encapsulated data come out as RGB (pydicom converts them, or the
        JPEG 2000 decoder reverses the RCT/ICT); native data keeps its stored interpretation.
        """
        pi = self.photometric_interpretation
        if self.is_encapsulated and pi.startswith("YBR"):
            return "RGB"
        return pi

    @property
    def native_planar_configuration(self) -> int:
        """The Planar Configuration of :meth:`native_frame` bytes (0 for decoded encapsulated frames)."""
        if self.is_encapsulated or self.samples_per_pixel == 1:
            return 0
        return self.planar_configuration

    @cached_property
    def frame_length(self) -> int:
        """Bytes of one native frame (bits for BitsAllocated 1 are rounded up per frame)."""
        samples = self.samples_per_pixel
        if self.photometric_interpretation == "YBR_FULL_422" and samples == 3:
            samples = 2  # two luma and two chroma values per pixel pair (PS3.3 C.7.6.3.1.2)
        bits = self.rows * self.columns * samples * self.bits_allocated
        return (bits + 7) // 8

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.number_of_frames:
            raise NotFound(f"frame {index + 1} does not exist (the instance has {self.number_of_frames})")

    def raw_frame(self, index: int) -> bytes:
        """Frame ``index`` (0-based) in its stored encoding.

        Native data: the frame's slice of Pixel Data (in the stored byte order). Encapsulated data:
        the frame's codestream joined from its fragments (PS3.5 A.4), found through the Basic or
        Extended Offset Table, or the fragment layout when both are empty.
        """
        self._check_index(index)
        if self.is_encapsulated:
            return self._encapsulated_frame(index)
        pd = self._pixel_data
        if self.bits_allocated == 1 and (self.rows * self.columns * self.samples_per_pixel) % 8:
            return self._bit_frame(index)
        start = index * self.frame_length
        end = start + self.frame_length
        if end > len(pd):
            raise Invalid(
                f"Pixel Data is truncated: {len(pd)} bytes, frame {index + 1} needs bytes {start}-{end}"
            )
        return bytes(pd[start:end])

    def _bit_frame(self, index: int) -> bytes:
        per_frame = self.rows * self.columns * self.samples_per_pixel
        start, end = index * per_frame, (index + 1) * per_frame
        pd = self._pixel_data
        if (end + 7) // 8 > len(pd):
            raise Invalid(f"Pixel Data is truncated: {len(pd)} bytes for {self.number_of_frames} frames")
        bits = np.unpackbits(np.frombuffer(pd, np.uint8), bitorder="little")[start:end]
        return np.packbits(bits, bitorder="little").tobytes()

    def _encapsulated_frame(self, index: int) -> bytes:
        ds = self.dataset
        extended: tuple[bytes, bytes] | None = None
        if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
            extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        try:
            return get_frame(
                self._pixel_data, index, number_of_frames=self.number_of_frames, extended_offsets=extended
            )
        except (ValueError, EOFError, IndexError, KeyError, struct.error) as exc:
            raise Invalid(f"cannot find frame {index + 1} in the encapsulated Pixel Data: {exc}") from exc

    # ------------------------------------------------------------------ decoding

    def native_frame(self, index: int) -> bytes:
        """Frame ``index`` as uncompressed Explicit VR Little Endian bytes (PS3.5 8.1.1).

        For native little-endian data this is :meth:`raw_frame`. Big-endian data is byte-swapped,
        keeping its photometric interpretation and planar configuration. Encapsulated data is
        decoded; see :attr:`native_photometric_interpretation` and
        :attr:`native_planar_configuration` for the layout of the result.
        """
        if self.is_native_little_endian:
            return self.raw_frame(index)
        self._check_index(index)
        if self.is_encapsulated:
            arr = self.array(index)
        else:
            arr = self._decode(index, raw=True)
            if self.bits_allocated == 1:
                return pack_bits(arr)
            if self.samples_per_pixel > 1 and self.planar_configuration == 1:
                arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
        return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()

    def array(self, index: int) -> np.ndarray[Any, Any]:
        """Frame ``index`` decoded: shape (Rows, Columns) or (Rows, Columns, Samples).

        Values are the stored values (BitsStored masked, sign-extended when PixelRepresentation
        is 1); YBR_FULL and YBR_FULL_422 are converted to RGB as pydicom does. Native little-endian
        monochrome, palette and RGB data are read as a numpy view, without pydicom's decoder.
        """
        self._check_index(index)
        if self.is_native_little_endian and self.bits_allocated in (8, 16, 32):
            arr = self.stored_view(index)
            if arr is not None:
                return _stored_values(arr, self.bits_stored, self.pixel_representation)
        return self._decode(index, raw=False)

    def stored_view(self, index: int) -> np.ndarray[Any, Any] | None:
        """A zero-copy view of native little-endian frame ``index`` as unsigned integers, or None.

        The values are the raw bit patterns (no BitsStored masking nor sign extension); renderers
        index lookup tables with them. None when the layout needs pydicom (YBR, 1-bit, planar
        YBR, other byte orders or compression).
        """
        self._check_index(index)
        if not self.is_native_little_endian or self.bits_allocated not in (8, 16, 32):
            return None
        if self.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB"):
            return None
        start = index * self.frame_length
        if start + self.frame_length > len(self._pixel_data):
            raise Invalid(
                f"Pixel Data is truncated: {len(self._pixel_data)} bytes, frame {index + 1} "
                f"needs {start + self.frame_length}"
            )
        dtype = np.dtype(f"<u{self.bits_allocated // 8}")
        count = self.rows * self.columns * self.samples_per_pixel
        flat = np.frombuffer(self._pixel_data, dtype, count=count, offset=start)
        if self.samples_per_pixel == 1:
            return flat.reshape(self.rows, self.columns)
        if self.planar_configuration == 1:
            return flat.reshape(self.samples_per_pixel, self.rows, self.columns).transpose(1, 2, 0)
        return flat.reshape(self.rows, self.columns, self.samples_per_pixel)

    def _decode(self, index: int, *, raw: bool) -> np.ndarray[Any, Any]:
        try:
            decoder = get_decoder(self._uid)
        except NotImplementedError:
            raise Unsupported(f"no decoder for transfer syntax {self.transfer_syntax_uid}") from None
        meta = self.dataset.file_meta  # pydicom's decoders read the syntax from the file meta
        if meta.get("TransferSyntaxUID") != self._uid:
            meta.TransferSyntaxUID = self._uid
        if not decoder.is_available:
            raise Unsupported(f"no {codec_name(self._uid)} decoder is installed") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr, _meta = decoder.as_array(self.dataset, index=index, raw=raw)
        except Exception as exc:  # codecs raise RuntimeError, ValueError and their own kinds
            what = codec_name(self._uid) if self.is_encapsulated else "Pixel Data"
            verb = "decoder failed" if self.is_encapsulated else "cannot be read"
            raise Invalid(f"{what} {verb}: {exc}") from exc
        if arr.ndim == 3 and self.samples_per_pixel == 1:  # a single frame came back as a stack
            arr = arr[0]
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr


def _stored_values(
    arr: np.ndarray[Any, Any], bits_stored: int, pixel_representation: int
) -> np.ndarray[Any, Any]:
    """Stored pixel values from raw unsigned bit patterns (PS3.5 8.1.1: BitsStored, sign)."""
    bits = arr.dtype.itemsize * 8
    if pixel_representation == 0:
        if bits_stored >= bits:
            return arr
        masked: np.ndarray[Any, Any] = arr & arr.dtype.type((1 << bits_stored) - 1)
        return masked
    signed: np.ndarray[Any, Any] = arr.view(arr.dtype.str.replace("u", "i"))
    if bits_stored >= bits:
        return signed
    shift = bits - bits_stored
    extended: np.ndarray[Any, Any] = (signed << shift) >> shift
    return extended
