"""Reports: drafts from templates, editing, signing (PDF + DICOM Encapsulated PDF), amendments,
withdrawal (entered in error).

Each write is one service function with a keyword-only ``actor``; the report change, its audit row
and its outbox event (``report.created``, ``report.updated``, ``report.signed``, ``report.amended``,
``report.withdrawn``) commit in one transaction. Signing renders the PDF (:mod:`vetpacs.reports.pdf`)
and stores it in the study as a DICOM Encapsulated PDF instance (PS3.3 A.45.1, SOP class
1.2.840.10008.5.1.4.1.1.104.1) through the one ingest path (:func:`vetpacs.archive.ingest.store_instance`,
its own transaction, before the report's); the signing transaction then moves the linked order to
``reported``, and a withdrawal moves it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any, cast

from pydicom import dcmread
from sqlalchemy import Connection, Row, Table, func, insert, select, update

from vetpacs import events
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.models import Study
from vetpacs.archive.retrieve import instance_by_uid, read_bytes
from vetpacs.auth.audit import record_in, utcnow
from vetpacs.auth.models import AuditEvent, User
from vetpacs.auth.roles import Actor, Permission
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.lifecycle import advance_order, can_advance, unreport_order
from vetpacs.orders.models import Order, OrderStatus, OrderStudy
from vetpacs.patients import service as patients
from vetpacs.patients.models import Animal
from vetpacs.patients.schemas import AnimalRead
from vetpacs.reports.dicom import encapsulated_pdf, source_instance
from vetpacs.reports.models import Report, ReportStatus, ReportVersion
from vetpacs.reports.pdf import ReportDocument, render_pdf
from vetpacs.reports.schemas import (
    ReportAmend,
    ReportCreate,
    ReportPage,
    ReportRead,
    ReportUpdate,
    ReportWithdraw,
    TemplateRead,
)
from vetpacs.reports.templates import BY_KEY, Template, find_templates

REPORTS: Table = cast(Table, Report.__table__)
VERSIONS: Table = cast(Table, ReportVersion.__table__)
STUDIES: Table = cast(Table, Study.__table__)
ORDERS: Table = cast(Table, Order.__table__)
LINKS: Table = cast(Table, OrderStudy.__table__)
USERS: Table = cast(Table, User.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
AUDIT: Table = cast(Table, AuditEvent.__table__)
WITHDRAWN = "report.withdrawn"

PDF_PATH = "/api/v1/reports/{id}/pdf"
SEX_NAMES = {"M": "male", "F": "female", "O": "other / unknown"}
NEUTER_NAMES = {"ALTERED": "neutered", "UNALTERED": "entire"}
SIGNED = frozenset({ReportStatus.FINAL.value, ReportStatus.AMENDED.value})


# --------------------------------------------------------------------------- templates
def _template_read(t: Template) -> TemplateRead:
    return TemplateRead(
        key=t.key,
        name=t.name,
        species_codes=list(t.species),
        species=t.species_names(),
        body_region=t.body_region,
        modality=t.modality,
        title=t.title,
        findings=t.findings,
        conclusion=t.conclusion,
        recommendations=t.recommendations,
    )


def list_templates(*, species: str = "", body_region: str = "") -> list[TemplateRead]:
    """The report templates for a species (code, name or common name) and body region."""
    return [_template_read(t) for t in find_templates(species=species, body_region=body_region)]


def get_template(key: str) -> TemplateRead:
    """One template by key, or NotFound."""
    if key not in BY_KEY:
        raise NotFound(f"no report template {key!r}")
    return _template_read(BY_KEY[key])


# --------------------------------------------------------------------------- reading
def _select() -> Any:
    # A merged animal's reports show the survivor (animal merges keep the merged row, IHE PIR).
    return (
        select(
            REPORTS,
            func.coalesce(ORDERS.c.accession_number, "").label("accession_number"),
            func.coalesce(ANIMALS.c.merged_into_id, REPORTS.c.animal_id).label("current_animal_id"),
        )
        .outerjoin(ORDERS, ORDERS.c.id == REPORTS.c.order_id)
        .outerjoin(ANIMALS, ANIMALS.c.id == REPORTS.c.animal_id)
    )


def _with_merged(conn: Connection, animal_id: int) -> list[int]:
    """``animal_id`` and every animal merged into it (directly or through another merge)."""
    found, frontier = {animal_id}, [animal_id]
    for _ in range(16):
        frontier = [
            int(i)
            for i in conn.execute(
                select(ANIMALS.c.id).where(ANIMALS.c.merged_into_id.in_(frontier))
            ).scalars()
            if int(i) not in found
        ]
        if not frontier:
            break
        found.update(frontier)
    return sorted(found)


@dataclass(frozen=True)
class Withdrawal:
    """Who withdrew a report, when and why (from its ``report.withdrawn`` audit row)."""

    reason: str
    by: str
    at: datetime | None


def _withdrawals(conn: Connection, rows: Sequence[Row[Any]]) -> dict[int, Withdrawal]:
    """The withdrawal of each withdrawn report among ``rows`` (one indexed audit query, or none)."""
    ids = [str(r.id) for r in rows if r.status == ReportStatus.ENTERED_IN_ERROR.value]
    if not ids:
        return {}
    found: dict[int, Withdrawal] = {}
    for a in conn.execute(
        select(AUDIT.c.object_id, AUDIT.c.actor, AUDIT.c.at, AUDIT.c.detail)
        .where(AUDIT.c.object_type == "report", AUDIT.c.object_id.in_(ids), AUDIT.c.action == WITHDRAWN)
        .order_by(AUDIT.c.id)
    ):
        try:
            detail = json.loads(a.detail or "{}")
        except ValueError:
            detail = {}
        found[int(a.object_id)] = Withdrawal(str(detail.get("reason") or ""), a.actor, a.at)
    return found


def _read(row: Row[Any], withdrawal: Withdrawal | None = None) -> ReportRead:
    signed = row.status in SIGNED | {ReportStatus.ENTERED_IN_ERROR.value} and bool(row.pdf_sop_instance_uid)
    return ReportRead(
        id=row.id,
        study_instance_uid=row.study_instance_uid,
        order_id=row.order_id,
        accession_number=row.accession_number or "",
        animal_id=row.current_animal_id,
        status=ReportStatus(row.status),
        template_key=row.template_key,
        title=row.title,
        findings=row.findings,
        conclusion=row.conclusion,
        recommendations=row.recommendations,
        author=row.author,
        signed_by=row.signed_by,
        signed_by_name=row.signed_by_name,
        signed_at=row.signed_at,
        version=row.version,
        amendment_reason=row.amendment_reason,
        pdf_sop_instance_uid=row.pdf_sop_instance_uid,
        pdf_url=PDF_PATH.format(id=row.id) if signed else "",
        withdrawn_reason=withdrawal.reason if withdrawal else "",
        withdrawn_by=withdrawal.by if withdrawal else "",
        withdrawn_at=withdrawal.at if withdrawal else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _row(conn: Connection, report_id: int, *, lock: bool = False) -> Row[Any]:
    stmt = _select().where(REPORTS.c.id == report_id)
    if lock:
        stmt = stmt.with_for_update(of=REPORTS)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    return row


def get_report(archive: Archive, report_id: int) -> ReportRead:
    """One report (its current version)."""
    with archive.engine.connect() as conn:
        return _read_one(conn, _row(conn, report_id))


def _read_one(conn: Connection, row: Row[Any]) -> ReportRead:
    return _read(row, _withdrawals(conn, [row]).get(int(row.id)))


def get_signed_version(archive: Archive, report_id: int, version: int) -> ReportRead:
    """A report as one of its signed versions was signed (text, status, signer, PDF instance)."""
    with archive.engine.connect() as conn:
        row = _row(conn, report_id)
        signed = conn.execute(
            select(VERSIONS).where(VERSIONS.c.report_id == report_id, VERSIONS.c.version == version)
        ).first()
    if signed is None:
        raise NotFound(f"report {report_id} has no signed version {version}")
    current = _read(row)
    return current.model_copy(
        update={
            "status": ReportStatus(signed.status),
            "title": signed.title,
            "findings": signed.findings,
            "conclusion": signed.conclusion,
            "recommendations": signed.recommendations,
            "amendment_reason": signed.amendment_reason,
            "signed_by": signed.signed_by,
            "signed_by_name": row.signed_by_name if signed.signed_by == row.signed_by else signed.signed_by,
            "signed_at": signed.signed_at,
            "version": signed.version,
            "pdf_sop_instance_uid": signed.pdf_sop_instance_uid,
        }
    )


def list_reports(
    archive: Archive,
    *,
    study_uid: str = "",
    animal_id: int | None = None,
    order_id: int | None = None,
    status: ReportStatus | Sequence[ReportStatus] | None = None,
    accession_number: str = "",
    report_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ReportPage:
    """Reports newest first, filtered by study, animal, order, status (one or several), the order's
    accession number and id; with the total count."""
    if not 1 <= limit <= 500 or offset < 0:
        raise Invalid("limit must be 1..500 and offset 0 or more")
    filters = []
    if study_uid:
        filters.append(REPORTS.c.study_instance_uid == study_uid)
    if order_id is not None:
        filters.append(REPORTS.c.order_id == order_id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        filters.append(REPORTS.c.status.in_([ReportStatus(s).value for s in wanted]))
    if accession_number:
        filters.append(ORDERS.c.accession_number == accession_number)
    if report_id is not None:
        filters.append(REPORTS.c.id == report_id)
    counted = select(func.count()).select_from(REPORTS.outerjoin(ORDERS, ORDERS.c.id == REPORTS.c.order_id))
    with archive.engine.connect() as conn:
        if animal_id is not None:
            filters.append(REPORTS.c.animal_id.in_(_with_merged(conn, animal_id)))
        total = int(conn.execute(counted.where(*filters)).scalar() or 0)
        rows = conn.execute(
            _select().where(*filters).order_by(REPORTS.c.id.desc()).limit(limit).offset(offset)
        ).all()
        withdrawn = _withdrawals(conn, rows)
    return ReportPage(
        items=[_read(r, withdrawn.get(int(r.id))) for r in rows], total=total, limit=limit, offset=offset
    )


# --------------------------------------------------------------------------- the study of a report
@dataclass(frozen=True)
class StudySummary:
    """What a report shows of its study, with the order and animal it belongs to (when known)."""

    study_instance_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    species: str
    breed: str
    sex: str
    responsible_person: str
    study_date: str  # DICOM DA
    study_time: str
    modality: str
    accession_number: str
    description: str
    order_id: int | None
    animal_id: int | None


def _study_row(conn: Connection, study_uid: str) -> Row[Any]:
    row = conn.execute(select(STUDIES).where(STUDIES.c.study_instance_uid == study_uid)).first()
    if row is None:
        raise NotFound(f"no study with Study Instance UID {study_uid}")
    return row


def _order_of(conn: Connection, study_uid: str) -> Row[Any] | None:
    """The order a study is linked to (a link made on ingest or by a person, else the order's own UID)."""
    linked = conn.execute(
        select(ORDERS)
        .join(LINKS, LINKS.c.order_id == ORDERS.c.id)
        .where(LINKS.c.study_instance_uid == study_uid)
        .order_by(LINKS.c.id.desc())
        .limit(1)
    ).first()
    if linked is not None:
        return linked
    return conn.execute(select(ORDERS).where(ORDERS.c.study_instance_uid == study_uid)).first()


def study_summary(archive: Archive, study_uid: str) -> StudySummary:
    """The study (as the index holds it, corrections included), its order and its animal."""
    with archive.engine.connect() as conn:
        study = _study_row(conn, study_uid)
        order = _order_of(conn, study_uid)
        animal_id: int | None = order.animal_id if order is not None else None
        if animal_id is None and study.patient_id:
            animal_id = patients.animal_ids_with_patient_ids(conn, [study.patient_id]).get(study.patient_id)
        if animal_id is not None:
            animal_id = int(patients.resolve_merged(conn, animal_id).id)
    modalities = [m for m in (study.modalities_in_study or "").split("\\") if m and m not in ("DOC", "SR")]
    return StudySummary(
        study_instance_uid=study_uid,
        patient_id=study.patient_id,
        issuer_of_patient_id=study.issuer_of_patient_id,
        patient_name=study.patient_name,
        species=study.patient_species_description,
        breed=study.patient_breed_description,
        sex=study.patient_sex,
        responsible_person=study.responsible_person,
        study_date=study.study_date,
        study_time=study.study_time,
        modality="\\".join(modalities),
        accession_number=study.accession_number or (order.accession_number if order is not None else ""),
        description=study.study_description,
        order_id=int(order.id) if order is not None else None,
        animal_id=animal_id,
    )


# --------------------------------------------------------------------------- writing
def _write(
    conn: Connection, actor: Actor, action: str, report_id: int, payload: dict[str, Any], summary: str = ""
) -> None:
    record_in(
        conn,
        actor,
        action,
        object_type="report",
        object_id=str(report_id),
        detail={k: v for k, v in payload.items() if k not in ("findings", "conclusion", "recommendations")}
        | ({"summary": summary} if summary else {}),
        address=actor.address,
    )
    events.emit(
        conn, action, aggregate_type="report", aggregate_id=report_id, payload=payload, actor=actor.username
    )


def _payload(row: Row[Any]) -> dict[str, Any]:
    return {
        "report_id": row.id,
        "study_instance_uid": row.study_instance_uid,
        "order_id": row.order_id,
        "accession_number": row.accession_number or "",
        "animal_id": row.current_animal_id,
        "status": row.status,
        "version": row.version,
    }


def create_report(archive: Archive, study_uid: str, body: ReportCreate, *, actor: Actor) -> ReportRead:
    """Start a draft report on a stored study from a template (``reports:write``).

    The draft takes the template's title and section text unless the body gives its own; it is
    attached to the study's order (if linked) and animal (if registered). A study has at most one
    report that is not cancelled or withdrawn: a second one is a Conflict (amend the signed one instead).
    Audit and event ``report.created``.
    """
    actor.require(Permission.REPORTS_WRITE)
    template = BY_KEY.get(body.template_key)
    if template is None:
        raise Invalid(f"unknown report template {body.template_key!r}; see /api/v1/report-templates")
    summary = study_summary(archive, study_uid)
    now = utcnow()
    with archive.write_transaction() as conn:
        existing = conn.execute(
            select(REPORTS.c.id).where(
                REPORTS.c.study_instance_uid == study_uid,
                REPORTS.c.status.not_in([ReportStatus.CANCELLED.value, ReportStatus.ENTERED_IN_ERROR.value]),
            )
        ).scalar()
        if existing is not None:
            raise Conflict(f"study {study_uid} already has report {existing}")
        new = conn.execute(
            insert(REPORTS).values(
                study_instance_uid=study_uid,
                order_id=summary.order_id,
                animal_id=summary.animal_id,
                status=ReportStatus.DRAFT.value,
                template_key=template.key,
                title=template.title if body.title is None else body.title,
                findings=template.findings if body.findings is None else body.findings,
                conclusion=template.conclusion if body.conclusion is None else body.conclusion,
                recommendations=(
                    template.recommendations if body.recommendations is None else body.recommendations
                ),
                author=actor.username[:64],
                signed_by="",
                signed_by_name="",
                signed_at=None,
                version=1,
                amendment_reason="",
                pdf_sop_instance_uid="",
                created_at=now,
                updated_at=now,
            )
        )
        report_id = int(new.inserted_primary_key[0])  # type: ignore[index]
        row = _row(conn, report_id)
        _write(conn, actor, "report.created", report_id, {**_payload(row), "template_key": template.key})
        return _read(row)


def update_report(archive: Archive, report_id: int, body: ReportUpdate, *, actor: Actor) -> ReportRead:
    """Change a draft's sections (``reports:write``); a signed or cancelled report is a Conflict.

    Audit and event ``report.updated`` with the names of the changed fields.
    """
    actor.require(Permission.REPORTS_WRITE)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    with archive.write_transaction() as conn:
        row = _row(conn, report_id, lock=True)
        if row.status != ReportStatus.DRAFT.value:
            raise Conflict(f"report {report_id} is {row.status}: only a draft can be edited (amend it)")
        if changes:
            conn.execute(
                update(REPORTS).where(REPORTS.c.id == report_id).values(**changes, updated_at=utcnow())
            )
            row = _row(conn, report_id)
            _write(conn, actor, "report.updated", report_id, {**_payload(row), "fields": sorted(changes)})
        return _read(row)


def cancel_report(archive: Archive, report_id: int, *, actor: Actor, reason: str = "") -> ReportRead:
    """Cancel a draft (``reports:write``): it stays for the record and the study may get a new one.

    A signed report is a Conflict (amend it instead). Audit and event ``report.cancelled``.
    """
    actor.require(Permission.REPORTS_WRITE)
    with archive.write_transaction() as conn:
        row = _row(conn, report_id, lock=True)
        if row.status != ReportStatus.DRAFT.value:
            raise Conflict(f"report {report_id} is {row.status}: only a draft can be cancelled")
        conn.execute(
            update(REPORTS)
            .where(REPORTS.c.id == report_id)
            .values(status=ReportStatus.CANCELLED.value, updated_at=utcnow())
        )
        row = _row(conn, report_id)
        _write(conn, actor, "report.cancelled", report_id, {**_payload(row), "reason": reason})
        return _read(row)


def _display_name(conn: Connection, username: str) -> str:
    name = conn.execute(select(USERS.c.display_name).where(USERS.c.username == username)).scalar()
    return str(name or "").strip() or username


def _sex_text(animal: AnimalRead | None, summary: StudySummary) -> str:
    if animal is None:
        return SEX_NAMES.get(summary.sex, summary.sex)
    sex = SEX_NAMES.get(animal.sex.value, animal.sex.value)
    neuter = NEUTER_NAMES.get(animal.neuter_status.value, "")
    return f"{sex}, {neuter}" if neuter else sex


def _document(
    report: Row[Any],
    summary: StudySummary,
    animal: AnimalRead | None,
    *,
    clinic: str,
    signer: str,
    signed_at: datetime,
    version: int,
    reason: str,
    sections: dict[str, str],
) -> ReportDocument:
    owners = sorted(animal.owners, key=lambda o: not o.is_primary) if animal is not None else []
    owner = (
        " ".join(x for x in (owners[0].given_name, owners[0].family_name) if x)
        if owners
        else summary.responsible_person.replace("^", " ").strip()
    )
    day = summary.study_date
    return ReportDocument(
        clinic=clinic,
        title=sections["title"],
        animal_name=animal.name if animal is not None else summary.patient_name.split("^")[-1],
        species=(animal.species.name if animal is not None and animal.species else "")
        or (animal.species_text if animal is not None else "")
        or summary.species,
        breed=(animal.breed_text or (animal.breed.name if animal.breed else "")) if animal else summary.breed,
        sex=_sex_text(animal, summary),
        owner=owner,
        patient_id=summary.patient_id,
        study_date=f"{day[:4]}-{day[4:6]}-{day[6:8]}" if len(day) == 8 else day,
        modality=summary.modality.replace("\\", ", "),
        accession_number=summary.accession_number,
        study_description=summary.description,
        findings=sections["findings"],
        conclusion=sections["conclusion"],
        recommendations=sections["recommendations"],
        signed_by=signer,
        signed_at=signed_at.replace(tzinfo=UTC).astimezone(),
        version=version,
        amendment_reason=reason,
        report_id=report.id,
    )


def _render_and_store(
    archive: Archive,
    report: Row[Any],
    sections: dict[str, str],
    *,
    actor: Actor,
    clinic: str,
    version: int,
    reason: str,
    signed_at: datetime,
) -> tuple[str, str]:
    """Render the PDF of a version and store it in the study; (SOP Instance UID, signer's name)."""
    summary = study_summary(archive, report.study_instance_uid)
    animal = patients.get_animal(archive, summary.animal_id) if summary.animal_id is not None else None
    with archive.engine.connect() as conn:
        signer = _display_name(conn, actor.username)
    doc = _document(
        report,
        summary,
        animal,
        clinic=clinic,
        signer=signer,
        signed_at=signed_at,
        version=version,
        reason=reason,
        sections=sections,
    )
    pdf = render_pdf(doc)
    data = encapsulated_pdf(
        source_instance(archive, report.study_instance_uid),
        pdf,
        title=sections["title"],
        signed_at=signed_at,
        version=version,
    )
    origin = Origin(
        kind=OriginKind.IMPORT, user=actor.username, address=actor.address, detail=f"report {report.id}"
    )
    stored = store_instance(archive, data, origin=origin)
    return stored.sop_instance_uid, signer


def _sections(row: Row[Any], changes: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: getattr(row, k) for k in ("title", "findings", "conclusion", "recommendations")}
    return base | {k: v for k, v in (changes or {}).items() if k in base and v is not None}


def _finish(
    conn: Connection,
    report_id: int,
    *,
    actor: Actor,
    status: ReportStatus,
    sections: dict[str, str],
    version: int,
    reason: str,
    signer: str,
    signed_at: datetime,
    sop_uid: str,
) -> Row[Any]:
    """The signing transaction's writes: the report row, its version row, the order's status."""
    conn.execute(
        update(REPORTS)
        .where(REPORTS.c.id == report_id)
        .values(
            **sections,
            status=status.value,
            signed_by=actor.username[:64],
            signed_by_name=signer[:128],
            signed_at=signed_at,
            version=version,
            amendment_reason=reason,
            pdf_sop_instance_uid=sop_uid,
            updated_at=signed_at,
        )
    )
    conn.execute(
        insert(VERSIONS).values(
            report_id=report_id,
            version=version,
            status=status.value,
            **sections,
            amendment_reason=reason,
            signed_by=actor.username[:64],
            signed_at=signed_at,
            pdf_sop_instance_uid=sop_uid,
        )
    )
    row = _row(conn, report_id)
    if row.order_id is not None:
        current = conn.execute(select(ORDERS.c.status).where(ORDERS.c.id == row.order_id)).scalar()
        if current is not None and can_advance(current, OrderStatus.REPORTED):
            advance_order(conn, row.order_id, OrderStatus.REPORTED, actor=actor, reason=f"report {report_id}")
    return row


def sign_report(archive: Archive, report_id: int, *, actor: Actor, clinic: str = "") -> ReportRead:
    """Sign a draft (``reports:sign``): PDF, DICOM Encapsulated PDF in the study, status ``final``.

    The PDF is stored first through ``archive.ingest`` (its own transaction); then one transaction
    marks the report final, keeps version 1 in ``report_versions``, moves the linked order to
    ``reported`` (when its lifecycle allows: an order already billed stays billed), writes the
    audit row and emits ``report.signed``. A report that is not a draft is a Conflict.
    """
    actor.require(Permission.REPORTS_SIGN)
    with archive.engine.connect() as conn:
        row = _row(conn, report_id)
    if row.status != ReportStatus.DRAFT.value:
        raise Conflict(f"report {report_id} is {row.status}: only a draft can be signed")
    sections = _sections(row)
    if not (sections["findings"].strip() or sections["conclusion"].strip()):
        raise Invalid("a report needs findings or a conclusion before it is signed")
    signed_at = utcnow()
    sop_uid, signer = _render_and_store(
        archive, row, sections, actor=actor, clinic=clinic, version=1, reason="", signed_at=signed_at
    )
    with archive.write_transaction() as conn:
        locked = _row(conn, report_id, lock=True)
        if locked.status != ReportStatus.DRAFT.value:
            raise Conflict(f"report {report_id} was signed or cancelled meanwhile")
        if locked.updated_at != row.updated_at:
            raise Conflict(f"report {report_id} was edited while it was being signed; sign it again")
        done = _finish(
            conn,
            report_id,
            actor=actor,
            status=ReportStatus.FINAL,
            sections=sections,
            version=1,
            reason="",
            signer=signer,
            signed_at=signed_at,
            sop_uid=sop_uid,
        )
        payload = {
            **_payload(done),
            "signed_by": actor.username,
            "signed_at": signed_at.isoformat() + "Z",
            "pdf_sop_instance_uid": sop_uid,
        }
        _write(conn, actor, "report.signed", report_id, payload)
        return _read(done)


def amend_report(
    archive: Archive, report_id: int, body: ReportAmend, *, actor: Actor, clinic: str = ""
) -> ReportRead:
    """Amend a signed report (``reports:sign``): a new signed version with a reason.

    The new text is rendered and stored as a further Encapsulated PDF instance (the earlier ones stay
    in the study and in ``report_versions``); status ``amended``, version + 1; audit and event
    ``report.amended``. A draft or cancelled report is a Conflict.
    """
    actor.require(Permission.REPORTS_SIGN)
    with archive.engine.connect() as conn:
        row = _row(conn, report_id)
    if row.status not in SIGNED:
        raise Conflict(f"report {report_id} is {row.status}: only a signed report can be amended")
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    sections = _sections(row, changes)
    version = int(row.version) + 1
    signed_at = utcnow()
    sop_uid, signer = _render_and_store(
        archive,
        row,
        sections,
        actor=actor,
        clinic=clinic,
        version=version,
        reason=body.reason,
        signed_at=signed_at,
    )
    with archive.write_transaction() as conn:
        if int(_row(conn, report_id, lock=True).version) != version - 1:
            raise Conflict(f"report {report_id} was amended meanwhile")
        done = _finish(
            conn,
            report_id,
            actor=actor,
            status=ReportStatus.AMENDED,
            sections=sections,
            version=version,
            reason=body.reason,
            signer=signer,
            signed_at=signed_at,
            sop_uid=sop_uid,
        )
        payload = {
            **_payload(done),
            "signed_by": actor.username,
            "signed_at": signed_at.isoformat() + "Z",
            "pdf_sop_instance_uid": sop_uid,
            "reason": body.reason,
        }
        _write(conn, actor, "report.amended", report_id, payload)
        return _read(done)


def withdraw_report(archive: Archive, report_id: int, body: ReportWithdraw, *, actor: Actor) -> ReportRead:
    """Withdraw a signed report entered in error (``reports:sign``); the reason is mandatory.

    One transaction: the status becomes ``entered-in-error`` (FHIR DiagnosticReport.status; the row,
    its signed versions and their Encapsulated PDF instances in the study all stay), a ``reported``
    order goes back to the status it had before it was reported (``orders.lifecycle.unreport_order``;
    a billed order stays billed), the audit row and the event ``report.withdrawn`` with the reason
    and the order's new status (HL7 partners get an ORU^R01 with OBR-25 ``X``). A draft, a cancelled
    or an already withdrawn report is a Conflict.
    """
    actor.require(Permission.REPORTS_SIGN)
    with archive.write_transaction() as conn:
        row = _row(conn, report_id, lock=True)
        if row.status not in SIGNED:
            raise Conflict(f"report {report_id} is {row.status}: only a signed report can be withdrawn")
        now = utcnow()
        conn.execute(
            update(REPORTS)
            .where(REPORTS.c.id == report_id)
            .values(status=ReportStatus.ENTERED_IN_ERROR.value, updated_at=now)
        )
        order_status = None
        if row.order_id is not None:
            order_status = unreport_order(
                conn, row.order_id, actor=actor, reason=f"report {report_id} withdrawn: {body.reason}"[:1000]
            )
        row = _row(conn, report_id)
        payload = {
            **_payload(row),
            "reason": body.reason,
            "withdrawn_by": actor.username,
            "withdrawn_at": now.isoformat() + "Z",
            "order_status": order_status,
        }
        _write(conn, actor, WITHDRAWN, report_id, payload)
        return _read(row, Withdrawal(body.reason, actor.username, now))


# --------------------------------------------------------------------------- the PDF and the text
def report_pdf(archive: Archive, report_id: int, *, version: int | None = None) -> bytes:
    """The signed PDF of a report (the current version, or ``version``), read back from the study."""
    with archive.engine.connect() as conn:
        row = _row(conn, report_id)
        sop_uid = row.pdf_sop_instance_uid
        if version is not None and version != row.version:
            sop_uid = conn.execute(
                select(VERSIONS.c.pdf_sop_instance_uid).where(
                    VERSIONS.c.report_id == report_id, VERSIONS.c.version == version
                )
            ).scalar()
            if sop_uid is None:
                raise NotFound(f"report {report_id} has no signed version {version}")
    if not sop_uid:
        raise NotFound(f"report {report_id} is {row.status}: it has no PDF until it is signed")
    ref = instance_by_uid(archive, sop_uid)
    if ref is None:
        raise NotFound(f"the PDF instance {sop_uid} of report {report_id} is no longer stored")
    ds = dcmread(BytesIO(read_bytes(archive, ref)))
    document = bytes(ds.EncapsulatedDocument)
    length = int(ds.get("EncapsulatedDocumentLength") or len(document))
    return document[:length]


def report_text(report: ReportRead) -> str:
    """The report as plain text lines (title, then each non-empty section under its heading)."""
    lines = [report.title] if report.title else []
    for heading, body in (
        ("Findings", report.findings),
        ("Conclusion", report.conclusion),
        ("Recommendations", report.recommendations),
    ):
        if body.strip():
            lines += ["", f"{heading}:", *body.replace("\r\n", "\n").split("\n")]
    if report.amendment_reason:
        lines += ["", f"Amended (version {report.version}): {report.amendment_reason}"]
    if report.status == ReportStatus.ENTERED_IN_ERROR:
        lines += ["", f"Withdrawn (entered in error): {report.withdrawn_reason}"]
    return "\n".join(lines)
