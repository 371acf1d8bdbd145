"""What the patients services take and return (also the REST API's request and response bodies)."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

_DA = re.compile(r"^\d{8}$")


class Sex(StrEnum):
    """Patient's Sex (0010,0040)."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"


class Neuter(StrEnum):
    """Patient's Sex Neutered (0010,2203); empty when unknown."""

    ALTERED = "ALTERED"
    UNALTERED = "UNALTERED"
    UNKNOWN = ""


def _birth_date(value: object) -> object:
    """YYYYMMDD or ISO YYYY-MM-DD (or a date) -> YYYYMMDD; empty stays empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, str):
        text = value.strip().replace("-", "")
        if not _DA.match(text):
            raise ValueError("birth_date must be YYYYMMDD or YYYY-MM-DD")
        try:
            datetime.strptime(text, "%Y%m%d")
        except ValueError as exc:
            raise ValueError(f"birth_date {value!r} is not a calendar date") from exc
        return text
    return value


# --------------------------------------------------------------------------- owners
class OwnerFields(BaseModel):
    """Contact details of an owner (client)."""

    external_id: str = Field(default="", max_length=64, description="The PMS's client id.")
    given_name: str = Field(default="", max_length=64)
    organization: str = Field(default="", max_length=64, description="A shelter, farm or lab as client.")
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=32)
    address_line: str = Field(default="", max_length=256)
    city: str = Field(default="", max_length=64)
    postal_code: str = Field(default="", max_length=16)
    country: str = Field(default="", max_length=2, description="ISO 3166-1 alpha-2.")
    notes: str = Field(default="", max_length=4000)


class OwnerCreate(OwnerFields):
    """A new owner."""

    family_name: str = Field(min_length=1, max_length=64)


class OwnerUpdate(BaseModel):
    """Fields to change on an owner (absent fields stay as they are)."""

    external_id: str | None = Field(default=None, max_length=64)
    family_name: str | None = Field(default=None, min_length=1, max_length=64)
    given_name: str | None = Field(default=None, max_length=64)
    organization: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    address_line: str | None = Field(default=None, max_length=256)
    city: str | None = Field(default=None, max_length=64)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, max_length=2)
    notes: str | None = Field(default=None, max_length=4000)
    active: bool | None = None


class OwnerRead(OwnerFields):
    """An owner as stored."""

    id: int
    family_name: str
    active: bool
    created_at: datetime
    updated_at: datetime


class OwnerPage(BaseModel):
    """One page of owners and how many match in all."""

    items: list[OwnerRead]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- vocabulary
class CodedValue(BaseModel):
    """A DICOM code: Code Value, Coding Scheme Designator, Code Meaning."""

    code: str
    coding_scheme: str
    meaning: str


class SpeciesCreate(BaseModel):
    """A new species of the vocabulary (admins extend it; local codes use scheme ``99VETPACS``)."""

    code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$")
    coding_scheme: str = Field(default="99VETPACS", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=64, description="Patient Species Description, e.g. Canine.")
    common_name: str = Field(default="", max_length=64)
    latin_name: str = Field(
        default="", max_length=128, description="Code Meaning of a SNOMED CT organism code."
    )


class SpeciesRead(SpeciesCreate):
    """A species of the vocabulary."""

    id: int
    active: bool


class BreedCreate(BaseModel):
    """A new breed of a species (local codes use scheme ``99VETPACS``)."""

    code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$")
    coding_scheme: str = Field(default="99VETPACS", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=64)


class BreedRead(BreedCreate):
    """A breed of the vocabulary."""

    id: int
    species_id: int
    active: bool


# --------------------------------------------------------------------------- animals
class OwnerLink(BaseModel):
    """Link an owner to an animal (or change the link)."""

    owner_id: int
    is_primary: bool = Field(
        default=True, description="The primary owner is the Responsible Person (0010,2297)."
    )
    role: str = Field(default="OWNER", max_length=16, description="Responsible Person Role (0010,2298).")


class AnimalOwnerRead(BaseModel):
    """An owner of an animal, as the animal shows it."""

    owner_id: int
    family_name: str
    given_name: str
    role: str
    is_primary: bool


class AnimalFields(BaseModel):
    """Fields shared by create and read."""

    name: str = Field(min_length=1, max_length=64)
    external_id: str = Field(default="", max_length=64, description="The PMS's patient id.")
    species_text: str = Field(default="", max_length=64, description="Free-text species when not coded.")
    breed_text: str = Field(default="", max_length=64, description="Free-text breed, e.g. 'Labrador cross'.")
    sex: Sex = Sex.OTHER
    neuter_status: Neuter = Neuter.UNKNOWN
    birth_date: str = Field(default="", description="YYYYMMDD (ISO YYYY-MM-DD accepted).")
    birth_date_estimated: bool = False
    weight_kg: float | None = Field(default=None, gt=0, lt=20000)
    colour: str = Field(default="", max_length=64)
    microchip: str = Field(default="", max_length=64)
    responsible_organization: str = Field(default="", max_length=64, description="(0010,2299)")
    alerts: str = Field(default="", max_length=4000)
    deceased: bool = False

    _check_birth = field_validator("birth_date", mode="before")(_birth_date)


class AnimalCreate(AnimalFields):
    """A new animal. Species and breed by code (see ``/species``) and/or free text."""

    patient_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="DICOM Patient ID; generated when absent."
    )
    species_code: str | None = Field(
        default=None, max_length=64, description="A species code of the vocabulary."
    )
    breed_code: str | None = Field(default=None, max_length=64, description="A breed code of that species.")
    owners: list[OwnerLink] = Field(default_factory=list)


class AnimalUpdate(BaseModel):
    """Fields to change on an animal (absent fields stay; an empty species/breed code clears it)."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    external_id: str | None = Field(default=None, max_length=64)
    species_code: str | None = Field(default=None, max_length=64)
    species_text: str | None = Field(default=None, max_length=64)
    breed_code: str | None = Field(default=None, max_length=64)
    breed_text: str | None = Field(default=None, max_length=64)
    sex: Sex | None = None
    neuter_status: Neuter | None = None
    birth_date: str | None = None
    birth_date_estimated: bool | None = None
    weight_kg: float | None = Field(default=None, gt=0, lt=20000)
    colour: str | None = Field(default=None, max_length=64)
    microchip: str | None = Field(default=None, max_length=64)
    responsible_organization: str | None = Field(default=None, max_length=64)
    alerts: str | None = Field(default=None, max_length=4000)
    deceased: bool | None = None

    _check_birth = field_validator("birth_date", mode="before")(_birth_date)


