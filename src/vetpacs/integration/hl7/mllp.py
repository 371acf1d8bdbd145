"""MLLP transport for HL7 v2: framing helpers and a threaded (optionally TLS) listener.

Implements the Minimal Lower Layer Protocol of HL7 v2.5.1 Appendix C (Lower Layer Protocols, C.4
MLLP): every message travels as ``<SB> message <EB><CR>`` with SB = 0x0B, EB = 0x1C, CR = 0x0D.
The listener reads frames from many connections at once (one thread per connection), hands each
complete frame to a handler and writes back the handler's answer in one frame. Bytes outside a
frame are discarded, a frame cut short (connection closed, idle timeout, a new SB before EB) is
reported to ``on_truncated`` and never answered, an oversize frame is answered by ``on_oversize``
and the connection closed. A failing handler never stops the listener.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("vetpacs.hl7.mllp")

SB = b"\x0b"  # start block (vertical tab)
EB = b"\x1c"  # end block (file separator)
CR = b"\x0d"  # carriage return, follows EB
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_CHUNK = 65536


class MllpError(Exception):
    """A frame could not be read: connection closed mid-frame, oversize, or no frame at all."""


class FrameTruncated(MllpError):
    """The peer stopped (closed, went idle, or started a new frame) before the end block."""

    def __init__(self, message: str, partial: bytes) -> None:
        super().__init__(message)
        self.partial = partial


class FrameTooLarge(MllpError):
    """A frame grew past the size limit before its end block arrived."""

    def __init__(self, message: str, head: bytes) -> None:
        super().__init__(message)
        self.head = head


def frame(msg: bytes) -> bytes:
    """Wrap one HL7 message in an MLLP block: ``0x0B msg 0x1C 0x0D`` (HL7 v2.5.1 C.4.3)."""
    return SB + msg + EB + CR


class FrameReader:
    """Reads successive MLLP frames from one socket, keeping bytes that arrive after a frame.

    ``read()`` returns the next frame's content (without SB/EB/CR), or ``b""`` when the peer closed
    cleanly between frames. Garbage before a start block is dropped (``discarded`` counts it).
    """

    def __init__(self, sock: socket.socket, *, max_size: int = DEFAULT_MAX_BYTES) -> None:
        self.sock = sock
        self.max_size = max_size
        self.buffer = bytearray()
        self.discarded = 0

    def _fill(self) -> bool:
        data = self.sock.recv(_CHUNK)
        if not data:
            return False
        self.buffer.extend(data)
        return True

    def read(self) -> bytes:
        """Return the next frame's content; raise FrameTruncated or FrameTooLarge on bad framing."""
        while True:
            start = self.buffer.find(SB)
            if start < 0:
                self.discarded += len(self.buffer)
                self.buffer.clear()
            elif start > 0:
                self.discarded += start
                del self.buffer[:start]
            if start >= 0:
                end = self.buffer.find(EB, 1)
                restart = self.buffer.find(SB, 1)
                if restart >= 0 and (end < 0 or restart < end):
                    partial = bytes(self.buffer[1:restart])
                    del self.buffer[:restart]
                    raise FrameTruncated("a new start block arrived before the end block", partial)
                if end >= 0:
                    content = bytes(self.buffer[1:end])
                    # the CR after EB is required by the standard; tolerate its absence
                    cut = end + 2 if self.buffer[end + 1 : end + 2] == CR else end + 1
                    del self.buffer[:cut]
                    return content
                if len(self.buffer) - 1 > self.max_size:
                    head = bytes(self.buffer[1:4097])
                    self.buffer.clear()
                    raise FrameTooLarge(f"message exceeds {self.max_size} bytes", head)
            try:
                more = self._fill()
            except TimeoutError:
                if self.buffer:
                    partial = bytes(self.buffer[1:])
                    self.buffer.clear()
                    raise FrameTruncated("idle timeout in the middle of a frame", partial) from None
                raise
            if not more:
                if self.buffer:
                    partial = bytes(self.buffer[1:])
                    self.buffer.clear()
                    raise FrameTruncated("connection closed in the middle of a frame", partial)
                return b""


