"""Report shapes: ReportCreate, ReportUpdate, ReportAmend, ReportWithdraw, ReportRead, ReportPage,
TemplateRead."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from vetpacs.reports.models import ReportStatus

TEXT_MAX = 20_000  # characters per section


class TemplateRead(BaseModel):
    """A report template: species, body region and the default text of each section."""

    key: str
    name: str
    species_codes: list[str] = Field(description="SNOMED CT organism codes; empty: any species.")
    species: list[str] = Field(description="Common names of those species (dog, cat...).")
    body_region: str = Field(description="DICOM Body Part Examined; empty: any region.")
    modality: str
    title: str
    findings: str
    conclusion: str
    recommendations: str


class ReportCreate(BaseModel):
    """A new draft on a study: from a template (default text), each section overridable."""

    template_key: str = Field(default="general", max_length=64)
    title: str | None = Field(default=None, max_length=256)
    findings: str | None = Field(default=None, max_length=TEXT_MAX)
    conclusion: str | None = Field(default=None, max_length=TEXT_MAX)
    recommendations: str | None = Field(default=None, max_length=TEXT_MAX)


class ReportUpdate(BaseModel):
    """Changes to a draft; absent fields stay as they are."""

    title: str | None = Field(default=None, max_length=256)
    findings: str | None = Field(default=None, max_length=TEXT_MAX)
    conclusion: str | None = Field(default=None, max_length=TEXT_MAX)
    recommendations: str | None = Field(default=None, max_length=TEXT_MAX)


class ReportAmend(ReportUpdate):
    """An amendment of a signed report: the reason, and the new text of the sections that change."""

    reason: str = Field(min_length=1, max_length=2000)


class ReportWithdraw(BaseModel):
    """Why a signed report is withdrawn (entered in error): mandatory, kept in the audit log and event."""

    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class ReportRead(BaseModel):
    """A report as it is now (the current version)."""

    id: int
    study_instance_uid: str
    order_id: int | None
    accession_number: str
    animal_id: int | None
    status: ReportStatus
    template_key: str
    title: str
    findings: str
    conclusion: str
    recommendations: str
    author: str
    signed_by: str
    signed_by_name: str
    signed_at: datetime | None
    version: int
    amendment_reason: str
    pdf_sop_instance_uid: str = Field(description="The stored Encapsulated PDF instance; empty for drafts.")
    pdf_url: str = Field(description="Where the signed PDF is served (empty for drafts).")
    withdrawn_reason: str = Field(default="", description="Why it was withdrawn (entered-in-error only).")
    withdrawn_by: str = Field(default="", description="Who withdrew it (entered-in-error only).")
    withdrawn_at: datetime | None = Field(default=None, description="When it was withdrawn (UTC).")
    created_at: datetime
    updated_at: datetime


class ReportPage(BaseModel):
    """One page of reports, newest first, and how many match in all."""

    items: list[ReportRead]
    total: int
    limit: int
    offset: int