class AnimalRead(AnimalFields):
    """An animal with its DICOM identity, coded species and breed, and owners."""

    id: int
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str = Field(description="DICOM Patient Name: OWNERFAMILY^AnimalName.")
    species: SpeciesRead | None = None
    breed: BreedRead | None = None
    owners: list[AnimalOwnerRead] = Field(default_factory=list)
    merged_into_id: int | None = None
    created_at: datetime
    updated_at: datetime


class AnimalPage(BaseModel):
    """One page of animals and how many match in all."""

    items: list[AnimalRead]
    total: int
    limit: int
    offset: int


class AnimalQuery(BaseModel):
    """Animal search: every given criterion must match (case-insensitive; names by prefix)."""

    q: str = Field(
        default="",
        description="Animal name or owner family/given name prefix, owner phone, patient id, microchip "
        "or PMS id.",
    )
    species: str = Field(default="", description="Species code or name.")
    breed: str = Field(default="", description="Breed code or name (prefix; also matches the free text).")
    owner: str = Field(default="", description="Owner family name prefix, or an owner id.")
    microchip: str = ""
    external_id: str = ""
    patient_id: str = ""
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class MergeRequest(BaseModel):
    """Merge ``merged_id`` into the survivor (IHE PIR)."""

    merged_id: int


class IdentifierChange(BaseModel):
    """What changing an animal's identifier did: the animal now, its former ids, corrected studies."""

    animal: AnimalRead
    patient_id_before: str
    external_id_before: str
    microchip_before: str
    studies_corrected: list[str] = Field(description="Study Instance UIDs corrected to the new identity.")


class MergeResult(BaseModel):
    """What a merge moved: orders, reconciliation items, owners, and corrected studies."""

    survivor: AnimalRead
    merged_id: int
    orders_moved: int
    reconciliation_items_moved: int
    owners_added: int
    studies_corrected: list[str] = Field(description="Study Instance UIDs corrected to the survivor.")
