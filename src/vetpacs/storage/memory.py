"""In-memory BlobStore, for tests and throw-away servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from vetpacs.errors import NotFound


class MemoryBlobStore:
    """Blobs in a dict; same contract as the filesystem store, nothing durable."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        if not key:
            raise ValueError("empty blob key")
        with self._lock:
            self._blobs[key] = bytes(data)

    def get(self, key: str) -> bytes:
        try:
            return self._blobs[key]
        except KeyError as exc:
            raise NotFound(f"blob {key} is missing") from exc

    def local_path(self, key: str) -> Path | None:
        return None

    def exists(self, key: str) -> bool:
        return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    def keys(self) -> Iterator[str]:
        return iter(list(self._blobs))

    def recover(self) -> int:
        return 0

    def check(self) -> None:
        return None
