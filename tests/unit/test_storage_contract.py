"""One contract suite for every BlobStore backend, plus filesystem-only durability checks."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import vetpacs.storage.filesystem as fsmod
from vetpacs.errors import NotFound, StorageFailure
from vetpacs.storage import BlobStore, FilesystemBlobStore, MemoryBlobStore, new_blob_key


@pytest.fixture(params=["filesystem", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs", fsync=True)
    return MemoryBlobStore()


@pytest.fixture
def fs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", fsync=True)


def _tmp_files(store: FilesystemBlobStore) -> list[str]:
    return sorted(os.listdir(store.tmp))


# --------------------------------------------------------------------------- contract (both backends)


def test_implements_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_new_blob_key_shape(tmp_path: Path) -> None:
    """Keys are unique, relative, folder-spread and end in a random hex name (layout may change)."""
    keys = [new_blob_key() for _ in range(200)]
    assert len(set(keys)) == 200
    for key in keys:
        parts = key.split("/")
        assert len(parts) >= 2 and all(parts)
        assert not key.startswith(("/", ".")) and ".." not in parts
        assert len(parts[-1]) == 32
        int(parts[-1], 16)
    fs = FilesystemBlobStore(tmp_path / "shape")
    for key in keys[:5]:
        fs.put(key, key.encode())
    assert set(fs.keys()) == set(keys[:5])


def test_put_get_round_trip(store: BlobStore) -> None:
    key = new_blob_key()
    data = bytes(range(256)) * 4
    store.put(key, data)
    assert store.get(key) == data
    assert store.exists(key)


def test_empty_blob_round_trip(store: BlobStore) -> None:
    key = new_blob_key()
    store.put(key, b"")
    assert store.exists(key)
    assert store.get(key) == b""


def test_put_copies_mutable_input(store: BlobStore) -> None:
    key = new_blob_key()
    buf = bytearray(b"first")
    store.put(key, buf)
    buf[:] = b"XXXXX"
    assert store.get(key) == b"first"


def test_overwrite_replaces_content(store: BlobStore) -> None:
    key = new_blob_key()
    store.put(key, b"old content that is longer")
    store.put(key, b"new")
    assert store.get(key) == b"new"
    assert list(store.keys()) == [key]


def test_exists(store: BlobStore) -> None:
    key = new_blob_key()
    assert not store.exists(key)
    store.put(key, b"x")
    assert store.exists(key)
    assert not store.exists(new_blob_key())


def test_delete_is_idempotent(store: BlobStore) -> None:
    key, other = new_blob_key(), new_blob_key()
    store.put(key, b"x")
    store.put(other, b"y")
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # already gone: no error
    store.delete(new_blob_key())  # never existed: no error
    assert store.get(other) == b"y"
    assert set(store.keys()) == {other}
    with pytest.raises(NotFound):
        store.get(key)


def test_keys_lists_exactly_the_stored_keys(store: BlobStore) -> None:
    assert list(store.keys()) == []
    stored = {new_blob_key() for _ in range(25)}
    for i, key in enumerate(sorted(stored)):
        store.put(key, str(i).encode())
    deleted = sorted(stored)[:5]
    for key in deleted:
        store.delete(key)
    listed = list(store.keys())
    assert len(listed) == len(set(listed)) == 20
    assert set(listed) == stored - set(deleted)


def test_keys_ignores_health_checks(store: BlobStore) -> None:
    key = new_blob_key()
    store.put(key, b"x")
    store.check()
    store.check()
    assert list(store.keys()) == [key]


def test_get_missing_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get(new_blob_key())


def test_empty_key_rejected(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        store.put("", b"x")
    assert list(store.keys()) == []


def test_non_bytes_data_rejected_and_nothing_stored(store: BlobStore) -> None:
    key = new_blob_key()
    with pytest.raises(TypeError):
        store.put(key, object())  # type: ignore[arg-type]
    assert not store.exists(key)
    assert list(store.keys()) == []
    if isinstance(store, FilesystemBlobStore):
        assert _tmp_files(store) == []


def test_large_blob(store: BlobStore) -> None:
    key = new_blob_key()
    data = os.urandom(5 * 1024 * 1024 + 17)
    store.put(key, data)
    assert store.get(key) == data
    path = store.local_path(key)
    if path is not None:
        assert path.stat().st_size == len(data)


def test_concurrent_puts_from_threads(store: BlobStore) -> None:
    keys = [new_blob_key() for _ in range(64)]
    # Several keys share a two-level folder prefix, so threads race on creating the same folders.
    keys += [f"ff/ee/{i:032x}" for i in range(16)]
    payload = {k: os.urandom(1000 + i) for i, k in enumerate(keys)}
    barrier = threading.Barrier(8)

    def put(k: str) -> None:
        if keys.index(k) < 8:
            barrier.wait(timeout=10)
        store.put(k, payload[k])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    assert set(store.keys()) == set(keys)
    for k in keys:
        assert store.get(k) == payload[k]


def test_concurrent_overwrites_leave_one_complete_version(store: BlobStore) -> None:
    key = new_blob_key()
    versions = [bytes([i]) * 200_000 for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda v: store.put(key, v), versions))
    assert store.get(key) in versions
    assert list(store.keys()) == [key]


def test_check_passes(store: BlobStore) -> None:
    store.check()


def test_recover_on_clean_store_removes_nothing(store: BlobStore) -> None:
    key = new_blob_key()
    store.put(key, b"x")
    assert store.recover() == 0
    assert store.get(key) == b"x"


# --------------------------------------------------------------------------- filesystem specifics


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../../x", "a/../b", ".tmp/x", ".hidden", ""])
def test_filesystem_rejects_invalid_keys(fs: FilesystemBlobStore, key: str) -> None:
    for op in (
        lambda: fs.put(key, b"x"),
        lambda: fs.get(key),
        lambda: fs.exists(key),
        lambda: fs.delete(key),
    ):
        with pytest.raises(ValueError):
            op()
    assert not (fs.root.parent / "x").exists()
    assert list(fs.keys()) == []
    assert _tmp_files(fs) == []


def test_filesystem_layout_and_local_path(fs: FilesystemBlobStore) -> None:
    key = new_blob_key()
    fs.put(key, b"payload")
    path = fs.local_path(key)
    assert path == fs.root / key
    assert path is not None and path.read_bytes() == b"payload"
    assert _tmp_files(fs) == []


def test_filesystem_persists_across_instances(fs: FilesystemBlobStore) -> None:
    key = new_blob_key()
    fs.put(key, b"durable")
    again = FilesystemBlobStore(fs.root)
    assert again.get(key) == b"durable"
    assert list(again.keys()) == [key]


def test_filesystem_failed_write_leaves_nothing(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_blob_key()
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:10]))  # some bytes reach the temporary file first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsmod.os, "write", failing_write)
    with pytest.raises(StorageFailure):
        fs.put(key, b"0123456789" * 1000)
    monkeypatch.undo()
    assert _tmp_files(fs) == []
    assert not fs.exists(key)
    assert not (fs.root / key).exists()
    assert list(fs.keys()) == []


def test_filesystem_failed_rename_leaves_nothing(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_blob_key()

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsmod.os, "replace", failing_replace)
    with pytest.raises(StorageFailure):
        fs.put(key, b"data")
    monkeypatch.undo()
    assert _tmp_files(fs) == []
    assert not (fs.root / key).exists()
    assert list(fs.keys()) == []


def test_filesystem_unwritable_target_folder(fs: FilesystemBlobStore) -> None:
    # A file where the key's folder should be: mkdir fails even for root (permissions would not).
    (fs.root / "zz").write_bytes(b"not a folder")
    with pytest.raises(StorageFailure):
        fs.put("zz/yy/" + "a" * 32, b"data")
    assert _tmp_files(fs) == []
    assert list(fs.keys()) == ["zz"]  # only the obstacle


def test_filesystem_write_raising_non_oserror_leaves_no_temp(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_blob_key()

    def broken_write(fd: int, data: bytes | memoryview) -> int:
        raise RuntimeError("disk driver exploded")

    monkeypatch.setattr(fsmod.os, "write", broken_write)
    with pytest.raises(RuntimeError):
        fs.put(key, b"data")
    monkeypatch.undo()
    assert _tmp_files(fs) == []
    assert not (fs.root / key).exists()


def test_filesystem_put_is_atomic(fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes go to .tmp/*.part; the final name appears only by the rename, complete and fsynced."""
    key = new_blob_key()
    data = os.urandom(300_000)
    final = fs.root / key
    seen: dict[str, object] = {}
    real_write, real_replace, real_fsync = os.write, os.replace, os.fsync

    def chunked_write(fd: int, buf: bytes | memoryview) -> int:
        assert not final.exists(), "final file visible while bytes are still being written"
        parts = [p for p in fs.tmp.iterdir()]
        assert len(parts) == 1 and parts[0].suffix == ".part"
        seen.setdefault("part", parts[0])
        return real_write(fd, bytes(buf[:65536]))  # short writes: put must loop

    def fsync(fd: int) -> None:
        seen["fsyncs"] = int(seen.get("fsyncs", 0)) + 1  # type: ignore[call-overload]
        real_fsync(fd)

    def checking_replace(src: str | Path, dst: str | Path) -> None:
        src, dst = Path(src), Path(dst)
        assert src.parent == fs.tmp and src.suffix == ".part"
        assert dst == final
        assert not final.exists()
        assert src.read_bytes() == data  # complete before it becomes visible
        assert int(seen.get("fsyncs", 0)) >= 1  # type: ignore[call-overload]  # data fsynced first
        seen["renamed"] = src
        real_replace(src, dst)

    monkeypatch.setattr(fsmod.os, "write", chunked_write)
    monkeypatch.setattr(fsmod.os, "replace", checking_replace)
    monkeypatch.setattr(fsmod.os, "fsync", fsync)
    fs.put(key, data)
    monkeypatch.undo()
    assert seen["renamed"] == seen["part"]
    assert int(seen["fsyncs"]) >= 2  # type: ignore[call-overload]  # the file and its folder
    assert final.read_bytes() == data
    assert _tmp_files(fs) == []
    assert list(fs.keys()) == [key]


