"""C-GET and C-MOVE sub-operations whose C-STORE fails, warns or is aborted by the peer.

VetPACS reads each C-STORE response straight off the socket when it can (``dicom/tuning.py``) and
hands anything unusual to pynetdicom; either way every sub-operation's status must be counted.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_support import (
    AET,
    EXPLICIT_LE,
    HOST,
    LiveServer,
    Receiver,
    dcmtk,
    free_port,
    module_server,
    requestor,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt

from vetpacs.archive.sopclasses import STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]

STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("retrieve-statuses")) as srv:
        proc = dcmtk("storescu", "-aec", AET, HOST, str(srv.dicom_port), *[str(f) for f in demo_files])
        assert proc.returncode == 0, proc.stderr
        yield srv


@pytest.fixture(scope="module")
def study(demo_files: list[Path]) -> tuple[str, dict[str, set[str]], set[str]]:
    """A demo study with at least three instances: its UID, (class -> syntaxes), instance UIDs."""
    by_study: dict[str, list[Dataset]] = {}
    for f in demo_files:
        ds = dcmread(f, stop_before_pixels=True)
        by_study.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    uid, members = next((u, m) for u, m in sorted(by_study.items()) if len(m) >= 3)
    storage: dict[str, set[str]] = {}
    for ds in members:
        storage.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    return uid, storage, {str(ds.SOPInstanceUID) for ds in members}


def ident(uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = uid
    return ds


def counts(final: Dataset) -> tuple[int, int, int]:
    return (
        final.NumberOfCompletedSuboperations,
        final.NumberOfFailedSuboperations,
        final.NumberOfWarningSuboperations,
    )


def failure_with_comment() -> Dataset:
    rsp = Dataset()
    rsp.Status = 0xA700
    rsp.ErrorComment = "out of space"
    return rsp


def failure_with_offending_element() -> Dataset:
    # An element the raw reader leaves to pynetdicom.
    rsp = Dataset()
    rsp.Status = 0xC000
    rsp.OffendingElement = [0x00100010]
    return rsp


def c_get(
    server: LiveServer,
    uid: str,
    storage: dict[str, set[str]],
    answers: list[object],
    port: int | None = None,
    tls: tuple[ssl.SSLContext, str] | None = None,
) -> tuple[list[tuple[Dataset, Dataset | None]], list[str]]:
    """C-GET with pynetdicom; the n-th C-STORE sub-operation is answered with ``answers[n]``."""
    received: list[str] = []

    def on_store(event: evt.Event) -> object:
        received.append(str(event.request.AffectedSOPInstanceUID))
        return answers[len(received) - 1] if len(received) <= len(answers) else 0x0000

    contexts = [(STUDY_ROOT_GET, [EXPLICIT_LE])] + [(sop, sorted(ts)) for sop, ts in storage.items()]
    ae = requestor("PYGET", contexts)
    roles = [build_role(sop, scp_role=True) for sop in storage]
    assoc = ae.associate(
        HOST,
        port or server.dicom_port,
        ae_title=AET,
        ext_neg=roles,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
        tls_args=tls,
    )
    assert assoc.is_established
    try:
        responses = [(s, i) for s, i in assoc.send_c_get(ident(uid), STUDY_ROOT_GET) if s is not None]
    finally:
        assoc.release()
    return responses, received


def test_get_counts_failed_and_warning_sub_operations(
    server: LiveServer, study: tuple[str, dict[str, set[str]], set[str]]
) -> None:
    uid, storage, instances = study
    n = len(instances)
    answers = [failure_with_comment(), failure_with_offending_element(), 0xB007]
    responses, received = c_get(server, uid, storage, answers)
    assert set(received) == instances
    final, identifier = responses[-1]
    # Sub-operations complete, one or more failures or warnings (PS3.4 C.4.3.1.3.1).
    assert final.Status == 0xB000
    assert counts(final) == (n - 3, 2, 1)
    assert identifier is not None
    failed = identifier.FailedSOPInstanceUIDList
    failed = [failed] if isinstance(failed, str) else list(failed)
    assert sorted(failed) == sorted(received[:2])

    # The association's reader is in a clean state: a plain C-GET afterwards gets everything.
    responses, received = c_get(server, uid, storage, [])
    assert responses[-1][0].Status == 0x0000
    assert counts(responses[-1][0]) == (n, 0, 0)
    assert set(received) == instances


def test_get_all_sub_operations_failing(
    server: LiveServer, study: tuple[str, dict[str, set[str]], set[str]]
) -> None:
    uid, storage, instances = study
    responses, _ = c_get(server, uid, storage, [0xA701] * len(instances))
    final = responses[-1][0]
    assert final.Status == 0xA702  # Sub-operations complete, all failed
    assert counts(final) == (0, len(instances), 0)


class AbortingDestination:
    """A storage SCP that answers the first C-STORE and aborts the association on the second."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ae_title = "ABORTER"
        self.received: list[str] = []
        self._lock = threading.Lock()

    def on_store(self, event: evt.Event) -> int:
        with self._lock:
            self.received.append(str(event.request.AffectedSOPInstanceUID))
            n = len(self.received)
        if n == 2:
            event.assoc.abort()
        return 0x0000

    def __enter__(self) -> AbortingDestination:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid, list(TRANSFER_SYNTAXES))
        self._server = ae.start_server(
            (HOST, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.on_store)]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


