"""Reports on a real index and folder store: templates, drafts, editing, signing, amending, roles."""

from __future__ import annotations

import base64
import json
from io import BytesIO
from pathlib import Path
from typing import Any

import hl7
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from sqlalchemy import select
from test_hl7_outbound import MllpReceiver, drain, settings  # type: ignore[import-not-found]

from measurement_images import tiny_image  # type: ignore[import-not-found]
from vetpacs.archive import retrieve
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.auth.roles import SYSTEM, Actor, Role
from vetpacs.errors import Conflict, Forbidden, Invalid, NotFound
from vetpacs.events import OUTBOX
from vetpacs.integration.dispatcher import Dispatcher
from vetpacs.integration.webhooks import partners
from vetpacs.integration.webhooks.partners import PartnerCreate, PartnerKind
from vetpacs.orders.catalog import create_procedure
from vetpacs.orders.linking import LINKER
from vetpacs.orders.schemas import OrderCreate, ProcedureCreate
from vetpacs.orders.service import create_order, get_order
from vetpacs.patients.merge import merge_animals
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink
from vetpacs.patients.service import create_animal, create_owner
from vetpacs.reports import service as reports
from vetpacs.reports.dicom import ENCAPSULATED_PDF
from vetpacs.reports.pdf import ReportDocument, latin1, render_pdf
from vetpacs.reports.schemas import ReportAmend, ReportCreate, ReportUpdate

DX = "1.2.840.10008.5.1.4.1.1.1.1"
RADIOLOGIST = Actor(username="rad", role=Role.RADIOLOGIST, via="token")
TECHNICIAN = Actor(username="tech", role=Role.TECHNICIAN, via="token")
FRONT_DESK = Actor(username="desk", role=Role.FRONT_DESK, via="token")


def dx_image(**attrs: str) -> bytes:
    defaults = {
        "SpecificCharacterSet": "ISO_IR 192",
        "StudyDate": "20261128",
        "StudyTime": "101500",
        "StudyDescription": "Thorax two views",
    }
    return tiny_image(DX, **{**defaults, **attrs})


@pytest.fixture
def study(archive: Archive) -> dict[str, Any]:
    """A dog with an order whose image is stored and linked (order status images_received)."""
    archive.study_hooks.append(LINKER)
    owner = create_owner(archive, OwnerCreate(family_name="Nowak", given_name="Zofia"), actor=SYSTEM)
    animal = create_animal(
        archive,
        AnimalCreate(
            name="Łatka",
            species_code="448771007",
            sex="F",
            neuter_status="ALTERED",
            owners=[OwnerLink(owner_id=owner.id)],
        ),
        actor=SYSTEM,
    )
    create_procedure(
        archive,
        ProcedureCreate(code="THX2", name="Thorax two views", modality="DX", body_region="CHEST"),
        actor=SYSTEM,
    )
    order = create_order(archive, OrderCreate(animal_id=animal.id, procedure_codes=["THX2"]), actor=SYSTEM)
    uid = generate_uid()
    store_instance(
        archive,
        dx_image(
            StudyInstanceUID=uid,
            AccessionNumber=order.accession_number,
            PatientID=animal.patient_id,
            PatientName=animal.patient_name,
        ),
        origin=Origin(OriginKind.DICOM, ae_title="DX1"),
    )
    assert LINKER.flush()
    assert get_order(archive, order.id).status.value == "images_received"
    return {"uid": uid, "order": order, "animal": animal}


def events_of(archive: Archive, kind: str) -> list[dict[str, Any]]:
    with archive.engine.connect() as conn:
        rows = conn.execute(select(OUTBOX.c.payload_json).where(OUTBOX.c.type == kind)).all()
    return [json.loads(r.payload_json) for r in rows]


def test_templates_filter_by_species_and_region() -> None:
    keys = [t.key for t in reports.list_templates(species="cat", body_region="chest")]
    assert keys == ["thorax-cat", "general"]
    assert [t.key for t in reports.list_templates(species="448771007", body_region="ABDOMEN")] == [
        "abdomen-dog",
        "general",
    ]
    dog = {t.key for t in reports.list_templates(species="Canine")}
    assert {"thorax-dog", "abdomen-dog", "hips-dog", "stifle-tplo", "dental"} <= dog
    assert not dog & {"thorax-cat", "equine-limb", "exotic-whole-body"}
    assert {t.key for t in reports.list_templates(species="rabbit")} == {"exotic-whole-body", "general"}
    assert "equine-limb" in {t.key for t in reports.list_templates(species="horse")}
    assert len(reports.list_templates()) >= 10
    assert reports.get_template("dental").species == ["dog", "cat"]
    with pytest.raises(NotFound):
        reports.get_template("nope")


