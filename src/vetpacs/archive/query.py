"""One query engine for C-FIND, QIDO-RS, the REST search and the UI search (PS3.4 C.2.2, PS3.18 8.3.4).

A query is a level, a list of matching keys and a list of return keys. Keys the index holds as
columns are matched in SQL (single value, wildcard ``*``/``?``, date/time range, UID list,
universal matching, and the species/breed/microchip sequences); any other key is matched against
the stored DICOM JSON header of the level's row. Return keys come from columns, computed counts
(Number of Study Related Instances...) or the stored header.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select

from vetpacs.archive.context import Archive
from vetpacs.archive.corrections import overlay_dataset
from vetpacs.archive.models import Instance, Patient, Series, Study
from vetpacs.errors import Invalid

log = logging.getLogger("vetpacs.archive.query")

P: Table = cast(Table, Patient.__table__)
ST: Table = cast(Table, Study.__table__)
SE: Table = cast(Table, Series.__table__)
IN: Table = cast(Table, Instance.__table__)


class Level(StrEnum):
    """Query/Retrieve level (0008,0052)."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class Model(StrEnum):
    """Query/Retrieve information model."""

    PATIENT_ROOT = "patient"
    STUDY_ROOT = "study"


ORDER = [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE]


@dataclass(frozen=True)
class Attr:
    """An attribute the index holds as a column."""

    level: Level
    column: Any
    vr: str
    upper: Any = None  # upper-cased shadow column for case-insensitive name matching


# tag -> indexed column
ATTRS: dict[int, Attr] = {
    0x00100010: Attr(Level.PATIENT, P.c.patient_name, "PN", P.c.patient_name_upper),
    0x00100020: Attr(Level.PATIENT, P.c.patient_id, "LO"),
    0x00100021: Attr(Level.PATIENT, P.c.issuer_of_patient_id, "LO"),
    0x00100030: Attr(Level.PATIENT, P.c.patient_birth_date, "DA"),
    0x00100040: Attr(Level.PATIENT, P.c.patient_sex, "CS"),
    0x00102203: Attr(Level.PATIENT, P.c.patient_sex_neutered, "CS"),
    0x00102201: Attr(Level.PATIENT, P.c.patient_species_description, "LO"),
    0x00102292: Attr(Level.PATIENT, P.c.patient_breed_description, "LO"),
    0x00102297: Attr(Level.PATIENT, P.c.responsible_person, "PN", P.c.responsible_person_upper),
    0x00102298: Attr(Level.PATIENT, P.c.responsible_person_role, "CS"),
    0x00102299: Attr(Level.PATIENT, P.c.responsible_organization, "LO"),
    0x0020000D: Attr(Level.STUDY, ST.c.study_instance_uid, "UI"),
    0x00080020: Attr(Level.STUDY, ST.c.study_date, "DA"),
    0x00080030: Attr(Level.STUDY, ST.c.study_time, "TM"),
    0x00080050: Attr(Level.STUDY, ST.c.accession_number, "SH"),
    0x00200010: Attr(Level.STUDY, ST.c.study_id, "SH"),
    0x00081030: Attr(Level.STUDY, ST.c.study_description, "LO"),
    0x00080090: Attr(Level.STUDY, ST.c.referring_physician_name, "PN"),
    0x00080080: Attr(Level.STUDY, ST.c.institution_name, "LO"),
    0x0020000E: Attr(Level.SERIES, SE.c.series_instance_uid, "UI"),
    0x00080060: Attr(Level.SERIES, SE.c.modality, "CS"),
    0x00200011: Attr(Level.SERIES, SE.c.series_number, "IS"),
    0x0008103E: Attr(Level.SERIES, SE.c.series_description, "LO"),
    0x00080021: Attr(Level.SERIES, SE.c.series_date, "DA"),
    0x00080031: Attr(Level.SERIES, SE.c.series_time, "TM"),
    0x00081010: Attr(Level.SERIES, SE.c.station_name, "SH"),
    0x00080018: Attr(Level.IMAGE, IN.c.sop_instance_uid, "UI"),
    0x00080016: Attr(Level.IMAGE, IN.c.sop_class_uid, "UI"),
    0x00200013: Attr(Level.IMAGE, IN.c.instance_number, "IS"),
    0x00280008: Attr(Level.IMAGE, IN.c.number_of_frames, "IS"),
    0x00280010: Attr(Level.IMAGE, IN.c.rows, "US"),
    0x00280011: Attr(Level.IMAGE, IN.c.columns, "US"),
}

