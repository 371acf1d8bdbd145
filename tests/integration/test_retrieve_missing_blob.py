"""A blob that vanished from disk makes a retrieve fail with a clear status, not a crash or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.integration

DX = "1.2.840.10008.5.1.4.1.1.1.1"


def test_cget_with_a_missing_blob_ends_with_a_failure_status(server: object, demo_files: list[Path]) -> None:
    srv = server
    result = srv.cli("import", *[str(p) for p in demo_files])  # type: ignore[attr-defined]
    assert "rejected: 0" in result.stdout, result.stdout
    engine = create_engine(srv.database_url)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        study_uid, key, sop_uid = conn.execute(
            text(
                "SELECT st.study_instance_uid, i.blob_key, i.sop_instance_uid FROM instances i "
                "JOIN series se ON i.series_pk = se.id JOIN studies st ON se.study_pk = st.id "
                "WHERE i.sop_class_uid = :dx ORDER BY i.id LIMIT 1"
            ),
            {"dx": DX},
        ).one()
    engine.dispose()
    (srv.data_dir / "blobs" / key).unlink()  # type: ignore[attr-defined]

    ae = AE(ae_title="GETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(DX)
    received: list[str] = []

    def on_store(event: object) -> int:
        received.append(str(event.request.AffectedSOPInstanceUID))  # type: ignore[attr-defined]
        return 0x0000

    from pynetdicom import evt

    assoc = ae.associate(
        "127.0.0.1",
        srv.dicom_port,  # type: ignore[attr-defined]
        ae_title="VETPACS",
        ext_neg=[build_role(DX, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = study_uid
    statuses = [status for status, _ in assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    final = statuses[-1]
    assert final.Status == 0xC000
    assert sop_uid in str(final.get("ErrorComment", ""))
    assert sop_uid not in received
    # The server still answers.
    echo = AE(ae_title="ECHOSCU")
    echo.add_requested_context("1.2.840.10008.1.1")
    a = echo.associate("127.0.0.1", srv.dicom_port, ae_title="VETPACS")  # type: ignore[attr-defined]
    assert a.is_established and a.send_c_echo().Status == 0
    a.release()
