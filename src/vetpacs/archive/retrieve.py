"""Finding and reading stored instances for C-GET, C-MOVE, WADO and exports."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import cast

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import UID
from sqlalchemy import Table, select

from vetpacs.archive.context import Archive
from vetpacs.archive.corrections import apply_to_bytes, apply_to_dataset
from vetpacs.archive.models import Instance, Series, Study
from vetpacs.archive.query import Level, Query, find_rows
from vetpacs.errors import Invalid, NotFound

IN: Table = cast(Table, Instance.__table__)
SE: Table = cast(Table, Series.__table__)
ST: Table = cast(Table, Study.__table__)


@dataclass(frozen=True)
class InstanceRef:
    """Where one stored instance's bytes are, and what it is."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str
    size: int
    checksum: str
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    overlay_json: str = ""  # the study's corrected patient-level attributes; "" = served as stored


def _ref(row: dict[str, object]) -> InstanceRef:
    return InstanceRef(
        sop_instance_uid=str(row["sop_instance_uid"]),
        sop_class_uid=str(row["sop_class_uid"]),
        transfer_syntax_uid=str(row["transfer_syntax_uid"]),
        blob_key=str(row["blob_key"]),
        size=int(row["size"]),  # type: ignore[call-overload]
        checksum=str(row["checksum"]),
        study_instance_uid=str(row.get("study_instance_uid") or row.get("STUDY__study_instance_uid") or ""),
        series_instance_uid=str(
            row.get("series_instance_uid") or row.get("SERIES__series_instance_uid") or ""
        ),
        overlay_json=str(row.get("overlay_json") or row.get("STUDY__overlay_json") or ""),
    )


def instances_for(archive: Archive, q: Query) -> list[InstanceRef]:
    """Every instance under the matches of ``q`` (a retrieve identifier at any level)."""
    image_query = Query(
        level=Level.IMAGE, model=q.model, match=dict(q.match), case_insensitive=q.case_insensitive
    )
    rows = find_rows(archive, image_query)
    rows.sort(key=lambda r: (r.get("SERIES__id", 0), _num(r.get("instance_number")), r["id"]))
    return [_ref(r) for r in rows]


def _num(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def instance_by_uid(archive: Archive, sop_instance_uid: str) -> InstanceRef | None:
    """The stored instance with this SOP Instance UID, if any."""
    with archive.engine.connect() as conn:
        row = conn.execute(select(IN).where(IN.c.sop_instance_uid == sop_instance_uid)).first()
    return None if row is None else _ref(dict(row._mapping))


@dataclass(frozen=True)
class StoredInstance:
    """A stored instance with its place in the hierarchy and, when asked for, its header."""

    ref: InstanceRef
    header_json: str = ""


def stored_instances(
    archive: Archive,
    *,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    with_header: bool = False,
) -> list[StoredInstance]:
    """The instances of a study (or one series, or one instance), in series and instance order.

    Raises ``NotFound`` when nothing matches, so a wrong study/series/instance combination is
    reported the same way as an unknown UID.
    """
    cols = [
        IN.c.id,
        IN.c.sop_instance_uid,
        IN.c.sop_class_uid,
        IN.c.transfer_syntax_uid,
        IN.c.blob_key,
        IN.c.size,
        IN.c.checksum,
        IN.c.instance_number,
        SE.c.series_instance_uid,
        SE.c.id.label("series_pk"),
        SE.c.series_number,
        ST.c.study_instance_uid,
        ST.c.overlay_json,
    ]
    if with_header:
        cols.append(IN.c.header_json)
    stmt = (
        select(*cols)
        .select_from(IN.join(SE, IN.c.series_pk == SE.c.id).join(ST, SE.c.study_pk == ST.c.id))
        .where(ST.c.study_instance_uid == study_uid)
    )
    if series_uid is not None:
        stmt = stmt.where(SE.c.series_instance_uid == series_uid)
    if sop_uid is not None:
        stmt = stmt.where(IN.c.sop_instance_uid == sop_uid)
    with archive.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    if not rows:
        what = "instance" if sop_uid else "series" if series_uid else "study"
        raise NotFound(f"no such {what} in this archive")
    rows.sort(key=lambda r: (_num(r["series_number"]), r["series_pk"], _num(r["instance_number"]), r["id"]))
    return [
        StoredInstance(ref=_ref(r), header_json=str(r.get("header_json") or ""))
        if with_header
        else StoredInstance(ref=_ref(r))
        for r in rows
    ]


def read_bytes(archive: Archive, ref: InstanceRef) -> bytes:
    """The Part 10 bytes exactly as stored."""
    return archive.store.get(ref.blob_key)


def read_served_bytes(archive: Archive, ref: InstanceRef) -> bytes:
    """The Part 10 bytes to send: as stored, or with the study's corrected attributes applied."""
    data = read_bytes(archive, ref)
    return apply_to_bytes(data, ref.overlay_json) if ref.overlay_json else data


def local_path(archive: Archive, ref: InstanceRef) -> Path | None:
    """A local file holding the instance, when the backend has one."""
    return archive.store.local_path(ref.blob_key)


def read_dataset(archive: Archive, ref: InstanceRef) -> Dataset:
    """The instance to send as a pydicom Dataset (values decoded lazily; corrections applied)."""
    return apply_to_dataset(dcmread(BytesIO(read_bytes(archive, ref))), ref.overlay_json)


NATIVE_LE = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


def read_explicit_le(archive: Archive, ref: InstanceRef) -> bytes:
    """The instance in Explicit VR Little Endian (PS3.18 8.7.3.5.2 default), decoding if needed.

    Stored Explicit VR Little Endian bytes are returned as they are; other syntaxes (implicit,
    big endian, deflated, and every compressed one pydicom's codec plugins decode) are re-encoded.
    Raises ``Invalid`` when the pixel data cannot be decoded.
    """
    data = read_served_bytes(archive, ref)
    if ref.transfer_syntax_uid == NATIVE_LE[0]:
        return data
    try:
        ds = dcmread(BytesIO(data))
        ts = ds.file_meta.TransferSyntaxUID
        if ts.is_compressed:
            ds.decompress()  # pixel data decoded; transfer syntax becomes Explicit VR Little Endian
        elif not ts.is_little_endian and "PixelData" in ds:
            arr = ds.pixel_array  # byte order handled by pydicom
            ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        ds.file_meta.TransferSyntaxUID = UID(NATIVE_LE[0])
        out = BytesIO()
        dcmwrite(out, ds, implicit_vr=False, little_endian=True, force_encoding=True)
    except Exception as exc:
        raise Invalid(
            f"instance {ref.sop_instance_uid} cannot be converted to Explicit VR Little Endian: {exc}"
        ) from exc
    return out.getvalue()
