"""Corrected patient-level headers for a stored study, served on the way out (IHE PIR, RAD TF-2 4.12).

A correction never touches the stored bytes. It updates the index (the study's patient snapshot
columns, the patient row and the study's link to it) and keeps the corrected attributes as an
overlay (``studies.overlay_json``, DICOM JSON). C-FIND, QIDO-RS, WADO-RS metadata, WADO-RS/URI
instances, C-MOVE and C-GET apply the overlay when they answer; a study without one is served as
stored (the check is one empty-string test on a column the query reads anyway).
"""

from __future__ import annotations

import json
from functools import lru_cache
from io import BytesIO
from typing import Any, cast

from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import Connection, Table, delete, insert, select, update

from vetpacs import events
from vetpacs.archive.context import Archive
from vetpacs.archive.header import ParsedInstance, header_json
from vetpacs.archive.ingest import _now, _patient_values, _snapshot
from vetpacs.archive.models import Patient, Study
from vetpacs.auth.audit import record_in
from vetpacs.auth.roles import Actor
from vetpacs.errors import Invalid, NotFound

PATIENTS: Table = cast(Table, Patient.__table__)
STUDIES: Table = cast(Table, Study.__table__)

# The Patient module, the Patient Study module's per-study values and the veterinary attributes
# (PS3.3 C.7.1.1, C.7.2.2; CP-643): what a reconciliation or a merge may correct.
PATIENT_LEVEL_TAGS = frozenset(
    {
        0x00100010,  # Patient's Name
        0x00100020,  # Patient ID
        0x00100021,  # Issuer of Patient ID
        0x00100024,  # Issuer of Patient ID Qualifiers Sequence
        0x00100030,  # Patient's Birth Date
        0x00100040,  # Patient's Sex
        0x00101002,  # Other Patient IDs Sequence (microchip)
        0x00101010,  # Patient's Age
        0x00101020,  # Patient's Size
        0x00101030,  # Patient's Weight
        0x00104000,  # Patient Comments
        0x00102201,  # Patient Species Description
        0x00102202,  # Patient Species Code Sequence
        0x00102203,  # Patient's Sex Neutered
        0x00102292,  # Patient Breed Description
        0x00102293,  # Patient Breed Code Sequence
        0x00102294,  # Breed Registration Sequence
        0x00102297,  # Responsible Person
        0x00102298,  # Responsible Person Role
        0x00102299,  # Responsible Organization
        0x00102210,  # Anatomical Orientation Type
    }
)


# --------------------------------------------------------------------------- reading overlays


@lru_cache(maxsize=512)
def overlay_dataset(overlay_text: str) -> Dataset:
    """The overlay as a Dataset (cached by its text; callers must not modify it)."""
    return Dataset.from_json(overlay_text) if overlay_text else Dataset()


def apply_to_dataset(ds: Dataset, overlay_text: str) -> Dataset:
    """Put the overlay's attributes into ``ds`` (in place) and return it."""
    if not overlay_text:
        return ds
    overlay = overlay_dataset(overlay_text)
    non_ascii = False
    for elem in overlay:
        ds[elem.tag] = elem
        if elem.VR != "SQ" and not str(elem.value).isascii():
            non_ascii = True
    if non_ascii:
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def apply_to_bytes(data: bytes, overlay_text: str) -> bytes:
    """Part 10 bytes with the overlay applied, in the stored transfer syntax (pixel data untouched)."""
    if not overlay_text:
        return data
    ds = dcmread(BytesIO(data))
    apply_to_dataset(ds, overlay_text)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def apply_to_header_text(header_text: str, overlay_text: str) -> str:
    """A stored DICOM JSON header (text) with the overlay's attributes replacing the stored ones."""
    if not overlay_text:
        return header_text
    header = json.loads(header_text or "{}")
    header.update(json.loads(overlay_text))
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- writing corrections


def correct_study(
    archive: Archive, study_instance_uid: str, attributes: Dataset, *, actor: Actor, reason: str
) -> None:
    """Correct a stored study's patient-level attributes; the stored bytes are kept as received.

    Updates the index (patient row, the study's patient snapshot and patient link) and stores the
    corrected attributes as the study's overlay, served from then on by every query and retrieve
    path. Attributes that are not patient-level are refused (``Invalid``); an unknown study raises
    ``NotFound``. One transaction with its audit row and a ``study.corrected`` event.
    """
    with archive.write_transaction() as conn:
        correct_study_in(conn, study_instance_uid, attributes, actor=actor, reason=reason)


