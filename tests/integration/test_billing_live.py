"""Billing end to end against a live ``vetpacs serve`` with real clients and real receivers.

An order on the worklist -> the simulated X-ray unit (``findscu -W``, MPPS IN PROGRESS / COMPLETED
with pynetdicom, ``storescu``) -> the worker posts the catalog fee as a charge (REST) -> an HL7 PMS
(a real MLLP socket answering AA) gets DFT^P03 with the FT1 fee code and amount, a webhook receiver
gets ``charge.posted`` with a valid signature, FHIR ChargeItem?patient= parses with the R4B models.
An order performed without a fee code, a voided charge and a study with no order show up as missed
charges; a role without ``billing:write`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import hl7
import httpx
import pytest
from dicom_support import created, module_server  # type: ignore[import-not-found]
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from test_webhooks_live import MllpPms, WebhookReceiver, wait_for  # type: ignore[import-not-found]

from conftest import LiveServer, free_port  # type: ignore[import-not-found]
from modality_sim import XrayUnit, send, stray_image  # type: ignore[import-not-found]

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]

DOG = "448771007"
STATION = "BILLDX1"
FAST = {
    "VETPACS_DISPATCHER_POLL_SECONDS": "0.1",
    "VETPACS_DELIVERY_BACKOFF_SECONDS": "0.2",
    "VETPACS_DELIVERY_BACKOFF_MAX_SECONDS": "1",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory.mktemp("billing"), **FAST) as server:
        seeded = server.cli("catalog", "seed")
        assert "fee list lines added (EUR)" in seeded.stdout + seeded.stderr, seeded.stderr
        yield server


@pytest.fixture(scope="module")
def api(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as client:
        yield client


def perform(srv: LiveServer, accession: str, out: Path) -> None:
    """The X-ray unit takes the order's worklist item and performs it (MPPS + images)."""
    unit = XrayUnit(srv, STATION)
    items = [i for i in unit.worklist(out / "mwl") if i.AccessionNumber == accession]
    assert len(items) == 1, [i.AccessionNumber for i in unit.worklist(out / "mwl")]
    unit.acquire(items[0], out / "images")


