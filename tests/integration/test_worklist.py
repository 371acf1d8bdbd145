"""Modality Worklist SCP against a live server with DCMTK ``findscu -W``.

DCMTK's example worklist queries (``/usr/share/doc/dcmtk/examples/wlistqry``, turned into DICOM
with ``dump2dcm``) where they apply, plus AE-title and date filters, veterinary return keys and
broken keys (the listener answers a failure status and keeps serving).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_support import AET, HOST, dcmtk, module_server  # type: ignore[import-not-found]
from pydicom import dcmread
from pydicom.dataset import Dataset

from conftest import LiveServer, require_tool  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

DOG, CAT = "448771007", "448169003"
EXAMPLES = Path("/usr/share/doc/dcmtk/examples/wlistqry")
TODAY = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("worklist")) as server:
        server.cli("catalog", "seed")
        yield server


@pytest.fixture(scope="module")
def booked(srv: LiveServer) -> dict[str, Any]:
    """Two stations; three orders today (two on WLDX1, one cat on WLUS1) and one tomorrow."""
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            assert response.status_code == 201, response.text
            out: dict[str, Any] = response.json()
            return out

        owner = post("/owners", {"family_name": "Müller", "given_name": "Eva"})
        dog = post(
            "/animals",
            {
                "name": "Bello",
                "species_code": DOG,
                "microchip": "276098100012345",
                "owners": [{"owner_id": owner["id"]}],
            },
        )
        cat = post("/animals", {"name": "Minka", "species_code": CAT, "owners": [{"owner_id": owner["id"]}]})
        dx = post(
            "/stations", {"name": "WL DR", "ae_title": "WLDX1", "station_name": "WLDX", "modality": "DX"}
        )
        us = post(
            "/stations", {"name": "WL US", "ae_title": "WLUS1", "station_name": "WLUS", "modality": "US"}
        )
        orders = [
            post(
                "/orders",
                {
                    "animal_id": dog["id"],
                    "procedure_codes": ["DX-THX2"],
                    "schedule": {"station_id": dx["id"], "start": TODAY.isoformat()},
                },
            ),
            post(
                "/orders",
                {
                    "animal_id": dog["id"],
                    "procedure_codes": ["DX-ABD"],
                    "schedule": {"station_id": dx["id"], "start": (TODAY + timedelta(hours=3)).isoformat()},
                },
            ),
            post(
                "/orders",
                {
                    "animal_id": cat["id"],
                    "procedure_codes": ["US-ABD"],
                    "schedule": {"station_id": us["id"], "start": TODAY.isoformat()},
                },
            ),
            post(
                "/orders",
                {
                    "animal_id": cat["id"],
                    "procedure_codes": ["US-ABD"],
                    "schedule": {"station_id": us["id"], "start": (TODAY + timedelta(days=1)).isoformat()},
                },
            ),
        ]
        return {"dog": dog, "cat": cat, "orders": orders}


def findscu_w(
    srv: LiveServer, out: Path, *keys: str, query_file: Path | None = None
) -> tuple[int, str, list[Dataset]]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    args = ["-v", "-W", "-aet", "MODALITY", "-aec", AET, "-X", "-od", str(out)]
    for k in keys:
        args += ["-k", k]
    args += [HOST, str(srv.dicom_port)]
    if query_file is not None:
        args.append(str(query_file))
    proc = dcmtk("findscu", *args)
    return proc.returncode, proc.stdout + proc.stderr, [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def example(name: str, tmp: Path, **replace: str) -> Path:
    """A DCMTK example query, with AE titles/station names adjusted, as a DICOM file (dump2dcm)."""
    text = (EXAMPLES / f"{name}.dump").read_text()
    for old, new in replace.items():
        text = text.replace(f"[{old}]", f"[{new}]")
    dump = tmp / f"{name}.dump"
    dump.write_text(text)
    out = tmp / f"{name}.dcm"
    proc = dcmtk("dump2dcm", str(dump), str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("findscu")
    require_tool("dump2dcm")


def test_dcmtk_example_queries(srv: LiveServer, booked: dict[str, Any], tmp_path: Path) -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("DCMTK example worklist queries not installed")
    # wlistqry0: every item, patient name and requested procedure code
    rc, log, answers = findscu_w(srv, tmp_path / "q0", query_file=example("wlistqry0", tmp_path))
    assert rc == 0, log
    assert len(answers) == 4
    assert {a.RequestedProcedureCodeSequence[0].CodeValue for a in answers} == {"DX-THX2", "DX-ABD", "US-ABD"}
    assert {str(a.PatientName) for a in answers} == {"MÜLLER^Bello", "MÜLLER^Minka"}
    assert all(a.SpecificCharacterSet == "ISO_IR 192" for a in answers)
    # wlistqry1: the classic return keys with an empty (universal) SPS item
    rc, log, answers = findscu_w(srv, tmp_path / "q1", query_file=example("wlistqry1", tmp_path))
    assert rc == 0, log
    assert len(answers) == 4
    for a in answers:
        assert a.AccessionNumber and a.StudyInstanceUID and a.RequestedProcedureID
        assert a.ScheduledProcedureStepSequence[0].ScheduledStationAETitle in ("WLDX1", "WLUS1")
    # wlistqry2/9: station AE title AA2 and station name A2 -> ours
    for name in ("wlistqry2", "wlistqry9"):
        query = example(name, tmp_path, AA2="WLDX1", A2="WLDX")
        rc, log, answers = findscu_w(srv, tmp_path / name, query_file=query)
        assert rc == 0, log
        assert len(answers) == 2
        assert {a.ScheduledProcedureStepSequence[0].Modality for a in answers} == {"DX"}
    # wlistqry5: start time from 12:00 on (any date): the 12:00 DX abdomen only
    rc, log, answers = findscu_w(srv, tmp_path / "q5", query_file=example("wlistqry5", tmp_path))
    assert rc == 0, log
    assert [a.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime for a in answers] == [
        "120000"
    ]
    # wlistqry12: AE title AA4 exists nowhere
    rc, log, answers = findscu_w(srv, tmp_path / "q12", query_file=example("wlistqry12", tmp_path, A2="WLDX"))
    assert rc == 0, log
    assert answers == []


def test_filters_and_veterinary_keys(srv: LiveServer, booked: dict[str, Any], tmp_path: Path) -> None:
    day = TODAY.strftime("%Y%m%d")
    tomorrow = (TODAY + timedelta(days=1)).strftime("%Y%m%d")
    sps = "ScheduledProcedureStepSequence[0]."
    keys = [
        "PatientName",
        "PatientID",
        "PatientSpeciesDescription",
        "PatientSpeciesCodeSequence",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
        "OtherPatientIDsSequence",
        "AccessionNumber",
        f"{sps}ScheduledProcedureStepStartDate={day}",
        f"{sps}ScheduledStationAETitle=WLUS1",
    ]
    rc, log, answers = findscu_w(srv, tmp_path / "us", *keys)
    assert rc == 0, log
    (cat,) = answers
    assert cat.PatientSpeciesCodeSequence[0].CodeValue == CAT
    assert str(cat.ResponsiblePerson) == "MÜLLER^Eva" and cat.ResponsiblePersonRole == "OWNER"
    assert len(cat.OtherPatientIDsSequence) == 0
    rc, log, answers = findscu_w(
        srv,
        tmp_path / "range",
        "AccessionNumber",
        f"{sps}ScheduledProcedureStepStartDate={day}-{tomorrow}",
        f"{sps}Modality=US",
    )
    assert rc == 0, log
    assert len(answers) == 2
    rc, log, answers = findscu_w(
        srv,
        tmp_path / "pid",
        "PatientName",
        f"PatientID={booked['dog']['patient_id']}",
        "OtherPatientIDsSequence",
    )
    assert rc == 0, log
    assert len(answers) == 2
    assert answers[0].OtherPatientIDsSequence[0].PatientID == "276098100012345"
    accession = booked["orders"][0]["accession_number"]
    rc, log, answers = findscu_w(srv, tmp_path / "acc", f"AccessionNumber={accession}")
    assert rc == 0, log
    assert [a.AccessionNumber for a in answers] == [accession]
    rc, log, answers = findscu_w(
        srv, tmp_path / "name", "SpecificCharacterSet=ISO_IR 192", "PatientName=MÜLLER^Min*", "PatientID"
    )
    assert rc == 0, log
    assert len(answers) == 2


def test_cancelled_steps_leave_the_worklist(srv: LiveServer, booked: dict[str, Any], tmp_path: Path) -> None:
    order = booked["orders"][3]
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        response = api.post(f"/orders/{order['id']}/cancel", json={"reason": "owner called"})
        assert response.status_code == 200, response.text
    rc, log, answers = findscu_w(srv, tmp_path / "c", f"AccessionNumber={order['accession_number']}")
    assert rc == 0, log
    assert answers == []


@pytest.mark.parametrize(
    "key",
    [
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20251301",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20250105-20250101",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime=2500",
    ],
)
def test_broken_keys_fail_and_the_listener_keeps_serving(
    srv: LiveServer, booked: dict[str, Any], tmp_path: Path, key: str
) -> None:
    _rc, log, answers = findscu_w(srv, tmp_path / "bad", "PatientName", key)
    assert answers == []
    assert re.search(r"DataSetDoesNotMatchSOPClass|0xa900", log, re.I), log
    rc, log, answers = findscu_w(srv, tmp_path / "good", "PatientName")
    assert rc == 0 and len(answers) >= 3, log


def test_a_non_sequence_sps_is_a_failure(srv: LiveServer, booked: dict[str, Any], tmp_path: Path) -> None:
    dump = tmp_path / "bad.dump"
    dump.write_text("(0010,0010) PN []\n(0040,0100) LO [DX]\n")
    query = tmp_path / "bad.dcm"
    proc = dcmtk("dump2dcm", str(dump), str(query))
    assert proc.returncode == 0, proc.stderr
    _rc, log, answers = findscu_w(srv, tmp_path / "nonseq", query_file=query)
    assert answers == []
    assert re.search(r"DataSetDoesNotMatchSOPClass|0xa900", log, re.I), log
