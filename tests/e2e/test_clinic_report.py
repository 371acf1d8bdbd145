"""The clinic app's report screen end to end: Debian chromium (Playwright) against a live server with
the demo studies, owners and animals.

The admin opens a demo cat's chart, clicks "Write report" on a study, picks a template, edits the
conclusion and saves a draft (checked over REST); signing with findings and conclusion cleared is
refused by the server and the refusal is shown beside the form; filled in, the report is signed and
shown read-only with its signer, version and PDF (fetched: a PDF); an amendment needs a reason and
makes version 2; the chart shows the report and the study's button becomes "Report". A technician
(reports:read, not reports:write) sees the report and a draft without any button to edit, sign,
amend or withdraw them. A signed report is withdrawn (entered in error): the reason is required,
then the screen and the chart show it withdrawn with its reason.

Needs the built front end (``frontend/dist``) and ``/usr/bin/chromium``. Screenshots:
``tests/e2e/screenshots/report-*.png``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from e2e.e2e_support import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TECH_PASSWORD = "tech-password-42"


def api(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{server.http_url}/api/v1{path}", headers=server.auth_headers(), timeout=30, **kwargs
    )
    assert response.is_success, (response.status_code, response.text)
    return response.json()


def reports_of(server: LiveServer, study_uid: str) -> list[dict[str, Any]]:
    return api(server, "GET", "/reports", params={"study": study_uid})["items"]


@pytest.fixture
def clinic_server(demo_server: LiveServer) -> LiveServer:
    """Demo studies with their owners and animals (``vetpacs demo``)."""
    demo_server.cli("demo")
    return demo_server


def test_write_sign_and_amend_a_report(clinic_server: LiveServer, browser_page: Any) -> None:
    server, page = clinic_server, browser_page
    base = server.http_url
    page.goto(f"{base}/viewer/login")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))

    # --- a demo cat's chart: every study offers "Write report" (none has a report yet)
    page.goto(f"{base}/app/?q=Luna")
    page.click(".animal-card .animal-link >> text=Luna")
    page.wait_for_selector("[data-study]")
    animal_id = int(page.url.rstrip("/").split("/")[-1])
    card = page.locator("[data-study]").first
    study_uid = card.get_attribute("data-study")
    assert study_uid and reports_of(server, study_uid) == []
    card.get_by_role("link", name="Write report").click()
    page.wait_for_url(re.compile(r".*/app/studies/.+/report\?animal=\d+$"))

    # --- the study header and the viewer link
    head = page.locator(".report-study")
    head.wait_for()
    assert "Luna" in head.inner_text() and "Feline" in head.inner_text()
    assert "BAKER" in head.inner_text().upper()
    assert page.get_attribute("text=Open images", "href") == f"/viewer/?StudyInstanceUID={study_uid}"

    # --- the template picker offers the cat's templates and the general one, never the dog's
    page.wait_for_selector("#report-template:not([disabled])")
    offered = page.eval_on_selector_all("#report-template option", "els => els.map(e => e.value)")
    assert "thorax-cat" in offered and "general" in offered and "thorax-dog" not in offered
    # preselected: the cat's template for the study's body region (else the general one)
    hit = next(
        i["study"]
        for i in api(server, "GET", f"/animals/{animal_id}/timeline")["items"]
        if i["kind"] == "study" and i["study"]["study_uid"] == study_uid
    )
    fitting = api(
        server, "GET", "/report-templates", params={"species": "cat", "region": hit["body_parts"][0]}
    )
    expected = next((t["key"] for t in fitting if t["key"] != "general"), "general")
    # (chosen by an effect after the templates render)
    page.wait_for_function("v => document.querySelector('#report-template')?.value === v", arg=expected)
    (cat,) = [
        t
        for t in api(server, "GET", "/report-templates", params={"species": "cat"})
        if t["key"] == "thorax-cat"
    ]
    page.select_option("#report-template", "thorax-cat")
    assert page.input_value("#report-title") == cat["title"]
    assert page.input_value("#report-findings") == cat["findings"]
    assert "Not saved yet" in page.inner_text("[data-testid=report-state]")

    # --- edit the conclusion and save a draft: on the server with the text
    page.fill("#report-conclusion", "Mild bronchial pattern.")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_selector("[data-testid=report-state]:has-text('Draft saved')")
    (draft,) = reports_of(server, study_uid)
    assert draft["status"] == "draft" and draft["template_key"] == "thorax-cat"
    assert draft["conclusion"] == "Mild bronchial pattern."
    assert draft["findings"] == cat["findings"]
    page.fill("#report-recommendations", "Recheck in 4 weeks.")
    assert "Unsaved changes" in page.inner_text("[data-testid=report-state]")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_selector("[data-testid=report-state]:has-text('Draft saved')")
    assert reports_of(server, study_uid)[0]["recommendations"] == "Recheck in 4 weeks."
    shot(page, "report-1-draft")

    # --- sign with findings and conclusion cleared: the server refuses, the page says why
    page.fill("#report-findings", "")
    page.fill("#report-conclusion", "")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.get_by_role("button", name="Sign report").click()
    error = page.locator("[data-testid=report-error]")
    error.wait_for()
    assert "findings or a conclusion" in error.inner_text()
    page.wait_for_function("document.activeElement?.dataset.testid === 'report-error'")
    (refused,) = reports_of(server, study_uid)
    assert refused["status"] == "draft" and refused["findings"] == "" and refused["conclusion"] == ""
    shot(page, "report-2-refused")

    # --- filled in and signed: read-only, signer, version, PDF
    page.fill("#report-findings", "Diffuse bronchial pattern in the caudal lung fields.")
    page.fill("#report-conclusion", "Feline bronchial disease likely.")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.get_by_role("button", name="Sign report").click()
    signed_view = page.locator("[data-testid=report-view]")
    signed_view.wait_for()
    (signed,) = reports_of(server, study_uid)
    assert signed["status"] == "final" and signed["version"] == 1 and signed["signed_by"] == "admin"
    assert signed["conclusion"] == "Feline bronchial disease likely."
    assert page.inner_text("[data-testid=report-version]") == "1"
    assert page.inner_text("[data-testid=signed-by]") == (signed["signed_by_name"] or "admin")
    assert "Feline bronchial disease likely." in signed_view.inner_text()
    assert page.locator("#report-findings").count() == 0
    assert page.get_by_role("button", name="Save draft").count() == 0
    pdf_href = page.get_attribute("[data-testid=report-pdf]", "href")
    assert pdf_href == signed["pdf_url"]
    pdf = page.request.get(f"{base}{pdf_href}")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    shot(page, "report-3-signed")

    # --- amend: a reason is required, then version 2 with the new conclusion
    page.get_by_role("button", name="Amend").click()
    page.fill("#report-conclusion", "Feline bronchial disease; no mass seen.")
    page.get_by_role("button", name="Sign amendment").click()
    page.wait_for_selector("#report-reason-error")
    assert page.get_attribute("#report-reason", "aria-describedby") == "report-reason-error"
    assert reports_of(server, study_uid)[0]["version"] == 1
    page.fill("#report-reason", "Second look at the lateral view.")
    page.get_by_role("button", name="Sign amendment").click()
    page.wait_for_selector("[data-testid=report-version]:text-is('2')")
    (amended,) = reports_of(server, study_uid)
    assert amended["status"] == "amended" and amended["version"] == 2
    assert amended["amendment_reason"] == "Second look at the lateral view."
    assert amended["conclusion"] == "Feline bronchial disease; no mass seen."
    assert "Second look at the lateral view." in page.inner_text("[data-testid=report-view]")
    shot(page, "report-4-amended")

    # --- back on the chart: the report on the timeline, the study's button is now "Report"
    page.click("text=Back to the chart")
    page.wait_for_url(re.compile(rf".*/app/animals/{animal_id}$"))
    page.wait_for_selector(f"[data-report='{amended['id']}']")
    assert "no mass seen" in page.inner_text(f"[data-report='{amended['id']}']")
    card = page.locator(f"[data-study='{study_uid}']")
    assert card.get_by_role("link", name="Report", exact=True).count() == 1
    assert card.get_by_role("link", name="Write report").count() == 0

    # --- opening it again opens the same report (never a second one)
    card.get_by_role("link", name="Report", exact=True).click()
    page.locator("[data-testid=report-view]").wait_for()
    assert len(reports_of(server, study_uid)) == 1

    # --- a technician (reports:read only) reads, and cannot edit, sign or amend
    timeline = api(server, "GET", f"/animals/{animal_id}/timeline")
    other_uid = next(
        i["study"]["study_uid"]
        for i in timeline["items"]
        if i["kind"] == "study" and i["study"]["study_uid"] != study_uid
    )
    draft2 = api(
        server,
        "POST",
        f"/studies/{other_uid}/reports",
        json={"template_key": "general", "findings": "Draft by a vet."},
    )
    api(server, "POST", "/users", json={"username": "tech1", "role": "technician", "password": TECH_PASSWORD})
    page.context.clear_cookies()
    page.goto(f"{base}/viewer/login")
    page.fill("#username", "tech1")
    page.fill("#password", TECH_PASSWORD)
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/app/.*"))

    page.goto(f"{base}/app/animals/{animal_id}")
    page.wait_for_selector(f"[data-report='{amended['id']}']")
    assert page.get_by_role("link", name="Write report").count() == 0
    page.locator(f"[data-study='{study_uid}']").get_by_role("link", name="Report", exact=True).click()
    page.locator("[data-testid=report-view]").wait_for()
    assert "no mass seen" in page.inner_text("[data-testid=report-view]")
    for name in ("Amend", "Save draft", "Sign", "Withdraw (entered in error)"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
    shot(page, "report-5-technician")

    page.goto(f"{base}/app/studies/{other_uid}/report")  # no ?animal=: the report's animal
    page.locator("[data-testid=report-view]").wait_for()
    assert "Luna" in page.inner_text(".report-study")
    assert "Draft by a vet." in page.inner_text("[data-testid=report-view]")
    assert page.locator("textarea").count() == 0
    for name in ("Amend", "Save draft", "Sign"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
    assert reports_of(server, other_uid)[0]["id"] == draft2["id"]


def test_withdraw_a_signed_report_entered_in_error(clinic_server: LiveServer, browser_page: Any) -> None:
    server, page = clinic_server, browser_page
    base = server.http_url
    animal = next(
        a for a in api(server, "GET", "/search", params={"q": "Luna"})["animals"] if a["name"] == "Luna"
    )
    timeline = api(server, "GET", f"/animals/{animal['id']}/timeline")
    study_uid = next(i["study"]["study_uid"] for i in timeline["items"] if i["kind"] == "study")
    report = api(server, "POST", f"/studies/{study_uid}/reports", json={"template_key": "thorax-cat"})
    api(server, "POST", f"/reports/{report['id']}/sign")

    page.goto(f"{base}/viewer/login")
    sign_in(page, server)
    page.wait_for_url(re.compile(r".*/app/$"))
    page.goto(f"{base}/app/studies/{study_uid}/report?animal={animal['id']}")
    page.locator("[data-testid=report-view]").wait_for()
    assert page.inner_text("[data-testid=report-status]") == "final"

    # --- the dialog asks the reason; without one nothing is sent
    page.get_by_role("button", name="Withdraw (entered in error)").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Withdraw report").click()
    page.wait_for_selector("#withdraw-reason-error")
    assert page.get_attribute("#withdraw-reason", "aria-describedby") == "withdraw-reason-error"
    assert reports_of(server, study_uid)[0]["status"] == "final"
    shot(page, "report-6-withdraw-dialog")

    # --- with a reason: withdrawn on the server, and shown so without a reload
    page.fill("#withdraw-reason", "Images of another cat.")
    dialog.get_by_role("button", name="Withdraw report").click()
    page.wait_for_selector("[data-testid=report-withdrawn]")
    (withdrawn,) = reports_of(server, study_uid)
    assert withdrawn["status"] == "entered-in-error"
    assert (withdrawn["withdrawn_reason"], withdrawn["withdrawn_by"]) == ("Images of another cat.", "admin")
    banner = page.inner_text("[data-testid=report-withdrawn]")
    assert "Images of another cat." in banner and "admin" in banner
    assert page.inner_text("[data-testid=report-status]") == "withdrawn (entered in error)"
    for name in ("Amend", "Withdraw (entered in error)"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
    assert page.get_attribute("[data-testid=report-pdf]", "href") == withdrawn["pdf_url"]  # the PDF stays
    shot(page, "report-7-withdrawn")

    # --- the chart's timeline marks it withdrawn, with the reason
    page.click("text=Back to the chart")
    card = page.locator(f"[data-report='{report['id']}']")
    card.wait_for()
    assert card.get_attribute("data-status") == "entered-in-error"
    assert "withdrawn (entered in error)" in card.inner_text()
    assert "Images of another cat." in card.inner_text()

    # --- a new report for the study: the withdrawn one stays on record beside it
    page.goto(f"{base}/app/studies/{study_uid}/report?animal={animal['id']}")
    page.locator("[data-testid=report-withdrawn]").wait_for()
    page.get_by_role("button", name="Write a new report").click()
    page.wait_for_selector("#report-template")
    assert page.inner_text("[data-testid=report-state]") == "Not saved yet"
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=report-state]')?.textContent.includes('Draft saved')"
    )
    statuses = sorted(r["status"] for r in reports_of(server, study_uid))
    assert statuses == ["draft", "entered-in-error"]