def charges(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/charges", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_performed_order_is_charged_and_sent_to_the_pms(
    srv: LiveServer, api: httpx.Client, tmp_path: Path
) -> None:
    fees = {f["fee_code"]: f for f in api.get("/fees").json()}
    assert fees["RAD-THX2"]["unit_price"] == "95.00" and fees["RAD-THX2"]["currency"] == "EUR"

    # ------------------------------------------------------------ the PMS: HL7 and a webhook
    pms = MllpPms()
    hl7_port = pms.start()
    hook = WebhookReceiver(port=free_port())
    hook.start()
    try:
        created(
            api.post(
                "/partners",
                json={
                    "name": "pms-hl7",
                    "kind": "hl7",
                    "host": "127.0.0.1",
                    "port": hl7_port,
                    "event_types": ["charge.*"],
                    "receiving_application": "PMS",
                },
            )
        )
        partner = created(
            api.post(
                "/partners",
                json={
                    "name": "pms-hook",
                    "kind": "webhook",
                    "url": hook.url,
                    "event_types": ["charge.posted"],
                },
            )
        )
        hook.secret = partner["secret"]

        # ------------------------------------------------------------ order, worklist, MPPS, images
        owner = created(api.post("/owners", json={"family_name": "Meier", "given_name": "Eva"}))
        animal = created(
            api.post(
                "/animals", json={"name": "Bruno", "species_code": DOG, "owners": [{"owner_id": owner["id"]}]}
            )
        )
        station = created(
            api.post(
                "/stations",
                json={"name": "Billing DR", "ae_title": STATION, "station_name": "BD1", "modality": "DX"},
            )
        )
        start = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0)
        order = created(
            api.post(
                "/orders",
                json={
                    "animal_id": animal["id"],
                    "procedure_codes": ["DX-THX2"],
                    "placer_order_number": "PMS-4711",
                    "schedule": {"station_id": station["id"], "start": start.isoformat()},
                },
            )
        )
        perform(srv, order["accession_number"], tmp_path)

        # ------------------------------------------------------------ the charge (REST)
        wait_for(lambda: charges(api, order=order["id"])["total"] == 1, what="the charge of the order")
        (charge,) = charges(api, order=order["id"])["items"]
        assert (charge["fee_code"], charge["amount"], charge["currency"], charge["status"]) == (
            "RAD-THX2",
            "95.00",
            "EUR",
            "posted",
        )
        assert charge["accession_number"] == order["accession_number"] and charge["animal_id"] == animal["id"]
        assert charge["source"] == "procedure" and charge["study_instance_uid"] == order["study_instance_uid"]
        assert api.get(f"/orders/{order['id']}").json()["status"] == "images_received"  # not reported yet
        again = api.post(f"/billing/orders/{order['id']}/charge")  # idempotent: nothing more
        assert (
            again.status_code == 200
            and again.json()["posted"] == []
            and again.json()["already_charged"] == ["RAD-THX2"]
        )
        assert charges(api, animal=animal["id"])["total"] == 1

        # ------------------------------------------------------------ HL7 DFT^P03
        wait_for(lambda: len(pms.messages) >= 1, what="DFT^P03 at the PMS")
        dft = hl7.parse(pms.messages[0])
        assert str(dft.segment("MSH")[9]) == "DFT^P03"
        assert str(dft.segment("EVN")[1]) == "P03"
        assert str(dft.segment("PID")[5]) == "Meier^Bruno"
        ft1 = dft.segment("FT1")
        assert str(ft1[2]) == str(charge["id"]) and str(ft1[6]) == "CG"
        assert str(ft1[7]) == "RAD-THX2^Thorax, 2 views^L"
        assert str(ft1[10]) == "1" and str(ft1[11]) == "95.00^EUR" and str(ft1[12]) == "95.00^EUR"
        assert str(ft1[23]) == order["accession_number"]
        assert re.fullmatch(r"\d{14}\+0000", str(ft1[4]))

        # ------------------------------------------------------------ webhook charge.posted
        wait_for(lambda: len(hook.received) >= 1, what="the charge.posted webhook")
        assert hook.bad_signatures == 0
        doc = hook.received[0]
        assert doc["type"] == "charge.posted" and doc["data"]["order_id"] == order["id"]
        assert doc["data"]["charges"][0]["amount"] == "95.00"
        assert doc["data"]["placer_order_number"] == "PMS-4711"

        # ------------------------------------------------------------ FHIR ChargeItem
        headers = {**srv.auth_headers(), "Accept": "application/fhir+json"}
        found = httpx.get(
            srv.http_url + "/fhir/ChargeItem",
            params={"patient": f"Patient/{animal['id']}"},
            headers=headers,
            timeout=30,
        )
        assert found.status_code == 200, found.text
        bundle = Bundle.model_validate(found.json())
        assert bundle.total == 1 and bundle.entry is not None
        item = ChargeItem.model_validate(bundle.entry[0].resource.model_dump())
        assert item.status == "billable" and item.subject.reference == f"Patient/{animal['id']}"
        assert item.code.coding[0].code == "RAD-THX2"
        assert float(item.priceOverride.value) == 95.0 and item.priceOverride.currency == "EUR"
        assert item.supportingInformation[0].reference == f"ServiceRequest/{order['id']}"
        read = httpx.get(srv.http_url + f"/fhir/ChargeItem/{charge['id']}", headers=headers, timeout=30)
        assert ChargeItem.model_validate(read.json()).id == str(charge["id"])
        bad = httpx.get(
            srv.http_url + "/fhir/ChargeItem", params={"status": "paid"}, headers=headers, timeout=30
        )
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"

        # ------------------------------------------------------------ the report is signed: billed
        draft = created(
            api.post(f"/studies/{order['study_instance_uid']}/reports", json={"conclusion": "No findings."})
        )
        signed = api.post(f"/reports/{draft['id']}/sign")
        assert signed.status_code == 200, signed.text
        wait_for(
            lambda: api.get(f"/orders/{order['id']}").json()["status"] == "billed", what="the order billed"
        )
        billed = httpx.get(srv.http_url + f"/fhir/ChargeItem/{charge['id']}", headers=headers, timeout=30)
        assert ChargeItem.model_validate(billed.json()).status == "billed"
        amended = api.post(
            f"/reports/{draft['id']}/amend", json={"reason": "typo", "conclusion": "No findings!"}
        )
        assert amended.status_code == 200, amended.text  # an amendment does not un-bill the order
        assert api.get(f"/orders/{order['id']}").json()["status"] == "billed"
        assert charges(api, order=order["id"])["total"] == 1

        # ------------------------------------------------------------ void: a credit and a missed charge
        assert api.post(f"/charges/{charge['id']}/void", json={"reason": ""}).status_code == 422
        voided = api.post(f"/charges/{charge['id']}/void", json={"reason": "posted twice in the PMS"})
        assert voided.status_code == 200 and voided.json()["status"] == "voided"
        again_void = api.post(f"/charges/{charge['id']}/void", json={"reason": "again"})
        assert again_void.status_code == 409 and again_void.headers["content-type"].startswith(
            "application/problem+json"
        )
        wait_for(lambda: len(pms.messages) >= 2, what="the DFT^P03 credit")
        credit = hl7.parse(pms.messages[1]).segment("FT1")
        assert (
            str(credit[6]) == "CR" and str(credit[2]) == str(charge["id"]) and str(credit[11]) == "95.00^EUR"
        )
        missed = api.get("/billing/missed-charges").json()
        (entry,) = [o for o in missed["orders"] if o["order_id"] == order["id"]]
        assert entry["reason"] == "voided" and "posted twice" in entry["detail"]
        assert len(hook.received) == 1  # the webhook only subscribed to charge.posted
    finally:
        pms.stop()
        hook.stop()


