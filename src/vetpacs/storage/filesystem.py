"""Filesystem BlobStore: atomic, durable writes (temporary file, fsync, rename, directory fsync)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from vetpacs.errors import NotFound, StorageFailure

TMP_DIR = ".tmp"


class FilesystemBlobStore:
    """Blobs as files under ``root``; half-written files only ever live in ``root/.tmp``."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync
        self.tmp = self.root / TMP_DIR
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._known_dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        if not key or key.startswith(("/", ".")) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def _fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, key: str, data: bytes) -> None:
        """Write to ``.tmp/``, fsync, rename into place, fsync the folder."""
        final = self._path(key)
        parent = final.parent
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            if parent not in self._known_dirs:
                created = not parent.exists()
                parent.mkdir(parents=True, exist_ok=True)
                if created and self.fsync:
                    # make the new folders themselves durable: fsync every ancestor up to the root
                    ancestor = parent.parent
                    while True:
                        self._fsync_dir(ancestor)
                        if ancestor == self.root or self.root not in ancestor.parents:
                            break
                        ancestor = ancestor.parent
                self._known_dirs.add(parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            if self.fsync:
                self._fsync_dir(parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageFailure(f"cannot write blob {key}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)  # e.g. data that is not bytes-like: no half-written file left
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing") from exc
        except OSError as exc:
            raise StorageFailure(f"cannot read blob {key}: {exc}") from exc

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != TMP_DIR]
            for name in filenames:
                yield str(Path(dirpath, name).relative_to(self.root))

    def recover(self) -> int:
        removed = 0
        for p in self.tmp.iterdir():
            p.unlink(missing_ok=True)
            removed += 1
        return removed

    def check(self) -> None:
        probe = self.tmp / f"health-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageFailure(f"storage folder {self.root} is not writable: {exc}") from exc
