"""Reports against a live ``vetpacs serve``: a draft on a stored study linked to an order is signed,
and every way the PMS can get it is checked with real clients: the PDF over REST, the Encapsulated
PDF instance over QIDO-RS / WADO-RS (parsed with pydicom), an ORU^R01 over MLLP to a real socket
receiver (parsed with the ``hl7`` package), FHIR DiagnosticReport (validated with fhir.resources)
and the signed ``report.signed`` webhook."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import hl7
import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from pydicom.uid import generate_uid
from test_search_api import dx_image, stow, token_for  # type: ignore[import-not-found]
from test_webhooks_live import FAST, MllpPms, WebhookReceiver, wait_for  # type: ignore[import-not-found]

from conftest import LiveServer, free_port  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


@pytest.fixture
def live(server_factory: Callable[..., LiveServer]) -> Iterator[tuple[LiveServer, httpx.Client]]:
    # Billing off: it would move a reported and charged order on to billed (not this test's subject).
    srv = server_factory(**FAST, VETPACS_BILLING_AUTO_CHARGE="false", VETPACS_CLINIC_NAME="Praxis Süd")
    srv.start()
    assert srv.cli("catalog", "seed").returncode == 0
    with httpx.Client(base_url=srv.http_url + "/api/v1", headers=srv.auth_headers(), timeout=30) as api:
        yield srv, api


def imaged_order(srv: LiveServer, api: httpx.Client) -> dict[str, Any]:
    """A dog with a thorax order whose images arrived by STOW-RS and were linked to it."""
    owner = api.post("/owners", json={"family_name": "Okafor", "given_name": "Ada"}).json()
    animal = api.post(
        "/animals",
        json={"name": "Pepper", "species_code": "448771007", "owners": [{"owner_id": owner["id"]}]},
    ).json()
    order = api.post("/orders", json={"animal_id": animal["id"], "procedure_codes": ["DX-THX2"]})
    assert order.status_code == 201, order.text
    common = {
        "StudyInstanceUID": generate_uid(),
        "AccessionNumber": order.json()["accession_number"],
        "PatientID": animal["patient_id"],
        "PatientName": animal["patient_name"],
        "StudyDescription": "Thorax two views",
    }
    stow(srv, dx_image(**common), dx_image(**common))
    order_id = order.json()["id"]
    wait_for(
        lambda: api.get(f"/orders/{order_id}").json()["status"] == "images_received", what="the study link"
    )
    return {"animal": animal, "order": order.json(), "study_uid": common["StudyInstanceUID"]}


def hl7_pms_and_draft(srv: LiveServer, api: httpx.Client, port: int) -> dict[str, Any]:
    """An HL7 PMS partner on ``port`` subscribed to report events, and a draft report on an imaged
    order's study."""
    created = api.post(
        "/partners",
        json={"name": "pms", "kind": "hl7", "host": "127.0.0.1", "port": port, "event_types": ["report.*"]},
    )
    assert created.status_code == 201, created.text
    world = imaged_order(srv, api)
    report: dict[str, Any] = api.post(
        f"/studies/{world['study_uid']}/reports", json={"template_key": "thorax-dog"}
    ).json()
    return {**report, "world": world}