def correct_study_in(
    conn: Connection, study_instance_uid: str, attributes: Dataset, *, actor: Actor, reason: str
) -> dict[str, Any]:
    """:func:`correct_study` inside the caller's transaction; returns the overlay before the change."""
    extra = [f"{int(e.tag):08X}" for e in attributes if e.tag not in PATIENT_LEVEL_TAGS]
    if extra:
        raise Invalid(f"only patient-level attributes can be corrected, not {', '.join(extra)}")
    study = _study(conn, study_instance_uid)
    before = json.loads(study.overlay_json or "{}")
    overlay = dict(before)
    overlay.update(header_json(attributes))
    overlay_text = json.dumps(overlay, separators=(",", ":"), ensure_ascii=False)
    _reindex(conn, study, overlay_text)
    changed = sorted(header_json(attributes))
    record_in(
        conn,
        actor,
        "study.corrected",
        object_type="study",
        object_id=study_instance_uid,
        detail={"reason": reason, "attributes": changed, "before": _index_values(study)},
    )
    events.emit(
        conn,
        "study.corrected",
        aggregate_type="study",
        aggregate_id=study_instance_uid,
        payload={"study_instance_uid": study_instance_uid, "attributes": changed, "reason": reason},
        actor=actor.username,
    )
    return cast(dict[str, Any], before)


def set_overlay_in(
    conn: Connection, study_instance_uid: str, overlay: dict[str, Any], *, actor: Actor, reason: str
) -> None:
    """Replace a study's whole overlay (``{}``: back to the attributes as stored), re-indexing it."""
    study = _study(conn, study_instance_uid)
    text = json.dumps(overlay, separators=(",", ":"), ensure_ascii=False) if overlay else ""
    _reindex(conn, study, text)
    record_in(
        conn,
        actor,
        "study.corrected",
        object_type="study",
        object_id=study_instance_uid,
        detail={"reason": reason, "attributes": sorted(overlay), "restored": True},
    )


def _study(conn: Connection, uid: str) -> Any:
    row = conn.execute(select(STUDIES).where(STUDIES.c.study_instance_uid == uid)).first()
    if row is None:
        raise NotFound(f"no study {uid} in this archive")
    return row


def _index_values(study: Any) -> dict[str, str]:
    return {
        "patient_id": study.patient_id,
        "patient_name": study.patient_name,
        "species": study.patient_species_description,
        "responsible_person": study.responsible_person,
    }


def _reindex(conn: Connection, study: Any, overlay_text: str) -> None:
    """Recompute the study's patient columns from its stored header plus ``overlay_text`` and move
    the study to the patient row those values name (created when new; an emptied one removed)."""
    stored = json.loads(study.header_json or "{}")
    patient_part = {k: v for k, v in stored.items() if int(k, 16) in PATIENT_LEVEL_TAGS or k == "00080005"}
    if overlay_text:
        patient_part.update(json.loads(overlay_text))
    ds = Dataset.from_json(patient_part)
    parsed = ParsedInstance(
        data=b"",
        ds=ds,
        sop_class_uid="",
        sop_instance_uid="",
        study_instance_uid=study.study_instance_uid,
        series_instance_uid="",
        transfer_syntax_uid="",
        header={},
    )
    now = _now()
    patient_header = json.dumps(
        {**json.loads(study.header_json or "{}"), **(json.loads(overlay_text) if overlay_text else {})},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    values = _patient_values(parsed, patient_header, now)
    if not values["patient_id"]:
        values["patient_id"] = f"~{study.study_instance_uid}"[:64]
    row = conn.execute(
        select(PATIENTS.c.id).where(
            PATIENTS.c.patient_id == values["patient_id"],
            PATIENTS.c.issuer_of_patient_id == values["issuer_of_patient_id"],
        )
    ).first()
    old_pk = int(study.patient_pk)
    if row is None:
        result = conn.execute(insert(PATIENTS).values(**values, num_studies=1, created_at=now))
        new_pk = int(result.inserted_primary_key[0])  # type: ignore[index]
    else:
        new_pk = int(row[0])
        moved = 1 if new_pk != old_pk else 0
        conn.execute(
            update(PATIENTS)
            .where(PATIENTS.c.id == new_pk)
            .values(**values, num_studies=PATIENTS.c.num_studies + moved)
        )
    conn.execute(
        update(STUDIES)
        .where(STUDIES.c.id == study.id)
        .values(**_snapshot(values), patient_pk=new_pk, overlay_json=overlay_text, updated_at=now)
    )
    if new_pk != old_pk:
        conn.execute(
            update(PATIENTS).where(PATIENTS.c.id == old_pk).values(num_studies=PATIENTS.c.num_studies - 1)
        )
        left = conn.execute(select(STUDIES.c.id).where(STUDIES.c.patient_pk == old_pk).limit(1)).first()
        if left is None:
            conn.execute(delete(PATIENTS).where(PATIENTS.c.id == old_pk))


__all__ = [
    "PATIENT_LEVEL_TAGS",
    "apply_to_bytes",
    "apply_to_dataset",
    "apply_to_header_text",
    "correct_study",
    "correct_study_in",
    "overlay_dataset",
    "set_overlay_in",
]
