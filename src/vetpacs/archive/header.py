"""Reading what the index needs out of a DICOM Part 10 byte string, without touching pixel data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from vetpacs.errors import Invalid

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
BULK_THRESHOLD = 1024


def valid_uid(value: str) -> bool:
    """Whether ``value`` is a syntactically valid DICOM UID (PS3.5 9.1)."""
    return 0 < len(value) <= 64 and UID_RE.match(value) is not None


def _bulk_uri(elem: DataElement) -> str:
    return f"bulk:{elem.tag:08X}"


def header_json(ds: Dataset) -> dict[str, Any]:
    """The dataset as DICOM JSON (PS3.18 F.2) without pixel data; large binary values as BulkDataURI."""
    out: dict[str, Any] = {}
    for elem in ds:
        tag = int(elem.tag)
        if tag in PIXEL_TAGS or elem.tag.group == 0x0002:
            continue
        try:
            out[f"{tag:08X}"] = elem.to_json_dict(_bulk_uri, BULK_THRESHOLD)
        except Exception:  # an unreadable value must not stop the store; keep it as bulk data
            out[f"{tag:08X}"] = {"vr": elem.VR or "UN", "BulkDataURI": _bulk_uri(elem)}
    return out


@dataclass
class ParsedInstance:
    """The identifying and indexed attributes of one instance, plus its header as DICOM JSON."""

    data: bytes  # the Part 10 bytes to store (exactly as received, meta included)
    ds: Dataset
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    header: dict[str, Any]

    def header_text(self) -> str:
        """The header JSON as compact text."""
        return json.dumps(self.header, separators=(",", ":"), ensure_ascii=False)

    def get(self, keyword: str, default: str = "") -> str:
        """The value of ``keyword`` as text (multi-values joined with a backslash)."""
        try:
            value = self.ds.get(keyword)
        except Exception:
            return default
        if value is None or value == "":
            return default
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            return "\\".join(str(v) for v in value)
        return str(value)


def ensure_part10(data: bytes) -> bytes:
    """Return ``data`` if it is Part 10; wrap a bare dataset with a preamble and file meta otherwise."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return data
    try:
        ds = dcmread(BytesIO(data), force=True, stop_before_pixels=True)
    except Exception as exc:
        raise Invalid(f"not a DICOM file: {exc}") from exc
    sop_class = ds.get("SOPClassUID")
    sop_inst = ds.get("SOPInstanceUID")
    if not sop_class or not sop_inst:
        raise Invalid("not a DICOM file: no SOP Class or SOP Instance UID")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_inst
    ts = ds.original_encoding  # (is_implicit_VR, is_little_endian)
    if ts == (True, True):
        meta.TransferSyntaxUID = UID("1.2.840.10008.1.2")
    elif ts == (False, False):
        meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.2")
    else:
        meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.10.1474.1")
    meta.ImplementationVersionName = "VETPACS_010"
    buf = BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)  # type: ignore[arg-type]
    return buf.getvalue() + data


def parse_instance(data: bytes, *, strict_meta: bool = True) -> ParsedInstance:
    """Parse a Part 10 byte string (or a bare dataset) and check it is complete and identifiable.

    Raises ``Invalid`` with a reason a person can act on: not DICOM, truncated, missing UIDs.
    """
    data = ensure_part10(data)
    try:
        ds = dcmread(BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError, NotImplementedError) as exc:
        raise Invalid(f"malformed or truncated DICOM: {exc}") from exc
    except Exception as exc:
        raise Invalid(f"malformed DICOM: {type(exc).__name__}: {exc}") from exc
    meta = ds.file_meta
    ts = str(meta.get("TransferSyntaxUID", "") or "")
    _check_complete(ds, data)
    uids = {}
    for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        try:
            value = str(ds.get(kw, "") or "").strip()
        except Exception as exc:
            raise Invalid(f"unreadable {kw}: {exc}") from exc
        if not value:
            raise Invalid(f"missing {kw}")
        if not valid_uid(value):
            raise Invalid(f"invalid {kw} {value!r}")
        uids[kw] = value
    meta_sop = str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip()
    if strict_meta and meta_sop and meta_sop != uids["SOPInstanceUID"]:
        raise Invalid(
            f"file meta SOP Instance UID {meta_sop} differs from the dataset's {uids['SOPInstanceUID']}"
        )
    if not ts:
        raise Invalid("missing Transfer Syntax UID in the file meta information")
    try:
        header = header_json(ds)
    except Exception as exc:
        raise Invalid(f"unreadable header: {type(exc).__name__}: {exc}") from exc
    return ParsedInstance(
        data=data,
        ds=ds,
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=ts,
        header=header,
    )


def _check_complete(ds: Dataset, data: bytes) -> None:
    """Reject datasets whose elements claim more bytes than arrived (truncated transfers).

    Runs on the raw elements, before any value is converted.
    """
    raws = list(ds._dict.values())
    if not raws:
        raise Invalid("malformed or truncated DICOM: no data element could be read")
    for raw in raws:
        value = getattr(raw, "value", None)
        length = getattr(raw, "length", None)
        if (
            isinstance(value, bytes)
            and isinstance(length, int)
            and length != 0xFFFFFFFF
            and len(value) < length
        ):
            raise Invalid(f"truncated: element {raw.tag} declares {length} bytes, {len(value)} arrived")
    last = raws[-1]
    # pydicom stops silently when fewer than 8 bytes of an element header are left: whatever
    # follows the last complete element must be nothing (or NUL padding), or the stream was cut.
    value, length = getattr(last, "value", None), getattr(last, "length", None)
    tell = getattr(last, "value_tell", None)
    deflated = str(ds.file_meta.get("TransferSyntaxUID", "")) == "1.2.840.10008.1.2.1.99"
    if not deflated and isinstance(tell, int) and isinstance(length, int) and isinstance(value, bytes):
        end = tell + (len(value) + 8 if length == 0xFFFFFFFF else length)
        if data[end:].strip(b"\x00"):
            raise Invalid(f"truncated: {len(data) - end} stray bytes after the last complete element")
    # Encapsulated pixel data as the last element: the stream must end with its delimiter.
    if (
        getattr(last, "length", None) == 0xFFFFFFFF
        and int(last.tag) == 0x7FE00010
        and data.rstrip(b"\x00")[-8:-4] != b"\xfe\xff\xdd\xe0"
        and not data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    ):
        raise Invalid("truncated encapsulated pixel data: no sequence delimiter")
