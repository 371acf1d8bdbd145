"""What the order services take and return (also the REST API's request and response bodies).

Times of scheduled steps (``start``) are naive local clinic time: the wall clock of the clinic, as a
modality shows it and as Scheduled Procedure Step Start Date/Time (0040,0002)/(0040,0003) carry it.
Audit-like times (``created_at``, ``updated_at``, transition ``at``) are naive UTC, as elsewhere in
the index.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field, field_validator

from vetpacs.orders.models import OrderStatus, Priority, StepStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_CODE = re.compile(r"^[A-Za-z0-9._-]+$")
_AE = re.compile(r"^[ -~]+$")  # printable ASCII, no backslash checked below

OpeningHours = dict[str, list[list[str]]]
"""Per weekday (``mon`` ... ``sun``), a list of ``[open, close]`` intervals in ``HH:MM`` local time."""


def normalize_opening_hours(value: Any) -> OpeningHours:
    """Check and normalise opening hours to ``{"mon": [["08:00", "18:00"]], ...}``.

    Accepts one interval per day (``{"mon": ["08:00", "18:00"]}``) or several
    (``{"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}``); a day that is absent or empty is closed.
    An empty mapping (or ``None``) means no restriction: the station is always open.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError("opening hours must be a JSON object") from exc
    if not isinstance(value, dict):
        raise ValueError("opening hours must map weekdays (mon..sun) to [open, close] intervals")
    result: OpeningHours = {}
    for day, spans in value.items():
        key = str(day).lower()[:3]
        if key not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r} (use mon, tue, wed, thu, fri, sat, sun)")
        if spans in (None, [], ""):
            result[key] = []
            continue
        if not isinstance(spans, list):
            raise ValueError(f"{key}: expected [open, close] or a list of them")
        if len(spans) == 2 and all(isinstance(s, str) for s in spans):
            spans = [spans]
        intervals: list[list[str]] = []
        for span in spans:
            if not (
                isinstance(span, list | tuple) and len(span) == 2 and all(isinstance(s, str) for s in span)
            ):
                raise ValueError(f'{key}: each interval is ["HH:MM", "HH:MM"]')
            start, end = span
            if not _HHMM.match(start) or not _HHMM.match(end):
                raise ValueError(f"{key}: times are HH:MM (00:00 to 24:00), got {start!r}-{end!r}")
            if start >= end:
                raise ValueError(f"{key}: {start}-{end} closes before it opens")
            intervals.append([start, end])
        intervals.sort()
        for a, b in pairwise(intervals):
            if b[0] < a[1]:
                raise ValueError(f"{key}: intervals {a[0]}-{a[1]} and {b[0]}-{b[1]} overlap")
        result[key] = intervals
    return result


def _species_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split("\\") if v]
    return [str(v).strip() for v in value if str(v).strip()]


# --------------------------------------------------------------------------- catalog
class ProcedureCreate(BaseModel):
    """A new catalog entry (Requested Procedure Code and Description on the worklist)."""

    code: str = Field(min_length=1, max_length=16, pattern=_CODE.pattern)
    coding_scheme: str = Field(default="99VETPACS", min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=64)
    modality: str = Field(min_length=1, max_length=16, pattern=r"^[A-Z]{2,16}$")
    body_region: str = Field(
        default="", max_length=64, description="Body Part Examined, e.g. CHEST, ABDOMEN."
    )
    default_views: list[str] = Field(default_factory=list, description="e.g. ['R-L lateral', 'VD'].")
    species_codes: list[str] = Field(
        default_factory=list, description="Species codes it applies to (SNOMED CT); empty: every species."
    )
    duration_minutes: int = Field(default=15, ge=1, le=1440)
    fee_code: str = Field(default="", max_length=32)
    active: bool = True

    @field_validator("species_codes", mode="before")
    @classmethod
    def _species(cls, value: Any) -> list[str]:
        return _species_list(value)

    @field_validator("default_views")
    @classmethod
    def _views(cls, value: list[str]) -> list[str]:
        views = [v.strip() for v in value if v.strip()]
        if any("\\" in v for v in views):
            raise ValueError("a view name cannot contain a backslash")
        return views


class ProcedureUpdate(BaseModel):
    """Changes to a catalog entry; absent fields stay as they are (the code cannot change)."""

    coding_scheme: str | None = Field(default=None, min_length=1, max_length=16)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    modality: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Z]{2,16}$")
    body_region: str | None = Field(default=None, max_length=64)
    default_views: list[str] | None = None
    species_codes: list[str] | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)
    fee_code: str | None = Field(default=None, max_length=32)
    active: bool | None = None

    @field_validator("species_codes", mode="before")
    @classmethod
    def _species(cls, value: Any) -> list[str] | None:
        return None if value is None else _species_list(value)


class ProcedureRead(BaseModel):
    """A catalog entry."""

    id: int
    code: str
    coding_scheme: str
    name: str
    modality: str
    body_region: str
    default_views: list[str]
    species_codes: list[str]
    duration_minutes: int
    fee_code: str
    active: bool


