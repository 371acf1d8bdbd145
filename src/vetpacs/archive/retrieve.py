"""Finding and reading stored instances for C-GET, C-MOVE, WADO and exports."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import cast

from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import Table, select

from vetpacs.archive.context import Archive
from vetpacs.archive.models import Instance
from vetpacs.archive.query import Level, Query, find_rows

IN: Table = cast(Table, Instance.__table__)


@dataclass(frozen=True)
class InstanceRef:
    """Where one stored instance's bytes are, and what it is."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str
    size: int
    checksum: str


def _ref(row: dict[str, object]) -> InstanceRef:
    return InstanceRef(
        sop_instance_uid=str(row["sop_instance_uid"]),
        sop_class_uid=str(row["sop_class_uid"]),
        transfer_syntax_uid=str(row["transfer_syntax_uid"]),
        blob_key=str(row["blob_key"]),
        size=int(row["size"]),  # type: ignore[call-overload]
        checksum=str(row["checksum"]),
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


def read_bytes(archive: Archive, ref: InstanceRef) -> bytes:
    """The Part 10 bytes exactly as stored."""
    return archive.store.get(ref.blob_key)


def local_path(archive: Archive, ref: InstanceRef) -> Path | None:
    """A local file holding the instance, when the backend has one."""
    return archive.store.local_path(ref.blob_key)


def read_dataset(archive: Archive, ref: InstanceRef) -> Dataset:
    """The stored instance as a pydicom Dataset (values decoded lazily)."""
    return dcmread(BytesIO(read_bytes(archive, ref)))
