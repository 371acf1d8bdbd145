"""C-MOVE (movescu, pynetdicom) and C-GET (getscu, pynetdicom) against a running ``vetpacs serve``.

The archive holds the demo studies (sent with storescu) and a set of pydicom test files in nine
transfer syntaxes (sent raw with pynetdicom). C-MOVE destinations are registered with
``vetpacs modality add``; the destination is a pynetdicom storage SCP bound to 127.0.0.1. Every
retrieved instance must arrive in its stored transfer syntax with exactly the stored data set bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_support import (
    AET,
    EXPLICIT_LE,
    HOST,
    LiveServer,
    Receiver,
    count,
    dataset_part,
    dcmtk,
    module_server,
    requestor,
    stored_bytes,
    stored_row,
)
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom import _config, build_role, evt

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]  # the archive is filled with storescu

STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"

# Test files in many transfer syntaxes (distinct SOP Instance UIDs), stored raw.
SYNTAX_FILES = [
    "CT_small.dcm",  # explicit VR LE, with trailing padding
    "MR_small_bigendian.dcm",  # explicit VR BE
    "image_dfl.dcm",  # deflated
    "JPEG-lossy.dcm",  # JPEG extended       \
    "JPEG-LL.dcm",  # JPEG lossless SV1        > one SC study, three syntaxes
    "JPEG2000.dcm",  # JPEG 2000              /
    "SC_rgb_rle.dcm",  # RLE
    "US1_J2KR.dcm",  # JPEG 2000 lossless    \ one US study, two syntaxes
    "US1_J2KI.dcm",  # JPEG 2000             /
]


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        pytest.fail(f"pydicom test file {name} is missing")
    return Path(path)


@pytest.fixture(scope="module")
def syntax_files() -> dict[str, Path]:
    """SOP Instance UID -> file, for the multi-syntax set."""
    files = {}
    for name in SYNTAX_FILES:
        path = pydicom_file(name)
        files[str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = path
    assert len(files) == len(SYNTAX_FILES)
    return files


@pytest.fixture(scope="module")
def demo_by_uid(demo_files: list[Path]) -> dict[str, Path]:
    return {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in demo_files}


@pytest.fixture(scope="module")
def retrieve_server(
    tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path], syntax_files: dict[str, Path]
) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("retrieve-server")) as srv:
        proc = dcmtk("storescu", "-aec", AET, HOST, str(srv.dicom_port), *[str(f) for f in demo_files])
        assert proc.returncode == 0, proc.stderr
        send_raw(srv, list(syntax_files.values()))
        assert count(srv, "instances") == len(demo_files) + len(syntax_files)
        yield srv


def send_raw(server: LiveServer, paths: list[Path]) -> None:
    """C-STORE each file's data set bytes untouched, in its own transfer syntax."""
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        metas = [dcmread(p, stop_before_pixels=True) for p in paths]
        ae = requestor("RAWSCU", [(str(m.SOPClassUID), [str(m.file_meta.TransferSyntaxUID)]) for m in metas])
        assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
        assert assoc.is_established
        try:
            assert [assoc.send_c_store(p).Status for p in paths] == [0] * len(paths)
        finally:
            assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old


def uid_of(path: Path, keyword: str = "SOPInstanceUID") -> str:
    return str(dcmread(path, stop_before_pixels=True)[keyword].value)


@pytest.fixture(scope="module")
def registered_destination(retrieve_server: LiveServer) -> Iterator[Receiver]:
    """A storage SCP registered with ``vetpacs modality add`` as a C-MOVE destination."""
    with Receiver(ae_title="MOVEDEST") as rcv:
        out = retrieve_server.cli(
            "modality", "add", "move-dest", "--ae", rcv.ae_title, "--host", HOST, "--port", str(rcv.port)
        )
        assert out.stdout.strip() == f"added move-dest: MOVEDEST@{HOST}:{rcv.port}"
        yield rcv


