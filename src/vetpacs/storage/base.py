"""The BlobStore protocol every storage backend implements (and one contract test checks)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable


def new_blob_key() -> str:
    """A fresh opaque key in an hourly folder (``2026/1128/21/<uuid hex>``).

    Folders fill over time instead of at random, so a store rarely has to create (and fsync) a
    new folder; the name itself is random and says nothing about the content (ADR 0002).
    """
    t = time.gmtime()
    return f"{t.tm_year:04d}/{t.tm_mon:02d}{t.tm_mday:02d}/{t.tm_hour:02d}/{uuid.uuid4().hex}"


@runtime_checkable
class BlobStore(Protocol):
    """Opaque key -> bytes. ``put`` returns only once the bytes are durable."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically and durably (readers never see a partial blob)."""

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise ``NotFound`` if absent."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the blob, if the backend has one (for zero-copy sends)."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a blob."""

    def delete(self, key: str) -> None:
        """Remove the blob under ``key``; no error if it is already gone."""

    def keys(self) -> Iterator[str]:
        """Every key in the store (for ``vetpacs verify``)."""

    def recover(self) -> int:
        """Remove half-written temporary files left by a crash; return how many."""

    def check(self) -> None:
        """Raise ``StorageFailure`` if the store cannot be written now (health check)."""
