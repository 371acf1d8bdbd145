"""Billing service: charges from performed orders, manual charges, voids; the module's entry point.

Every write takes a keyword-only ``actor`` (``billing:write``), runs in one transaction with its
audit rows and its outbox event (``charge.posted``, ``charge.voided``, ``charges.moved``; the fee
list in :mod:`vetpacs.billing.fees` emits ``fee.updated``). Integrations read those events: HL7
DFT^P03 (IHE Charge Posting), the ``charge.posted`` webhook, FHIR ChargeItem. The fee list
(:mod:`~vetpacs.billing.fees`) and the missed-charge report (:mod:`~vetpacs.billing.missed`) are
re-exported here.

Charging a performed order (:func:`charge_completed_order`) posts one charge per order and fee code
of its procedures, priced from the fee list; running it again posts nothing more (the charge's
unique ``procedure_key`` holds this even for two workers at once). Charges are posted when the
procedure is performed (MPPS COMPLETED or images received), without touching the order's status:
the lifecycle puts ``reported`` before ``billed``, so an order that is already reported, or is
reported later, moves to ``billed`` once it has a posted charge (docs/billing.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from vetpacs import events
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor, Permission
from vetpacs.billing.fees import CENT, SEED_PRICES, get_fee, list_fees, money, put_fee, seed_fees
from vetpacs.billing.missed import missed_charges
from vetpacs.billing.models import (
    ANIMALS,
    CHARGES,
    FEES,
    NOT_PERFORMED_STEPS,
    PERFORMED_STATUSES,
    STUDY_LINKS,
    ChargeSource,
    ChargeStatus,
)
from vetpacs.billing.schemas import ChargeCreate, ChargePage, ChargeRead, ChargingResult
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.catalog import PROCEDURES
from vetpacs.orders.lifecycle import ORDERS, STEPS, advance_order, can_advance
from vetpacs.orders.models import OrderStatus

__all__ = [
    "SEED_PRICES",
    "add_manual_charge",
    "charge_completed_order",
    "charge_payload",
    "get_charge",
    "get_fee",
    "list_charges",
    "list_fees",
    "missed_charges",
    "money",
    "move_charges",
    "put_fee",
    "seed_fees",
    "void_charge",
]


# --------------------------------------------------------------------------- charges
def _charges_select() -> Any:
    return select(
        CHARGES,
        ORDERS.c.accession_number,
        ORDERS.c.placer_order_number,
        ORDERS.c.status.label("order_status"),
    ).select_from(CHARGES.outerjoin(ORDERS, ORDERS.c.id == CHARGES.c.order_id))


def _charge_read(row: Row[Any]) -> ChargeRead:
    return ChargeRead(
        id=row.id,
        order_id=row.order_id,
        accession_number=row.accession_number or "",
        placer_order_number=row.placer_order_number or "",
        order_status=row.order_status or "",
        animal_id=row.animal_id,
        study_instance_uid=row.study_instance_uid,
        fee_code=row.fee_code,
        description=row.description,
        quantity=Decimal(row.quantity).quantize(CENT),
        unit_price=money(Decimal(row.unit_price)),
        amount=money(Decimal(row.amount)),
        currency=row.currency,
        tax_rate=Decimal(row.tax_rate) if row.tax_rate is not None else None,
        status=ChargeStatus(row.status),
        source=ChargeSource(row.source),
        note=row.note,
        posted_by=row.posted_by,
        posted_at=row.posted_at,
        voided_by=row.voided_by,
        voided_at=row.voided_at,
        void_reason=row.void_reason,
    )


def _reads(conn: Connection, ids: Iterable[int]) -> list[ChargeRead]:
    wanted = list(ids)
    if not wanted:
        return []
    rows = conn.execute(_charges_select().where(CHARGES.c.id.in_(wanted)).order_by(CHARGES.c.id)).all()
    return [_charge_read(r) for r in rows]


def charge_payload(charge: ChargeRead) -> dict[str, Any]:
    """A charge as event payloads carry it (money as strings: ``"95.00"``)."""
    return charge.model_dump(mode="json")


def _emit_charges(conn: Connection, event_type: str, charges: Sequence[ChargeRead], actor: Actor) -> None:
    """One event for charges of one animal (and order): what DFT^P03 and the webhook carry."""
    first = charges[0]
    events.emit(
        conn,
        event_type,
        aggregate_type="order" if first.order_id is not None else "animal",
        aggregate_id=first.order_id if first.order_id is not None else first.animal_id,
        payload={
            "order_id": first.order_id,
            "accession_number": first.accession_number,
            "placer_order_number": first.placer_order_number,
            "animal_id": first.animal_id,
            "charges": [charge_payload(c) for c in charges],
        },
        actor=actor.username,
    )


def _insert_charge(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(CHARGES).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _linked_study(conn: Connection, order_id: int) -> str:
    uid = conn.execute(
        select(STUDY_LINKS.c.study_instance_uid)
        .where(STUDY_LINKS.c.order_id == order_id)
        .order_by(STUDY_LINKS.c.id)
        .limit(1)
    ).scalar()
    return str(uid or "")


def _bill_if_reported(conn: Connection, order: Row[Any], *, actor: Actor) -> bool:
    """Move a reported order with a posted charge to ``billed`` (the lifecycle's last step)."""
    status = conn.execute(select(ORDERS.c.status).where(ORDERS.c.id == order.id)).scalar()
    if status != OrderStatus.REPORTED.value or not can_advance(status, OrderStatus.BILLED):
        return False
    posted = conn.execute(
        select(CHARGES.c.id)
        .where(CHARGES.c.order_id == order.id, CHARGES.c.status == ChargeStatus.POSTED.value)
        .limit(1)
    ).first()
    if posted is None:
        return False
    advance_order(conn, order.id, OrderStatus.BILLED, actor=actor, reason="reported and charged")
    return True


def _order_fee_codes(conn: Connection, order_id: int) -> tuple[dict[str, int], list[str]]:
    """(quantity per fee code of the order's performed steps, procedure codes without a fee code)."""
    rows = conn.execute(
        select(STEPS.c.status, PROCEDURES.c.code, PROCEDURES.c.fee_code)
        .join(PROCEDURES, PROCEDURES.c.id == STEPS.c.procedure_id)
        .where(STEPS.c.order_id == order_id)
        .order_by(STEPS.c.id)
    ).all()
    quantities: dict[str, int] = {}
    without: list[str] = []
    for r in rows:
        if r.status in NOT_PERFORMED_STEPS:
            continue
        if r.fee_code:
            quantities[r.fee_code] = quantities.get(r.fee_code, 0) + 1
        else:
            without.append(r.code)
    return quantities, without


def charge_completed_order(db: Database, order_id: int, *, actor: Actor) -> ChargingResult:
    """Post the charges of a performed order from its procedures' fee codes (IHE Charge Posting).

    One charge per order and fee code (quantity: the order's steps with that code, cancelled and
    discontinued steps left out), priced from the fee list. Idempotent: a fee code charged before
    (posted or voided) is not charged again. One ``charge.posted`` event carries the new charges.
    An order that is not performed yet posts nothing; a fee code missing from the fee list (or
    inactive) is reported in ``problems`` and shows in :func:`missed_charges`. A reported order
    with a posted charge moves on to ``billed``.
    """
    actor.require(Permission.BILLING_WRITE)
    with db.write_transaction() as conn:
        order = conn.execute(select(ORDERS).where(ORDERS.c.id == order_id).with_for_update()).first()
        if order is None:
            raise NotFound(f"no order with id {order_id}")
        result = ChargingResult(order_id=order_id, order_status=order.status)
        if order.status not in PERFORMED_STATUSES:
            result.problems.append(f"order {order.accession_number} is {order.status}: not performed")
            return result
        quantities, without = _order_fee_codes(conn, order_id)
        for code in without:
            result.problems.append(f"procedure {code} has no fee code")
        keys = {code: f"order:{order_id}:{code}"[:64] for code in quantities}
        charged = set(
            conn.execute(
                select(CHARGES.c.procedure_key).where(CHARGES.c.procedure_key.in_(list(keys.values())))
            ).scalars()
        )
        fees = {
            r.fee_code: r
            for r in conn.execute(select(FEES).where(FEES.c.fee_code.in_(list(quantities)))).all()
        }
        now = utcnow()
        # the linked study; else the UID the order gave the modality (MPPS COMPLETED may come first)
        study_uid = _linked_study(conn, order_id) or order.study_instance_uid
        new_ids: list[int] = []
        for code, quantity in sorted(quantities.items()):
            if keys[code] in charged:
                result.already_charged.append(code)
                continue
            fee = fees.get(code)
            if fee is None:
                result.problems.append(f"fee code {code} is not in the fee list")
                continue
            if not fee.active:
                result.problems.append(f"fee code {code} is inactive in the fee list")
                continue
            unit = money(Decimal(fee.unit_price))
            new_ids.append(
                _insert_charge(
                    conn,
                    {
                        "order_id": order_id,
                        "animal_id": order.animal_id,
                        "study_instance_uid": study_uid,
                        "fee_code": code,
                        "description": fee.description,
                        "quantity": Decimal(quantity),
                        "unit_price": unit,
                        "amount": money(unit * quantity),
                        "currency": fee.currency,
                        "tax_rate": fee.tax_rate,
                        "status": ChargeStatus.POSTED.value,
                        "source": ChargeSource.PROCEDURE.value,
                        "procedure_key": keys[code],
                        "note": "",
                        "posted_by": actor.username[:64],
                        "posted_at": now,
                        "voided_by": "",
                        "voided_at": None,
                        "void_reason": "",
                    },
                )
            )
        result.posted = _reads(conn, new_ids)
        for charge in result.posted:
            record_in(
                conn,
                actor,
                "charge.posted",
                object_type="charge",
                object_id=str(charge.id),
                detail={
                    "order_id": order_id,
                    "accession_number": order.accession_number,
                    "fee_code": charge.fee_code,
                    "amount": str(charge.amount),
                    "currency": charge.currency,
                },
            )
        if result.posted:
            _emit_charges(conn, "charge.posted", result.posted, actor)
        result.billed = _bill_if_reported(conn, order, actor=actor)
        if result.billed:
            result.order_status = OrderStatus.BILLED.value
    return result


def add_manual_charge(db: Database, data: ChargeCreate, *, actor: Actor) -> ChargeRead:
    """Post a charge by hand, for an order (its animal) or an animal; event ``charge.posted``.

    The fee code must have an active fee list line; its price and description are used unless the
    request gives its own. Raises NotFound for an unknown order or animal, Invalid for an unknown
    or inactive fee code or an order and animal that do not belong together.
    """
    actor.require(Permission.BILLING_WRITE)
    with db.write_transaction() as conn:
        order: Row[Any] | None = None
        if data.order_id is not None:
            order = conn.execute(select(ORDERS).where(ORDERS.c.id == data.order_id).with_for_update()).first()
            if order is None:
                raise NotFound(f"no order with id {data.order_id}")
            if data.animal_id is not None and data.animal_id != order.animal_id:
                raise Invalid(f"order {order.accession_number} is not for animal {data.animal_id}")
            animal_id = int(order.animal_id)
        elif data.animal_id is not None:
            found = conn.execute(select(ANIMALS.c.id).where(ANIMALS.c.id == data.animal_id)).scalar()
            if found is None:
                raise NotFound(f"no animal with id {data.animal_id}")
            animal_id = data.animal_id
        else:
            raise Invalid("give order_id or animal_id")
        fee = conn.execute(select(FEES).where(FEES.c.fee_code == data.fee_code)).first()
        if fee is None:
            raise Invalid(f"fee code {data.fee_code!r} is not in the fee list")
        if not fee.active:
            raise Invalid(f"fee code {data.fee_code!r} is inactive in the fee list")
        unit = money(data.unit_price if data.unit_price is not None else Decimal(fee.unit_price))
        study_uid = data.study_instance_uid or (_linked_study(conn, order.id) if order is not None else "")
        charge_id = _insert_charge(
            conn,
            {
                "order_id": order.id if order is not None else None,
                "animal_id": animal_id,
                "study_instance_uid": study_uid,
                "fee_code": data.fee_code,
                "description": (data.description or "").strip() or fee.description,
                "quantity": data.quantity,
                "unit_price": unit,
                "amount": money(unit * data.quantity),
                "currency": fee.currency,
                "tax_rate": fee.tax_rate,
                "status": ChargeStatus.POSTED.value,
                "source": ChargeSource.MANUAL.value,
                "procedure_key": None,
                "note": data.note,
                "posted_by": actor.username[:64],
                "posted_at": utcnow(),
                "voided_by": "",
                "voided_at": None,
                "void_reason": "",
            },
        )
        (charge,) = _reads(conn, [charge_id])
        record_in(
            conn,
            actor,
            "charge.posted",
            object_type="charge",
            object_id=str(charge_id),
            detail={
                "order_id": charge.order_id,
                "animal_id": animal_id,
                "fee_code": charge.fee_code,
                "amount": str(charge.amount),
                "currency": charge.currency,
                "source": "manual",
            },
        )
        _emit_charges(conn, "charge.posted", [charge], actor)
        if order is not None:
            _bill_if_reported(conn, order, actor=actor)
    return charge


def void_charge(db: Database, charge_id: int, reason: str, *, actor: Actor) -> ChargeRead:
    """Void a posted charge with a reason; event ``charge.voided`` (HL7: a DFT^P03 credit).

    Raises NotFound for an unknown charge, Conflict for one voided already, Invalid without reason.
    A voided procedure charge is not posted again by :func:`charge_completed_order`; the order shows
    in :func:`missed_charges` until another charge is posted for it.
    """
    actor.require(Permission.BILLING_WRITE)
    why = reason.strip()
    if not why:
        raise Invalid("a reason is required to void a charge")
    with db.write_transaction() as conn:
        row = conn.execute(select(CHARGES).where(CHARGES.c.id == charge_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"no charge with id {charge_id}")
        if row.status == ChargeStatus.VOIDED.value:
            raise Conflict(f"charge {charge_id} was voided already ({row.void_reason})")
        conn.execute(
            update(CHARGES)
            .where(CHARGES.c.id == charge_id)
            .values(
                status=ChargeStatus.VOIDED.value,
                voided_by=actor.username[:64],
                voided_at=utcnow(),
                void_reason=why[:1000],
            )
        )
        (charge,) = _reads(conn, [charge_id])
        record_in(
            conn,
            actor,
            "charge.voided",
            object_type="charge",
            object_id=str(charge_id),
            detail={"order_id": charge.order_id, "fee_code": charge.fee_code, "reason": why},
        )
        _emit_charges(conn, "charge.voided", [charge], actor)
    return charge


def move_charges(db: Database, merged_id: int, survivor_id: int, *, actor: Actor) -> int:
    """Charges of a merged animal follow the survivor (``animals.merged``); event ``charges.moved``.

    Returns how many charges moved (0: nothing to do, no audit row nor event).
    """
    actor.require(Permission.BILLING_WRITE)
    with db.write_transaction() as conn:
        ids = list(
            conn.execute(
                select(CHARGES.c.id).where(CHARGES.c.animal_id == merged_id).with_for_update()
            ).scalars()
        )
        if not ids:
            return 0
        conn.execute(update(CHARGES).where(CHARGES.c.id.in_(ids)).values(animal_id=survivor_id))
        detail = {"from_animal_id": merged_id, "animal_id": survivor_id, "charge_ids": ids}
        record_in(
            conn, actor, "charges.moved", object_type="animal", object_id=str(survivor_id), detail=detail
        )
        events.emit(
            conn,
            "charges.moved",
            aggregate_type="animal",
            aggregate_id=survivor_id,
            payload=detail,
            actor=actor.username,
        )
    return len(ids)


def get_charge(db: Database, charge_id: int) -> ChargeRead:
    """One charge; NotFound when there is none with this id."""
    with db.engine.connect() as conn:
        row = conn.execute(_charges_select().where(CHARGES.c.id == charge_id)).first()
    if row is None:
        raise NotFound(f"no charge with id {charge_id}")
    return _charge_read(row)


def list_charges(
    db: Database,
    *,
    order_id: int | None = None,
    animal_id: int | None = None,
    status: ChargeStatus | None = None,
    fee_code: str | None = None,
    study_instance_uid: str | None = None,
    ids: Sequence[int] | None = None,
    order_billed: bool | None = None,
    posted_since: datetime | None = None,
    posted_before: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ChargePage:
    """Charges matching every given filter, newest first, with the number of matches.

    ``order_billed`` True keeps charges of orders at status billed, False the others (and charges
    of no order); ``posted_since``/``posted_before`` bound the posting time (naive UTC).
    """
    conds: list[Any] = []
    if order_id is not None:
        conds.append(CHARGES.c.order_id == order_id)
    if animal_id is not None:
        conds.append(CHARGES.c.animal_id == animal_id)
    if status is not None:
        conds.append(CHARGES.c.status == ChargeStatus(status).value)
    if fee_code:
        conds.append(CHARGES.c.fee_code == fee_code)
    if study_instance_uid:
        conds.append(CHARGES.c.study_instance_uid == study_instance_uid)
    if ids is not None:
        conds.append(CHARGES.c.id.in_(list(ids)))
    if order_billed is not None:
        billed_orders = select(ORDERS.c.id).where(ORDERS.c.status == OrderStatus.BILLED.value)
        in_billed = and_(CHARGES.c.order_id.is_not(None), CHARGES.c.order_id.in_(billed_orders))
        conds.append(in_billed if order_billed else ~in_billed)
    if posted_since is not None:
        conds.append(CHARGES.c.posted_at >= posted_since)
    if posted_before is not None:
        conds.append(CHARGES.c.posted_at < posted_before)
    where = and_(*conds) if conds else None
    stmt = _charges_select()
    count = select(func.count()).select_from(CHARGES)
    if where is not None:
        stmt, count = stmt.where(where), count.where(where)
    stmt = stmt.order_by(CHARGES.c.posted_at.desc(), CHARGES.c.id.desc()).limit(limit).offset(offset)
    with db.engine.connect() as conn:
        total = int(conn.execute(count).scalar() or 0)
        rows = conn.execute(stmt).all()
    return ChargePage(items=[_charge_read(r) for r in rows], total=total, limit=limit, offset=offset)
