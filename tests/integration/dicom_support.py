"""Helpers for the DICOM listener integration tests (test_dicom_*.py): module-scoped servers,
index and blob-store inspection, DCMTK runners and a pynetdicom storage receiver.

Not a test module (no ``test_`` prefix); imported by the test files next to it.
"""

from __future__ import annotations

import subprocess
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pynetdicom import AE, evt
from pynetdicom.presentation import build_context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import (  # type: ignore[import-not-found]
    LiveServer,
    dcmtk_env,
    drop_database,
    free_port,
    fresh_database_url,
    require_tool,
)
from vetpacs.archive.sopclasses import STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES

AET = "VETPACS"
HOST = "127.0.0.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


# ----------------------------------------------------------------------------- servers
@contextmanager
def module_server(tmp: Path, **extra_env: str) -> Iterator[LiveServer]:
    """Start a ``vetpacs serve`` (like conftest's server_factory) for a whole module; stop it after."""
    db_url = fresh_database_url(tmp)
    srv = LiveServer(
        data_dir=tmp / "data",
        database_url=db_url,
        dicom_port=free_port(),
        http_port=free_port(),
        extra_env=dict(extra_env),
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        drop_database(db_url)


# ----------------------------------------------------------------------------- index + blobs
def created(response: httpx.Response) -> dict[str, Any]:
    """The body of a REST create that must answer 201 (the response text in the failure)."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sql(server: LiveServer, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only SQL query on the server's index (SQLite or PostgreSQL)."""
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), params)]
    finally:
        engine.dispose()


def count(server: LiveServer, table: str) -> int:
    assert table in ("instances", "series", "studies", "patients", "instance_conflicts", "ingest_rejections")
    return int(sql(server, f"SELECT COUNT(*) FROM {table}")[0][0])


def stored_row(server: LiveServer, sop_instance_uid: str) -> dict[str, Any] | None:
    rows = sql(
        server,
        "SELECT blob_key, transfer_syntax_uid, sop_class_uid, checksum, size, origin_aet "
        "FROM instances WHERE sop_instance_uid = :u",
        u=sop_instance_uid,
    )
    if not rows:
        return None
    keys = ("blob_key", "transfer_syntax_uid", "sop_class_uid", "checksum", "size", "origin_aet")
    return dict(zip(keys, rows[0], strict=True))


def stored_bytes(server: LiveServer, sop_instance_uid: str) -> bytes:
    """The Part 10 bytes the archive holds for an instance (from ``<data_dir>/blobs/<blob_key>``)."""
    row = stored_row(server, sop_instance_uid)
    assert row is not None, f"{sop_instance_uid} is not in the index"
    return (server.data_dir / "blobs" / row["blob_key"]).read_bytes()


def blob_files(server: LiveServer) -> set[str]:
    """Relative paths of every blob file, half-written ones in ``.tmp`` excluded."""
    root = server.data_dir / "blobs"
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != ".tmp"
    }


# ----------------------------------------------------------------------------- DICOM bytes
def dataset_part(part10: bytes) -> bytes:
    """The bytes after the preamble and file meta information (the data set as transferred)."""
    fp = BytesIO(part10)
    read_preamble(fp, False)
    _read_file_meta_info(fp)
    return part10[fp.tell() :]


def same_dataset_bytes(sent: bytes, stored: bytes, transfer_syntax: str) -> bool:
    """Whether ``stored``'s data set is byte-identical to ``sent``'s.

    Deflated data sets: DCMTK pads an odd-length deflate stream with one zero byte on the wire, so
    the stored stream may be one byte longer; it must still inflate to exactly the same bytes.
    """
    a, b = dataset_part(sent), dataset_part(stored)
    if a == b:
        return True
    if transfer_syntax == DEFLATED and len(a) % 2 == 1 and b == a + b"\x00":
        return inflate(a) == inflate(b)
    return False


def inflate(deflated: bytes) -> bytes:
    """A Deflated Explicit VR Little Endian data set, inflated (bytes after the stream are ignored)."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(deflated)


# ----------------------------------------------------------------------------- DCMTK
def dcmtk(tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a DCMTK tool with Nagle off; never raises on a non-zero exit (tests check it)."""
    exe = require_tool(tool)
    return subprocess.run(
        [exe, *args], env=dcmtk_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def findscu(
    server: LiveServer, model: str, keys: Sequence[str], out_dir: Path, *, aet: str = "FINDSCU"
) -> list[Dataset]:
    """``findscu -S|-P -X -od DIR -k ...``: every answer read back with pydicom."""
    assert model in ("-S", "-P")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("rsp*.dcm"):
        old.unlink()
    args = [model, "-aet", aet, "-aec", AET, "-X", "-od", str(out_dir)]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("findscu", *args, HOST, str(server.dicom_port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [dcmread(p) for p in sorted(out_dir.glob("rsp*.dcm"))]


def echo_ok(server: LiveServer, aet: str = "ECHOSCU") -> bool:
    """A C-ECHO with echoscu succeeds."""
    proc = dcmtk("echoscu", "-aet", aet, "-aec", AET, HOST, str(server.dicom_port))
    return proc.returncode == 0


def pynetdicom_echo_ok(server: LiveServer, aet: str = "PYECHO") -> bool:
    """A C-ECHO with pynetdicom succeeds (Success status)."""
    ae = requestor(aet, [("1.2.840.10008.1.1", [EXPLICIT_LE])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    if not assoc.is_established:
        return False
    try:
        rsp = assoc.send_c_echo()
        return rsp is not None and rsp.Status == 0x0000
    finally:
        assoc.release()


# ----------------------------------------------------------------------------- receiver
@dataclass
class Received:
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    dataset_bytes: bytes
    calling_aet: str


@dataclass
class Receiver:
    """A pynetdicom storage SCP on 127.0.0.1 (DCMTK's storescp cannot bind to loopback only)."""

    ae_title: str = "RECEIVER"
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    extra_contexts: list[tuple[str, bool, bool]] = field(default_factory=list)  # (uid, scu_role, scp_role)
    handlers: list[tuple[Any, Any]] = field(default_factory=list)
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _on_store(self, event: evt.Event) -> int:
        item = Received(
            sop_class_uid=str(event.request.AffectedSOPClassUID),
            sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
            transfer_syntax=str(event.context.transfer_syntax),
            dataset_bytes=bytes(event.encoded_dataset(include_meta=False)),
            calling_aet=str(event.assoc.requestor.ae_title).strip(),
        )
        with self._lock:
            self.received.append(item)
        return 0x0000

    def __enter__(self) -> Receiver:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.maximum_pdu_size = 0
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid, list(TRANSFER_SYNTAXES))
        for uid, scu_role, scp_role in self.extra_contexts:
            ae.add_supported_context(uid, scu_role=scu_role, scp_role=scp_role)
        self._server = ae.start_server(
            (HOST, self.port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store), *self.handlers],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def by_uid(self) -> dict[str, Received]:
        with self._lock:
            return {r.sop_instance_uid: r for r in self.received}

    def wait_for(self, n: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < n:
            time.sleep(0.02)


def requestor(ae_title: str, contexts: list[tuple[str, list[str]]]) -> AE:
    """A pynetdicom AE proposing one presentation context per (abstract syntax, transfer syntaxes)."""
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.requested_contexts = [build_context(uid, ts) for uid, ts in contexts]
    return ae