def test_filesystem_no_fsync_mode_still_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path / "nofsync", fsync=False)

    def no_fsync(fd: int) -> None:
        raise AssertionError("fsync called with fsync=False")

    monkeypatch.setattr(fsmod.os, "fsync", no_fsync)
    key = new_blob_key()
    store.put(key, b"fast")
    assert store.get(key) == b"fast"


def test_filesystem_recover_removes_leftover_parts(fs: FilesystemBlobStore) -> None:
    key = new_blob_key()
    fs.put(key, b"kept")
    for i in range(3):
        (fs.tmp / f"{i:032x}.part").write_bytes(b"half written")
    assert len(_tmp_files(fs)) == 3
    assert list(fs.keys()) == [key]  # leftovers are never listed as blobs
    assert fs.recover() == 3
    assert _tmp_files(fs) == []
    assert fs.recover() == 0
    assert fs.get(key) == b"kept"
    assert list(fs.keys()) == [key]


def test_filesystem_recover_at_open_time_of_a_crashed_store(tmp_path: Path) -> None:
    root = tmp_path / "crashed"
    (root / ".tmp").mkdir(parents=True)
    (root / ".tmp" / "dead.part").write_bytes(b"x")
    store = FilesystemBlobStore(root)
    assert store.recover() == 1
    assert not (root / ".tmp" / "dead.part").exists()


def test_filesystem_check_fails_when_not_writable(fs: FilesystemBlobStore) -> None:
    fs.check()
    os.rmdir(fs.tmp)
    fs.tmp.write_bytes(b"a file where the temp folder should be")
    with pytest.raises(StorageFailure):
        fs.check()


def test_filesystem_get_of_a_folder_is_not_a_blob(fs: FilesystemBlobStore) -> None:
    key = new_blob_key()
    fs.put(key, b"x")
    folder = key.split("/")[0]
    assert not fs.exists(folder)
    with pytest.raises((NotFound, StorageFailure)):
        fs.get(folder)