def test_draft_from_template_is_attached_to_order_and_animal(archive: Archive, study: dict[str, Any]) -> None:
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=RADIOLOGIST
    )
    assert draft.status.value == "draft" and draft.version == 1
    assert draft.order_id == study["order"].id and draft.animal_id == study["animal"].id
    assert draft.accession_number == study["order"].accession_number
    assert draft.title == "Thoracic radiographs" and "Cardiac silhouette" in draft.findings
    assert draft.author == "rad" and draft.pdf_url == "" and draft.signed_at is None
    assert events_of(archive, "report.created")[0]["report_id"] == draft.id
    with pytest.raises(Conflict):  # one report per study
        reports.create_report(archive, study["uid"], ReportCreate(), actor=RADIOLOGIST)
    with pytest.raises(NotFound):
        reports.create_report(archive, "1.2.3.4", ReportCreate(), actor=RADIOLOGIST)
    with pytest.raises(Invalid):
        reports.create_report(archive, study["uid"], ReportCreate(template_key="nope"), actor=RADIOLOGIST)


def test_update_draft_then_sign_stores_pdf_and_advances_order(
    archive: Archive, study: dict[str, Any]
) -> None:
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=RADIOLOGIST
    )
    updated = reports.update_report(
        archive,
        draft.id,
        ReportUpdate(conclusion="Mild bronchial pattern — Zażółć gęślą jaźń 日本", recommendations="Recheck"),
        actor=RADIOLOGIST,
    )
    assert updated.conclusion.startswith("Mild bronchial") and updated.findings == draft.findings
    assert events_of(archive, "report.updated")[0]["fields"] == ["conclusion", "recommendations"]

    signed = reports.sign_report(archive, draft.id, actor=RADIOLOGIST, clinic="Praxis Süd")
    assert signed.status.value == "final" and signed.signed_by == "rad" and signed.signed_at is not None
    assert signed.pdf_url == f"/api/v1/reports/{draft.id}/pdf"
    assert get_order(archive, study["order"].id).status.value == "reported"

    pdf = reports.report_pdf(archive, draft.id)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    (stored,) = retrieve.stored_instances(
        archive, study_uid=study["uid"], sop_uid=signed.pdf_sop_instance_uid
    )
    ds = dcmread(BytesIO(retrieve.read_bytes(archive, stored.ref)))
    assert ds.SOPClassUID == ENCAPSULATED_PDF and ds.Modality == "DOC"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.PatientID == study["animal"].patient_id
    assert ds.AccessionNumber == study["order"].accession_number
    assert ds.EncapsulatedDocumentLength == len(pdf)

    sent = events_of(archive, "report.signed")
    assert len(sent) == 1 and sent[0]["report_id"] == draft.id
    assert sent[0]["pdf_sop_instance_uid"] == signed.pdf_sop_instance_uid
    assert sent[0]["order_id"] == study["order"].id and sent[0]["animal_id"] == study["animal"].id
    changed = events_of(archive, "order.status_changed")
    assert any(e["to"] == "reported" and e["reason"] == f"report {draft.id}" for e in changed)

    with pytest.raises(Conflict):
        reports.update_report(archive, draft.id, ReportUpdate(findings="changed"), actor=RADIOLOGIST)
    with pytest.raises(Conflict):
        reports.sign_report(archive, draft.id, actor=RADIOLOGIST)
    text = reports.report_text(signed)
    assert text.splitlines()[0] == "Thoracic radiographs" and "Conclusion:" in text


def test_amend_makes_a_new_signed_version(archive: Archive, study: dict[str, Any]) -> None:
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=SYSTEM
    )
    first = reports.sign_report(archive, draft.id, actor=SYSTEM)
    with pytest.raises(Forbidden):
        reports.amend_report(archive, draft.id, ReportAmend(reason="x"), actor=TECHNICIAN)
    amended = reports.amend_report(
        archive, draft.id, ReportAmend(reason="wrong side", conclusion="Left lung lobe"), actor=RADIOLOGIST
    )
    assert amended.status.value == "amended" and amended.version == 2
    assert amended.conclusion == "Left lung lobe" and amended.findings == first.findings
    assert amended.pdf_sop_instance_uid != first.pdf_sop_instance_uid
    assert reports.report_pdf(archive, draft.id, version=1) != reports.report_pdf(archive, draft.id)
    assert events_of(archive, "report.amended")[0]["reason"] == "wrong side"
    as_signed = reports.get_signed_version(archive, draft.id, 1)
    assert (as_signed.version, as_signed.status.value, as_signed.conclusion) == (1, "final", first.conclusion)
    assert as_signed.pdf_sop_instance_uid == first.pdf_sop_instance_uid
    with pytest.raises(NotFound):
        reports.get_signed_version(archive, draft.id, 3)
    assert "Amended (version 2): wrong side" in reports.report_text(amended)
    uids = {s.ref.sop_instance_uid for s in retrieve.stored_instances(archive, study_uid=study["uid"])}
    assert {first.pdf_sop_instance_uid, amended.pdf_sop_instance_uid} <= uids