def test_signed_report_reaches_rest_dicom_hl7_fhir_and_webhook(live: tuple[LiveServer, httpx.Client]) -> None:
    srv, api = live
    hook = WebhookReceiver(port=free_port())
    hook.start()
    pms = MllpPms()
    mllp_port = pms.start()
    try:
        created = api.post("/partners", json={"name": "pms-web", "kind": "webhook", "url": hook.url})
        assert created.status_code == 201, created.text
        hook.secret = created.json()["secret"]
        assert api.patch(f"/partners/{created.json()['id']}", json={"event_types": ["report.signed"]}).json()[
            "event_types"
        ] == ["report.signed"]
        hl7_partner = api.post(
            "/partners",
            json={
                "name": "pms-hl7",
                "kind": "hl7",
                "host": "127.0.0.1",
                "port": mllp_port,
                "event_types": ["report.*"],
                "receiving_application": "PMS",
            },
        )
        assert hl7_partner.status_code == 201, hl7_partner.text
        world = imaged_order(srv, api)
        animal, order, study_uid = world["animal"], world["order"], world["study_uid"]

        templates = api.get("/report-templates", params={"species": "dog", "region": "CHEST"})
        assert templates.status_code == 200
        assert [t["key"] for t in templates.json()] == ["thorax-dog", "general"]

        draft = api.post(f"/studies/{study_uid}/reports", json={"template_key": "thorax-dog"})
        assert draft.status_code == 201, draft.text
        report = draft.json()
        assert (report["status"], report["order_id"], report["animal_id"]) == (
            "draft",
            order["id"],
            animal["id"],
        )
        assert api.post(f"/studies/{study_uid}/reports", json={}).status_code == 409
        assert api.get(f"/reports/{report['id']}/pdf").status_code == 404
        conclusion = "Mild bronchial pattern; no cardiomegaly. Größe normal."
        patched = api.patch(f"/reports/{report['id']}", json={"conclusion": conclusion})
        assert patched.status_code == 200 and patched.json()["conclusion"] == conclusion

        technician = token_for(srv, "technician")
        refused = httpx.post(f"{srv.http_url}/api/v1/reports/{report['id']}/sign", headers=technician)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")

        signed = api.post(f"/reports/{report['id']}/sign")
        assert signed.status_code == 200, signed.text
        assert signed.json()["status"] == "final" and signed.json()["signed_by"] == "admin"
        again = api.patch(f"/reports/{report['id']}", json={"findings": "changed"})
        assert again.status_code == 409 and again.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert api.get(f"/orders/{order['id']}").json()["status"] == "reported"
        listed = api.get("/reports", params={"animal": animal["id"], "status": "final"}).json()
        assert [r["id"] for r in listed["items"]] == [report["id"]]

        # the PDF over REST
        pdf_response = api.get(f"/reports/{report['id']}/pdf")
        assert pdf_response.status_code == 200
        assert pdf_response.headers["content-type"] == "application/pdf"
        pdf = pdf_response.content
        assert pdf.startswith(b"%PDF-")
        # who read the report and its PDF is audited
        assert api.get(f"/reports/{report['id']}").json()["status"] == "final"
        seen = {
            (r["action"], r["object_id"])
            for r in api.get("/audit", params={"object_type": "report"}).json()
            if r["action"] in ("report.viewed", "report.pdf_viewed")
        }
        assert seen == {("report.viewed", str(report["id"])), ("report.pdf_viewed", str(report["id"]))}

        # the Encapsulated PDF instance in the study, found by QIDO-RS and parsed with pydicom
        dicomweb = DICOMwebClient(url=f"{srv.http_url}/dicom-web", headers=srv.auth_headers())
        found = dicomweb.search_for_instances(study_uid, search_filters={"SOPClassUID": ENCAPSULATED_PDF})
        assert len(found) == 1
        series_uid = found[0]["0020000E"]["Value"][0]
        sop_uid = found[0]["00080018"]["Value"][0]
        assert sop_uid == signed.json()["pdf_sop_instance_uid"]
        ds = dicomweb.retrieve_instance(study_uid, series_uid, sop_uid)
        assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
        assert ds.StudyInstanceUID == study_uid and ds.PatientID == animal["patient_id"]
        assert ds.AccessionNumber == order["accession_number"]
        assert bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)] == pdf

        # the ORU^R01 at the HL7 partner: text lines and the PDF as ED, Base64
        wait_for(lambda: any("ORU^R01" in m for m in pms.messages), what="the ORU^R01")
        raw = next(m for m in pms.messages if "ORU^R01" in m)
        message = hl7.parse(raw)
        assert str(message.segment("MSH")[5]) == "PMS"
        assert str(message.segment("PID")[3][0][0]) == animal["patient_id"]
        obr = message.segment("OBR")
        assert str(obr[3]) == order["accession_number"] and str(obr[25]) == "F"
        obx = message.segments("OBX")
        lines = [str(s[5]) for s in obx if str(s[2]) == "TX"]
        assert lines[0] == "Thoracic radiographs" and conclusion in lines
        (ed,) = [s for s in obx if str(s[2]) == "ED"]
        assert [str(ed[5][0][i]) for i in range(4)] == ["VETPACS", "application", "pdf", "Base64"]
        assert base64.b64decode(str(ed[5][0][4])) == pdf

        # FHIR DiagnosticReport, searched by patient and validated
        fhir = httpx.get(
            f"{srv.http_url}/fhir/DiagnosticReport",
            params={"patient": f"Patient/{animal['id']}"},
            headers=srv.auth_headers(),
            timeout=30,
        )
        assert fhir.status_code == 200, fhir.text
        bundle = Bundle.model_validate(fhir.json())
        assert bundle.total == 1 and bundle.entry
        resource = DiagnosticReport.model_validate(fhir.json()["entry"][0]["resource"])
        assert resource.status == "final" and resource.conclusion == conclusion
        assert resource.subject.reference == f"Patient/{animal['id']}"
        assert resource.basedOn[0].reference == f"ServiceRequest/{order['id']}"
        assert resource.imagingStudy[0].reference == f"ImagingStudy/{study_uid}"
        assert resource.issued is not None and resource.effectiveDateTime is not None
        form = resource.presentedForm[0]
        assert form.contentType == "application/pdf"
        assert httpx.get(form.url, headers=srv.auth_headers(), timeout=30).content == pdf
        by_order = httpx.get(
            f"{srv.http_url}/fhir/DiagnosticReport",
            params={"based-on": f"ServiceRequest/{order['id']}", "status": "final"},
            headers=srv.auth_headers(),
            timeout=30,
        ).json()
        assert by_order["total"] == 1
        read = httpx.get(
            f"{srv.http_url}/fhir/DiagnosticReport/{report['id']}", headers=srv.auth_headers(), timeout=30
        )
        assert read.status_code == 200 and DiagnosticReport.model_validate(read.json()).id == str(
            report["id"]
        )

        # the signed webhook
        wait_for(lambda: any(e["type"] == "report.signed" for e in hook.received), what="the webhook")
        event = next(e for e in hook.received if e["type"] == "report.signed")
        assert hook.bad_signatures == 0
        assert event["data"]["report_id"] == report["id"]
        assert event["data"]["pdf_sop_instance_uid"] == sop_uid
        assert {e["type"] for e in hook.received} == {"report.signed"}
    finally:
        hook.stop()
        pms.stop()


