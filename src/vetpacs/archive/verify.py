"""``vetpacs verify``: re-read every blob, compare checksums, find missing and orphan blobs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, select

from vetpacs.archive.context import Archive
from vetpacs.archive.models import Instance, InstanceConflict
from vetpacs.errors import NotFound, StorageFailure

IN: Table = cast(Table, Instance.__table__)
CF: Table = cast(Table, InstanceConflict.__table__)


@dataclass
class VerifyReport:
    """The result of a full check of the archive."""

    checked: int = 0
    ok: int = 0
    mismatched: list[tuple[str, str]] = field(default_factory=list)  # (sop uid, blob key)
    missing: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (self.mismatched or self.missing)


def verify_archive(
    archive: Archive, *, progress: Callable[[int, int], None] | None = None, repair_orphans: bool = False
) -> VerifyReport:
    """Check every indexed instance against its blob; list blobs nothing references."""
    report = VerifyReport()
    with archive.engine.connect() as conn:
        rows = conn.execute(select(IN.c.sop_instance_uid, IN.c.blob_key, IN.c.checksum)).all()
        kept = {r[0] for r in conn.execute(select(CF.c.other_blob_key)) if r[0]}
    total = len(rows)
    referenced = set(kept)
    for i, (sop_uid, key, checksum) in enumerate(rows, 1):
        referenced.add(key)
        report.checked += 1
        try:
            data = archive.store.get(key)
        except (NotFound, StorageFailure):
            report.missing.append((sop_uid, key))
        else:
            if "sha256:" + hashlib.sha256(data).hexdigest() != checksum:
                report.mismatched.append((sop_uid, key))
            else:
                report.ok += 1
        if progress is not None:  # also for missing blobs, so progress reaches total
            progress(i, total)
    for key in archive.store.keys():  # noqa: SIM118 - a BlobStore, not a dict
        if key not in referenced:
            report.orphans.append(key)
            if repair_orphans:
                archive.store.delete(key)
    return report