def test_roles(archive: Archive, study: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        reports.create_report(archive, study["uid"], ReportCreate(), actor=TECHNICIAN)
    draft = reports.create_report(archive, study["uid"], ReportCreate(), actor=RADIOLOGIST)
    with pytest.raises(Forbidden):
        reports.update_report(archive, draft.id, ReportUpdate(findings="x"), actor=FRONT_DESK)
    with pytest.raises(Forbidden):
        reports.sign_report(archive, draft.id, actor=TECHNICIAN)
    with pytest.raises(Invalid):  # the general template is empty: nothing to sign
        reports.sign_report(archive, draft.id, actor=RADIOLOGIST)
    reports.update_report(archive, draft.id, ReportUpdate(conclusion="Normal"), actor=RADIOLOGIST)
    external = Actor(username="remote", role=Role.EXTERNAL_READER, via="token")
    assert reports.sign_report(archive, draft.id, actor=external).signed_by == "remote"


def test_list_and_get(archive: Archive, study: dict[str, Any]) -> None:
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=SYSTEM
    )
    assert reports.list_reports(archive, study_uid=study["uid"]).items[0].id == draft.id
    assert reports.list_reports(archive, animal_id=study["animal"].id).total == 1
    assert reports.list_reports(archive, status=reports.ReportStatus.FINAL).total == 0
    assert reports.list_reports(archive, study_uid="1.2.3").total == 0
    with pytest.raises(NotFound):
        reports.get_report(archive, 9999)
    with pytest.raises(NotFound):
        reports.report_pdf(archive, draft.id)  # a draft has no PDF
    with pytest.raises(Invalid):
        reports.list_reports(archive, limit=0)


def test_pdf_survives_any_text_without_a_unicode_font() -> None:
    doc = ReportDocument(
        clinic="Клиника", title="Ŧhorax ☃", findings="Ωmega\tline\r\nłódź 日本 “quoted” …", version=2
    )
    for unicode in (False, True):
        assert render_pdf(doc, unicode=unicode).startswith(b"%PDF-")
    assert latin1("łódź “x” …") == 'lódz "x" ...'


def test_report_on_a_study_of_no_registered_animal_goes_out_as_oru(archive: Archive, tmp_path: Path) -> None:
    """No order, no animal: the report still signs, and the ORU^R01's PID comes from the study."""
    uid = generate_uid()
    store_instance(
        archive,
        dx_image(StudyInstanceUID=uid, PatientID="STRAY-1", PatientName="DOE^Felix", AccessionNumber="X77"),
        origin=Origin(OriginKind.DICOM, ae_title="DX1"),
    )
    pms = MllpReceiver()
    port = pms.start()
    partner = partners.create_partner(
        archive,
        PartnerCreate(
            name="pms", kind=PartnerKind.HL7, host="127.0.0.1", port=port, event_types=["report.*"]
        ),
        actor=SYSTEM,
    )
    draft = reports.create_report(
        archive, uid, ReportCreate(conclusion="Normal | no ^ findings"), actor=SYSTEM
    )
    assert (draft.order_id, draft.animal_id, draft.accession_number) == (None, None, "")
    signed = reports.sign_report(archive, draft.id, actor=SYSTEM)
    dispatcher = Dispatcher(archive, settings(tmp_path))
    try:
        drain(
            dispatcher,
            lambda: partners.list_deliveries(archive, partner_id=partner.id, status="delivered").total == 1,
        )
    finally:
        dispatcher.stop()
        pms.stop()
    (raw,) = pms.messages
    message = hl7.parse(raw)
    assert str(message.segment("PID")[3]) == "STRAY-1" and str(message.segment("PID")[5]) == "DOE^Felix"
    assert str(message.segment("OBR")[3]) == "X77" and str(message.segment("OBR")[25]) == "F"
    tx = [s for s in message.segments("OBX") if str(s[2]) == "TX"]
    assert any(str(s[5]) == "Normal \\F\\ no \\S\\ findings" for s in tx)  # delimiters escaped
    (ed,) = [s for s in message.segments("OBX") if str(s[2]) == "ED"]
    assert base64.b64decode(str(ed[5][0][4])) == reports.report_pdf(archive, signed.id)


