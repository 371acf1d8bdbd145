"""Stored studies as FHIR ImagingStudy, with our DICOMweb service as an FHIR Endpoint.

Read from the archive index through its one query engine (``archive.query.find_rows`` and
``build_response``, so corrected studies show their corrected patient attributes), as FHIR R4
ImagingStudy and Endpoint (connectionType ``dicom-wado-rs``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydicom.dataset import Dataset

from vetpacs.archive.context import Archive
from vetpacs.archive.query import Level, Query, build_response, find_rows
from vetpacs.errors import NotFound
from vetpacs.integration.fhir.common import (
    ACCESSION_SYSTEM,
    DICOM_DCM,
    DICOM_UID_SYSTEM,
    ENDPOINT_CONNECTION,
    V2_0203,
    FhirError,
    SearchParams,
    checked,
    dicom_datetime,
    parse_date_param,
    parse_reference,
    parse_token,
)
from vetpacs.patients import service as patients

ENDPOINT_ID = "dicomweb"
IMAGING_STUDY_PARAMS = ("_id", "patient", "subject", "identifier", "started", "modality")

STUDY_TAGS = [
    0x0020000D,  # Study Instance UID
    0x00080020,  # Study Date
    0x00080030,  # Study Time
    0x00080050,  # Accession Number
    0x00081030,  # Study Description
    0x00100010,  # Patient Name
    0x00100020,  # Patient ID
    0x00080061,  # Modalities in Study
    0x00201206,  # Number of Study Related Series
    0x00201208,  # Number of Study Related Instances
    0x00080090,  # Referring Physician Name
]
SERIES_TAGS = [
    0x0020000D,
    0x0020000E,
    0x00080060,
    0x00200011,
    0x0008103E,
    0x00180015,
    0x00201209,
    0x00080021,
    0x00080031,
]
INSTANCE_TAGS = [0x0020000E, 0x00080018, 0x00080016, 0x00200013]


def endpoint_resource(base_url: str) -> dict[str, Any]:
    """Our DICOMweb service (WADO-RS, QIDO-RS, STOW-RS) as a FHIR R4 Endpoint."""
    return checked(
        {
            "resourceType": "Endpoint",
            "id": ENDPOINT_ID,
            "status": "active",
            "connectionType": {"system": ENDPOINT_CONNECTION, "code": "dicom-wado-rs"},
            "name": "VetPACS DICOMweb",
            "payloadType": [{"text": "DICOM"}],
            "payloadMimeType": ["application/dicom"],
            "address": f"{base_url}/dicom-web",
        }
    )


def _text(ds: Dataset, keyword: str) -> str:
    if keyword not in ds or ds[keyword].value is None:
        return ""
    return str(ds[keyword].value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    text = _text(ds, keyword)
    return int(text) if text.isdigit() else None


def _modality(code: str) -> dict[str, Any]:
    return {"system": DICOM_DCM, "code": code}


def imaging_study_resource(
    study: Dataset,
    series: list[Dataset],
    instances: dict[str, list[Dataset]] | None,
    *,
    animal_id: int | None,
    fhir_base: str,
) -> dict[str, Any]:
    """A study of the index as a FHIR R4 ImagingStudy (instances listed when ``instances`` is given)."""
    uid = _text(study, "StudyInstanceUID")
    identifiers: list[dict[str, Any]] = [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{uid}"}]
    accession = _text(study, "AccessionNumber")
    if accession:
        identifiers.append(
            {
                "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
                "system": ACCESSION_SYSTEM,
                "value": accession,
            }
        )
    patient_id = _text(study, "PatientID")
    subject: dict[str, Any]
    if animal_id is not None:
        subject = {"reference": f"Patient/{animal_id}"}
    else:  # not a registered animal: a logical reference by the DICOM Patient ID
        subject = {"type": "Patient", "identifier": {"value": patient_id or "(none)"}}
    name = _text(study, "PatientName")
    if name:
        subject["display"] = name
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": uid,
        "identifier": identifiers,
        "status": "available",
        "subject": subject,
        "endpoint": [{"reference": f"Endpoint/{ENDPOINT_ID}"}],
    }
    raw = study["ModalitiesInStudy"].value if "ModalitiesInStudy" in study else None
    modalities = [str(m) for m in ([raw] if isinstance(raw, str) else list(raw or [])) if m]
    if modalities:
        resource["modality"] = [_modality(str(m)) for m in modalities]
    started = dicom_datetime(_text(study, "StudyDate"), _text(study, "StudyTime"))
    if started:
        resource["started"] = started
    if (n := _int(study, "NumberOfStudyRelatedSeries")) is not None:
        resource["numberOfSeries"] = n
    if (n := _int(study, "NumberOfStudyRelatedInstances")) is not None:
        resource["numberOfInstances"] = n
    if description := _text(study, "StudyDescription"):
        resource["description"] = description
    if referrer := _text(study, "ReferringPhysicianName"):
        resource["referrer"] = {"display": referrer.replace("^", " ").strip()}
    out_series = []
    for s in series:
        series_uid = _text(s, "SeriesInstanceUID")
        item: dict[str, Any] = {"uid": series_uid, "modality": _modality(_text(s, "Modality") or "OT")}
        if (n := _int(s, "SeriesNumber")) is not None:
            item["number"] = n
        if d := _text(s, "SeriesDescription"):
            item["description"] = d
        if (n := _int(s, "NumberOfSeriesRelatedInstances")) is not None:
            item["numberOfInstances"] = n
        if part := _text(s, "BodyPartExamined"):
            item["bodySite"] = {"system": DICOM_DCM, "code": part, "display": part.title()}
        if started := dicom_datetime(_text(s, "SeriesDate"), _text(s, "SeriesTime")):
            item["started"] = started
        item["endpoint"] = [{"reference": f"Endpoint/{ENDPOINT_ID}"}]
        if instances is not None:
            listed = []
            for inst in instances.get(series_uid, []):
                entry: dict[str, Any] = {
                    "uid": _text(inst, "SOPInstanceUID"),
                    "sopClass": {
                        "system": "urn:ietf:rfc:3986",
                        "code": f"urn:oid:{_text(inst, 'SOPClassUID')}",
                    },
                }
                if (n := _int(inst, "InstanceNumber")) is not None:
                    entry["number"] = n
                listed.append(entry)
            if listed:
                item["instance"] = listed
        out_series.append(item)
    if out_series:
        resource["series"] = out_series
    return checked(resource)


def _rows(archive: Archive, q: Query) -> list[Dataset]:
    return [build_response(row, q) for row in find_rows(archive, q)]


def _series_of(archive: Archive, study_uids: list[str]) -> dict[str, list[Dataset]]:
    out: dict[str, list[Dataset]] = {u: [] for u in study_uids}
    if not study_uids:
        return out
    q = Query(level=Level.SERIES, match={0x0020000D: "\\".join(study_uids)}, return_tags=list(SERIES_TAGS))
    for ds in _rows(archive, q):
        out.setdefault(_text(ds, "StudyInstanceUID"), []).append(ds)
    for items in out.values():
        items.sort(key=lambda d: (_int(d, "SeriesNumber") or 0, _text(d, "SeriesInstanceUID")))
    return out


def _animals(archive: Archive, studies: list[Dataset]) -> dict[str, int]:
    with archive.engine.connect() as conn:
        return patients.animal_ids_with_patient_ids(conn, [_text(s, "PatientID") for s in studies])


def read_imaging_study(archive: Archive, study_uid: str, *, fhir_base: str) -> dict[str, Any]:
    """GET ImagingStudy/{Study Instance UID} (FHIR R4 http read), with series and instances."""
    q = Query(level=Level.STUDY, match={0x0020000D: study_uid}, return_tags=list(STUDY_TAGS))
    studies = _rows(archive, q) if study_uid.replace(".", "").isdigit() else []
    if not studies:
        raise NotFound(f"no study with Study Instance UID {study_uid}")
    study = studies[0]
    series = _series_of(archive, [study_uid])[study_uid]
    iq = Query(level=Level.IMAGE, match={0x0020000D: study_uid}, return_tags=list(INSTANCE_TAGS))
    instances: dict[str, list[Dataset]] = {}
    for ds in _rows(archive, iq):
        instances.setdefault(_text(ds, "SeriesInstanceUID"), []).append(ds)
    for items in instances.values():
        items.sort(key=lambda d: (_int(d, "InstanceNumber") or 0, _text(d, "SOPInstanceUID")))
    animal = _animals(archive, [study]).get(_text(study, "PatientID"))
    return imaging_study_resource(study, series, instances, animal_id=animal, fhir_base=fhir_base)


def search_imaging_studies(
    archive: Archive, params: SearchParams, *, fhir_base: str
) -> tuple[list[dict[str, Any]], bool]:
    """GET ImagingStudy?... (FHIR R4 search): _id, patient, identifier, started, modality.

    Returns the page and whether there is a next one (no total: the archive engine pages in SQL).
    """
    match: dict[int, Any] = {}
    if (raw := params.get("_id")) is not None:
        match[0x0020000D] = raw
    for name in ("patient", "subject"):
        if (raw := params.get(name)) is not None:
            animal_id = parse_reference(name, raw, "Patient")
            try:
                match[0x00100020] = patients.get_animal(archive, animal_id).patient_id
            except NotFound:
                return [], False
    if (raw := params.get("identifier")) is not None:
        system, value = parse_token(raw)
        if system == ACCESSION_SYSTEM:
            match[0x00080050] = value
        elif system in (None, "", DICOM_UID_SYSTEM):
            uid = value.removeprefix("urn:oid:")
            if system in (None, "") and not uid.replace(".", "").isdigit():
                match[0x00080050] = value  # a bare accession number
            else:
                match[0x0020000D] = uid
        else:
            return [], False
    if (raw := params.get("modality")) is not None:
        codes = []
        for token in raw.split(","):
            system, code = parse_token(token)
            if system not in (None, "", DICOM_DCM):
                raise FhirError.one(400, "invalid", f"modality system must be {DICOM_DCM}", "modality")
            codes.append(code.upper())
        match[0x00080061] = "\\".join(codes)
    if (raw := params.get("started")) is not None:
        span = parse_date_param("started", raw)
        if span.negate:
            raise FhirError.one(400, "invalid", "started: the ne prefix is not supported", "started")
        lo = span.lo.strftime("%Y%m%d") if span.lo is not None else ""
        hi = (span.hi - timedelta(microseconds=1)).strftime("%Y%m%d") if span.hi is not None else ""
        match[0x00080020] = f"{lo}-{hi}"
    for value in match.values():
        if isinstance(value, str) and any(ch in value for ch in "*?"):
            raise FhirError.one(400, "invalid", "wildcards are not FHIR token matching", "identifier")
    if params.count == 0:
        return [], False
    q = Query(
        level=Level.STUDY,
        match=match,
        return_tags=list(STUDY_TAGS),
        limit=params.count + 1,
        offset=params.offset,
    )
    studies = _rows(archive, q)
    more = len(studies) > params.count
    studies = studies[: params.count]
    series = _series_of(archive, [_text(s, "StudyInstanceUID") for s in studies])
    animals = _animals(archive, studies)
    return [
        imaging_study_resource(
            s,
            series.get(_text(s, "StudyInstanceUID"), []),
            None,
            animal_id=animals.get(_text(s, "PatientID")),
            fhir_base=fhir_base,
        )
        for s in studies
    ], more
