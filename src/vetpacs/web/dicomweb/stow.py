"""STOW-RS (PS3.18 10.5): every part goes through ``archive.ingest.store_instance``."""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

from pydicom import dcmread

from vetpacs.archive.context import Archive, Origin
from vetpacs.archive.ingest import StoreStatus, store_instance
from vetpacs.archive.sopclasses import STORAGE_SOP_CLASSES
from vetpacs.errors import Conflict, Invalid, StorageFailure
from vetpacs.web.dicomweb.media import DICOM, Part

log = logging.getLogger("vetpacs.web.dicomweb.stow")

# Failure Reason (0008,1197) values, PS3.18 Table 10.5.3-3 / PS3.4 B.2.3
PROCESSING_FAILURE = 0x0110
DUPLICATE = 0x0111
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
DATASET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
# Warning Reason (0008,1196)
COERCED = 0xB000  # Coercion of data elements: here, a different copy was kept (duplicate policy)


def _identify(data: bytes) -> tuple[str, str, str]:
    """SOP Class, SOP Instance and Study Instance UIDs of a part, as far as they can be read."""
    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        return (
            str(ds.get("SOPClassUID", "") or ""),
            str(ds.get("SOPInstanceUID", "") or ""),
            str(ds.get("StudyInstanceUID", "") or ""),
        )
    except Exception:
        return "", "", ""


def _ref_item(sop_class: str, sop_uid: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if sop_class:
        item["00081150"] = {"vr": "UI", "Value": [sop_class]}
    if sop_uid:
        item["00081155"] = {"vr": "UI", "Value": [sop_uid]}
    item.update(extra)
    return item


def store_parts(
    archive: Archive,
    parts: list[Part],
    *,
    origin: Origin,
    study_uid: str | None,
    base_url: str,
) -> tuple[int, dict[str, Any], list[str]]:
    """Store each part; return the HTTP status, the response dataset and the stored study UIDs.

    200: all stored. 202: some failed or carry a warning. 409: none stored (PS3.18 10.5.3.1).
    """
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    studies: list[str] = []
    warnings = False
    for part in parts:
        sop_class, sop_uid, part_study = _identify(part.body)
        ctype = part.content_type.type
        if ctype not in (DICOM, "application/octet-stream"):
            failed.append(_failure(sop_class, sop_uid, CANNOT_UNDERSTAND, f"part media type {ctype}"))
            continue
        if study_uid is not None and part_study and part_study != study_uid:
            reason = f"Study Instance UID {part_study} is not the study of the request URL"
            failed.append(_failure(sop_class, sop_uid, DATASET_MISMATCH, reason))
            continue
        try:
            result = store_instance(archive, part.body, origin=origin)
        except Conflict as exc:
            failed.append(_failure(sop_class, sop_uid, DUPLICATE, str(exc)))
            continue
        except Invalid as exc:
            code = (
                SOP_CLASS_NOT_SUPPORTED
                if sop_class and sop_class not in STORAGE_SOP_CLASSES
                else CANNOT_UNDERSTAND
            )
            failed.append(_failure(sop_class, sop_uid, code, str(exc)))
            continue
        except StorageFailure as exc:
            failed.append(_failure(sop_class, sop_uid, OUT_OF_RESOURCES, str(exc)))
            continue
        except Exception as exc:  # never a 500 for one bad part; the others still count
            log.exception("STOW part %s from %s failed", sop_uid or "?", origin.describe())
            failed.append(_failure(sop_class, sop_uid, PROCESSING_FAILURE, f"{type(exc).__name__}: {exc}"))
            continue
        url = f"{base_url}/studies/{result.study_instance_uid}"
        if result.study_instance_uid not in studies:
            studies.append(result.study_instance_uid)
        extra: dict[str, Any] = {
            "00081190": {"vr": "UR", "Value": [f"{url}/instances/{result.sop_instance_uid}"]}
        }
        if result.status is StoreStatus.CONFLICT_KEPT_FIRST:
            warnings = True
            extra["00081196"] = {"vr": "US", "Value": [COERCED]}
        referenced.append(_ref_item(result.sop_class_uid, result.sop_instance_uid, **extra))
    body: dict[str, Any] = {}
    if len(studies) == 1 or study_uid:
        body["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{study_uid or studies[0]}"]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if not referenced:
        status = 409
    elif failed or warnings:
        status = 202
    else:
        status = 200
    return status, body, studies


def _failure(sop_class: str, sop_uid: str, code: int, reason: str) -> dict[str, Any]:
    log.info("STOW failure %04X for %s: %s", code, sop_uid or "?", reason)  # the reason's only record
    return _ref_item(sop_class, sop_uid, **{"00081197": {"vr": "US", "Value": [code]}})
