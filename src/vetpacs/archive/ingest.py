"""THE store path: bytes + origin -> durable blob -> committed index rows -> result.

C-STORE, ``vetpacs import`` and the demo loader call ``store_instance``; STOW-RS and migration
jobs must call it too (no second path).
It answers only after the blob is durable (written, fsynced, renamed, folder fsynced) and the index
transaction has committed (ADR 0001). A crash in between leaves at most an unindexed blob, which
``vetpacs verify`` reports; never an index row without its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from vetpacs import events
from vetpacs.archive.context import Archive, Origin, StudyStored
from vetpacs.archive.header import ParsedInstance, ensure_part10, parse_instance
from vetpacs.archive.models import IngestRejection, Instance, InstanceConflict, Patient, Series, Study
from vetpacs.archive.sopclasses import STORAGE_SOP_CLASSES
from vetpacs.config import DuplicatePolicy
from vetpacs.errors import Conflict, Invalid
from vetpacs.storage.base import new_blob_key

log = logging.getLogger("vetpacs.archive.ingest")

PATIENTS: Table = cast(Table, Patient.__table__)
STUDIES: Table = cast(Table, Study.__table__)
SERIES: Table = cast(Table, Series.__table__)
INSTANCES: Table = cast(Table, Instance.__table__)
CONFLICTS: Table = cast(Table, InstanceConflict.__table__)
REJECTIONS: Table = cast(Table, IngestRejection.__table__)


class StoreStatus(StrEnum):
    """What ``store_instance`` did."""

    STORED = "stored"
    ALREADY_PRESENT = "already-present"  # same SOP Instance UID, identical bytes: a no-op
    CONFLICT_KEPT_FIRST = "conflict-kept-first"  # different bytes; the first version stays
    REPLACED = "replaced"  # different bytes; policy `replace` stored the new version


@dataclass(frozen=True)
class StoreResult:
    """The outcome of one store, for the transport to translate."""

    status: StoreStatus
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    checksum: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# Blob writes and checksums release the GIL: they run here while the caller parses the header.
_io_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vetpacs-blob")
_INLINE_WRITE = 256 * 1024
_hash_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vetpacs-sha256")  # never waits on others


def _write_blob(archive: Archive, key: str, data: bytes) -> str:
    # The checksum runs on a second I/O thread while this one writes and fsyncs.
    checksum = _hash_pool.submit(_checksum, data) if len(data) > 1 << 18 else None
    archive.store.put(key, data)
    return checksum.result() if checksum is not None else _checksum(data)


def store_instance(archive: Archive, data: bytes, *, origin: Origin, strict_meta: bool = True) -> StoreResult:
    """Store one DICOM instance (Part 10 bytes) durably and index it.

    The blob is written (and fsynced) on an I/O thread while the header is parsed; the index rows
    are committed only after both succeed. Raises ``Invalid`` (malformed, truncated, missing UIDs,
    unsupported SOP class), ``Conflict`` (duplicate with different bytes under the ``reject``
    policy) or ``StorageFailure``. Every refusal is logged with its origin and recorded in
    ``ingest_rejections``.
    """
    key = new_blob_key()
    blob: Future[str] | None = None
    sop_uid = ""
    try:
        data = ensure_part10(data)
        if len(data) > _INLINE_WRITE:
            blob = _io_pool.submit(_write_blob, archive, key, data)
        parsed = parse_instance(data, strict_meta=strict_meta)
        sop_uid = parsed.sop_instance_uid
        if parsed.sop_class_uid not in STORAGE_SOP_CLASSES:
            raise Invalid(f"SOP class {parsed.sop_class_uid} is not a supported storage SOP class")
    except Invalid as exc:
        _discard(archive, key, blob)
        record_rejection(archive, sop_uid, str(exc), origin=origin)
        raise
    except BaseException:
        _discard(archive, key, blob)
        raise
    try:
        # Small objects are written inline: a thread hand-off costs more than it overlaps.
        checksum = blob.result() if blob is not None else _write_blob(archive, key, data)
    except BaseException:
        archive.store.delete(key)
        raise
    try:
        return _store_parsed(archive, parsed, key, checksum, origin=origin)
    except Conflict as exc:
        record_rejection(archive, parsed.sop_instance_uid, str(exc), origin=origin)
        raise


def _discard(archive: Archive, key: str, blob: Future[str] | None) -> None:
    if blob is not None:
        with contextlib.suppress(Exception):
            blob.result()
    archive.store.delete(key)


def record_rejection(archive: Archive, sop_instance_uid: str, reason: str, *, origin: Origin) -> None:
    """Log and keep a refused object's reason and origin (never a silent drop)."""
    log.warning("rejected %s (%s): %s", sop_instance_uid or "object", origin.describe(), reason)
    try:
        with archive.write_transaction() as conn:
            conn.execute(
                insert(REJECTIONS).values(
                    sop_instance_uid=sop_instance_uid[:128],
                    reason=reason[:2000],
                    origin_kind=origin.kind.value,
                    origin_aet=origin.ae_title[:16],
                    origin_address=origin.address[:64],
                    origin_detail=origin.detail[:2000],
                    received_at=_now(),
                )
            )
    except Exception:  # the log line above is the record of last resort
        log.exception("could not record the rejection")