def c_move(server: LiveServer, dest: str, uid: str) -> list[Dataset]:
    ae = requestor("PYMOVE", [(STUDY_ROOT_MOVE, [EXPLICIT_LE])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        return [s for s, _ in assoc.send_c_move(ident(uid), dest, STUDY_ROOT_MOVE) if s is not None]
    finally:
        assoc.release()


def test_move_whose_destination_aborts_midway(
    server: LiveServer, study: tuple[str, dict[str, set[str]], set[str]]
) -> None:
    uid, _storage, instances = study
    n = len(instances)
    with AbortingDestination() as dest:
        server.cli(
            "modality", "add", "aborter", "--ae", dest.ae_title, "--host", HOST, "--port", str(dest.port)
        )
        started = time.monotonic()
        statuses = c_move(server, dest.ae_title, uid)
        elapsed = time.monotonic() - started
    # The abort is noticed at once (not after a DIMSE timeout) and the move ends with a failure
    # count for what was not delivered; the first sub-operation completed.
    assert elapsed < 10, elapsed
    assert len(dest.received) == 2
    final = statuses[-1]
    assert final.Status != 0x0000
    completed, failed, warning = counts(final)
    assert completed == 1 and warning == 0
    assert failed >= 1

    # The listener is fine afterwards: a move to a healthy destination delivers everything.
    with Receiver(ae_title="HEALTHY") as healthy:
        server.cli(
            "modality", "add", "healthy", "--ae", "HEALTHY", "--host", HOST, "--port", str(healthy.port)
        )
        statuses = c_move(server, "HEALTHY", uid)
        assert statuses[-1].Status == 0x0000
        assert counts(statuses[-1]) == (n, 0, 0)
        healthy.wait_for(n)
        assert {r.sop_instance_uid for r in healthy.received} == instances


def test_get_cancelled_after_the_first_sub_operation(
    server: LiveServer, study: tuple[str, dict[str, set[str]], set[str]]
) -> None:
    """A C-CANCEL that arrives while VetPACS waits for a C-STORE response is honoured."""
    uid, storage, instances = study
    received: list[str] = []
    holder: dict[str, object] = {}

    def on_store(event: evt.Event) -> int:
        received.append(str(event.request.AffectedSOPInstanceUID))
        if len(received) == 1:
            # Sent before this sub-operation's response: VetPACS reads the C-CANCEL first.
            holder["assoc"].send_c_cancel(1, query_model=STUDY_ROOT_GET)  # type: ignore[attr-defined]
        return 0x0000

    contexts = [(STUDY_ROOT_GET, [EXPLICIT_LE])] + [(sop, sorted(ts)) for sop, ts in storage.items()]
    ae = requestor("PYGET", contexts)
    roles = [build_role(sop, scp_role=True) for sop in storage]
    assoc = ae.associate(
        HOST, server.dicom_port, ae_title=AET, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    assert assoc.is_established
    holder["assoc"] = assoc
    try:
        statuses = [s for s, _ in assoc.send_c_get(ident(uid), STUDY_ROOT_GET, msg_id=1) if s is not None]
    finally:
        assoc.release()
    final = statuses[-1]
    assert final.Status == 0xFE00  # Sub-operations terminated due to Cancel indication
    assert len(received) == 1
    assert counts(final) == (1, 0, 0)
    assert final.NumberOfRemainingSuboperations == len(instances) - 1


def test_get_over_tls(
    server_factory: object,
    tmp_path: Path,
    demo_files: list[Path],
    study: tuple[str, dict[str, set[str]], set[str]],
) -> None:
    """Over TLS the sub-operations' responses come through pynetdicom; counts are the same."""
    from test_tls import self_signed

    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    srv: LiveServer = server_factory(  # type: ignore[operator]
        VETPACS_TLS_CERT=str(cert), VETPACS_TLS_KEY=str(key), VETPACS_DICOM_TLS_PORT=str(tls_port)
    )
    srv.start()
    proc = dcmtk("storescu", "-aec", AET, HOST, str(srv.dicom_port), *[str(f) for f in demo_files])
    assert proc.returncode == 0, proc.stderr
    uid, storage, instances = study
    context = ssl.create_default_context(cafile=str(cert))
    answers = [failure_with_comment(), 0xB007]
    responses, received = c_get(srv, uid, storage, answers, port=tls_port, tls=(context, "localhost"))
    assert set(received) == instances
    assert responses[-1][0].Status == 0xB000
    assert counts(responses[-1][0]) == (len(instances) - 2, 1, 1)