def test_amendment_is_sent_as_corrected_result(live: tuple[LiveServer, httpx.Client]) -> None:
    srv, api = live
    pms = MllpPms()
    port = pms.start()
    try:
        report = hl7_pms_and_draft(srv, api, port)
        assert api.post(f"/reports/{report['id']}/sign").status_code == 200
        assert api.post(f"/reports/{report['id']}/amend", json={"conclusion": "x"}).status_code == 422
        amended = api.post(
            f"/reports/{report['id']}/amend", json={"reason": "wrong side", "conclusion": "Left caudal lobe"}
        )
        assert amended.status_code == 200, amended.text
        assert (amended.json()["status"], amended.json()["version"]) == ("amended", 2)
        wait_for(lambda: len([m for m in pms.messages if "ORU^R01" in m]) == 2, what="two ORU^R01")
        first, second = (hl7.parse(m) for m in pms.messages if "ORU^R01" in m)
        assert str(first.segment("OBR")[25]) == "F" and str(second.segment("OBR")[25]) == "C"
        texts = [[str(s[5]) for s in m.segments("OBX") if str(s[2]) == "TX"] for m in (first, second)]
        assert "Left caudal lobe" not in texts[0] and "Left caudal lobe" in texts[1]
        v1 = api.get(f"/reports/{report['id']}/pdf", params={"version": 1}).content
        v2 = api.get(f"/reports/{report['id']}/pdf").content
        assert v1.startswith(b"%PDF-") and v2.startswith(b"%PDF-") and v1 != v2
    finally:
        pms.stop()


def test_withdrawn_report_is_sent_as_wrong(live: tuple[LiveServer, httpx.Client]) -> None:
    """A signed report entered in error: REST withdraw, ORU^R01 OBR-25 X / OBX-11 W at the MLLP
    receiver, FHIR entered-in-error, the order back to images_received, the webhook of every event."""
    srv, api = live
    hook = WebhookReceiver(port=free_port())
    hook.start()
    pms = MllpPms()
    port = pms.start()
    try:
        web = api.post("/partners", json={"name": "pms-web", "kind": "webhook", "url": hook.url})
        assert web.status_code == 201, web.text
        hook.secret = web.json()["secret"]
        report = hl7_pms_and_draft(srv, api, port)
        world = report["world"]
        assert api.post(f"/reports/{report['id']}/withdraw", json={"reason": "x"}).status_code == 409  # draft
        assert api.post(f"/reports/{report['id']}/sign").status_code == 200
        assert api.post(f"/reports/{report['id']}/withdraw", json={}).status_code == 422  # no reason
        technician = token_for(srv, "technician")
        refused = httpx.post(
            f"{srv.http_url}/api/v1/reports/{report['id']}/withdraw", json={"reason": "x"}, headers=technician
        )
        assert refused.status_code == 403
        withdrawn = api.post(f"/reports/{report['id']}/withdraw", json={"reason": "wrong animal"})
        assert withdrawn.status_code == 200, withdrawn.text
        body = withdrawn.json()
        assert (body["status"], body["withdrawn_reason"], body["withdrawn_by"]) == (
            "entered-in-error",
            "wrong animal",
            "admin",
        )
        assert api.get(f"/orders/{world['order']['id']}").json()["status"] == "images_received"
        assert api.get(f"/reports/{report['id']}/pdf").content.startswith(b"%PDF-")  # the PDF stays

        wait_for(lambda: len([m for m in pms.messages if "ORU^R01" in m]) == 2, what="two ORU^R01")
        first, second = (hl7.parse(m) for m in pms.messages if "ORU^R01" in m)
        assert str(first.segment("OBR")[25]) == "F" and str(second.segment("OBR")[25]) == "X"
        assert str(second.segment("OBR")[3]) == world["order"]["accession_number"]
        assert {str(s[11]) for s in second.segments("OBX")} == {"W"}
        lines = [str(s[5]) for s in second.segments("OBX") if str(s[2]) == "TX"]
        assert lines[-1] == "Withdrawn (entered in error): wrong animal"

        fhir = httpx.get(
            f"{srv.http_url}/fhir/DiagnosticReport/{report['id']}", headers=srv.auth_headers(), timeout=30
        )
        assert DiagnosticReport.model_validate(fhir.json()).status == "entered-in-error"

        wait_for(lambda: any(e["type"] == "report.withdrawn" for e in hook.received), what="the webhook")
        event = next(e for e in hook.received if e["type"] == "report.withdrawn")
        assert event["data"]["reason"] == "wrong animal" and event["data"]["report_id"] == report["id"]
        assert hook.bad_signatures == 0
    finally:
        hook.stop()
        pms.stop()
