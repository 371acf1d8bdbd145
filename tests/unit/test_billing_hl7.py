"""DFT^P03 from billing events: a malformed ``charge.*`` payload is a clear delivery error, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.auth.roles import SYSTEM
from vetpacs.config import Settings
from vetpacs.integration.dispatcher import DeliveryJob, EventRecord, PartnerTarget
from vetpacs.integration.hl7.outbound import Hl7Transport
from vetpacs.patients.schemas import AnimalCreate
from vetpacs.patients.service import create_animal


def job(event_type: str, payload: dict[str, object]) -> DeliveryJob:
    partner = PartnerTarget(id=1, name="pms", kind="hl7", host="127.0.0.1", port=1)
    event = EventRecord(1, event_type, "order", "1", payload, "billing", utcnow())
    return DeliveryJob(delivery_id=1, attempt=1, ordering_key="order:1", partner=partner, event=event)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"animal_id": 1, "charges": []}, "no charges"),
        ({"animal_id": 1}, "no charges"),
        (
            {"animal_id": 999, "charges": [{"id": 1, "fee_code": "X", "quantity": "1", "unit_price": "1"}]},
            "no animal",
        ),
    ],
)
def test_bad_charge_events_are_delivery_errors(
    archive: Archive, tmp_path: Path, payload: dict[str, object], error: str
) -> None:
    transport = Hl7Transport(archive, Settings(data_dir=tmp_path))
    assert transport.handles("charge.posted") and transport.handles("charge.voided")
    outcome = transport.send(job("charge.posted", payload))
    assert not outcome.delivered
    assert outcome.error.startswith("cannot build the message") and error in outcome.error


def test_a_bad_amount_names_the_field(archive: Archive, tmp_path: Path) -> None:
    rex = create_animal(archive, AnimalCreate(name="Rex"), actor=SYSTEM)
    charge = {"id": 1, "fee_code": "RAD-THX2", "quantity": "abc", "unit_price": "95.00", "currency": "EUR"}
    outcome = Hl7Transport(archive, Settings(data_dir=tmp_path)).send(
        job("charge.posted", {"animal_id": rex.id, "charges": [charge]})
    )
    assert not outcome.delivered and "quantity 'abc' is not a number" in outcome.error
