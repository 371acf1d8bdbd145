"""The Archive: what every archive service function needs (index engine, blob store, policies)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Connection, Engine

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


@dataclass(frozen=True)
class StudyStored:
    """What ingest tells the study hooks when an instance created a new study or a new series.

    The archive knows nothing of orders: modules that care (``orders.linking``) register a hook.
    """

    study_instance_uid: str
    series_instance_uid: str
    new_study: bool  # False: a new series of a study already stored
    accession_number: str
    requested_procedure_id: str  # Request Attributes Sequence (0040,0275) > (0040,1001), first item
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    species_description: str
    species_code: str
    responsible_person: str
    study_date: str
    modality: str
    origin: Origin


StudyHook = Callable[["Archive", StudyStored], None]


@dataclass
class Archive:
    """Index engine + blob store + policy: passed to every archive service function."""

    engine: Engine
    store: BlobStore
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.KEEP_FIRST
    case_insensitive_names: bool = False
    # Called after the index transaction commits, once per new study or new series (never per
    # instance); a hook's exception is logged and never fails the store.
    study_hooks: list[StudyHook] = field(default_factory=list)
    write_engine: Engine = field(init=False)
    _thread_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _lock_fd: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE); no-op elsewhere.
        self.write_engine = self.engine.execution_options(sqlite_write=True)
        database = self.engine.url.database or ""
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._lock_fd = os.open(f"{database}.writelock", os.O_RDWR | os.O_CREAT, 0o640)

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """One index write transaction.

        On SQLite, writers queue on a lock (a mutex in the process, ``flock`` between listener
        processes) instead of colliding on SQLite's own lock, whose busy handler sleeps in
        millisecond steps. On PostgreSQL this is a plain transaction.
        """
        if self.engine.dialect.name != "sqlite":
            with self.write_engine.begin() as conn:
                yield conn
            return
        with self._thread_lock:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                with self.write_engine.begin() as conn:
                    yield conn
            finally:
                if self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
