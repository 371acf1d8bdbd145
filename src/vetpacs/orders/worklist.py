"""Modality Worklist Information Model - FIND (PS3.4 Annex K): matching keys -> SQL -> identifiers.

One SQL query joins the active scheduled steps with their order, animal, species, breed, primary
owner, procedure and station; each row becomes one response identifier carrying only the keys the
modality asked for, veterinary ones included (CP-643: species and breed with code sequences,
Responsible Person and Role, Responsible Organization, Patient's Sex Neutered, Other Patient IDs
Sequence for the microchip). The patient part follows the same convention as
``patients.service.dicom_patient_attributes`` (Patient Name ``OwnerFamily^AnimalName``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from sqlalchemy import ColumnElement, Engine, Table, func, or_, select

from vetpacs.errors import Invalid
from vetpacs.orders.models import Order, Procedure, ScheduledStep, Station, StepStatus
from vetpacs.patients.models import Animal, AnimalOwner, Breed, Owner, Species
from vetpacs.patients.service import patient_name

MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

STEPS: Table = cast(Table, ScheduledStep.__table__)
ORDERS: Table = cast(Table, Order.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
SPECIES: Table = cast(Table, Species.__table__)
BREEDS: Table = cast(Table, Breed.__table__)
LINKS: Table = cast(Table, AnimalOwner.__table__)
OWNERS: Table = cast(Table, Owner.__table__)
PROCEDURES: Table = cast(Table, Procedure.__table__)
STATIONS: Table = cast(Table, Station.__table__)

ACTIVE_STEPS = (StepStatus.SCHEDULED.value, StepStatus.ARRIVED.value, StepStatus.IN_PROGRESS.value)
INACTIVE_ORDERS = ("cancelled", "no_show", "discontinued")
SPS = 0x00400100  # Scheduled Procedure Step Sequence
# Requested Procedure Priority (0040,1003) defined terms: STAT, HIGH, ROUTINE, MEDIUM, LOW
PRIORITY = {"STAT": "STAT", "URGENT": "HIGH", "ROUTINE": "ROUTINE"}
MICROCHIP_ISSUER = "MICROCHIP"

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")


@dataclass
class WorklistQuery:
    """Matching keys of a worklist C-FIND and the keys to return (top level and SPS item)."""

    match: dict[str, str] = field(default_factory=dict)  # our key -> DICOM matching value
    return_tags: list[int] = field(default_factory=list)
    sps_tags: list[int] | None = None  # None: no SPS asked for; []: the whole item
    case_insensitive: bool = False
    charset_asked: bool = False


# DICOM tag -> our matching key name (top level and inside the SPS item)
TOP_MATCH = {
    0x00100010: "patient_name",
    0x00100020: "patient_id",
    0x00100021: "issuer_of_patient_id",
    0x00080050: "accession_number",
    0x00401001: "requested_procedure_id",
    0x0020000D: "study_instance_uid",
    0x00102201: "species",
}
SPS_MATCH = {
    0x00400001: "station_ae_title",
    0x00080060: "modality",
    0x00400002: "start_date",
    0x00400003: "start_time",
    0x00400006: "performing_physician",
    0x00400009: "step_id",
    0x00400010: "station_name",
    0x00400020: "step_status",
}


def _text(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def parse_identifier(identifier: Dataset, *, case_insensitive: bool = False) -> WorklistQuery:
    """Read a worklist C-FIND identifier (PS3.4 K.6.1.2); raise ``Invalid`` for a broken key."""
    q = WorklistQuery(case_insensitive=case_insensitive)
    for elem in identifier:
        tag = int(elem.tag)
        if elem.tag.group == 0x0002 or elem.tag.is_private:
            continue
        if tag == 0x00080005:
            q.charset_asked = True
            continue
        if tag == SPS:
            if elem.VR != "SQ":
                raise Invalid("Scheduled Procedure Step Sequence (0040,0100) must be a sequence")
            items = elem.value or []
            if len(items) > 1:
                raise Invalid("Scheduled Procedure Step Sequence (0040,0100) may hold one item only")
            q.sps_tags = []
            if len(items):
                for sub in items[0]:
                    sub_tag = int(sub.tag)
                    q.sps_tags.append(sub_tag)
                    key = SPS_MATCH.get(sub_tag)
                    if key is not None and sub.VR != "SQ":
                        _set_match(q, key, _text(sub), sub.VR)
            continue
        q.return_tags.append(tag)
        key = TOP_MATCH.get(tag)
        if key is not None and elem.VR != "SQ":
            _set_match(q, key, _text(elem), elem.VR)
    return q


def _set_match(q: WorklistQuery, key: str, value: str, vr: str) -> None:
    value = value.strip()
    if value in ("", "*"):
        return
    if key == "start_date":
        _check_range(value, _DA, "Scheduled Procedure Step Start Date")
    elif key == "start_time":
        _check_range(value, _TM, "Scheduled Procedure Step Start Time")
    q.match[key] = value


def _check_range(value: str, pattern: re.Pattern[str], what: str) -> None:
    parts = value.split("-")
    if len(parts) > 2 or not any(parts) or any(p and not pattern.match(p) for p in parts):
        raise Invalid(f"invalid {what} {value!r}")
    if pattern is _TM:
        for p in filter(None, parts):
            digits = p.split(".")[0]
            hh, mm, ss = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
            if hh > 23 or mm > 59 or ss > 60:
                raise Invalid(f"invalid {what} {value!r}")
    if pattern is _DA:
        for p in parts:
            if p:
                try:
                    datetime.strptime(p, "%Y%m%d")
                except ValueError as exc:
                    raise Invalid(f"invalid {what} {value!r}") from exc
    if len(parts) == 2 and all(parts) and parts[0] > parts[1]:
        raise Invalid(f"invalid {what} range {value!r} (start after end)")


# --------------------------------------------------------------------------- SQL


def _like(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append({"*": "%", "?": "_"}.get(ch, "!" + ch if ch in "%_!" else ch))
    return "".join(out)


def _match(col: Any, value: str, *, ci: bool = False) -> ColumnElement[bool]:
    values = [v for v in value.split("\\") if v] or [value]
    conds = []
    for v in values:
        c, v2 = (func.upper(col), v.upper()) if ci else (col, v)
        conds.append(c.like(_like(v2), escape="!") if ("*" in v2 or "?" in v2) else c == v2)
    return or_(*conds) if len(conds) > 1 else conds[0]


def _start_bounds(date: str, time: str) -> tuple[datetime | None, datetime | None]:
    """The [lo, hi) bounds of Scheduled Procedure Step Start Date (and Time) as datetimes."""
    d_lo, _, d_hi = date.partition("-") if "-" in date else (date, "", date)
    t_lo, t_hi = "", ""
    if time:
        t_lo, _, t_hi = time.partition("-") if "-" in time else (time, "", time)
    lo = hi = None
    if d_lo:
        lo = datetime.strptime(d_lo, "%Y%m%d") + _tod(t_lo)
    if d_hi:
        hi = datetime.strptime(d_hi, "%Y%m%d") + (_tod(t_hi, end=True) if t_hi else timedelta(days=1))
    return lo, hi


def _tod(text: str, *, end: bool = False) -> timedelta:
    """A TM value as time of day; the end of a range includes the whole last unit given."""
    if not text:
        return timedelta(days=1) if end else timedelta(0)
    digits = text.split(".")[0]
    h = int(digits[0:2])
    m = int(digits[2:4] or 0)
    s = int(digits[4:6] or 0)
    base = timedelta(hours=h, minutes=m, seconds=s)
    if end:
        base += {2: timedelta(hours=1), 4: timedelta(minutes=1)}.get(len(digits), timedelta(seconds=1))
    return base


def worklist_statement(q: WorklistQuery) -> Any:
    """The one SELECT answering ``q`` (active steps of active orders, in start time order)."""
    owner_link = LINKS.c.animal_id == ANIMALS.c.id
    joined = (
        STEPS.join(ORDERS, STEPS.c.order_id == ORDERS.c.id)
        .join(ANIMALS, ORDERS.c.animal_id == ANIMALS.c.id)
        .join(PROCEDURES, STEPS.c.procedure_id == PROCEDURES.c.id)
        .outerjoin(STATIONS, STEPS.c.station_id == STATIONS.c.id)
        .outerjoin(SPECIES, ANIMALS.c.species_id == SPECIES.c.id)
        .outerjoin(BREEDS, ANIMALS.c.breed_id == BREEDS.c.id)
        .outerjoin(LINKS, owner_link)
        .outerjoin(OWNERS, LINKS.c.owner_id == OWNERS.c.id)
    )
    stmt = select(
        STEPS.c.id.label("step_pk"),
        STEPS.c.step_id,
        STEPS.c.requested_procedure_id,
        STEPS.c.modality,
        STEPS.c.start,
        STEPS.c.status.label("step_status"),
        STEPS.c.protocol,
        ORDERS.c.accession_number,
        ORDERS.c.study_instance_uid,
        ORDERS.c.requesting_vet,
        ORDERS.c.clinical_question,
        ORDERS.c.priority,
        ORDERS.c.body_region,
        ANIMALS.c.patient_id,
        ANIMALS.c.issuer_of_patient_id,
        ANIMALS.c.name.label("animal_name"),
        ANIMALS.c.species_text,
        ANIMALS.c.breed_text,
        ANIMALS.c.sex,
        ANIMALS.c.neuter_status,
        ANIMALS.c.birth_date,
        ANIMALS.c.weight_kg,
        ANIMALS.c.microchip,
        ANIMALS.c.responsible_organization,
        ANIMALS.c.alerts,
        SPECIES.c.code.label("species_code"),
        SPECIES.c.coding_scheme.label("species_scheme"),
        SPECIES.c.name.label("species_name"),
        SPECIES.c.latin_name.label("species_latin"),
        BREEDS.c.code.label("breed_code"),
        BREEDS.c.coding_scheme.label("breed_scheme"),
        BREEDS.c.name.label("breed_name"),
        OWNERS.c.family_name.label("owner_family"),
        OWNERS.c.given_name.label("owner_given"),
        LINKS.c.role.label("owner_role"),
        PROCEDURES.c.code.label("procedure_code"),
        PROCEDURES.c.coding_scheme.label("procedure_scheme"),
        PROCEDURES.c.name.label("procedure_name"),
        PROCEDURES.c.body_region.label("procedure_body_region"),
        STATIONS.c.ae_title.label("station_ae_title"),
        STATIONS.c.station_name,
        STATIONS.c.location.label("station_location"),
    ).select_from(joined)
    m = q.match
    conds: list[ColumnElement[bool]] = [
        STEPS.c.status.in_(ACTIVE_STEPS),
        ORDERS.c.status.not_in(INACTIVE_ORDERS),
    ]
    # Patient Name is matched in Python (find_worklist_rows): the database's upper() folds ASCII only
    for key, col in (
        ("patient_id", ANIMALS.c.patient_id),
        ("issuer_of_patient_id", ANIMALS.c.issuer_of_patient_id),
        ("accession_number", ORDERS.c.accession_number),
        ("requested_procedure_id", STEPS.c.requested_procedure_id),
        ("station_ae_title", STATIONS.c.ae_title),
        ("modality", STEPS.c.modality),
        ("step_id", STEPS.c.step_id),
        ("station_name", STATIONS.c.station_name),
        ("step_status", STEPS.c.status),
    ):
        if key in m:
            conds.append(_match(col, m[key]))
    if "study_instance_uid" in m:
        conds.append(ORDERS.c.study_instance_uid.in_(m["study_instance_uid"].split("\\")))
    if "species" in m:
        conds.append(
            or_(
                _match(SPECIES.c.name, m["species"], ci=True),
                _match(ANIMALS.c.species_text, m["species"], ci=True),
            )
        )
    if "performing_physician" in m:
        conds.append(STEPS.c.id.is_(None))  # no performing physician is ever scheduled here
    if "start_date" in m:
        lo, hi = _start_bounds(m["start_date"], m.get("start_time", ""))
        if lo is not None:
            conds.append(STEPS.c.start >= lo)
        if hi is not None:
            conds.append(STEPS.c.start < hi)
    # Several owners: the primary one (then the lowest id) comes first and answers.
    return stmt.where(*conds).order_by(STEPS.c.start, STEPS.c.id, LINKS.c.is_primary.desc(), LINKS.c.owner_id)


def find_worklist_rows(engine: Engine, q: WorklistQuery) -> list[dict[str, Any]]:
    """The matching rows (one per active step), time-only matching applied."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(worklist_statement(q))]
    seen: set[int] = set()
    out = []
    time_only = q.match.get("start_time") if "start_date" not in q.match else None
    name = _name_matcher(q.match["patient_name"], q.case_insensitive) if "patient_name" in q.match else None
    for r in rows:
        if r["step_pk"] in seen:  # another owner of the same animal
            continue
        seen.add(r["step_pk"])
        if time_only and not _time_matches(r["start"], time_only):
            continue
        if name is not None and not name(patient_name(r["owner_family"] or "", r["animal_name"])):
            continue
        out.append(r)
    return out


