"""An on-disk cache of rendered frames and thumbnails, bounded in bytes, evicting least recently used."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path


class RenderCache:
    """Rendered outputs under ``directory``, at most ``max_bytes`` in total (LRU by access time).

    Thread-safe. Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a
    reader never sees half a file. Access times are kept in memory and on the files' mtime, so
    an index rebuilt after a restart keeps the order. Several processes may share one folder:
    each keeps its own size estimate and a file removed by another is a plain miss.
    """

    def __init__(self, directory: Path, max_bytes: int = 512 * 1024 * 1024) -> None:
        """Open (and create) the cache folder and index what it already holds."""
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float]] = {}  # key -> (size, last access)
        self._total = 0
        for path in self.directory.glob("*/*"):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            self._entries[path.name] = (st.st_size, st.st_mtime)
            self._total += st.st_size
        with self._lock:
            self._evict()

    @staticmethod
    def key(*parts: object) -> str:
        """A stable key (SHA-256 hex) of the parts, e.g. (sop uid, frame, media type, window, ...)."""
        return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def total_bytes(self) -> int:
        """Bytes currently held, as this process knows it."""
        return self._total

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"not a cache key: {key!r}")
        return self.directory / key[:2] / key

    def get(self, key: str) -> bytes | None:
        """The cached bytes for ``key``, or None; a hit counts as an access."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            with self._lock:
                self._forget(key)
            return None
        now = time.time()
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))
        with self._lock:
            if key in self._entries:  # evicted meanwhile by another thread: not ours to re-add
                self._entries[key] = (len(data), now)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, then evict the least recently used past the bound."""
        if len(data) > self.max_bytes:
            return
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            with self._lock:  # the rename and the accounting together, so eviction sees both or neither
                os.replace(tmp, path)
                self._forget(key)
                self._entries[key] = (len(data), time.time())
                self._total += len(data)
                self._evict()
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _forget(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._total -= old[0]

    def _evict(self) -> None:
        if self._total <= self.max_bytes:
            return
        for key, _ in sorted(self._entries.items(), key=lambda kv: kv[1][1]):
            if self._total <= self.max_bytes:
                break
            self._forget(key)
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()