@pytest.fixture
def destination(registered_destination: Receiver) -> Receiver:
    """The registered destination, with nothing received yet."""
    registered_destination.clear()
    return registered_destination


def assert_received_as_stored(
    server: LiveServer, received: Receiver, uids: set[str], sender: str | None = AET
) -> None:
    got = received.by_uid()
    assert set(got) == uids
    assert len(received.received) == len(uids), "an instance arrived twice"
    for uid, item in got.items():
        row = stored_row(server, uid)
        assert row is not None
        assert item.transfer_syntax == row["transfer_syntax_uid"], uid
        assert item.sop_class_uid == row["sop_class_uid"]
        assert item.dataset_bytes == dataset_part(stored_bytes(server, uid)), uid
        if sender is not None:  # C-MOVE: the archive opens the sub-association under its AE title
            assert item.calling_aet == sender


def movescu(server: LiveServer, dest: str, model: str, *keys: str) -> str:
    args = ["-v", model, "-aet", "MOVESCU", "-aec", AET, "-aem", dest]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("movescu", *args, HOST, str(server.dicom_port))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    return text


# ------------------------------------------------------------------------------------ C-MOVE
def test_movescu_study(
    retrieve_server: LiveServer, destination: Receiver, demo_by_uid: dict[str, Path]
) -> None:
    ct = [f for f in demo_by_uid.values() if dcmread(f, stop_before_pixels=True).Modality == "CT"]
    assert len(ct) == 8
    study = uid_of(ct[0], "StudyInstanceUID")
    out = movescu(
        retrieve_server, destination.ae_title, "-S", "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"
    )
    assert "Received Final Move Response (Success)" in out
    expected = {uid_of(f) for f in ct}
    assert_received_as_stored(retrieve_server, destination, expected)
    for uid, item in destination.by_uid().items():
        assert item.transfer_syntax == EXPLICIT_LE
        assert item.dataset_bytes == dataset_part(demo_by_uid[uid].read_bytes())


def test_movescu_series_and_image_levels(
    retrieve_server: LiveServer, destination: Receiver, demo_by_uid: dict[str, Path]
) -> None:
    skull = [
        f for f in demo_by_uid.values() if dcmread(f, stop_before_pixels=True).SeriesDescription == "Skull"
    ]
    assert len(skull) == 2
    study, series = uid_of(skull[0], "StudyInstanceUID"), uid_of(skull[0], "SeriesInstanceUID")
    movescu(
        retrieve_server,
        destination.ae_title,
        "-S",
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={study}",
        f"SeriesInstanceUID={series}",
    )
    assert_received_as_stored(retrieve_server, destination, {uid_of(f) for f in skull})

    destination.clear()
    one = uid_of(skull[1])
    movescu(
        retrieve_server,
        destination.ae_title,
        "-S",
        "QueryRetrieveLevel=IMAGE",
        f"StudyInstanceUID={study}",
        f"SeriesInstanceUID={series}",
        f"SOPInstanceUID={one}",
    )
    assert_received_as_stored(retrieve_server, destination, {one})


def test_movescu_patient_root(
    retrieve_server: LiveServer, destination: Receiver, demo_by_uid: dict[str, Path]
) -> None:
    luna = {
        u for u, f in demo_by_uid.items() if dcmread(f, stop_before_pixels=True).PatientName == "BAKER^Luna"
    }
    assert len(luna) == 6
    pid = uid_of(demo_by_uid[next(iter(luna))], "PatientID")
    out = movescu(
        retrieve_server, destination.ae_title, "-P", "QueryRetrieveLevel=PATIENT", f"PatientID={pid}"
    )
    assert "Received Final Move Response (Success)" in out
    assert_received_as_stored(retrieve_server, destination, luna)