def _name_matcher(value: str, ci: bool) -> Callable[[str], bool]:
    """PN matching (PS3.4 C.2.2.2.4): wildcards, several values, optionally case-insensitive."""
    flags = re.S | (re.I if ci else 0)
    patterns = [re.compile(fnmatch.translate(v.replace("[", "[[]")), flags) for v in value.split("\\") if v]
    return lambda text: any(p.match(text) for p in patterns)


def _time_matches(start: datetime | None, value: str) -> bool:
    if start is None:
        return False
    lo, _, hi = value.partition("-") if "-" in value else (value, "", value)
    tod = timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
    return (not lo or tod >= _tod(lo)) and (not hi or tod < _tod(hi, end=True))


# --------------------------------------------------------------------------- identifiers


# An identifier as plain values: (tag, VR, text) or (tag, "SQ", [item, ...]), each item the same.
# The DICOM transport encodes it straight to bytes (dicom/tuning.encode_plain) or builds a Dataset.
Item = list[tuple[int, str, Any]]


def _code_item(value: str | None, scheme: str | None, meaning: str | None) -> Item:
    return [
        (0x00080100, "SH", value or ""),
        (0x00080102, "SH", scheme or ""),
        (0x00080104, "LO", (meaning or "")[:64]),
    ]


def _pn(family: str | None, given: str | None) -> str:
    family, given = (family or "").strip().upper(), (given or "").strip()
    return f"{family}^{given}" if given else family