def test_reports_follow_an_animal_merge(archive: Archive, study: dict[str, Any]) -> None:
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=SYSTEM
    )
    survivor = create_animal(archive, AnimalCreate(name="Latka", species_code="448771007"), actor=SYSTEM)
    merge_animals(archive, survivor.id, study["animal"].id, actor=SYSTEM)
    assert reports.get_report(archive, draft.id).animal_id == survivor.id
    assert [r.id for r in reports.list_reports(archive, animal_id=survivor.id).items] == [draft.id]
    assert reports.list_reports(archive, animal_id=study["animal"].id).total == 1  # the old id still finds it
    signed = reports.sign_report(archive, draft.id, actor=SYSTEM)
    assert (
        signed.animal_id == survivor.id and events_of(archive, "report.signed")[0]["animal_id"] == survivor.id
    )


def test_fhir_diagnostic_report_of_a_draft_and_searches(archive: Archive, study: dict[str, Any]) -> None:
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    from vetpacs.integration.fhir import reports as fhir_reports
    from vetpacs.integration.fhir.common import FhirError, search_params

    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=SYSTEM
    )
    base = "http://pacs.example"
    resource = fhir_reports.read_diagnostic_report(archive, draft.id, base_url=base)
    parsed = DiagnosticReport.model_validate(resource)
    assert parsed.status == "preliminary" and parsed.issued is None and parsed.resultsInterpreter is None
    assert [f.contentType for f in parsed.presentedForm] == ["text/plain; charset=utf-8"]  # no PDF yet
    assert parsed.basedOn[0].reference == f"ServiceRequest/{study['order'].id}"
    assert parsed.effectiveDateTime is not None

    def search(**values: str) -> list[str]:
        params = search_params(values.items(), fhir_reports.DIAGNOSTIC_REPORT_PARAMS)
        found, total = fhir_reports.search_diagnostic_reports(archive, params, base_url=base)
        assert total == len(found)
        return [r["id"] for r in found]

    assert search(status="preliminary") == [str(draft.id)]
    assert search(status="final") == []
    assert search(identifier=f"urn:vetpacs:accession|{study['order'].accession_number}") == [str(draft.id)]
    assert search(identifier=f"urn:vetpacs:report|{draft.id}", _id=str(draft.id)) == [str(draft.id)]
    assert search(identifier="urn:other|1") == []
    assert search(**{"based-on": f"ServiceRequest/{study['order'].id}"}) == [str(draft.id)]
    with pytest.raises(FhirError) as bad:
        search(status="done")
    assert bad.value.status == 400
    with pytest.raises(FhirError):
        search(**{"based-on": "Patient/1"})
    signed = reports.sign_report(archive, draft.id, actor=SYSTEM)
    final = DiagnosticReport.model_validate(
        fhir_reports.read_diagnostic_report(archive, draft.id, base_url=base)
    )
    assert final.status == "final" and final.presentedForm[0].url == f"{base}{signed.pdf_url}"
    assert final.presentedForm[1].data == reports.report_text(signed).encode()  # decoded by the model


def test_cancel_a_draft_then_start_again(archive: Archive, study: dict[str, Any]) -> None:
    first = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=RADIOLOGIST
    )
    with pytest.raises(Forbidden):
        reports.cancel_report(archive, first.id, actor=FRONT_DESK)
    cancelled = reports.cancel_report(archive, first.id, actor=RADIOLOGIST, reason="wrong template")
    assert cancelled.status.value == "cancelled"
    assert events_of(archive, "report.cancelled")[0]["reason"] == "wrong template"
    with pytest.raises(Conflict):
        reports.sign_report(archive, first.id, actor=RADIOLOGIST)
    second = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="general"), actor=RADIOLOGIST
    )
    reports.update_report(archive, second.id, ReportUpdate(conclusion="Normal"), actor=RADIOLOGIST)
    reports.sign_report(archive, second.id, actor=RADIOLOGIST)
    with pytest.raises(Conflict):
        reports.cancel_report(archive, second.id, actor=RADIOLOGIST)
    assert reports.list_reports(archive, study_uid=study["uid"]).total == 2


