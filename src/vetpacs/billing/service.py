"""Billing service: the fee list, charges from performed orders, manual charges, voids, missed charges.

Every write takes a keyword-only ``actor`` (``billing:write``), runs in one transaction with its
audit rows and its outbox event (``fee.updated``, ``charge.posted``, ``charge.voided``,
``charges.moved``). Integrations read those events: HL7 DFT^P03 (IHE Charge Posting), the
``charge.posted`` webhook, FHIR ChargeItem.

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
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Row,
    Table,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.archive.models import Study
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor, Permission
from vetpacs.billing.models import Charge, ChargeSource, ChargeStatus, FeeItem
from vetpacs.billing.schemas import (
    ChargeCreate,
    ChargePage,
    ChargeRead,
    ChargingResult,
    FeeRead,
    FeeUpdate,
    MissedCharges,
    MissedOrder,
    MissedReason,
    UnbilledStudy,
)
from vetpacs.errors import Conflict, Forbidden, Invalid, NotFound
from vetpacs.orders.catalog import PROCEDURES, SEED_PROCEDURES
from vetpacs.orders.lifecycle import ORDERS, STEPS, advance_order, can_advance
from vetpacs.orders.models import OrderStatus, OrderStudy, PerformedStep, StepStatus
from vetpacs.patients.models import Animal

FEES: Table = cast(Table, FeeItem.__table__)
CHARGES: Table = cast(Table, Charge.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
STUDIES: Table = cast(Table, Study.__table__)
STUDY_LINKS: Table = cast(Table, OrderStudy.__table__)
PERFORMED: Table = cast(Table, PerformedStep.__table__)

CENT = Decimal("0.01")
PERFORMED_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED.value,
        OrderStatus.IMAGES_RECEIVED.value,
        OrderStatus.REPORTED.value,
        OrderStatus.BILLED.value,
    }
)
"""Order statuses at which the procedure has been performed (MPPS COMPLETED or images received)."""
NOT_PERFORMED_STEPS = frozenset({StepStatus.CANCELLED.value, StepStatus.DISCONTINUED.value})

SEED_PRICES: dict[str, Decimal] = {
    "RAD-THX2": Decimal("95.00"),
    "RAD-THX3": Decimal("125.00"),
    "RAD-ABD": Decimal("95.00"),
    "RAD-HD": Decimal("180.00"),
    "RAD-STIFLE": Decimal("110.00"),
    "RAD-SPINE": Decimal("110.00"),
    "DENT-FULL": Decimal("150.00"),
    "US-ABD": Decimal("120.00"),
    "US-ECHO": Decimal("185.00"),
    "CT-HEAD": Decimal("420.00"),
    "CT-THX": Decimal("420.00"),
    "CT-ABD": Decimal("450.00"),
    "MR-BRAIN": Decimal("780.00"),
    "MR-SPINE": Decimal("780.00"),
    "RAD-EQ-LIMB": Decimal("140.00"),
}
"""Sample prices (in ``billing_currency``) for every fee code of the sample catalog."""


def _require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise Forbidden(f"role {actor.role.value} lacks permission {permission.value}")


def money(value: Decimal) -> Decimal:
    """An amount rounded to cents (half up, as invoices do)."""
    return value.quantize(CENT, rounding="ROUND_HALF_UP")


# --------------------------------------------------------------------------- fee list
def _fee_read(row: Row[Any]) -> FeeRead:
    return FeeRead(
        fee_code=row.fee_code,
        description=row.description,
        unit_price=money(Decimal(row.unit_price)),
        currency=row.currency,
        tax_rate=Decimal(row.tax_rate) if row.tax_rate is not None else None,
        active=row.active,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def list_fees(db: Database, *, active: bool | None = None) -> list[FeeRead]:
    """The fee list by fee code (only active or inactive lines with ``active``)."""
    stmt = select(FEES).order_by(FEES.c.fee_code)
    if active is not None:
        stmt = stmt.where(FEES.c.active.is_(active))
    with db.engine.connect() as conn:
        return [_fee_read(r) for r in conn.execute(stmt).all()]


def get_fee(db: Database, fee_code: str) -> FeeRead:
    """One line of the fee list; NotFound when the code has none."""
    with db.engine.connect() as conn:
        row = conn.execute(select(FEES).where(FEES.c.fee_code == fee_code)).first()
    if row is None:
        raise NotFound(f"no fee list line for fee code {fee_code!r}")
    return _fee_read(row)


def put_fee(
    db: Database, fee_code: str, data: FeeUpdate, *, actor: Actor, default_currency: str = "EUR"
) -> FeeRead:
    """Create or replace the fee list line of ``fee_code`` (``billing:write``); event ``fee.updated``.

    The currency defaults to the line's current one, else ``default_currency``. New prices apply to
    charges posted from now on; posted charges keep theirs.
    """
    _require(actor, Permission.BILLING_WRITE)
    code = fee_code.strip()
    if not code or len(code) > 32:
        raise Invalid("a fee code has 1 to 32 characters")
    with db.write_transaction() as conn:
        current = conn.execute(select(FEES).where(FEES.c.fee_code == code).with_for_update()).first()
        values = {
            "description": data.description,
            "unit_price": money(data.unit_price),
            "currency": data.currency or (current.currency if current is not None else default_currency),
            "tax_rate": data.tax_rate,
            "active": data.active,
            "updated_by": actor.username[:64],
            "updated_at": utcnow(),
        }
        if current is None:
            try:
                conn.execute(insert(FEES).values(fee_code=code, **values))
            except IntegrityError as exc:  # a concurrent PUT of the same new code
                raise Conflict(f"fee code {code!r} was created at the same time; try again") from exc
        else:
            conn.execute(update(FEES).where(FEES.c.id == current.id).values(**values))
        row = conn.execute(select(FEES).where(FEES.c.fee_code == code)).one()
        fee = _fee_read(row)
        before = _fee_read(current).model_dump(mode="json") if current is not None else None
        after = fee.model_dump(mode="json")
        record_in(
            conn,
            actor,
            "fee.updated" if current is not None else "fee.created",
            object_type="fee",
            object_id=code,
            detail={"before": before, "after": after},
        )
        events.emit(
            conn,
            "fee.updated",
            aggregate_type="fee",
            aggregate_id=code,
            payload={"fee": after, "created": current is None},
            actor=actor.username,
        )
    return fee


def seed_fees(db: Database, *, actor: Actor, currency: str = "EUR") -> list[FeeRead]:
    """Add a fee list line for every fee code of the sample catalog that has none yet (sample prices).

    Existing lines are left alone; returns the lines added.
    """
    names: dict[str, str] = {}
    for proc in SEED_PROCEDURES:
        if proc.fee_code:
            names.setdefault(proc.fee_code, proc.name)
    with db.engine.connect() as conn:
        have = set(conn.execute(select(FEES.c.fee_code)).scalars())
    added = []
    for code, name in names.items():
        if code in have or code not in SEED_PRICES:
            continue
        added.append(
            put_fee(
                db,
                code,
                FeeUpdate(description=name, unit_price=SEED_PRICES[code], currency=currency),
                actor=actor,
            )
        )
    return added


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
    _require(actor, Permission.BILLING_WRITE)
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
    _require(actor, Permission.BILLING_WRITE)
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
    _require(actor, Permission.BILLING_WRITE)
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
    _require(actor, Permission.BILLING_WRITE)
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


# --------------------------------------------------------------------------- missed charges
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
