"""Index tables of the archive: patients (animals) -> studies -> series -> instances.

The veterinary attributes (species, breed, owner, neuter status, microchip) are indexed columns,
so C-FIND and QIDO-RS match them without reading any file. Every instance keeps its full header
as DICOM JSON (PS3.18 F.2, pixel data left out) to answer any other return key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base

UID = String(64)


class PatientAttributes:
    """The Patient module and veterinary attributes (CP-643) as indexed columns.

    Kept on the patient (newest values) and, as received, on every study: a study-level query
    matches what that study's images say, even when two studies of one Patient ID disagree.
    """

    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str] = mapped_column(String(324), default="", index=True)
    patient_name_upper: Mapped[str] = mapped_column(String(324), default="", index=True)
    patient_birth_date: Mapped[str] = mapped_column(String(8), default="")
    patient_sex: Mapped[str] = mapped_column(String(16), default="")
    patient_sex_neutered: Mapped[str] = mapped_column(String(16), default="", index=True)
    patient_species_description: Mapped[str] = mapped_column(String(64), default="", index=True)
    patient_species_code: Mapped[str] = mapped_column(String(64), default="", index=True)
    patient_breed_description: Mapped[str] = mapped_column(String(64), default="", index=True)
    patient_breed_code: Mapped[str] = mapped_column(String(64), default="", index=True)
    responsible_person: Mapped[str] = mapped_column(String(324), default="", index=True)
    responsible_person_upper: Mapped[str] = mapped_column(String(324), default="", index=True)
    responsible_person_role: Mapped[str] = mapped_column(String(16), default="")
    responsible_organization: Mapped[str] = mapped_column(String(64), default="", index=True)
    microchip: Mapped[str] = mapped_column(String(64), default="", index=True)


class Patient(PatientAttributes, Base):
    """An animal, as DICOM sees it (Patient module + veterinary attributes of CP-643)."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("patient_id", "issuer_of_patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    header_json: Mapped[str] = mapped_column(Text, default="{}")
    num_studies: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Study(PatientAttributes, Base):
    """A study (General Study and Patient Study modules), with the patient attributes it arrived with."""

    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_patient_date", "patient_pk", "study_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    study_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    study_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)
    study_id: Mapped[str] = mapped_column(String(16), default="")
    study_description: Mapped[str] = mapped_column(String(64), default="", index=True)
    referring_physician_name: Mapped[str] = mapped_column(String(324), default="", index=True)
    modalities_in_study: Mapped[str] = mapped_column(String(128), default="", index=True)
    body_parts_examined: Mapped[str] = mapped_column(String(256), default="")
    institution_name: Mapped[str] = mapped_column(String(64), default="")
    header_json: Mapped[str] = mapped_column(Text, default="{}")
    # Corrected patient-level attributes (DICOM JSON) served instead of the stored ones; "" = as stored
    overlay_json: Mapped[str] = mapped_column(Text, default="", server_default="")
    num_series: Mapped[int] = mapped_column(Integer, default=0)
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Series(Base):
    """A series (General Series module)."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    series_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    modality: Mapped[str] = mapped_column(String(16), default="", index=True)
    series_number: Mapped[str] = mapped_column(String(12), default="")
    series_description: Mapped[str] = mapped_column(String(64), default="")
    series_date: Mapped[str] = mapped_column(String(8), default="")
    series_time: Mapped[str] = mapped_column(String(16), default="")
    body_part_examined: Mapped[str] = mapped_column(String(64), default="", index=True)
    station_name: Mapped[str] = mapped_column(String(16), default="")
    header_json: Mapped[str] = mapped_column(Text, default="{}")
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Instance(Base):
    """One stored SOP instance: where its bytes are, their size and checksum, and its header."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    sop_class_uid: Mapped[str] = mapped_column(UID, index=True)
    instance_number: Mapped[str] = mapped_column(String(12), default="")
    transfer_syntax_uid: Mapped[str] = mapped_column(UID)
    number_of_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    columns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    blob_key: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(80))  # "sha256:<hex>"
    header_json: Mapped[str] = mapped_column(Text)
    origin_kind: Mapped[str] = mapped_column(String(16), default="")
    origin_aet: Mapped[str] = mapped_column(String(16), default="")
    origin_address: Mapped[str] = mapped_column(String(64), default="")
    origin_user: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)


class InstanceConflict(Base):
    """A SOP Instance UID received again with different bytes (see the duplicate policy)."""

    __tablename__ = "instance_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID, index=True)
    kept_checksum: Mapped[str] = mapped_column(String(80))
    other_checksum: Mapped[str] = mapped_column(String(80))
    other_blob_key: Mapped[str] = mapped_column(String(128), default="")
    policy: Mapped[str] = mapped_column(String(16))
    origin_kind: Mapped[str] = mapped_column(String(16), default="")
    origin_aet: Mapped[str] = mapped_column(String(16), default="")
    origin_address: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)


class IngestRejection(Base):
    """An object that was refused at the door, with the reason and its origin (never silent)."""

    __tablename__ = "ingest_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(128), default="")
    reason: Mapped[str] = mapped_column(Text)
    origin_kind: Mapped[str] = mapped_column(String(16), default="")
    origin_aet: Mapped[str] = mapped_column(String(16), default="")
    origin_address: Mapped[str] = mapped_column(String(64), default="")
    origin_detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)