def test_withdraw_a_signed_report_entered_in_error(
    archive: Archive, study: dict[str, Any], tmp_path: Path
) -> None:
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    from vetpacs.integration.fhir import reports as fhir_reports
    from vetpacs.integration.fhir.common import search_params
    from vetpacs.reports.schemas import ReportWithdraw

    pms = MllpReceiver()
    partner = partners.create_partner(
        archive,
        PartnerCreate(
            name="pms", kind=PartnerKind.HL7, host="127.0.0.1", port=pms.start(), event_types=["report.*"]
        ),
        actor=SYSTEM,
    )
    draft = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="thorax-dog"), actor=RADIOLOGIST
    )
    with pytest.raises(Conflict):  # a draft is cancelled, not withdrawn
        reports.withdraw_report(archive, draft.id, ReportWithdraw(reason="x"), actor=RADIOLOGIST)
    signed = reports.sign_report(archive, draft.id, actor=RADIOLOGIST)
    assert get_order(archive, study["order"].id).status.value == "reported"
    with pytest.raises(Forbidden):
        reports.withdraw_report(archive, draft.id, ReportWithdraw(reason="x"), actor=TECHNICIAN)
    with pytest.raises(ValueError):  # the reason is mandatory (pydantic ValidationError)
        ReportWithdraw(reason="  ")

    withdrawn = reports.withdraw_report(
        archive, draft.id, ReportWithdraw(reason="wrong patient"), actor=RADIOLOGIST
    )
    assert withdrawn.status.value == "entered-in-error" and withdrawn.version == 1
    assert (withdrawn.withdrawn_reason, withdrawn.withdrawn_by) == ("wrong patient", "rad")
    again = reports.get_report(archive, draft.id)  # read back: the reason comes from the audit row
    assert (again.withdrawn_reason, again.withdrawn_by) == ("wrong patient", "rad")
    assert again.withdrawn_at is not None and again.pdf_url == signed.pdf_url  # the PDF stays
    assert reports.report_pdf(archive, draft.id).startswith(b"%PDF-")
    assert reports.list_reports(archive, study_uid=study["uid"]).items[0].withdrawn_reason == "wrong patient"
    assert "Withdrawn (entered in error): wrong patient" in reports.report_text(again)
    # the order goes back to where it was before it was reported
    assert get_order(archive, study["order"].id).status.value == "images_received"
    (event,) = events_of(archive, "report.withdrawn")
    assert (event["reason"], event["status"], event["order_status"]) == (
        "wrong patient",
        "entered-in-error",
        "images_received",
    )
    back = [e for e in events_of(archive, "order.status_changed") if e["from"] == "reported"]
    assert [e["to"] for e in back] == ["images_received"]
    with archive.engine.connect() as conn:
        audited = conn.execute(
            select(reports.AUDIT.c.action).where(reports.AUDIT.c.object_id == str(draft.id))
        ).scalars()
        assert "report.withdrawn" in list(audited)
    for refused in (
        lambda: reports.withdraw_report(archive, draft.id, ReportWithdraw(reason="x"), actor=RADIOLOGIST),
        lambda: reports.amend_report(archive, draft.id, ReportAmend(reason="x"), actor=RADIOLOGIST),
    ):
        with pytest.raises(Conflict):
            refused()
    assert reports.list_reports(archive, status=reports.ReportStatus.ENTERED_IN_ERROR).total == 1

    resource = DiagnosticReport.model_validate(
        fhir_reports.read_diagnostic_report(archive, draft.id, base_url="http://pacs.example")
    )
    assert resource.status == "entered-in-error"
    params = search_params([("status", "entered-in-error")], fhir_reports.DIAGNOSTIC_REPORT_PARAMS)
    found, total = fhir_reports.search_diagnostic_reports(archive, params, base_url="http://pacs.example")
    assert total == 1 and found[0]["id"] == str(draft.id)

    # HL7: the signed ORU^R01 (F), then the withdrawal (OBR-25 X, OBX-11 W, the reason as the last line)
    dispatcher = Dispatcher(archive, settings(tmp_path))
    try:
        drain(
            dispatcher,
            lambda: partners.list_deliveries(archive, partner_id=partner.id, status="delivered").total == 2,
        )
    finally:
        dispatcher.stop()
        pms.stop()
    first, second = (hl7.parse(m) for m in pms.messages)
    assert str(first.segment("OBR")[25]) == "F" and str(second.segment("OBR")[25]) == "X"
    obx = second.segments("OBX")
    assert {str(s[11]) for s in obx} == {"W"}
    tx = [str(s[5]) for s in obx if str(s[2]) == "TX"]
    assert tx[0] == "Thoracic radiographs" and tx[-1] == "Withdrawn (entered in error): wrong patient"

    # the study may be read again
    fresh = reports.create_report(
        archive, study["uid"], ReportCreate(template_key="general"), actor=RADIOLOGIST
    )
    assert fresh.status.value == "draft"
