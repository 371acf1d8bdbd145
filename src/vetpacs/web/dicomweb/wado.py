"""WADO-RS (PS3.18 10.4) and rendered/thumbnail resources over the archive's retrieve functions."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.filereader import dcmread
from pydicom.tag import Tag

from vetpacs import imaging
from vetpacs.archive.context import Archive
from vetpacs.archive.corrections import apply_to_header_text
from vetpacs.archive.retrieve import (
    InstanceRef,
    StoredInstance,
    local_path,
    read_bytes,
    read_explicit_le,
    read_served_bytes,
)
from vetpacs.errors import Invalid, NotFound
from vetpacs.imaging import PixelInstance, frame_media_type
from vetpacs.web.dicomweb.media import (
    DICOM,
    EXPLICIT_LE,
    OCTET,
    MediaRange,
    closing,
    multipart_content_type,
    new_boundary,
    part_header,
)

log = logging.getLogger("vetpacs.web.dicomweb")
CHUNK = 1 << 20  # file read size; response chunks gather up to 4 of these
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
UNCOMPRESSED = {EXPLICIT_LE, "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


class NotAcceptable(Exception):
    """No representation the client accepts can be produced (HTTP 406)."""


# --------------------------------------------------------------------------- instances (DICOM)


def choose_dicom_syntax(ranges: list[MediaRange]) -> str | None:
    """The transfer syntax asked for in Accept for application/dicom: ``*``, a UID or None (default)."""
    if not ranges:
        return None
    for r in ranges:
        if r.part_type in (DICOM, "*/*", "*", "") or r.type in ("*/*", "multipart/*"):
            return r.transfer_syntax
    raise NotAcceptable('instances are served as multipart/related; type="application/dicom"')


def instance_payload(archive: Archive, ref: InstanceRef, syntax: str | None) -> tuple[str, Path | bytes]:
    """The bytes (or the file holding them) and the syntax to send one instance in.

    ``*`` or the stored syntax: as stored, byte for byte. No syntax named: the PS3.18 default,
    Explicit VR Little Endian (stored bytes when the instance already is). Another syntax: 406.
    """
    stored = ref.transfer_syntax_uid
    if syntax in ("*", stored) or (syntax is None and stored == EXPLICIT_LE):
        if ref.overlay_json:  # a corrected study: its corrected header, the stored pixel data
            return stored, read_served_bytes(archive, ref)
        path = local_path(archive, ref)
        return stored, path if path is not None else read_bytes(archive, ref)
    if syntax in (None, EXPLICIT_LE):
        return EXPLICIT_LE, read_explicit_le(archive, ref)
    raise NotAcceptable(f"transfer syntax {syntax} is not available for {ref.sop_instance_uid}")


def stream_instances(
    archive: Archive, instances: list[StoredInstance], syntax: str | None
) -> tuple[str, Iterator[bytes]]:
    """Content type and body of a multipart/related response of whole instances."""
    boundary = new_boundary()
    # Resolve the first one eagerly so a 406 is raised before the response starts.
    first = instance_payload(archive, instances[0].ref, syntax) if instances else None

    def body() -> Iterator[bytes]:
        # Parts are gathered into chunks of a few MiB: each chunk costs a thread hop and a
        # socket write, so a CT of a hundred small slices must not become four hundred chunks.
        buf = bytearray()
        for i, item in enumerate(instances):
            try:
                ts, payload = first if i == 0 and first else instance_payload(archive, item.ref, syntax)
            except (Invalid, NotAcceptable, NotFound) as exc:
                # The response has started: a part we cannot produce is left out, and said so here
                # (the client counts what came).
                log.warning("WADO-RS: instance %s left out: %s", item.ref.sop_instance_uid, exc)
                continue
            buf += part_header(boundary, f"{DICOM}; transfer-syntax={ts}")
            if isinstance(payload, Path):
                if item.ref.size <= CHUNK * 4:
                    buf += payload.read_bytes()
                else:
                    yield bytes(buf)
                    buf = bytearray()
                    yield from _file_chunks(payload)
            else:
                buf += payload
            buf += b"\r\n"
            if len(buf) >= CHUNK * 4:
                yield bytes(buf)
                buf = bytearray()
        buf += closing(boundary)
        yield bytes(buf)

    ts_param = syntax if syntax not in (None, "*") else None
    return multipart_content_type(DICOM, boundary, ts_param), body()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


# --------------------------------------------------------------------------- metadata


def metadata_json(instances: list[StoredInstance], base_url: str) -> str:
    """The DICOM JSON metadata (PS3.18 10.4.1.1.2) of instances, as one JSON array text.

    Built from the headers kept in the index (no blob is read). Bulk data and pixel data are
    referenced by BulkDataURI under the instance's URL.
    """
    items = []
    for item in instances:
        ref = item.ref
        inst_url = (
            f"{base_url}/studies/{ref.study_instance_uid}/series/{ref.series_instance_uid}"
            f"/instances/{ref.sop_instance_uid}"
        )
        text = item.header_json or "{}"
        if ref.overlay_json:  # a corrected study: the corrected patient-level attributes
            text = apply_to_header_text(text, ref.overlay_json)
        text = text.replace('"BulkDataURI":"bulk:', f'"BulkDataURI":"{inst_url}/bulk/')
        ts = ref.transfer_syntax_uid
        extra = [
            f'"00020010":{{"vr":"UI","Value":["{ts}"]}}',
            f'"00083002":{{"vr":"UI","Value":["{ts}"]}}',
        ]
        if '"00280010"' in text:  # an image: its pixel data is fetched frame by frame
            vr = "OB" if ts not in UNCOMPRESSED else _pixel_vr(text)
            extra.append(f'"7FE00010":{{"vr":"{vr}","BulkDataURI":"{inst_url}/frames"}}')
        text = "{" + ",".join(extra) + ("," + text[1:] if len(text) > 2 else "}")
        items.append(text)
    return "[" + ",".join(items) + "]"


def _pixel_vr(header_text: str) -> str:
    return "OW" if '"00280100":{"vr":"US","Value":[16]}' in header_text else "OB"


# --------------------------------------------------------------------------- frames


class PixelCache:
    """Recently opened instances for frame and rendered requests (a viewer asks frame by frame)."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[PixelInstance, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, archive: Archive, ref: InstanceRef) -> PixelInstance:
        with self._lock:
            hit = self._items.get(ref.sop_instance_uid)
            if hit is not None:
                self._items.move_to_end(ref.sop_instance_uid)
                return hit[0]
        inst = PixelInstance.from_bytes(read_bytes(archive, ref))
        with self._lock:
            if ref.sop_instance_uid not in self._items and ref.size <= self.max_bytes // 4:
                self._items[ref.sop_instance_uid] = (inst, ref.size)
                self._size += ref.size
                while self._size > self.max_bytes and self._items:
                    _, (_, size) = self._items.popitem(last=False)
                    self._size -= size
        return inst


