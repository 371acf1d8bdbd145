"""Report tables: one report per reading of a study, and every signed version of it (docs/reports.md).

A report starts as a draft from a template, is signed (status ``final``; its PDF is stored in the
study as a DICOM Encapsulated PDF instance, PS3.3 A.45.1) and may later be amended: the amendment
is a new version with a reason, signed again; each signed version keeps its own row in
``report_versions`` so what was sent to the practice stays readable. A signed report entered in
error is withdrawn: its status becomes ``entered-in-error``, its rows stay (the reason is in the
audit log and the ``report.withdrawn`` event).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base

UID = String(64)


class ReportStatus(StrEnum):
    """A report's status (FHIR DiagnosticReport.status: preliminary, final, amended, cancelled,
    entered-in-error)."""

    DRAFT = "draft"
    FINAL = "final"
    AMENDED = "amended"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"  # a signed report withdrawn (16 characters: the column's size)


class Report(Base):
    """The current version of one report on one study."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(UID, index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True, index=True)
    animal_id: Mapped[int | None] = mapped_column(ForeignKey("animals.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.DRAFT.value)
    template_key: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(256), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(64), default="")
    signed_by_name: Mapped[str] = mapped_column(String(128), default="")
    signed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    amendment_reason: Mapped[str] = mapped_column(Text, default="")
    pdf_sop_instance_uid: Mapped[str] = mapped_column(UID, default="")  # the stored Encapsulated PDF
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ReportVersion(Base):
    """One signed version of a report, as it was signed (text, signer, the PDF instance)."""

    __tablename__ = "report_versions"
    __table_args__ = (UniqueConstraint("report_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # final or amended
    title: Mapped[str] = mapped_column(String(256), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    amendment_reason: Mapped[str] = mapped_column(Text, default="")
    signed_by: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(DateTime)
    pdf_sop_instance_uid: Mapped[str] = mapped_column(UID)