def _weight(kg: float | None) -> str:
    if kg is None:
        return ""
    return f"{kg:.3f}".rstrip("0").rstrip(".")[:16]


def _seq(items: list[Item]) -> list[Item]:
    return items


def _other_ids(r: dict[str, Any]) -> list[Item]:
    if not r["microchip"]:
        return []
    return [
        [(0x00100020, "LO", r["microchip"]), (0x00100021, "LO", MICROCHIP_ISSUER), (0x00100022, "CS", "RFID")]
    ]


Builder = Callable[[dict[str, Any]], Any]

# tag -> (VR, value from the row)
TOP: dict[int, tuple[str, Builder]] = {
    0x00100010: ("PN", lambda r: patient_name(r["owner_family"] or "", r["animal_name"])),
    0x00100020: ("LO", lambda r: r["patient_id"]),
    0x00100021: ("LO", lambda r: r["issuer_of_patient_id"]),
    0x00100030: ("DA", lambda r: r["birth_date"]),
    0x00100040: ("CS", lambda r: r["sex"]),
    0x00101030: ("DS", lambda r: _weight(r["weight_kg"])),
    0x00101002: ("SQ", _other_ids),
    0x00102000: ("LO", lambda r: (r["alerts"] or "")[:64]),
    0x00102201: ("LO", lambda r: r["species_name"] or r["species_text"]),
    0x00102202: (
        "SQ",
        lambda r: (
            _seq(
                [_code_item(r["species_code"], r["species_scheme"], r["species_latin"] or r["species_name"])]
            )
            if r["species_code"]
            else _seq([])
        ),
    ),
    0x00102203: ("CS", lambda r: r["neuter_status"]),
    0x00102292: ("LO", lambda r: r["breed_text"] or r["breed_name"] or ""),
    0x00102293: (
        "SQ",
        lambda r: (
            _seq([_code_item(r["breed_code"], r["breed_scheme"], r["breed_name"])])
            if r["breed_code"]
            else _seq([])
        ),
    ),
    0x00102294: ("SQ", lambda r: _seq([])),  # Breed Registration Sequence (type 2C): none known
    0x00102297: ("PN", lambda r: _pn(r["owner_family"], r["owner_given"])),
    0x00102298: ("CS", lambda r: (r["owner_role"] or "OWNER") if r["owner_family"] is not None else ""),
    0x00102299: ("LO", lambda r: r["responsible_organization"]),
    0x00102210: ("CS", lambda r: "QUADRUPED"),  # Anatomical Orientation Type
    0x0020000D: ("UI", lambda r: r["study_instance_uid"]),
    0x00080050: ("SH", lambda r: r["accession_number"]),
    0x00080090: ("PN", lambda r: r["requesting_vet"]),  # Referring Physician's Name
    0x00321032: ("PN", lambda r: r["requesting_vet"]),  # Requesting Physician
    0x00321060: ("LO", lambda r: r["procedure_name"]),  # Requested Procedure Description
    0x00321064: (
        "SQ",
        lambda r: _seq([_code_item(r["procedure_code"], r["procedure_scheme"], r["procedure_name"])]),
    ),
    0x00401001: ("SH", lambda r: r["requested_procedure_id"]),
    0x00401002: ("LO", lambda r: (r["clinical_question"] or "")[:64]),  # Reason for the Requested Procedure
    0x00401003: ("SH", lambda r: PRIORITY.get(r["priority"], "ROUTINE")),
    0x00180015: ("CS", lambda r: _body_part(r)),
}