def parse_frame_list(text: str) -> list[int]:
    """``1,3,5`` -> [0, 2, 4] (frame numbers are 1-based in the URL)."""
    out = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece.isdigit() or int(piece) < 1:
            raise Invalid(f"frame numbers are positive integers, not {piece!r}")
        out.append(int(piece) - 1)
    if not out:
        raise Invalid("no frame number given")
    return out


def choose_frame_encoding(ranges: list[MediaRange], stored_ts: str) -> str:
    """``raw`` (frames as stored) or ``native`` (decoded to Explicit VR Little Endian bytes).

    PS3.18 8.7.3.5: ``transfer-syntax=*`` or the stored syntax, or the stored frame's own media
    type, get the stored encoding; application/octet-stream without a syntax (or with Explicit VR
    Little Endian) gets uncompressed little endian bytes.
    """
    stored_type = frame_media_type(stored_ts)
    if not ranges:
        return "native"
    for r in ranges:
        ptype, ts = r.part_type, r.transfer_syntax
        if ts == "*" or (ts == stored_ts and stored_ts not in UNCOMPRESSED):
            return "raw"
        if stored_type is not None and ptype == stored_type and ts in (None, stored_ts):
            return "raw"
        if ptype in (OCTET, "*/*", "*", "") and ts in (None, EXPLICIT_LE):
            return "native"
    raise NotAcceptable("the frames cannot be served in any of the accepted media types")