def _store_parsed(
    archive: Archive, p: ParsedInstance, key: str, checksum: str, *, origin: Origin
) -> StoreResult:
    """Index a parsed instance whose blob is already durable under ``key`` (one transaction)."""
    header_text = p.header_text()
    status = StoreStatus.STORED
    created: list[bool] = []  # [new_study] when this instance created a series
    for attempt in range(5):
        created.clear()
        try:
            with archive.write_transaction() as conn:
                status = _index(
                    conn, p, key, checksum, header_text, origin, archive.duplicate_policy, created
                )
            break
        except (IntegrityError, OperationalError):
            # Two associations created the same patient/study/series at once (PostgreSQL), or the
            # database was busy: the transaction rolled back as a whole; try again.
            if attempt == 4:
                archive.store.delete(key)
                raise
        except BaseException:
            archive.store.delete(key)
            raise
    if status in (StoreStatus.ALREADY_PRESENT, _REJECTED):
        archive.store.delete(key)  # identical copy already stored, or refused by policy
    if status is _REJECTED:
        raise Conflict(
            f"SOP Instance {p.sop_instance_uid} is already stored with different content "
            "(duplicate policy: reject)"
        )
    if status is StoreStatus.CONFLICT_KEPT_FIRST:
        log.warning(
            "SOP Instance %s received again with different content (%s); kept the first, "
            "the new version is kept as blob %s",
            p.sop_instance_uid,
            origin.describe(),
            key,
        )
    if created and archive.study_hooks:
        _run_study_hooks(archive, p, created[0], origin)
    return StoreResult(status, p.sop_instance_uid, p.sop_class_uid, p.study_instance_uid, checksum)


def _requested_procedure_id(p: ParsedInstance) -> str:
    try:
        items = p.ds.get("RequestAttributesSequence") or []
        return str(items[0].get("RequestedProcedureID", "") or "") if len(items) else ""
    except Exception:
        return ""


def _run_study_hooks(archive: Archive, p: ParsedInstance, new_study: bool, origin: Origin) -> None:
    """Tell the registered hooks (after commit) that a new study or series is stored."""
    stored = StudyStored(
        study_instance_uid=p.study_instance_uid,
        series_instance_uid=p.series_instance_uid,
        new_study=new_study,
        accession_number=p.get("AccessionNumber"),
        requested_procedure_id=_requested_procedure_id(p),
        patient_id=p.get("PatientID"),
        issuer_of_patient_id=p.get("IssuerOfPatientID"),
        patient_name=p.get("PatientName"),
        species_description=p.get("PatientSpeciesDescription"),
        species_code=_code(p, "PatientSpeciesCodeSequence"),
        responsible_person=p.get("ResponsiblePerson"),
        study_date=p.get("StudyDate"),
        modality=p.get("Modality"),
        origin=origin,
    )
    for hook in archive.study_hooks:
        try:
            hook(archive, stored)
        except Exception:  # the instance is stored; a hook never turns that into a failure
            log.exception("study hook %r failed for study %s", hook, p.study_instance_uid)


_REJECTED: StoreStatus = "rejected"  # type: ignore[assignment]  # internal: refused by `reject`


def _multi(values: list[str], new: str) -> str:
    if not new or new in values:
        return "\\".join(values)
    return "\\".join([*values, new])


def _microchip(p: ParsedInstance) -> str:
    try:
        items = p.ds.get("OtherPatientIDsSequence") or []
        best = ""
        for item in items:
            pid = str(item.get("PatientID", "") or "")
            kind = str(item.get("TypeOfPatientID", "") or "").upper()
            issuer = str(item.get("IssuerOfPatientID", "") or "").upper()
            if pid and (kind == "RFID" or "CHIP" in issuer):
                return pid
            best = best or pid
        return best
    except Exception:
        return ""


def _code(p: ParsedInstance, keyword: str) -> str:
    try:
        seq = p.ds.get(keyword) or []
        return str(seq[0].get("CodeValue", "") or "") if len(seq) else ""
    except Exception:
        return ""


