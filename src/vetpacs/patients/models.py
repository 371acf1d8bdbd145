"""Owners (clients), animals (DICOM patients) and the species/breed vocabulary (SQLAlchemy tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base


class Species(Base):
    """A species of the vocabulary: coded (SNOMED CT, CID 7454) with a display name (e.g. Canine)."""

    __tablename__ = "species"
    __table_args__ = (UniqueConstraint("coding_scheme", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))  # e.g. 448771007
    coding_scheme: Mapped[str] = mapped_column(String(16), default="SCT")  # DICOM Coding Scheme Designator
    name: Mapped[str] = mapped_column(String(64), index=True)  # Patient Species Description, e.g. Canine
    common_name: Mapped[str] = mapped_column(String(64), default="")  # dog
    latin_name: Mapped[str] = mapped_column(String(128), default="")  # Canis lupus familiaris
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Breed(Base):
    """A breed of one species (CID 7480 where coded; local codes otherwise)."""

    __tablename__ = "breeds"
    __table_args__ = (UniqueConstraint("species_id", "coding_scheme", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    species_id: Mapped[int] = mapped_column(ForeignKey("species.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    coding_scheme: Mapped[str] = mapped_column(String(16), default="SCT")
    name: Mapped[str] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Owner(Base):
    """A client of the clinic: the Responsible Person (0010,2297) of their animals."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), default="", index=True)  # the PMS's client id
    family_name: Mapped[str] = mapped_column(String(64), index=True)
    given_name: Mapped[str] = mapped_column(String(64), default="")
    organization: Mapped[str] = mapped_column(String(64), default="")  # a shelter, farm or lab as client
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    address_line: Mapped[str] = mapped_column(String(256), default="")
    city: Mapped[str] = mapped_column(String(64), default="")
    postal_code: Mapped[str] = mapped_column(String(16), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Animal(Base):
    """An animal: the DICOM patient. Patient Name is ``OwnerFamily^AnimalName`` (DOMAIN.md)."""

    __tablename__ = "animals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), unique=True)  # DICOM Patient ID (0010,0020)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")  # the clinic
    external_id: Mapped[str] = mapped_column(String(64), default="", index=True)  # the PMS's patient id
    name: Mapped[str] = mapped_column(String(64), index=True)
    species_id: Mapped[int | None] = mapped_column(ForeignKey("species.id"), nullable=True, index=True)
    species_text: Mapped[str] = mapped_column(String(64), default="")  # free text when not coded
    breed_id: Mapped[int | None] = mapped_column(ForeignKey("breeds.id"), nullable=True, index=True)
    breed_text: Mapped[str] = mapped_column(String(64), default="")  # e.g. "Labrador cross"
    sex: Mapped[str] = mapped_column(String(1), default="O")  # DICOM (0010,0040): M, F, O
    neuter_status: Mapped[str] = mapped_column(String(16), default="")  # ALTERED, UNALTERED or ""
    birth_date: Mapped[str] = mapped_column(String(8), default="")  # YYYYMMDD
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    colour: Mapped[str] = mapped_column(String(64), default="")
    microchip: Mapped[str] = mapped_column(String(64), default="", index=True)
    responsible_organization: Mapped[str] = mapped_column(String(64), default="")  # (0010,2299)
    alerts: Mapped[str] = mapped_column(Text, default="")  # e.g. "bites", "sedation needed"
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("animals.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class FormerPatientId(Base):
    """A Patient ID an animal was known by before: changed (HL7 ADT^A47) or merged away (ADT^A40).

    Images a modality still sends under such an ID belong to the animal; the linker files them under
    its current identity (``orders.linking``). Merges also leave the merged row with
    ``merged_into_id``; this table covers identifier changes, which leave no other trace.
    """

    __tablename__ = "animal_former_ids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(16))  # changed | merged
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AnimalOwner(Base):
    """An owner of an animal (one primary owner gives the Responsible Person)."""

    __tablename__ = "animal_owners"

    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="OWNER")  # Responsible Person Role (0010,2298)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
