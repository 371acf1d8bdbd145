"""The missed-charge report: performed orders without a posted charge, and studies linked to no order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from vetpacs.auth.audit import Database
from vetpacs.billing.models import (
    CHARGES,
    FEES,
    PERFORMED,
    PERFORMED_STATUSES,
    STUDIES,
    STUDY_LINKS,
    ChargeStatus,
)
from vetpacs.billing.schemas import MissedCharges, MissedOrder, MissedReason, UnbilledStudy
from vetpacs.orders.catalog import PROCEDURES
from vetpacs.orders.lifecycle import ORDERS, STEPS


def _missed_reason(
    conn: Connection, order_id: int, fees: dict[str, Any]
) -> tuple[MissedReason, str, list[str], list[str]]:
    rows = conn.execute(
        select(STEPS.c.status, PROCEDURES.c.code, PROCEDURES.c.fee_code)
        .join(PROCEDURES, PROCEDURES.c.id == STEPS.c.procedure_id)
        .where(STEPS.c.order_id == order_id)
        .order_by(STEPS.c.id)
    ).all()
    procedures = list(dict.fromkeys(r.code for r in rows))
    fee_codes = list(dict.fromkeys(r.fee_code for r in rows if r.fee_code))
    voided = conn.execute(
        select(CHARGES.c.fee_code, CHARGES.c.void_reason)
        .where(CHARGES.c.order_id == order_id, CHARGES.c.status == ChargeStatus.VOIDED.value)
        .order_by(CHARGES.c.id.desc())
        .limit(1)
    ).first()
    if voided is not None:
        return "voided", f"charge {voided.fee_code} voided: {voided.void_reason}", procedures, fee_codes
    if not fee_codes:
        return "no-fee-code", f"no fee code on procedure(s) {', '.join(procedures) or '-'}", procedures, []
    missing = [c for c in fee_codes if c not in fees]
    if missing:
        return (
            "fee-not-in-list",
            f"fee code(s) {', '.join(missing)} not in the fee list",
            procedures,
            fee_codes,
        )
    inactive = [c for c in fee_codes if not fees[c].active]
    if inactive:
        return "fee-inactive", f"fee code(s) {', '.join(inactive)} inactive", procedures, fee_codes
    return "not-charged", "performed but not charged yet", procedures, fee_codes


def missed_charges(db: Database, *, since: datetime | None = None, limit: int = 100) -> MissedCharges:
    """The missed-charge report: what was performed or stored and never charged.

    Orders: performed (status completed, images_received, reported or billed; or an MPPS COMPLETED
    or a linked study whatever the status) without a posted charge, with the likely reason
    (no fee code, fee code missing or inactive in the fee list, charge voided, not charged yet).
    Studies: archived studies linked to no order and named by no posted charge ("unbilled studies").
    ``since`` (UTC) keeps orders updated and studies received from then on; newest first.
    """
    posted_for_order = exists().where(
        CHARGES.c.order_id == ORDERS.c.id, CHARGES.c.status == ChargeStatus.POSTED.value
    )
    linked = exists().where(STUDY_LINKS.c.order_id == ORDERS.c.id)
    mpps_done = exists().where(PERFORMED.c.order_id == ORDERS.c.id, PERFORMED.c.status == "COMPLETED")
    order_where = and_(or_(ORDERS.c.status.in_(PERFORMED_STATUSES), linked, mpps_done), ~posted_for_order)
    if since is not None:
        order_where = and_(order_where, ORDERS.c.updated_at >= since)
    study_where = and_(
        ~exists().where(STUDY_LINKS.c.study_instance_uid == STUDIES.c.study_instance_uid),
        ~exists().where(
            CHARGES.c.study_instance_uid == STUDIES.c.study_instance_uid,
            CHARGES.c.status == ChargeStatus.POSTED.value,
        ),
    )
    if since is not None:
        study_where = and_(study_where, STUDIES.c.created_at >= since)
    with db.engine.connect() as conn:
        orders_total = int(
            conn.execute(select(func.count()).select_from(ORDERS).where(order_where)).scalar() or 0
        )
        order_rows = conn.execute(
            select(
                ORDERS.c.id,
                ORDERS.c.accession_number,
                ORDERS.c.animal_id,
                ORDERS.c.status,
                ORDERS.c.updated_at,
            )
            .where(order_where)
            .order_by(ORDERS.c.updated_at.desc(), ORDERS.c.id.desc())
            .limit(limit)
        ).all()
        fees = {r.fee_code: r for r in conn.execute(select(FEES.c.fee_code, FEES.c.active)).all()}
        orders = []
        for r in order_rows:
            reason, detail, procedures, fee_codes = _missed_reason(conn, r.id, fees)
            orders.append(
                MissedOrder(
                    order_id=r.id,
                    accession_number=r.accession_number,
                    animal_id=r.animal_id,
                    order_status=r.status,
                    procedure_codes=procedures,
                    fee_codes=fee_codes,
                    reason=reason,
                    detail=detail,
                    performed_at=r.updated_at,
                )
            )
        studies_total = int(
            conn.execute(select(func.count()).select_from(STUDIES).where(study_where)).scalar() or 0
        )
        study_rows = conn.execute(
            select(
                STUDIES.c.study_instance_uid,
                STUDIES.c.patient_id,
                STUDIES.c.patient_name,
                STUDIES.c.study_date,
                STUDIES.c.modalities_in_study,
                STUDIES.c.study_description,
                STUDIES.c.created_at,
            )
            .where(study_where)
            .order_by(STUDIES.c.created_at.desc(), STUDIES.c.id.desc())
            .limit(limit)
        ).all()
    studies = [
        UnbilledStudy(
            study_instance_uid=s.study_instance_uid,
            patient_id=s.patient_id,
            patient_name=s.patient_name,
            study_date=s.study_date,
            modalities=s.modalities_in_study,
            description=s.study_description,
            received_at=s.created_at,
        )
        for s in study_rows
    ]
    return MissedCharges(
        orders=orders, studies=studies, orders_total=orders_total, studies_total=studies_total
    )