def _body_part(r: dict[str, Any]) -> str:
    text = (r["body_region"] or r["procedure_body_region"] or "").upper()
    return re.sub(r"[^A-Z0-9_ ]", "", text).replace(" ", "")[:16]


def _date(r: dict[str, Any]) -> str:
    return r["start"].strftime("%Y%m%d") if r["start"] else ""


def _time(r: dict[str, Any]) -> str:
    return r["start"].strftime("%H%M%S") if r["start"] else ""


SPS_ITEM: dict[int, tuple[str, Builder]] = {
    0x00080060: ("CS", lambda r: r["modality"]),
    0x00400001: ("AE", lambda r: r["station_ae_title"] or ""),
    0x00400010: ("SH", lambda r: r["station_name"] or ""),
    0x00400011: ("SH", lambda r: (r["station_location"] or "")[:16]),
    0x00400002: ("DA", _date),
    0x00400003: ("TM", _time),
    0x00400006: ("PN", lambda r: ""),
    0x00400007: ("LO", lambda r: r["procedure_name"]),
    0x00400009: ("SH", lambda r: r["step_id"]),
    0x00400008: (
        "SQ",
        lambda r: _seq(
            [_code_item(r["procedure_code"], r["procedure_scheme"], r["protocol"] or r["procedure_name"])]
        ),
    ),
    0x00400020: ("CS", lambda r: r["step_status"]),
    0x00180015: ("CS", lambda r: _body_part(r)),
}
SPS_DEFAULT = [
    0x00080060,
    0x00400001,
    0x00400010,
    0x00400011,
    0x00400002,
    0x00400003,
    0x00400007,
    0x00400009,
    0x00400008,
    0x00400020,
]


