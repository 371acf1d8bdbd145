"""RenderCache: put/get, LRU eviction under max_bytes, atomic writes, threads, restarts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from vetpacs.imaging import RenderCache, Viewport, Window


def test_put_get_and_miss(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "c")
    key = RenderCache.key("1.2.3", 0, "image/jpeg", None, None, 90)
    assert cache.get(key) is None
    cache.put(key, b"jpeg bytes")
    assert cache.get(key) == b"jpeg bytes"
    cache.put(key, b"replaced")
    assert cache.get(key) == b"replaced"
    assert cache.total_bytes == len(b"replaced")
    assert not [p for p in (tmp_path / "c").rglob(".tmp-*")]


def test_key_is_stable_and_distinct() -> None:
    a = RenderCache.key("1.2.3", 0, "image/jpeg", Window(40, 400), Viewport(512, 512), 90)
    assert a == RenderCache.key("1.2.3", 0, "image/jpeg", Window(40, 400), Viewport(512, 512), 90)
    assert a != RenderCache.key("1.2.3", 1, "image/jpeg", Window(40, 400), Viewport(512, 512), 90)
    assert a != RenderCache.key("1.2.3", 0, "image/jpeg", Window(40, 401), Viewport(512, 512), 90)
    assert a != RenderCache.key("1.2.3", 0, "image/png", None, None, None)
    assert len(a) == 64 and all(c in "0123456789abcdef" for c in a)
    # fixed across processes and runs (no hash randomisation)
    assert RenderCache.key("x", 1) == "0475fe98e456652495beb54dcba469c38ae23500ca35d8824a78e84b2d8c2632"


def test_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path, max_bytes=300)
    cache.put("a" * 64, b"1" * 100)
    time.sleep(0.01)
    cache.put("b" * 64, b"2" * 100)
    time.sleep(0.01)
    cache.put("c" * 64, b"3" * 100)
    time.sleep(0.01)
    assert cache.get("a" * 64) is not None  # a is now the most recent
    time.sleep(0.01)
    cache.put("d" * 64, b"4" * 100)  # over 300: b (least recently used) goes
    assert cache.get("b" * 64) is None
    assert cache.get("a" * 64) == b"1" * 100
    assert cache.get("c" * 64) == b"3" * 100
    assert cache.get("d" * 64) == b"4" * 100
    assert cache.total_bytes <= 300
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) <= 300


def test_too_large_is_not_stored(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path, max_bytes=10)
    cache.put("k" * 64, b"x" * 11)
    assert cache.get("k" * 64) is None


def test_survives_a_restart_and_keeps_the_bound(tmp_path: Path) -> None:
    first = RenderCache(tmp_path, max_bytes=1000)
    for i in range(5):
        first.put(RenderCache.key(i), bytes(100))
    second = RenderCache(tmp_path, max_bytes=250)  # a smaller bound evicts on open
    assert second.total_bytes <= 250
    assert second.get(RenderCache.key(4)) is not None


def test_file_removed_behind_its_back_is_a_miss(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    key = RenderCache.key("gone")
    cache.put(key, b"data")
    os.unlink(tmp_path / key[:2] / key)
    assert cache.get(key) is None
    assert cache.total_bytes == 0


def test_concurrent_threads(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path, max_bytes=64 * 1024)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                key = RenderCache.key(i % 50)
                payload = (str(i % 50).encode() * 100)[:1000]
                cache.put(key, payload)
                got = cache.get(RenderCache.key((i * 7 + n) % 50))
                if got is not None:
                    assert got == (str((i * 7 + n) % 50).encode() * 100)[:1000]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.total_bytes <= 64 * 1024
    on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert on_disk == cache.total_bytes
    assert not [p for p in tmp_path.rglob(".tmp-*")]
