"""The MLLP listener in-process over loopback: framing, bad bytes, many connections at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from vetpacs.archive.context import Archive
from vetpacs.integration.hl7.inbound import MESSAGES, Hl7Listener
from vetpacs.integration.hl7.mllp import (
    FrameReader,
    FrameTooLarge,
    FrameTruncated,
    MllpServer,
    frame,
    read_frame,
)
from vetpacs.patients.service import ANIMALS


@pytest.fixture
def mllp(archive: Archive) -> Iterator[MllpServer]:
    listener = Hl7Listener(archive)
    server = MllpServer(
        "127.0.0.1",
        0,
        listener.handle,
        max_size=4096,
        idle_timeout=5,
        on_oversize=listener.on_oversize,
        on_truncated=listener.on_truncated,
    )
    server.start()
    yield server
    server.stop(grace=5)


def adt(control: str, patient: str) -> bytes:
    head = f"MSH|^~\\&|PMS|CLINIC|VETPACS|VP|2030||ADT^A04|{control}|P|2.5.1"
    return f"{head}\rPID|1||{patient}||DOE^Pet\r".encode()


def test_frame_reader_splits_frames_and_drops_garbage() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"noise" + frame(b"ONE") + frame(b"TWO") + b"\x0bTHR" + b"EE\x1c\r")
        reader = FrameReader(b)
        assert [reader.read(), reader.read(), reader.read()] == [b"ONE", b"TWO", b"THREE"]
        assert reader.discarded == 5
        a.sendall(b"\x0bcut" + frame(b"NEXT"))
        with pytest.raises(FrameTruncated) as cut:
            reader.read()
        assert cut.value.partial == b"cut"
        assert reader.read() == b"NEXT"
        a.sendall(b"\x0b" + b"x" * 100)
        with pytest.raises(FrameTooLarge):
            FrameReader(b, max_size=50).read()


def test_many_connections_at_once(mllp: MllpServer, archive: Archive) -> None:
    acks: dict[int, str] = {}

    def client(n: int) -> None:
        with socket.create_connection(("127.0.0.1", mllp.bound_port), timeout=30) as s:
            for k in range(3):
                s.sendall(frame(adt(f"C{n}-{k}", f"P{n}-{k}")))
                acks[n * 10 + k] = read_frame(s).decode()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(acks) == 24 and all("MSA|AA|" in ack for ack in acks.values())
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ANIMALS)).scalar_one() == 24
        assert conn.execute(select(func.count()).select_from(MESSAGES)).scalar_one() == 24


def test_bad_frames_are_logged_and_the_connection_keeps_serving(mllp: MllpServer, archive: Archive) -> None:
    with socket.create_connection(("127.0.0.1", mllp.bound_port), timeout=10) as s:
        s.sendall(b"\x0bMSH|^~\\&|PMS|CLINIC|||2030||ADT^A04|HALF|P|2.5.1" + frame(adt("OK1", "P1")))
        assert "MSA|AA|OK1" in read_frame(s).decode()  # the half frame is logged, never answered
        s.sendall(frame(b"\xff\xfe binary"))
        assert "MSA|AR|" in read_frame(s).decode()
    with socket.create_connection(("127.0.0.1", mllp.bound_port), timeout=10) as s:
        s.sendall(b"\x0bMSH|^~\\&|PMS|CLINIC|||2030||ADT^A04|BIG|P|2.5.1\r" + b"x" * 5000)
        assert "MSA|AR|BIG" in read_frame(s).decode()
        assert s.recv(10) == b""  # and the connection is closed
    with archive.engine.connect() as conn:
        statuses = sorted(r.status for r in conn.execute(select(MESSAGES.c.status)))
    assert statuses == ["applied", "rejected", "rejected", "truncated"]