def _patient_values(p: ParsedInstance, header_text: str, now: datetime) -> dict[str, Any]:
    name = p.get("PatientName")
    owner = p.get("ResponsiblePerson")
    return {
        "patient_id": p.get("PatientID")[:64],
        "issuer_of_patient_id": p.get("IssuerOfPatientID")[:64],
        "patient_name": name[:324],
        "patient_name_upper": name.upper()[:324],
        "patient_birth_date": p.get("PatientBirthDate")[:8],
        "patient_sex": p.get("PatientSex")[:16],
        "patient_sex_neutered": p.get("PatientSexNeutered")[:16],
        "patient_species_description": p.get("PatientSpeciesDescription")[:64],
        "patient_species_code": _code(p, "PatientSpeciesCodeSequence")[:64],
        "patient_breed_description": p.get("PatientBreedDescription")[:64],
        "patient_breed_code": _code(p, "PatientBreedCodeSequence")[:64],
        "responsible_person": owner[:324],
        "responsible_person_upper": owner.upper()[:324],
        "responsible_person_role": p.get("ResponsiblePersonRole")[:16],
        "responsible_organization": p.get("ResponsibleOrganization")[:64],
        "microchip": _microchip(p)[:64],
        "header_json": header_text,
        "updated_at": now,
    }


def _patient_pk(
    conn: Connection, p: ParsedInstance, header_text: str, now: datetime
) -> tuple[int, dict[str, Any]]:
    """The patient row's key (created or updated) and the patient attributes for the study row."""
    pid = p.get("PatientID")[:64]
    issuer = p.get("IssuerOfPatientID")[:64]
    values = _patient_values(p, header_text, now)
    if not pid:
        # No Patient ID: never merge strangers; one patient per study.
        pid = f"~{p.study_instance_uid}"[:64]
        values["patient_id"] = pid
    row = conn.execute(
        select(PATIENTS.c.id).where(PATIENTS.c.patient_id == pid, PATIENTS.c.issuer_of_patient_id == issuer)
    ).first()
    if row is not None:
        # The newest study's demographics win (weight, neuter status and owner change over time).
        conn.execute(
            update(PATIENTS)
            .where(PATIENTS.c.id == row[0])
            .values(**values, num_studies=PATIENTS.c.num_studies + 1)
        )
        return int(row[0]), _snapshot(values)
    result = conn.execute(insert(PATIENTS).values(**values, num_studies=1, created_at=now))
    return int(result.inserted_primary_key[0]), _snapshot(values)  # type: ignore[index]


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("header_json", "updated_at")}