# Below PATIENT level, patient attributes match the values each study arrived with.
STUDY_PATIENT_ATTRS: dict[int, Attr] = {
    tag: Attr(Level.STUDY, ST.c[a.column.name], a.vr, None if a.upper is None else ST.c[a.upper.name])
    for tag, a in ATTRS.items()
    if a.level is Level.PATIENT
}


def attrs_for(level: Level) -> dict[int, Attr]:
    """Indexed attributes as seen from a query level."""
    return ATTRS if level is Level.PATIENT else {**ATTRS, **STUDY_PATIENT_ATTRS}


# Multi-valued columns matched element-wise (any value matches).
MULTI: dict[int, tuple[Level, Any]] = {
    0x00080061: (Level.STUDY, ST.c.modalities_in_study),  # Modalities in Study
    0x00180015: (Level.SERIES, SE.c.body_part_examined),  # Body Part Examined (series level)
}
# At study level, Body Part Examined matches any series' body part (a vet search favourite).
STUDY_BODY_PART = ST.c.body_parts_examined

# Sequences whose first item key is indexed: tag -> (item tag, column)
SEQUENCES: dict[int, tuple[int, Any]] = {
    0x00102202: (0x00080100, P.c.patient_species_code),  # Patient Species Code Sequence > Code Value
    0x00102293: (0x00080100, P.c.patient_breed_code),  # Patient Breed Code Sequence > Code Value
    0x00101002: (0x00100020, P.c.microchip),  # Other Patient IDs Sequence > Patient ID
}
STUDY_SEQUENCES = {tag: (item, ST.c[col.name]) for tag, (item, col) in SEQUENCES.items()}

COUNTS = {
    0x00201200: Level.PATIENT,  # Number of Patient Related Studies
    0x00201202: Level.PATIENT,  # Number of Patient Related Series
    0x00201204: Level.PATIENT,  # Number of Patient Related Instances
    0x00201206: Level.STUDY,  # Number of Study Related Series
    0x00201208: Level.STUDY,  # Number of Study Related Instances
    0x00201209: Level.SERIES,  # Number of Series Related Instances
}

LEVEL_ROW = {Level.PATIENT: P, Level.STUDY: ST, Level.SERIES: SE, Level.IMAGE: IN}
SKIP_TAGS = {0x00080052, 0x00080005, 0x00080056, 0x00080054}


def level_of(tag: int) -> Level | None:
    """The level an indexed attribute lives on, if it is indexed."""
    if tag in ATTRS:
        return ATTRS[tag].level
    if tag in MULTI:
        return MULTI[tag][0]
    if tag in SEQUENCES:
        return Level.PATIENT
    if tag in COUNTS:
        return COUNTS[tag]
    return None


@dataclass
class Query:
    """A level, matching keys (tag -> DICOM string value or a Dataset for sequences) and return keys."""

    level: Level
    model: Model = Model.STUDY_ROOT
    match: dict[int, Any] = field(default_factory=dict)
    return_tags: list[int] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    case_insensitive: bool = False