class StationCreate(BaseModel):
    """A modality in a room (Scheduled Station AE Title and Name on the worklist)."""

    name: str = Field(min_length=1, max_length=64)
    ae_title: str = Field(min_length=1, max_length=16, pattern=r"^[^\\]*\S[^\\]*$")
    station_name: str = Field(default="", max_length=16)
    modality: str = Field(min_length=1, max_length=16, pattern=r"^[A-Z]{2,16}$")
    location: str = Field(default="", max_length=64, description="The room.")
    opening_hours: OpeningHours = Field(
        default_factory=dict,
        description='Local clinic time per weekday: {"mon": ["08:00", "18:00"], ...}; '
        "a missing day is closed; empty: always open.",
    )
    active: bool = True

    @field_validator("opening_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> OpeningHours:
        return normalize_opening_hours(value)

    @field_validator("ae_title")
    @classmethod
    def _ae(cls, value: str) -> str:
        value = value.strip()
        if not _AE.match(value):
            raise ValueError("an AE title is printable ASCII")
        return value


class StationUpdate(BaseModel):
    """Changes to a station; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    ae_title: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[^\\]*\S[^\\]*$")
    station_name: str | None = Field(default=None, max_length=16)
    modality: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Z]{2,16}$")
    location: str | None = Field(default=None, max_length=64)
    opening_hours: OpeningHours | None = None
    active: bool | None = None

    @field_validator("opening_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> OpeningHours | None:
        return None if value is None else normalize_opening_hours(value)


class StationRead(BaseModel):
    """A station."""

    id: int
    name: str
    ae_title: str
    station_name: str
    modality: str
    location: str
    opening_hours: OpeningHours
    active: bool


# --------------------------------------------------------------------------- orders
class ScheduleRequest(BaseModel):
    """Where and when: a station and a start in local clinic time (naive; an offset is refused)."""

    station_id: int
    start: datetime = Field(description="Local clinic time, without a UTC offset.")
    duration_minutes: int | None = Field(default=None, ge=1, le=1440, description="Default: the procedure's.")

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("start is local clinic time: give it without a UTC offset")
        return value.replace(microsecond=0)


class OrderCreate(BaseModel):
    """A new imaging order for one animal.

    Without ``accession_number`` one is generated (``A`` + yymmdd + a 4-digit daily sequence); a PMS
    may also give the Study Instance UID, requested procedure id and step id. With ``schedule``, the
    order's steps are booked back to back on that station from ``start``.
    """

    animal_id: int
    procedure_codes: list[str] = Field(min_length=1, max_length=20, description="Catalog codes.")
    priority: Priority = Priority.ROUTINE
    clinical_question: str = Field(default="", max_length=4000)
    requesting_vet: str = Field(default="", max_length=64)
    body_region: str = Field(default="", max_length=64, description="Default: the first procedure's.")
    laterality: str = Field(default="", pattern=r"^(R|L|B|)$", description="R, L, B (both) or empty.")
    accession_number: str | None = Field(
        default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$", description="Given by a PMS."
    )
    placer_order_number: str = Field(default="", max_length=64, description="The PMS's own order id.")
    study_instance_uid: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[0-9]+(\.[0-9]+)*$",
        description="Given by a PMS (IHE SWF: ZDS-1, IPC-3); default: a new 2.25 UID.",
    )
    requested_procedure_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Given by a PMS (OBR-19, IPC-2); one procedure only. Default: RP<order>.<n>.",
    )
    step_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Scheduled Procedure Step ID given by a PMS (OBR-20, IPC-4); one procedure only.",
    )
    schedule: ScheduleRequest | None = None


class StepRead(BaseModel):
    """A Requested Procedure with its Scheduled Procedure Step."""

    id: int
    order_id: int
    procedure_id: int
    procedure_code: str
    procedure_name: str
    requested_procedure_id: str
    step_id: str
    station_id: int | None
    station_name: str | None = None
    modality: str
    start: datetime | None = Field(default=None, description="Local clinic time.")
    end: datetime | None = Field(default=None, description="Local clinic time.")
    duration_minutes: int
    status: StepStatus
    protocol: str


class TransitionRead(BaseModel):
    """One status change of an order."""

    from_status: str
    to_status: OrderStatus
    actor: str
    reason: str
    at: datetime


class OrderRead(BaseModel):
    """An order with its steps (and, from ``get_order``, its transitions)."""

    id: int
    accession_number: str
    animal_id: int
    placer_order_number: str
    requesting_vet: str
    clinical_question: str
    priority: Priority
    body_region: str
    laterality: str
    status: OrderStatus
    study_instance_uid: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    steps: list[StepRead] = Field(default_factory=list)
    transitions: list[TransitionRead] = Field(default_factory=list)


class OrderPage(BaseModel):
    """One page of an order search, with the total number of matches."""

    items: list[OrderRead]
    total: int
    limit: int
    offset: int


class OrderSearch(BaseModel):
    """Order search filters (all optional, combined with AND)."""

    status: list[OrderStatus] = Field(default_factory=list)
    animal_id: int | None = None
    accession_number: str | None = None
    modality: str | None = None
    station_id: int | None = None
    scheduled_from: date | None = Field(
        default=None, description="Steps starting on or after this local date."
    )
    scheduled_to: date | None = Field(
        default=None, description="Steps starting on or before this local date."
    )
    created_since: datetime | None = None
    created_until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class DayEntry(BaseModel):
    """One booked step of a station's day (local clinic time)."""

    step: StepRead
    accession_number: str
    order_status: OrderStatus
    priority: Priority
    animal_id: int
    animal_name: str
    species: str = Field(default="", description="The animal's species (vocabulary name or free text).")
    owner: str = Field(default="", description='The primary owner, "FAMILY, Given".')
    study_uid: str = Field(default="", description="The order's stored study (linked), or empty.")
    images: int = Field(default=0, description="Instances received for that study (0 when none).")


class StationDay(BaseModel):
    """A station's bookings for one local day, by start time."""

    station: StationRead
    day: date
    always_open: bool = Field(description="The station has no opening hours set.")
    opening_hours: list[list[str]] = Field(
        description="That weekday's intervals; empty and not always_open: closed."
    )
    entries: list[DayEntry]
