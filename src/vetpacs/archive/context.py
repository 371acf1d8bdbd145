"""The Archive: what every archive service function needs (index engine, blob store, policies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Engine

from vetpacs.config import DuplicatePolicy
from vetpacs.storage.base import BlobStore


class OriginKind(StrEnum):
    """How an instance reached the archive."""

    DICOM = "dicom"  # C-STORE
    STOW = "stow"  # DICOMweb STOW-RS
    IMPORT = "import"  # vetpacs import (files, folders, zip, DICOMDIR)
    DEMO = "demo"  # vetpacs demo
    MIGRATION = "migration"


@dataclass(frozen=True)
class Origin:
    """Who or what sent an instance; travels with every stored instance and every rejection."""

    kind: OriginKind
    ae_title: str = ""
    address: str = ""
    user: str = ""
    detail: str = ""

    def describe(self) -> str:
        """A short text for log lines: ``dicom from MODALITY1@10.0.0.5``."""
        who = self.ae_title or self.user or self.detail
        where = f"@{self.address}" if self.address else ""
        return f"{self.kind.value} from {who or '?'}{where}"


@dataclass
class Archive:
    """Index engine + blob store + policy: passed to every archive service function."""

    engine: Engine
    store: BlobStore
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.KEEP_FIRST
    case_insensitive_names: bool = False
    write_engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        # Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE); no-op elsewhere.
        self.write_engine = self.engine.execution_options(sqlite_write=True)
