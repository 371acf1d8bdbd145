"""The fee list: one price per fee code (the procedure catalog's ``fee_code``), a sample for the catalog.

Writes take a keyword-only ``actor`` (``billing:write``) and run in one transaction with their audit
row and the ``fee.updated`` event (docs/billing.md).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs import events
from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.roles import Actor, Permission
from vetpacs.billing.models import FEES
from vetpacs.billing.schemas import FeeRead, FeeUpdate
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.catalog import SEED_PROCEDURES

CENT = Decimal("0.01")

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
    actor.require(Permission.BILLING_WRITE)
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
