"""QIDO-RS (PS3.18 10.6): query parameters -> the archive's one query engine -> DICOM JSON."""

from __future__ import annotations

import json
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from starlette.datastructures import QueryParams

from vetpacs.archive.context import Archive
from vetpacs.archive.query import Level, Model, Query, find_rows, overlay_of, response_json
from vetpacs.errors import Invalid

# Default return attributes (PS3.18 Tables 10.6.3-3 to 10.6.3-5) plus the veterinary patient keys.
VET_KEYS = [
    0x00102201,  # Patient Species Description
    0x00102202,  # Patient Species Code Sequence
    0x00102292,  # Patient Breed Description
    0x00102293,  # Patient Breed Code Sequence
    0x00102203,  # Patient's Sex Neutered
    0x00102297,  # Responsible Person
    0x00102298,  # Responsible Person Role
    0x00102299,  # Responsible Organization
    0x00101002,  # Other Patient IDs Sequence (microchip)
]
STUDY_KEYS = [
    0x00080005,
    0x00080020,
    0x00080030,
    0x00080050,
    0x00080061,
    0x00080090,
    0x00081030,
    0x00100010,
    0x00100020,
    0x00100021,
    0x00100030,
    0x00100040,
    0x0020000D,
    0x00200010,
    0x00201206,
    0x00201208,
    *VET_KEYS,
]
SERIES_KEYS = [
    0x00080005,
    0x00080060,
    0x0008103E,
    0x0020000E,
    0x00200011,
    0x00201209,
    0x00180015,
    0x00080021,
    0x00080031,
]
INSTANCE_KEYS = [
    0x00080005,
    0x00080016,
    0x00080018,
    0x00200013,
    0x00280010,
    0x00280011,
    0x00280100,
    0x00280008,
]
DEFAULT_KEYS = {Level.STUDY: STUDY_KEYS, Level.SERIES: SERIES_KEYS, Level.IMAGE: INSTANCE_KEYS}
# When a query is scoped to a study (or series), the upper level's keys come along (PS3.18 10.6.3.3)
SCOPED_EXTRA = {
    Level.SERIES: [0x0020000D],
    Level.IMAGE: [0x0020000D, 0x0020000E, 0x00080060],
}
CONTROL = {"limit", "offset", "fuzzymatching", "includefield", "orderby", "accept", "charset"}
LEVEL_TAG = 0x00080052


def parse_tag(name: str) -> int:
    """An attribute ID of a QIDO key: a keyword (``PatientName``) or eight hex digits (``00100010``)."""
    name = name.strip()
    if len(name) == 8:
        try:
            return int(name, 16)
        except ValueError:
            pass
    tag = tag_for_keyword(name)
    if tag is None:
        raise Invalid(f"unknown attribute {name!r}")
    return int(tag)


def _vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def build_query(
    level: Level,
    params: QueryParams,
    *,
    scope: dict[int, str],
    case_insensitive: bool,
) -> tuple[Query, bool]:
    """A Query from QIDO-RS parameters (PS3.18 8.3.4); returns it and whether ``includefield=all``."""
    q = Query(level=level, model=Model.STUDY_ROOT, case_insensitive=case_insensitive)
    q.return_tags = list(DEFAULT_KEYS[level]) + list(SCOPED_EXTRA.get(level, []) if scope else [])
    include_all = False
    for key in params:
        if key.lower() not in CONTROL and not key.startswith("_"):
            values = [v for v in params.getlist(key)]
            _add_match(q, key, values)
    for value in params.getlist("includefield"):
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() == "all":
                include_all = True
                continue
            tag = parse_tag(item.split(".")[0])
            if tag not in q.return_tags:
                q.return_tags.append(tag)
    fuzzy = params.get("fuzzymatching", "false").lower()
    if fuzzy not in ("true", "false"):
        raise Invalid("fuzzymatching must be true or false")
    if fuzzy == "true":
        q.case_insensitive = True
    q.limit = _int_param(params, "limit")
    q.offset = _int_param(params, "offset") or 0
    for tag, value in scope.items():
        q.match[tag] = value
        if tag not in q.return_tags:
            q.return_tags.append(tag)
    return q, include_all


def _int_param(params: QueryParams, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be a non-negative integer, not {raw!r}") from exc
    if value < 0:
        raise Invalid(f"{name} must be a non-negative integer, not {raw!r}")
    return value


def _add_match(q: Query, key: str, values: list[str]) -> None:
    path = [parse_tag(part) for part in key.split(".")]
    if len(path) > 2:
        raise Invalid(f"sequence matching deeper than one item is not supported: {key!r}")
    tag = path[0]
    if tag not in q.return_tags:
        q.return_tags.append(tag)
    if len(path) == 2:
        if _vr(tag) != "SQ":
            raise Invalid(f"{key.split('.')[0]!r} is not a sequence")
        item = Dataset()
        item.add_new(path[1], _vr(path[1]), "\\".join(values))
        q.match[tag] = item
        return
    vr = _vr(tag)
    if vr == "SQ":
        return  # a sequence as a plain key: a return key
    parts: list[str] = []
    for value in values:
        # UID lists may use commas (PS3.18 8.3.4.1); other values use repeated keys or backslashes
        parts.extend(value.split(",") if vr == "UI" else [value])
    text = "\\".join(p for p in parts if p != "")
    if text not in ("", "*"):
        q.match[tag] = text


def run_qido(archive: Archive, q: Query, include_all: bool, base_url: str) -> list[dict[str, Any]]:
    """Matches of ``q`` as DICOM JSON objects, each with its Retrieve URL (0008,1190)."""
    rows = find_rows(archive, q)
    out: list[dict[str, Any]] = []
    for row in rows:
        result = response_json(row, q)
        if include_all:
            header = json.loads(row.get("header_json") or "{}")
            for tag, entry in header.items():
                if tag not in result and "BulkDataURI" not in entry and "InlineBinary" not in entry:
                    result[tag] = entry
            overlay = overlay_of(row)
            if overlay:  # a corrected study: the corrected values, not the stored ones
                result.update(json.loads(overlay))
        result["00081190"] = {"vr": "UR", "Value": [_retrieve_url(base_url, q.level, row)]}
        out.append(result)
    return out


def _uid(row: dict[str, Any], level: Level, column: str) -> str:
    if row["__level__"] is level:
        return str(row.get(column) or "")
    return str(row.get(f"{level.value}__{column}") or "")


def _retrieve_url(base: str, level: Level, row: dict[str, Any]) -> str:
    study = _uid(row, Level.STUDY, "study_instance_uid")
    url = f"{base}/studies/{study}"
    if level in (Level.SERIES, Level.IMAGE):
        url += f"/series/{_uid(row, Level.SERIES, 'series_instance_uid')}"
    if level is Level.IMAGE:
        url += f"/instances/{row.get('sop_instance_uid', '')}"
    return url
