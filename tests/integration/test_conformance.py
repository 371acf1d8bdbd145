"""docs/conformance.md says what the running server really accepts: negotiate everything it lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.presentation import build_context

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def section_uids(heading: str, stop: str) -> list[str]:
    text = DOC.read_text()
    start = text.index(heading)
    end = text.index(stop, start + len(heading))
    return re.findall(r"\|\s*`([0-9.]+)`\s*\|", text[start:end])


def negotiate(port: int, contexts: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    ae = AE(ae_title="CONFSCU")
    ae.acse_timeout = 10
    ctxs = [build_context(sop, [ts]) for sop, ts in contexts]
    assoc = ae.associate("127.0.0.1", port, contexts=ctxs, ae_title="VETPACS")
    assert assoc.is_established
    accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
    assoc.release()
    return {pair: pair in accepted for pair in contexts}


def test_every_documented_storage_class_and_syntax_is_accepted(server: object) -> None:
    sops = section_uids("## Storage (SCP", "Transfer syntaxes accepted")
    syntaxes = section_uids("Transfer syntaxes accepted", "C-STORE statuses")
    assert len(sops) >= 35 and len(syntaxes) >= 20
    for ts in syntaxes:
        result = negotiate(server.dicom_port, [(sop, ts) for sop in sops])  # type: ignore[attr-defined]
        refused = [sop for (sop, _), ok in result.items() if not ok]
        assert not refused, f"{ts}: refused {refused}"


def test_query_retrieve_commitment_and_verification_are_accepted(server: object) -> None:
    qr = section_uids("## Query/Retrieve", "Transfer syntaxes: Explicit")
    other = (
        section_uids("## Verification", "## Storage (SCP")
        + section_uids("## Storage Commitment Push", "N-ACTION")
        + section_uids("## Modality Worklist (SCP)", "Transfer syntaxes")
        + section_uids("## Modality Performed Procedure Step (SCP)", "Transfer syntaxes")
    )
    assert "1.2.840.10008.5.1.4.31" in other and "1.2.840.10008.3.1.2.3.3" in other
    result = negotiate(
        server.dicom_port,  # type: ignore[attr-defined]
        [(uid, ts) for uid in qr + other for ts in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")],
    )
    assert all(result.values()), [k for k, v in result.items() if not v]


def test_undocumented_classes_are_refused(server: object) -> None:
    rt_plan = "1.2.840.10008.5.1.4.1.1.481.5"  # RT Plan: not a veterinary imaging object here
    made_up = "1.2.3.4.5.6.7"
    documented = set(section_uids("## Storage (SCP", "Transfer syntaxes accepted"))
    assert rt_plan not in documented
    result = negotiate(
        server.dicom_port,  # type: ignore[attr-defined]
        [
            (rt_plan, "1.2.840.10008.1.2.1"),
            (made_up, "1.2.840.10008.1.2.1"),
            ("1.2.840.10008.1.1", "1.2.840.10008.1.2"),
        ],
    )
    assert result == {
        (rt_plan, "1.2.840.10008.1.2.1"): False,
        (made_up, "1.2.840.10008.1.2.1"): False,
        ("1.2.840.10008.1.1", "1.2.840.10008.1.2"): True,
    }