def test_move_keeps_every_stored_transfer_syntax(
    retrieve_server: LiveServer, destination: Receiver, syntax_files: dict[str, Path]
) -> None:
    studies = sorted({uid_of(p, "StudyInstanceUID") for p in syntax_files.values()})
    assert len(studies) == 6
    out = movescu(
        retrieve_server,
        destination.ae_title,
        "-S",
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID=" + "\\".join(studies),
    )
    assert "Received Final Move Response (Success)" in out, out
    assert_received_as_stored(retrieve_server, destination, set(syntax_files))
    got = destination.by_uid()
    assert {got[u].transfer_syntax for u in syntax_files} == {
        str(dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in syntax_files.values()
    }
    for uid, path in syntax_files.items():
        assert got[uid].dataset_bytes == dataset_part(path.read_bytes()), path.name


def pymove(server: LiveServer, dest: str, ident: Dataset, model: str = STUDY_ROOT_MOVE) -> list[Dataset]:
    ae = requestor("PYMOVE", [(model, [EXPLICIT_LE])])
    assoc = ae.associate(HOST, server.dicom_port, ae_title=AET)
    assert assoc.is_established
    try:
        return [status for status, _ in assoc.send_c_move(ident, dest, model) if status is not None]
    finally:
        assoc.release()


def study_ident(uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = uid
    return ds


def test_move_statuses_and_sub_operation_counts(
    retrieve_server: LiveServer, destination: Receiver, demo_by_uid: dict[str, Path]
) -> None:
    kiwi = {
        u for u, f in demo_by_uid.items() if dcmread(f, stop_before_pixels=True).PatientName == "ROSSI^Kiwi"
    }
    study = uid_of(demo_by_uid[next(iter(kiwi))], "StudyInstanceUID")
    statuses = pymove(retrieve_server, destination.ae_title, study_ident(study))
    # Pending responses are optional; VetPACS sends the first and then at most one per 0.25 s
    # (dicom/tuning.py), so three quick sub-operations give one to three of them.
    pending, final_status = statuses[:-1], statuses[-1].Status
    assert final_status == 0x0000 and 1 <= len(pending) <= 3
    assert all(s.Status == 0xFF00 for s in pending)
    remaining = [s.NumberOfRemainingSuboperations for s in pending]
    assert remaining[0] == 2 and remaining == sorted(remaining, reverse=True)
    final = statuses[-1]
    assert (
        final.NumberOfCompletedSuboperations,
        final.NumberOfFailedSuboperations,
        final.NumberOfWarningSuboperations,
    ) == (3, 0, 0)
    assert_received_as_stored(retrieve_server, destination, kiwi)

    # No match: success with nothing to do.
    destination.clear()
    statuses = pymove(retrieve_server, destination.ae_title, study_ident("1.2.826.0.1.3680043.99.1"))
    assert [s.Status for s in statuses] == [0x0000]
    assert statuses[0].NumberOfCompletedSuboperations == 0
    assert destination.received == []


def test_move_to_unknown_destination_fails_with_a801(
    retrieve_server: LiveServer, destination: Receiver, demo_by_uid: dict[str, Path]
) -> None:
    study = uid_of(next(iter(demo_by_uid.values())), "StudyInstanceUID")
    proc = dcmtk(
        "movescu",
        "-v",
        "-S",
        "-aec",
        AET,
        "-aem",
        "NOWHERE",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={study}",
        HOST,
        str(retrieve_server.dicom_port),
    )
    assert "Refused: MoveDestinationUnknown" in proc.stdout + proc.stderr
    statuses = pymove(retrieve_server, "NOWHERE", study_ident(study))
    assert [s.Status for s in statuses] == [0xA801]
    assert destination.received == []
    assert "unknown destination 'NOWHERE'" in retrieve_server.log()


def test_move_with_invalid_identifier_fails_with_a900(
    retrieve_server: LiveServer, destination: Receiver
) -> None:
    ident = Dataset()
    ident.QueryRetrieveLevel = "PATIENT"  # not part of the Study Root model
    ident.PatientID = "VP000101"
    statuses = pymove(retrieve_server, destination.ae_title, ident)
    assert [s.Status for s in statuses] == [0xA900]
    ident.QueryRetrieveLevel = "SERIESX"
    statuses = pymove(retrieve_server, destination.ae_title, ident, PATIENT_ROOT_MOVE)
    assert [s.Status for s in statuses] == [0xA900]
    assert destination.received == []


def test_modality_add_list_remove(retrieve_server: LiveServer, demo_by_uid: dict[str, Path]) -> None:
    srv = retrieve_server
    with Receiver(ae_title="LISTDEST") as rcv:
        out = srv.cli(
            "modality",
            "add",
            "xray-room-1",
            "--ae",
            "LISTDEST",
            "--host",
            HOST,
            "--port",
            str(rcv.port),
            "--description",
            "room 1",
        )
        assert out.stdout.strip() == f"added xray-room-1: LISTDEST@{HOST}:{rcv.port}"
        listing = srv.cli("modality", "list").stdout
        line = next(ln for ln in listing.splitlines() if "xray-room-1" in ln)
        for part in ("LISTDEST", HOST, str(rcv.port), "room 1"):
            assert part in line
        # Names are unique; AE titles are checked.
        dup = srv.cli(
            "modality", "add", "xray-room-1", "--ae", "OTHER", "--host", HOST, "--port", "104", check=False
        )
        assert dup.returncode == 2
        bad = srv.cli(
            "modality", "add", "bad", "--ae", "A" * 17, "--host", HOST, "--port", "104", check=False
        )
        assert bad.returncode == 2
        assert "bad " not in srv.cli("modality", "list").stdout

        study = uid_of(next(iter(demo_by_uid.values())), "StudyInstanceUID")
        statuses = pymove(srv, "LISTDEST", study_ident(study))
        assert statuses[-1].Status == 0x0000 and rcv.received

        out = srv.cli("modality", "remove", "xray-room-1")
        assert out.stdout.strip() == "removed xray-room-1"
        assert "xray-room-1" not in srv.cli("modality", "list").stdout
        assert srv.cli("modality", "remove", "xray-room-1", check=False).returncode == 2
        rcv.clear()
        statuses = pymove(srv, "LISTDEST", study_ident(study))
        assert [s.Status for s in statuses] == [0xA801]
        assert rcv.received == []


# ------------------------------------------------------------------------------------ C-GET
def getscu(server: LiveServer, out_dir: Path, model: str, *keys: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    # +B: write what arrives straight to disk (otherwise getscu re-encodes it)
    args = ["-v", "+B", model, "-aet", "GETSCU", "-aec", AET, "-od", str(out_dir)]
    for k in keys:
        args += ["-k", k]
    proc = dcmtk("getscu", *args, HOST, str(server.dicom_port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {uid_of(p): p for p in out_dir.iterdir() if p.is_file()}
    assert len(files) == len(list(out_dir.iterdir()))
    return files


def test_getscu_study_level(
    retrieve_server: LiveServer, tmp_path: Path, demo_by_uid: dict[str, Path]
) -> None:
    dental = {u: f for u, f in demo_by_uid.items() if dcmread(f, stop_before_pixels=True).Modality == "IO"}
    assert len(dental) == 4
    study = uid_of(next(iter(dental.values())), "StudyInstanceUID")
    got = getscu(retrieve_server, tmp_path, "-S", "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}")
    assert set(got) == set(dental)
    for uid, path in got.items():
        assert dataset_part(path.read_bytes()) == dataset_part(dental[uid].read_bytes())
        assert dataset_part(path.read_bytes()) == dataset_part(stored_bytes(retrieve_server, uid))


def test_getscu_series_level(
    retrieve_server: LiveServer, tmp_path: Path, demo_by_uid: dict[str, Path]
) -> None:
    ct = {u: f for u, f in demo_by_uid.items() if dcmread(f, stop_before_pixels=True).Modality == "CT"}
    first = next(iter(ct.values()))
    got = getscu(
        retrieve_server,
        tmp_path,
        "-S",
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={uid_of(first, 'StudyInstanceUID')}",
        f"SeriesInstanceUID={uid_of(first, 'SeriesInstanceUID')}",
    )
    assert set(got) == set(ct) and len(got) == 8
    for uid, path in got.items():
        assert dataset_part(path.read_bytes()) == dataset_part(ct[uid].read_bytes())


def test_getscu_patient_root(
    retrieve_server: LiveServer, tmp_path: Path, demo_by_uid: dict[str, Path]
) -> None:
    ruby = {
        u: f
        for u, f in demo_by_uid.items()
        if dcmread(f, stop_before_pixels=True).PatientName == "KOWALSKI^Ruby"
    }
    assert len(ruby) == 9
    pid = uid_of(next(iter(ruby.values())), "PatientID")
    got = getscu(retrieve_server, tmp_path, "-P", "QueryRetrieveLevel=PATIENT", f"PatientID={pid}")
    assert set(got) == set(ruby)
    for uid, path in got.items():
        assert dataset_part(path.read_bytes()) == dataset_part(ruby[uid].read_bytes())


def pyget(
    server: LiveServer, ident: Dataset, storage: dict[str, set[str]], model: str = STUDY_ROOT_GET
) -> tuple[list[Dataset], Receiver]:
    """C-GET with pynetdicom, offering each (storage class, syntax) pair as its own context (SCP role)."""
    got = Receiver()  # used as a container only
    contexts = [(model, [EXPLICIT_LE])] + [
        (sop, [ts]) for sop, syntaxes in storage.items() for ts in syntaxes
    ]
    ae = requestor("PYGET", contexts)
    roles = [build_role(sop, scp_role=True) for sop in storage]
    assoc = ae.associate(
        HOST, server.dicom_port, ae_title=AET, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, got._on_store)]
    )
    assert assoc.is_established
    try:
        statuses = [status for status, _ in assoc.send_c_get(ident, model) if status is not None]
    finally:
        assoc.release()
    return statuses, got


def test_get_keeps_every_stored_transfer_syntax(
    retrieve_server: LiveServer, syntax_files: dict[str, Path]
) -> None:
    storage: dict[str, set[str]] = {}
    for path in syntax_files.values():
        meta = dcmread(path, stop_before_pixels=True)
        storage.setdefault(str(meta.SOPClassUID), set()).add(str(meta.file_meta.TransferSyntaxUID))
    studies = sorted({uid_of(p, "StudyInstanceUID") for p in syntax_files.values()})
    statuses, got = pyget(retrieve_server, study_ident("\\".join(studies)), storage)
    assert statuses[-1].Status == 0x0000
    assert statuses[-1].NumberOfCompletedSuboperations == len(syntax_files)
    # Pending responses are optional and thinned out in time (dicom/tuning.py): the first goes out,
    # not one per sub-operation, and each carries consistent counts.
    pending = [s for s in statuses if s.Status == 0xFF00]
    assert 1 <= len(pending) < len(syntax_files) - 1, len(pending)
    for s in pending:
        done = (
            s.NumberOfCompletedSuboperations + s.NumberOfFailedSuboperations + s.NumberOfWarningSuboperations
        )
        assert s.NumberOfRemainingSuboperations + done == len(syntax_files)
    assert_received_as_stored(retrieve_server, got, set(syntax_files), sender=None)
    for uid, path in syntax_files.items():
        assert got.by_uid()[uid].dataset_bytes == dataset_part(path.read_bytes()), path.name


def test_get_with_invalid_identifier_fails_with_a900(retrieve_server: LiveServer) -> None:
    ident = Dataset()
    ident.QueryRetrieveLevel = "PATIENT"
    ident.PatientID = "VP000101"
    statuses, got = pyget(retrieve_server, ident, {"1.2.840.10008.5.1.4.1.1.1.1": {EXPLICIT_LE}})
    assert [s.Status for s in statuses] == [0xA900]
    assert got.received == []