def query_from_identifier(identifier: Dataset, model: Model, *, case_insensitive: bool = False) -> Query:
    """Build a Query from a C-FIND/C-MOVE/C-GET identifier (PS3.4 C.4.1.1.3)."""
    raw_level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    try:
        level = Level(raw_level)
    except ValueError as exc:
        raise Invalid(f"invalid Query/Retrieve Level {raw_level!r}") from exc
    if level is Level.PATIENT and model is Model.STUDY_ROOT:
        raise Invalid("PATIENT level is not part of the Study Root information model")
    q = Query(level=level, model=model, case_insensitive=case_insensitive)
    for elem in identifier:
        tag = int(elem.tag)
        if tag in SKIP_TAGS or elem.tag.group == 0x0002 or elem.tag.is_private:
            continue
        q.return_tags.append(tag)
        if elem.VR == "SQ":
            if elem.value and len(elem.value):
                q.match[tag] = elem.value[0]
            continue
        value = _text(elem)
        if value not in ("", "*"):
            q.match[tag] = value
    return q


def _text(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _like(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_!":
            out.append("!" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _match_value(
    col: Any, value: str, vr: str, upper_col: Any = None, ci: bool = False
) -> ColumnElement[bool]:
    """SQL condition for one DICOM matching key (PS3.4 C.2.2.2)."""
    if vr == "UI" and "\\" in value:
        in_list: ColumnElement[bool] = col.in_([v.strip() for v in value.split("\\") if v.strip()])
        return in_list
    if vr in ("DA", "TM", "DT") and "-" in value:
        lo, _, hi = value.partition("-")
        lo, hi = lo.strip(), hi.strip()
        if vr == "TM":
            # times compare as text; pad the upper bound so 1030 includes 103059.999
            hi = hi + "9" * (13 - len(hi)) if hi else hi
        conds = []
        if lo:
            conds.append(col >= lo)
        if hi:
            conds.append(col <= hi)
        conds.append(col != "")
        return and_(*conds)
    if vr not in ("DA", "TM", "DT", "UI", "IS", "US") and "\\" in value:
        return or_(*[_match_value(col, v, vr, upper_col, ci) for v in value.split("\\") if v])
    if vr == "PN" and ci:
        col, value = (upper_col if upper_col is not None else func.upper(col)), value.upper()
    if vr in ("IS", "US"):
        if col.type.python_type is int:
            try:
                return col == int(value)  # type: ignore[no-any-return]
            except ValueError as exc:
                raise Invalid(f"invalid numeric matching key {value!r}") from exc
        return col == value  # type: ignore[no-any-return]
    if "*" in value or "?" in value:
        return col.like(_like(value), escape="!")  # type: ignore[no-any-return]
    return col == value  # type: ignore[no-any-return]


def _multi_match(col: Any, value: str) -> ColumnElement[bool]:
    conds = []
    for v in value.split("\\"):
        v = v.strip()
        if not v:
            continue
        e = _like(v)  # wildcards allowed; %, _ and ! in the value escaped with !
        conds.append(
            or_(
                col.like(e, escape="!"),
                col.like(f"{e}\\%", escape="!"),
                col.like(f"%\\{e}", escape="!"),
                col.like(f"%\\{e}\\%", escape="!"),
            )
        )
    return or_(*conds)


def _joined_select(level: Level) -> tuple[Select[Any], list[Level]]:
    """SELECT the query level's table joined with every level above it (joins on primary keys)."""
    chain = ORDER[: ORDER.index(level) + 1]
    stmt = select(LEVEL_ROW[level])
    joined = [level]
    for child_level, parent_level in zip(reversed(chain[1:]), reversed(chain[:-1]), strict=True):
        fk = {Level.STUDY: ST.c.patient_pk, Level.SERIES: SE.c.study_pk, Level.IMAGE: IN.c.series_pk}[
            child_level
        ]
        parent = LEVEL_ROW[parent_level]
        stmt = stmt.join(parent, fk == parent.c.id)
        joined.append(parent_level)
    return stmt, joined


def run_query(archive: Archive, q: Query) -> Iterator[Dataset]:
    """Yield one response identifier per match, carrying the requested return keys."""
    rows = find_rows(archive, q)
    for row in rows:
        yield build_response(row, q)


def find_rows(archive: Archive, q: Query) -> list[dict[str, Any]]:
    """Matching rows of the query level, with the joined upper-level columns (prefixed)."""
    ci = q.case_insensitive or archive.case_insensitive_names
    max_index = ORDER.index(q.level)
    conds: list[ColumnElement[bool]] = []
    python_filters: dict[int, Any] = {}
    attrs = attrs_for(q.level)
    for tag, value in q.match.items():
        lvl = level_of(tag)
        if lvl is not None and ORDER.index(lvl) > max_index and tag not in (0x00180015,):
            continue  # a lower-level key in a higher-level query: ignore (PS3.4 C.4.1.1.3.1)
        if tag in attrs:
            a = attrs[tag]
            conds.append(_match_value(a.column, value, a.vr, a.upper, ci))
        elif tag in MULTI:
            _lvl_m, col = MULTI[tag]
            if tag == 0x00180015 and q.level in (Level.STUDY, Level.PATIENT):
                col = STUDY_BODY_PART
            conds.append(_multi_match(col, value))
        elif tag in SEQUENCES:
            item_tag, col = (SEQUENCES if q.level is Level.PATIENT else STUDY_SEQUENCES)[tag]
            if isinstance(value, Dataset) and item_tag in value:
                item_value = _text(value[item_tag])
                if item_value not in ("", "*"):
                    conds.append(_match_value(col, item_value, "LO"))
        elif tag in COUNTS:
            continue
        else:
            python_filters[tag] = value
    stmt, joined = _joined_select(q.level)
    cols = []
    for lvl in joined[1:]:
        table = LEVEL_ROW[lvl]
        cols += [c.label(f"{lvl.value}__{c.name}") for c in table.c]
    stmt = stmt.add_columns(*cols).where(*conds)
    stmt = stmt.order_by(LEVEL_ROW[q.level].c.id)
    if not python_filters:
        if q.offset:
            stmt = stmt.offset(q.offset)
        if q.limit:
            stmt = stmt.limit(q.limit)
    with archive.engine.connect() as conn:
        result = [dict(r._mapping) for r in conn.execute(stmt)]
        _add_counts(conn, q, result)
    for r in result:
        r["__level__"] = q.level
    if python_filters:
        result = [r for r in result if _header_matches(r, python_filters, ci)]
        end = q.offset + q.limit if q.limit else None
        result = result[q.offset : end]
    return result


def study_conditions(match: dict[int, str], *, case_insensitive: bool = False) -> list[ColumnElement[bool]]:
    """SQL conditions on the ``studies`` table for STUDY-level matching keys (the rules of :func:`find_rows`).

    Keys the index holds at study level (dates and ranges, accession, Modalities in Study, Body Part
    Examined over the study's series, the patient snapshot...) become conditions; any other key is
    ``Invalid`` (this is for callers that build their own SELECT, such as the clinic search).
    """
    attrs = attrs_for(Level.STUDY)
    conds: list[ColumnElement[bool]] = []
    for tag, value in match.items():
        if value in ("", "*"):
            continue
        if tag in attrs and attrs[tag].level is Level.STUDY:
            a = attrs[tag]
            conds.append(_match_value(a.column, value, a.vr, a.upper, case_insensitive))
        elif tag == 0x00080061:
            conds.append(_multi_match(ST.c.modalities_in_study, value))
        elif tag == 0x00180015:
            conds.append(_multi_match(STUDY_BODY_PART, value))
        else:
            raise Invalid(f"({tag:08X}) is not a study-level indexed matching key")
    return conds


def _add_counts(conn: Any, q: Query, rows: list[dict[str, Any]]) -> None:
    wanted = [t for t in q.return_tags if t in COUNTS]
    if not rows or not any(COUNTS[t] is Level.PATIENT for t in wanted):
        return
    key = "id" if q.level is Level.PATIENT else "PATIENT__id"
    ids = sorted({r[key] for r in rows})
    stmt = (
        select(ST.c.patient_pk, func.count(ST.c.id), func.sum(ST.c.num_series), func.sum(ST.c.num_instances))
        .where(ST.c.patient_pk.in_(ids))
        .group_by(ST.c.patient_pk)
    )
    agg = {row[0]: row[1:] for row in conn.execute(stmt)}
    for r in rows:
        n_st, n_se, n_in = agg.get(r[key], (0, 0, 0))
        r["__patient_counts__"] = (int(n_st or 0), int(n_se or 0), int(n_in or 0))


def _header(row: dict[str, Any]) -> dict[str, Any]:
    cached = row.get("__header__")
    if cached is None:
        cached = json.loads(row.get("header_json") or "{}")
        row["__header__"] = cached
    return cached  # type: ignore[no-any-return]


def _header_value(header: dict[str, Any], tag: int) -> str:
    entry = header.get(f"{tag:08X}")
    if not entry:
        return ""
    values = entry.get("Value") or []
    out = []
    for v in values:
        if isinstance(v, dict):
            out.append(str(v.get("Alphabetic", "")))
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))  # DS/FL 585.0 in JSON matches "585" as sent
        else:
            out.append(str(v))
    return "\\".join(out)


def _header_matches(row: dict[str, Any], filters: dict[int, Any], ci: bool) -> bool:
    header = _header(row)
    for tag, pattern in filters.items():
        if isinstance(pattern, Dataset):
            continue  # sequence matching on non-indexed sequences: treated as a return key
        value = _header_value(header, tag)
        vr = dictionary_VR(tag) if _known(tag) else "LO"
        if vr in ("DA", "TM", "DT") and "-" in pattern:
            lo, _, hi = pattern.partition("-")
            if not value or (lo and value < lo) or (hi and value > hi + ("9" * 13 if vr == "TM" else "")):
                return False
            continue
        if vr == "UI" and "\\" in pattern:
            if value not in pattern.split("\\"):
                return False
            continue
        candidates = value.split("\\") if value else [""]
        pats = pattern.split("\\")
        if ci:
            candidates = [c.upper() for c in candidates]
            pats = [p.upper() for p in pats]
        regexes = [fnmatch.translate(p.replace("[", "[[]")) for p in pats]
        if not any(re.match(rx, c, re.S) for rx in regexes for c in candidates):
            return False
    return True


def _known(tag: int) -> bool:
    try:
        dictionary_VR(tag)
        return True
    except KeyError:
        return False


def _col(row: dict[str, Any], attr: Attr) -> Any:
    table_level = attr.level
    name = attr.column.name
    if row["__level__"] == table_level:
        return row.get(name)
    return row.get(f"{table_level.value}__{name}")


def build_response(row: dict[str, Any], q: Query) -> Dataset:
    """The C-FIND response identifier (or QIDO result) for one matching row."""
    ds = Dataset()
    non_ascii = False
    level = q.level
    for tag in q.return_tags:
        elem = _response_element(row, tag, level)
        if elem is None:
            continue
        if isinstance(elem.value, str) and not elem.value.isascii():
            non_ascii = True
        ds.add(elem)
    ds.QueryRetrieveLevel = level.value
    overlay = overlay_of(row)
    if overlay:  # a corrected study: its corrected patient-level attributes (archive/corrections.py)
        corrected = overlay_dataset(overlay)
        for tag in q.return_tags:
            if tag in corrected:
                ds[tag] = corrected[tag]
                non_ascii = non_ascii or not str(corrected[tag].value).isascii()
    if non_ascii or 0x00080005 in q.return_tags:
        ds.SpecificCharacterSet = "ISO_IR 192"
    # Unique keys of the level and above are always returned (PS3.4 C.4.1.2.2)
    for tag, lvl in (
        (0x00100020, Level.PATIENT),
        (0x0020000D, Level.STUDY),
        (0x0020000E, Level.SERIES),
        (0x00080018, Level.IMAGE),
    ):
        if ORDER.index(lvl) <= ORDER.index(level) and tag not in ds:
            if lvl is Level.PATIENT and level is not Level.PATIENT:
                continue
            elem = _response_element(row, tag, level)
            if elem is not None:
                ds.add(elem)
    return ds


def overlay_of(row: dict[str, Any]) -> str:
    """The corrected-attributes overlay of a matched row's study ("" for a study served as stored)."""
    if row["__level__"] is Level.STUDY:
        return str(row.get("overlay_json") or "")
    return str(row.get("STUDY__overlay_json") or "")


def _response_element(row: dict[str, Any], tag: int, level: Level) -> DataElement | None:
    t = Tag(tag)
    try:
        vr = dictionary_VR(t)
    except KeyError:
        vr = None
    if tag in ATTRS:
        attr = attrs_for(level)[tag]
        if ORDER.index(attr.level) > ORDER.index(level):
            return None
        value = _col(row, attr)
        if value is None:
            # upper level not joined: read it from the stored header of this level
            return _from_header(row, tag)
        if attr.vr == "US":
            return _elem(t, "US", value)
        return _elem(t, attr.vr, str(value))
    if tag == 0x00080061 and ORDER.index(level) >= 1:
        v = row.get("modalities_in_study") if level is Level.STUDY else row.get("STUDY__modalities_in_study")
        if v is None:
            return _from_header(row, tag)
        return _elem(t, "CS", v.split("\\") if v else "")
    if tag == 0x00180015 and level is Level.STUDY:
        return _elem(t, "CS", (row.get("body_parts_examined") or "").split("\\")[0])
    if tag == 0x00180015 and level is Level.SERIES:
        return _elem(t, "CS", row.get("body_part_examined") or "")
    if tag in COUNTS:
        return _count_element(row, tag, level)
    if vr is None and not t.is_private:
        return None
    return _from_header(row, tag)


def _elem(tag: Any, vr: str, value: Any) -> DataElement:
    """A response element; values come from our own index, so pydicom's validation is skipped."""
    return DataElement(tag, vr, value, validation_mode=pydicom_config.IGNORE)


def _count_element(row: dict[str, Any], tag: int, level: Level) -> DataElement | None:
    t = Tag(tag)
    own = COUNTS[tag]
    if ORDER.index(own) > ORDER.index(level):
        return None
    if own is Level.PATIENT:
        counts = row.get("__patient_counts__")
        if counts is None:
            return _elem(t, "IS", "")
        return _elem(t, "IS", str(counts[{0x00201200: 0, 0x00201202: 1, 0x00201204: 2}[tag]]))
    column = {0x00201206: "num_series", 0x00201208: "num_instances", 0x00201209: "num_instances"}[tag]
    value = row.get(column) if own is level else row.get(f"{own.value}__{column}")
    return _elem(t, "IS", "" if value is None else str(value))


def _from_header(row: dict[str, Any], tag: int) -> DataElement | None:
    header = _header(row)
    key = f"{tag:08X}"
    entry = header.get(key)
    if entry is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
        return DataElement(Tag(tag), vr, [] if vr == "SQ" else None)
    if "BulkDataURI" in entry:
        return None
    try:
        ds = Dataset.from_json({key: entry})
        return ds[tag]
    except Exception as exc:  # a value our header cannot turn back into DICOM: leave the key out
        log.debug("cannot return (%s) from the stored header: %s", key, exc)
        return None


__all__ = [
    "ATTRS",
    "Level",
    "Model",
    "Query",
    "build_response",
    "find_rows",
    "overlay_of",
    "query_from_identifier",
    "run_query",
    "study_conditions",
]


_JSON_INT_VRS = {"US", "UL", "SS", "SL", "UV", "SV"}


def _json_values(vr: str, text: str) -> dict[str, Any] | None:
    """DICOM JSON (PS3.18 F.2) of a value kept as text in an index column; None: use pydicom."""
    if text == "":
        return {"vr": vr}
    parts = text.split("\\")
    if vr == "PN":
        if any("=" in p for p in parts):
            return None  # ideographic/phonetic groups: let pydicom split them
        return {"vr": vr, "Value": [{"Alphabetic": p} if p else None for p in parts]}
    if vr == "IS":
        try:
            return {"vr": vr, "Value": [int(p) if p.strip() else None for p in parts]}
        except ValueError:
            return None
    if vr in ("DS", "FL", "FD"):
        return None
    return {"vr": vr, "Value": [p if p else None for p in parts]}


def response_json(row: dict[str, Any], q: Query) -> dict[str, Any]:
    """:func:`build_response` as DICOM JSON, built straight from the index row (QIDO-RS's hot path).

    Column values and the stored header's JSON entries are used as they are, without building a
    pydicom Dataset; anything unusual (a corrected study, ideographic names, decimal strings) falls
    back to ``build_response(...).to_json_dict()`` so the answer is always the same.
    """
    if overlay_of(row):
        return _slow_json(row, q)
    level = q.level
    out: dict[str, Any] = {}
    attrs = attrs_for(level)
    header: dict[str, Any] | None = None
    for tag in q.return_tags:
        key = f"{tag:08X}"
        if key in out:
            continue
        if tag in ATTRS:
            attr = attrs[tag]
            if ORDER.index(attr.level) > ORDER.index(level):
                continue
            value = _col(row, attr)
            if value is None:
                return _slow_json(row, q)
            if attr.vr == "US":
                out[key] = {"vr": "US", "Value": [int(value)]}
                continue
            entry = _json_values(attr.vr, str(value))
            if entry is None:
                return _slow_json(row, q)
            out[key] = entry
        elif tag in COUNTS or tag in (0x00080061, 0x00180015):
            elem = _response_element(row, tag, level)
            if elem is not None:
                out[key] = elem.to_json_dict(_no_bulk, 1 << 30)
        else:
            if header is None:
                header = _header(row)
            entry = header.get(key)
            if entry is None or "BulkDataURI" in entry or "InlineBinary" in entry:
                elem = _response_element(row, tag, level)
                if elem is not None:
                    out[key] = elem.to_json_dict(_no_bulk, 1 << 30)
                continue
            out[key] = entry
    non_ascii = any(
        isinstance(v, str) and not v.isascii() for entry in out.values() for v in _flat(entry.get("Value"))
    )
    if non_ascii or 0x00080005 in q.return_tags:
        out["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    for tag, lvl in ((0x00100020, Level.PATIENT), (0x0020000D, Level.STUDY), (0x0020000E, Level.SERIES),
                     (0x00080018, Level.IMAGE)):  # fmt: skip
        key = f"{tag:08X}"
        if ORDER.index(lvl) <= ORDER.index(level) and key not in out:
            if lvl is Level.PATIENT and level is not Level.PATIENT:
                continue
            elem = _response_element(row, tag, level)
            if elem is not None:
                out[key] = elem.to_json_dict(_no_bulk, 1 << 30)
    return out


def _flat(values: Any) -> Iterator[Any]:
    for v in values or ():
        if isinstance(v, dict):
            yield from (x for x in v.values() if isinstance(x, str))
        else:
            yield v


def _no_bulk(elem: DataElement) -> str:
    return ""


def _slow_json(row: dict[str, Any], q: Query) -> dict[str, Any]:
    result: dict[str, Any] = build_response(row, q).to_json_dict()
    result.pop("00080052", None)
    return result
