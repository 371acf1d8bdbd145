"""Importing files, folders (recursively), zip files and DICOMDIRs through the one ingest path."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydicom import dcmread

from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import StoreStatus, store_instance
from vetpacs.errors import Conflict, Invalid, StorageFailure

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass
class ImportSummary:
    """What an import did: counts, and the reason for every rejected file."""

    stored: int = 0
    already_present: int = 0
    conflicts: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.stored + self.already_present + self.conflicts + len(self.rejected)


@dataclass(frozen=True)
class Source:
    """One candidate object: a display name and a way to read its bytes."""

    name: str
    read: Callable[[], bytes]


def _file_source(path: Path) -> Source:
    return Source(str(path), path.read_bytes)


def _zip_sources(path: Path) -> Iterator[Source]:
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
    for name in names:
        if Path(name).name.upper() == "DICOMDIR":
            continue

        def read(name: str = name) -> bytes:
            with zipfile.ZipFile(path) as zf:
                return zf.read(name)

        yield Source(f"{path}!{name}", read)


def _dicomdir_sources(path: Path) -> Iterator[Source]:
    ds = dcmread(path)
    root = path.parent
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        yield _file_source(root.joinpath(*parts))


def _is_dicomdir(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
        return head[128:132] == b"DICM" and MEDIA_STORAGE_DIRECTORY.encode() in head
    except OSError:
        return False


def _is_zip(path: Path) -> bool:
    """A zip archive, and not a DICOM file whose pixel data happens to hold a zip signature."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return False
    return zipfile.is_zipfile(path)


def iter_sources(paths: list[Path]) -> Iterator[Source]:
    """Every candidate object under ``paths``: files, folders (recursive), zip files, DICOMDIRs."""
    for path in paths:
        if path.is_dir():
            dicomdir = path / "DICOMDIR"
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    p = Path(dirpath, name)
                    if p == dicomdir or name.upper() == "DICOMDIR":
                        continue  # the files it references are found by the walk
                    if _is_zip(p):
                        yield from _zip_sources(p)
                    else:
                        yield _file_source(p)
        elif path.is_file() and _is_zip(path):
            yield from _zip_sources(path)
        elif path.is_file() and _is_dicomdir(path):
            yield from _dicomdir_sources(path)
        elif path.is_file():
            yield _file_source(path)
        else:
            # (cast: mypy cannot infer a lambda whose only parameter is a bound default)
            read = cast(
                "Callable[[], bytes]", lambda p=path: (_ for _ in ()).throw(FileNotFoundError(str(p)))
            )
            yield Source(str(path), read)


def import_paths(
    archive: Archive,
    paths: list[Path],
    *,
    user: str = "",
    kind: OriginKind = OriginKind.IMPORT,
    progress: Callable[[str, str], None] | None = None,
) -> ImportSummary:
    """Store every DICOM object found under ``paths``; never stops on a bad file."""
    summary = ImportSummary()
    for source in iter_sources(paths):
        origin = Origin(kind, user=user, detail=source.name)
        outcome = "stored"
        try:
            data = source.read()
            result = store_instance(archive, data, origin=origin, strict_meta=False)
            if result.status is StoreStatus.ALREADY_PRESENT:
                summary.already_present += 1
                outcome = "already present"
            elif result.status is StoreStatus.CONFLICT_KEPT_FIRST:
                summary.conflicts += 1
                outcome = "conflict (kept the first)"
            else:
                summary.stored += 1
        except (Invalid, Conflict, StorageFailure) as exc:
            summary.rejected.append((source.name, str(exc)))
            outcome = f"rejected: {exc}"
        except OSError as exc:
            summary.rejected.append((source.name, f"cannot read: {exc}"))
            outcome = f"rejected: cannot read: {exc}"
        if progress is not None:
            progress(source.name, outcome)
    return summary