def test_missed_charges_and_roles(srv: LiveServer, api: httpx.Client, tmp_path: Path) -> None:
    # a procedure the clinic forgot to price: performed, never charged
    created(
        api.post(
            "/procedures", json={"code": "DX-PAW", "name": "Paw, 2 views", "modality": "DX", "fee_code": ""}
        )
    )
    animal = created(api.post("/animals", json={"name": "Luna", "species_code": DOG}))
    stations = {s["ae_title"]: s for s in api.get("/stations").json()}
    if STATION not in stations:
        stations[STATION] = created(
            api.post(
                "/stations",
                json={"name": "Billing DR", "ae_title": STATION, "station_name": "BD1", "modality": "DX"},
            )
        )
    start = datetime.now().replace(hour=11, minute=0, second=0, microsecond=0)
    order = created(
        api.post(
            "/orders",
            json={
                "animal_id": animal["id"],
                "procedure_codes": ["DX-PAW"],
                "schedule": {"station_id": stations[STATION]["id"], "start": start.isoformat()},
            },
        )
    )
    perform(srv, order["accession_number"], tmp_path)
    stray = stray_image(tmp_path / "stray.dcm", patient_id="WALKIN-7", patient_name="DOE^Stray")
    send(srv, [stray])

    def listed() -> bool:
        report = api.get("/billing/missed-charges").json()
        return any(o["order_id"] == order["id"] for o in report["orders"]) and any(
            s["patient_id"] == "WALKIN-7" for s in report["studies"]
        )

    wait_for(listed, what="the order and the stray study in the missed-charge report")
    report = api.get("/billing/missed-charges").json()
    (entry,) = [o for o in report["orders"] if o["order_id"] == order["id"]]
    assert entry["reason"] == "no-fee-code" and entry["procedure_codes"] == ["DX-PAW"]
    assert charges(api, order=order["id"])["total"] == 0

    # the front desk prices the work by hand; the order leaves the report
    manual = created(
        api.post("/charges", json={"order_id": order["id"], "fee_code": "RAD-STIFLE", "note": "paw"})
    )
    assert manual["amount"] == "110.00" and manual["source"] == "manual"
    report = api.get("/billing/missed-charges").json()
    assert order["id"] not in [o["order_id"] for o in report["orders"]]
    # a PMS retrying a POST with its Idempotency-Key gets the first charge again, not a second one
    body = {"animal_id": animal["id"], "fee_code": "DENT-FULL", "quantity": "1"}
    first = api.post("/charges", json=body, headers={"Idempotency-Key": "pms-charge-1"})
    retry = api.post("/charges", json=body, headers={"Idempotency-Key": "pms-charge-1"})
    assert (
        first.status_code == retry.status_code == 201 and retry.headers.get("Idempotency-Replayed") == "true"
    )
    assert first.json()["id"] == retry.json()["id"]
    assert charges(api, animal=animal["id"], fee_code="DENT-FULL")["total"] == 1
    assert api.post("/charges", json={"animal_id": animal["id"], "fee_code": "NOPE"}).status_code == 400
    assert api.post("/charges", json={"order_id": 999999, "fee_code": "RAD-THX2"}).status_code == 404
    assert api.put("/fees/RAD-PAW", json={"description": "Paw", "unit_price": "-5"}).status_code == 422

    # roles: a technician may not touch billing, a veterinarian may read it
    srv.cli("user", "add", "tech1", "--role", "technician", "--generate-password")
    tech = srv.cli("user", "token", "tech1", "--name", "t").stdout.strip()
    srv.cli("user", "add", "vet1", "--role", "veterinarian", "--generate-password")
    vet = srv.cli("user", "token", "vet1", "--name", "v").stdout.strip()
    base = srv.http_url + "/api/v1"
    as_tech = {"Authorization": f"Bearer {tech}"}
    as_vet = {"Authorization": f"Bearer {vet}"}
    assert httpx.get(base + "/charges", headers=as_tech, timeout=30).status_code == 403
    refused = httpx.put(
        base + "/fees/RAD-THX2", json={"description": "x", "unit_price": "1"}, headers=as_vet, timeout=30
    )
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert httpx.get(base + "/billing/missed-charges", headers=as_vet, timeout=30).status_code == 200
    price = api.put("/fees/RAD-THX2", json={"description": "Thorax, 2 views", "unit_price": "99.50"})
    assert price.status_code == 200 and price.json()["unit_price"] == "99.50"