def read_frame(sock: socket.socket, *, max_size: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read one MLLP frame from ``sock`` and return its content (for one request/answer exchange).

    Raises MllpError when the peer closes before a complete frame arrives. Bytes the peer sends
    after the frame in the same packet are lost; use FrameReader for a stream of frames.
    """
    content = FrameReader(sock, max_size=max_size).read()
    if content == b"":
        raise MllpError("connection closed before a frame arrived")
    return content


Handler = Callable[[bytes, str], bytes]
"""Answers one received frame: (content, remote address) -> answer content (framed by the server)."""


@dataclass
class MllpServer:
    """A threaded MLLP listener: one thread per connection, each frame answered by ``handler``.

    ``on_oversize(head, remote)`` may return an answer for a frame over ``max_size`` (then the
    connection closes); ``on_truncated(partial, remote, reason)`` is told about frames cut short.
    """

    host: str
    port: int
    handler: Handler
    max_size: int = DEFAULT_MAX_BYTES
    idle_timeout: float = 60.0
    ssl_context: ssl.SSLContext | None = None
    on_oversize: Callable[[bytes, str], bytes | None] | None = None
    on_truncated: Callable[[bytes, str, str], None] | None = None
    name: str = "hl7"
    _sock: socket.socket | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _conns: set[socket.socket] = field(init=False, default_factory=set)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    _workers: set[threading.Thread] = field(init=False, default_factory=set)

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful with port 0 in tests)."""
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        """Bind, listen and accept connections in a background thread."""
        sock = socket.create_server((self.host, self.port), reuse_port=False, backlog=64)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        self._thread.start()
        log.info(
            "%s MLLP listener on %s:%d%s",
            self.name,
            self.host,
            self.bound_port,
            " (TLS)" if self.ssl_context else "",
        )

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("%s: accept failed", self.name)
                continue
            remote = f"{addr[0]}:{addr[1]}"
            worker = threading.Thread(
                target=self._serve_connection, args=(conn, remote), name=f"{self.name}-{remote}", daemon=True
            )
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _serve_connection(self, raw_conn: socket.socket, remote: str) -> None:
        conn = raw_conn
        try:
            conn.settimeout(self.idle_timeout)
            if self.ssl_context is not None:
                try:
                    conn = self.ssl_context.wrap_socket(raw_conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log.warning("%s: TLS handshake with %s failed: %s", self.name, remote, exc)
                    return
            with self._lock:
                self._conns.add(conn)
            reader = FrameReader(conn, max_size=self.max_size)
            while not self._stopping.is_set():
                try:
                    content = reader.read()
                except FrameTruncated as exc:
                    log.warning(
                        "%s: truncated frame from %s (%s, %d bytes)", self.name, remote, exc, len(exc.partial)
                    )
                    if self.on_truncated is not None:
                        self._safe(self.on_truncated, exc.partial, remote, str(exc))
                    if "new start block" in str(exc):
                        continue
                    return
                except FrameTooLarge as exc:
                    log.warning("%s: oversize frame from %s: %s", self.name, remote, exc)
                    answer = self._safe(self.on_oversize, exc.head, remote) if self.on_oversize else None
                    if answer:
                        conn.sendall(frame(answer))
                    return
                except TimeoutError:
                    log.info("%s: %s idle for %.0f s, closing", self.name, remote, self.idle_timeout)
                    return
                if reader.discarded:
                    log.warning(
                        "%s: discarded %d byte(s) outside MLLP frames from %s",
                        self.name,
                        reader.discarded,
                        remote,
                    )
                    reader.discarded = 0
                if not content:
                    return  # closed cleanly
                try:
                    answer = self.handler(content, remote)
                except Exception:
                    log.exception("%s: handler failed on a message from %s", self.name, remote)
                    continue
                if answer:
                    conn.sendall(frame(answer))
        except OSError as exc:
            if not self._stopping.is_set():
                log.info("%s: connection %s ended: %s", self.name, remote, exc)
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._workers.discard(threading.current_thread())
            with contextlib.suppress(OSError):
                conn.close()

    def _safe(self, fn: Callable[..., bytes | None], *args: object) -> bytes | None:
        try:
            return fn(*args)
        except Exception:
            log.exception("%s: callback failed", self.name)
            return None

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let messages being handled finish (up to ``grace`` s), close connections."""
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
            workers = list(self._workers)
        for conn in conns:
            with contextlib.suppress(OSError):  # wakes a reader; an answer being written still goes out
                conn.shutdown(socket.SHUT_RD)
        for worker in workers:
            worker.join(timeout=grace)
        log.info("%s MLLP listener stopped", self.name)


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) from a PEM certificate chain and key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