def frame_parts(inst: PixelInstance, frames: list[int], encoding: str) -> list[tuple[str, bytes]]:
    """(content type, bytes) for each frame asked for."""
    out = []
    stored_ts = inst.transfer_syntax_uid
    for index in frames:
        if index >= inst.number_of_frames:
            raise NotFound(f"frame {index + 1} does not exist (the instance has {inst.number_of_frames})")
    for index in frames:
        if encoding == "raw" and inst.is_encapsulated:
            mtype = frame_media_type(stored_ts) or OCTET
            out.append((f"{mtype}; transfer-syntax={stored_ts}", inst.raw_frame(index)))
        else:
            out.append((f"{OCTET}; transfer-syntax={EXPLICIT_LE}", inst.native_frame(index)))
    return out


# --------------------------------------------------------------------------- bulk data


def bulk_value(archive: Archive, ref: InstanceRef, tag_text: str) -> bytes:
    """The value of one (top-level) bulk data element, as octets (PS3.18 10.4.1.1.3)."""
    try:
        tag = Tag(int(tag_text, 16))
    except ValueError as exc:
        raise Invalid(f"{tag_text!r} is not a tag") from exc
    ds: Dataset = dcmread(BytesIO(read_bytes(archive, ref)))
    if tag not in ds:
        raise NotFound(f"the instance has no element {tag_text}")
    value = ds[tag].value
    if isinstance(value, bytes):
        return value
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        vr = "UN"
    raise Invalid(f"element {tag_text} ({vr}) is not bulk data")


# --------------------------------------------------------------------------- rendered


RENDER_TYPES = ("image/jpeg", "image/png", "image/gif")


def choose_rendered_type(ranges: list[MediaRange]) -> str:
    """The rendered media type: the first accepted of JPEG, PNG, GIF (JPEG for */* or none)."""
    if not ranges:
        return "image/jpeg"
    for r in ranges:
        if r.type in RENDER_TYPES:
            return r.type
        if r.type in ("*/*", "image/*", "*"):
            return "image/jpeg"
    raise NotAcceptable("rendered images are available as image/jpeg, image/png and image/gif")


def rendered(
    cache: imaging.RenderCache,
    pixels: PixelCache,
    archive: Archive,
    ref: InstanceRef,
    frame: int,
    media_type: str,
    *,
    window: str | None,
    viewport: str | None,
    quality: str | None,
) -> bytes:
    """One rendered frame (PS3.18 10.4.1.1.4), from the render cache when it was made before."""
    win = imaging.Window.parse(window) if window else None
    view = imaging.Viewport.parse(viewport) if viewport else None
    q = _quality(quality)
    key = imaging.RenderCache.key(ref.sop_instance_uid, ref.checksum, frame, media_type, win, view, q)
    hit = cache.get(key)
    if hit is not None:
        return hit
    inst = pixels.get(archive, ref)
    out = imaging.render_frame(inst, frame, media_type=media_type, window=win, viewport=view, quality=q)
    cache.put(key, out)
    return out


def thumbnail(
    cache: imaging.RenderCache,
    pixels: PixelCache,
    archive: Archive,
    ref: InstanceRef,
    media_type: str,
    size: int,
) -> bytes:
    """A small rendering of the instance's middle frame, cached."""
    key = imaging.RenderCache.key("thumbnail", ref.sop_instance_uid, ref.checksum, media_type, size)
    hit = cache.get(key)
    if hit is not None:
        return hit
    out = imaging.render_thumbnail(pixels.get(archive, ref), size=size, media_type=media_type)
    cache.put(key, out)
    return out


def _quality(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise Invalid(f"quality must be an integer from 1 to 100, not {text!r}") from exc
    if not 1 <= value <= 100:
        raise Invalid(f"quality must be an integer from 1 to 100, not {text!r}")
    return value