def _plain(tag: int, spec: tuple[str, Builder] | None, row: dict[str, Any]) -> tuple[int, str, Any]:
    if spec is None:  # a key we hold no value for: returned empty (type 2 behaviour)
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
        return (tag, vr, [] if vr == "SQ" else "")
    vr, build = spec
    value = build(row)
    return (tag, vr, "" if value is None else value)


def plain_identifier(row: dict[str, Any], q: WorklistQuery) -> Item:
    """One response identifier as plain values, with the keys asked for (PS3.4 K.6.1.2.2)."""
    out = [_plain(tag, TOP.get(tag), row) for tag in q.return_tags]
    if q.sps_tags is not None:
        out.append((SPS, "SQ", [[_plain(tag, SPS_ITEM.get(tag), row) for tag in q.sps_tags or SPS_DEFAULT]]))
    out.sort(key=lambda e: e[0])
    return out


def needs_utf8(item: Item) -> bool:
    """Whether any text value is outside ASCII (then Specific Character Set is ISO_IR 192)."""
    for _, vr, value in item:
        if vr == "SQ":
            if any(needs_utf8(i) for i in value):
                return True
        elif not value.isascii():
            return True
    return False


def to_dataset(item: Item) -> Dataset:
    """A plain identifier (or item) as a pydicom Dataset."""
    ds = Dataset()
    for tag, vr, value in item:
        if vr == "SQ":
            ds.add(DataElement(tag, vr, Sequence([to_dataset(i) for i in value])))
        else:
            ds.add(DataElement(tag, vr, value))
    return ds


def build_identifier(row: dict[str, Any], q: WorklistQuery) -> Dataset:
    """One worklist response identifier with the keys asked for, as a Dataset."""
    plain = plain_identifier(row, q)
    ds = to_dataset(plain)
    if q.charset_asked or needs_utf8(plain):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def find_worklist_plain(
    engine: Engine, identifier: Dataset, *, case_insensitive: bool = False
) -> tuple[WorklistQuery, Iterator[Item]]:
    """Parse the identifier (``Invalid`` at once for a broken key) and the plain answers, lazily."""
    q = parse_identifier(identifier, case_insensitive=case_insensitive)
    rows = find_worklist_rows(engine, q)
    return q, (plain_identifier(row, q) for row in rows)


def find_worklist(
    engine: Engine, identifier: Dataset, *, case_insensitive: bool = False
) -> Iterator[Dataset]:
    """Answer a Modality Worklist C-FIND identifier: one response identifier per active step."""
    q = parse_identifier(identifier, case_insensitive=case_insensitive)
    for row in find_worklist_rows(engine, q):
        yield build_identifier(row, q)


__all__ = [
    "MODALITY_WORKLIST_FIND",
    "WorklistQuery",
    "build_identifier",
    "find_worklist",
    "find_worklist_plain",
    "find_worklist_rows",
    "needs_utf8",
    "parse_identifier",
    "plain_identifier",
    "to_dataset",
]
