"""Storage Commitment Push Model (PS3.4 J) against a running ``vetpacs serve``, with pynetdicom.

The requestor's AE is registered with ``vetpacs modality add``. The N-EVENT-REPORT comes back on the
same association when the requestor keeps it open, otherwise on a new association to the
registered node (the report's sender takes the SCP role of the Storage Commitment class).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_support import AET, HOST, LiveServer, Receiver, dcmtk, free_port, module_server, requestor
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import evt

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]  # the archive is filled with storescu

COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
NO_SUCH_OBJECT = 0x0112
SCU_AET = "COMMITSCU"


class Reports:
    """Collects N-EVENT-REPORT requests (event type, information) received by a handler."""

    def __init__(self) -> None:
        self.items: list[tuple[int, Dataset, str]] = []
        self.arrived = threading.Event()

    def handler(self, event: evt.Event) -> tuple[int, None]:
        self.items.append(
            (int(event.event_type), event.event_information, str(event.request.AffectedSOPClassUID))
        )
        self.arrived.set()
        return 0x0000, None


@pytest.fixture(scope="module")
def stored(demo_files: list[Path]) -> list[Dataset]:
    """Two demo instances the module server holds (their headers)."""
    return [dcmread(f, stop_before_pixels=True) for f in demo_files[:2]]


@pytest.fixture(scope="module")
def report_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def commit_server(
    tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path], report_port: int
) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("commitment-server")) as srv:
        proc = dcmtk("storescu", "-aec", AET, HOST, str(srv.dicom_port), *[str(f) for f in demo_files[:2]])
        assert proc.returncode == 0, proc.stderr
        out = srv.cli(
            "modality", "add", "commit-scu", "--ae", SCU_AET, "--host", HOST, "--port", str(report_port)
        )
        assert out.returncode == 0
        yield srv


def request(items: list[tuple[str, str]]) -> Dataset:
    info = Dataset()
    info.TransactionUID = generate_uid()
    refs = []
    for sop_class, sop_instance in items:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_instance
        refs.append(ref)
    info.ReferencedSOPSequence = refs
    return info


def refs(seq: list[Dataset]) -> list[tuple[str, str]]:
    return [(str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID)) for i in seq]


def n_action(server: LiveServer, info: Dataset, reports: Reports | None, keep_open: float) -> int:
    """Send the N-ACTION; keep the association open up to ``keep_open`` s waiting for the report."""
    ae = requestor(SCU_AET, [(COMMITMENT, [EXPLICIT_LE])])
    handlers = [(evt.EVT_N_EVENT_REPORT, reports.handler)] if reports else []
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET, evt_handlers=handlers)
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_action(info, 1, COMMITMENT, COMMITMENT_INSTANCE)
        assert status is not None
        if reports is not None:
            reports.arrived.wait(keep_open)
    finally:
        assoc.release()
    return int(status.Status)


def test_report_on_the_same_association(commit_server: LiveServer, stored: list[Dataset]) -> None:
    good = (str(stored[0].SOPClassUID), str(stored[0].SOPInstanceUID))
    unknown = (good[0], generate_uid())
    info = request([good, unknown])
    reports = Reports()
    started = time.monotonic()
    assert n_action(commit_server, info, reports, keep_open=5) == 0x0000
    assert reports.arrived.is_set(), "no N-EVENT-REPORT within 5 s on the open association"
    assert time.monotonic() - started < 5
    assert len(reports.items) == 1
    event_type, report, sop_class = reports.items[0]
    assert sop_class == COMMITMENT
    assert event_type == 2  # some failed
    assert report.TransactionUID == info.TransactionUID
    assert refs(report.ReferencedSOPSequence) == [good]
    assert refs(report.FailedSOPSequence) == [unknown]
    assert report.FailedSOPSequence[0].FailureReason == NO_SUCH_OBJECT


def test_report_on_a_new_association(
    commit_server: LiveServer, stored: list[Dataset], report_port: int
) -> None:
    """The requestor releases at once: the report goes to the node registered for its AE title."""
    good = [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in stored]
    unknown = ("1.2.840.10008.5.1.4.1.1.1.1", generate_uid())
    info = request([good[0], unknown, good[1]])
    reports = Reports()
    with Receiver(
        ae_title=SCU_AET,
        port=report_port,
        extra_contexts=[(COMMITMENT, False, True)],
        handlers=[(evt.EVT_N_EVENT_REPORT, reports.handler)],
    ):
        assert n_action(commit_server, info, None, keep_open=0) == 0x0000
        assert reports.arrived.wait(10), "no N-EVENT-REPORT on a new association within 10 s"
    assert len(reports.items) == 1
    event_type, report, sop_class = reports.items[0]
    assert (event_type, sop_class) == (2, COMMITMENT)
    assert report.TransactionUID == info.TransactionUID
    assert refs(report.ReferencedSOPSequence) == good
    assert refs(report.FailedSOPSequence) == [unknown]
    assert report.FailedSOPSequence[0].FailureReason == NO_SUCH_OBJECT
    assert f"storage commitment {info.TransactionUID} reported to {SCU_AET}" in commit_server.log()


def test_all_committed_is_event_type_1(commit_server: LiveServer, stored: list[Dataset]) -> None:
    items = [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in stored]
    reports = Reports()
    assert n_action(commit_server, request(items), reports, keep_open=5) == 0x0000
    assert reports.arrived.is_set()
    event_type, report, _ = reports.items[0]
    assert event_type == 1
    assert refs(report.ReferencedSOPSequence) == items
    assert "FailedSOPSequence" not in report


def test_wrong_sop_class_is_not_committed(commit_server: LiveServer, stored: list[Dataset]) -> None:
    """Known instance, wrong SOP class: a failure (processing failure), not a commitment."""
    wrong = ("1.2.840.10008.5.1.4.1.1.7", str(stored[0].SOPInstanceUID))
    reports = Reports()
    assert n_action(commit_server, request([wrong]), reports, keep_open=5) == 0x0000
    assert reports.arrived.is_set()
    event_type, report, _ = reports.items[0]
    assert event_type == 2
    assert "ReferencedSOPSequence" not in report
    assert refs(report.FailedSOPSequence) == [wrong]
    assert report.FailedSOPSequence[0].FailureReason == 0x0110


def test_bad_action_type_and_request(commit_server: LiveServer) -> None:
    ae = requestor(SCU_AET, [(COMMITMENT, [EXPLICIT_LE])])
    assoc = ae.associate(HOST, commit_server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        info = request([("1.2.840.10008.5.1.4.1.1.2", generate_uid())])
        status, _ = assoc.send_n_action(info, 2, COMMITMENT, COMMITMENT_INSTANCE)
        assert status.Status == 0x0123  # no such action
        no_refs = Dataset()
        no_refs.TransactionUID = generate_uid()
        status, _ = assoc.send_n_action(no_refs, 1, COMMITMENT, COMMITMENT_INSTANCE)
        assert status.Status == 0x0110  # processing failure: no Referenced SOP Sequence
    finally:
        assoc.release()