def _index(
    conn: Connection,
    p: ParsedInstance,
    key: str,
    checksum: str,
    header_text: str,
    origin: Origin,
    policy: DuplicatePolicy,
    created: list[bool],
) -> StoreStatus:
    now = _now()
    status = StoreStatus.STORED
    dup = conn.execute(
        select(INSTANCES.c.id, INSTANCES.c.checksum, INSTANCES.c.blob_key).where(
            INSTANCES.c.sop_instance_uid == p.sop_instance_uid
        )
    ).first()
    if dup is not None:
        if dup.checksum == checksum:
            return StoreStatus.ALREADY_PRESENT
        conflict = {
            "sop_instance_uid": p.sop_instance_uid,
            "policy": policy.value,
            "origin_kind": origin.kind.value,
            "origin_aet": origin.ae_title[:16],
            "origin_address": origin.address[:64],
            "received_at": now,
        }
        if policy is DuplicatePolicy.KEEP_FIRST:
            conn.execute(
                insert(CONFLICTS).values(
                    **conflict, kept_checksum=dup.checksum, other_checksum=checksum, other_blob_key=key
                )
            )
            return StoreStatus.CONFLICT_KEPT_FIRST
        if policy is DuplicatePolicy.REJECT:
            conn.execute(
                insert(CONFLICTS).values(
                    **conflict, kept_checksum=dup.checksum, other_checksum=checksum, other_blob_key=""
                )
            )
            return _REJECTED
        conn.execute(
            update(INSTANCES)
            .where(INSTANCES.c.id == dup.id)
            .values(
                blob_key=key,
                checksum=checksum,
                size=len(p.data),
                header_json=header_text,
                transfer_syntax_uid=p.transfer_syntax_uid,
                received_at=now,
                origin_kind=origin.kind.value,
                origin_aet=origin.ae_title[:16],
                origin_address=origin.address[:64],
                origin_user=origin.user[:64],
            )
        )
        conn.execute(
            insert(CONFLICTS).values(
                **conflict, kept_checksum=checksum, other_checksum=dup.checksum, other_blob_key=dup.blob_key
            )
        )
        return StoreStatus.REPLACED

    series = conn.execute(
        select(SERIES.c.id, SERIES.c.study_pk).where(SERIES.c.series_instance_uid == p.series_instance_uid)
    ).first()
    if series is not None:
        series_pk, study_pk = int(series.id), int(series.study_pk)
        conn.execute(
            update(SERIES)
            .where(SERIES.c.id == series_pk)
            .values(num_instances=SERIES.c.num_instances + 1, updated_at=now)
        )
        conn.execute(
            update(STUDIES)
            .where(STUDIES.c.id == study_pk)
            .values(num_instances=STUDIES.c.num_instances + 1, updated_at=now)
        )
    else:
        modality = p.get("Modality")[:16]
        body_part = p.get("BodyPartExamined")[:64]
        study = conn.execute(
            select(STUDIES.c.id, STUDIES.c.modalities_in_study, STUDIES.c.body_parts_examined).where(
                STUDIES.c.study_instance_uid == p.study_instance_uid
            )
        ).first()
        if study is not None:
            study_pk = int(study.id)
            mods = [m for m in study.modalities_in_study.split("\\") if m]
            parts = [b for b in study.body_parts_examined.split("\\") if b]
            conn.execute(
                update(STUDIES)
                .where(STUDIES.c.id == study_pk)
                .values(
                    num_instances=STUDIES.c.num_instances + 1,
                    num_series=STUDIES.c.num_series + 1,
                    modalities_in_study=_multi(mods, modality)[:128],
                    body_parts_examined=_multi(parts, body_part)[:256],
                    updated_at=now,
                )
            )
        else:
            patient_pk, snapshot = _patient_pk(conn, p, header_text, now)
            result = conn.execute(
                insert(STUDIES).values(
                    **snapshot,
                    patient_pk=patient_pk,
                    study_instance_uid=p.study_instance_uid,
                    study_date=p.get("StudyDate")[:8],
                    study_time=p.get("StudyTime")[:16],
                    accession_number=p.get("AccessionNumber")[:16],
                    study_id=p.get("StudyID")[:16],
                    study_description=p.get("StudyDescription")[:64],
                    referring_physician_name=p.get("ReferringPhysicianName")[:324],
                    modalities_in_study=modality,
                    body_parts_examined=body_part,
                    institution_name=p.get("InstitutionName")[:64],
                    header_json=header_text,
                    num_series=1,
                    num_instances=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            study_pk = int(result.inserted_primary_key[0])  # type: ignore[index]
        result = conn.execute(
            insert(SERIES).values(
                study_pk=study_pk,
                series_instance_uid=p.series_instance_uid,
                modality=modality,
                series_number=p.get("SeriesNumber")[:12],
                series_description=p.get("SeriesDescription")[:64],
                series_date=p.get("SeriesDate")[:8],
                series_time=p.get("SeriesTime")[:16],
                body_part_examined=body_part,
                station_name=p.get("StationName")[:16],
                header_json=header_text,
                num_instances=1,
                created_at=now,
                updated_at=now,
            )
        )
        series_pk = int(result.inserted_primary_key[0])  # type: ignore[index]
        created.append(study is None)
        # One event per new series (not per instance), in the index transaction: `study.received`
        # for the series that creates the study, `images.received` for later series. Boards
        # refetch on them; webhook and HL7 partners subscribe to them (docs/integration/webhooks.md).
        events.emit(
            conn,
            "study.received" if study is None else "images.received",
            aggregate_type="study",
            aggregate_id=p.study_instance_uid,
            payload={
                "study_instance_uid": p.study_instance_uid,
                "series_instance_uid": p.series_instance_uid,
                "new_study": study is None,
                "modality": modality,
                "accession_number": p.get("AccessionNumber")[:16],
                "origin": origin.describe(),
            },
            actor=(origin.user or origin.ae_title or origin.kind.value)[:64],
        )

    frames = p.get("NumberOfFrames")
    rows = p.get("Rows")
    cols = p.get("Columns")
    conn.execute(
        insert(INSTANCES).values(
            series_pk=series_pk,
            sop_instance_uid=p.sop_instance_uid,
            sop_class_uid=p.sop_class_uid,
            instance_number=p.get("InstanceNumber")[:12],
            transfer_syntax_uid=p.transfer_syntax_uid,
            number_of_frames=int(frames) if frames.isdigit() else None,
            rows=int(rows) if rows.isdigit() else None,
            columns=int(cols) if cols.isdigit() else None,
            blob_key=key,
            size=len(p.data),
            checksum=checksum,
            header_json=header_text,
            origin_kind=origin.kind.value,
            origin_aet=origin.ae_title[:16],
            origin_address=origin.address[:64],
            origin_user=origin.user[:64],
            received_at=now,
        )
    )
    return status
