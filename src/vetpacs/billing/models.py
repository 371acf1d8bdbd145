"""Billing tables: the fee list (one price per fee code) and the charges posted against orders and animals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import cast

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, Numeric, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.archive.models import Study
from vetpacs.db.base import Base
from vetpacs.orders.models import OrderStatus, OrderStudy, PerformedStep, StepStatus
from vetpacs.patients.models import Animal


class ChargeStatus(StrEnum):
    """Where a charge stands: posted (sent on to the PMS as a charge) or voided (with a reason)."""

    POSTED = "posted"
    VOIDED = "voided"


class ChargeSource(StrEnum):
    """Where a charge came from."""

    PROCEDURE = "procedure"  # posted from a performed order's procedure fee code
    MANUAL = "manual"  # added by a person (or a PMS) through the API


class FeeItem(Base):
    """One line of the clinic's fee list: the price of a fee code (the catalog's ``fee_code``)."""

    __tablename__ = "fee_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fee_code: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(128))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)  # percent, informative
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Charge(Base):
    """A charge for an animal, usually for one fee code of a performed order.

    ``procedure_key`` (``order:<id>:<fee code>``) is set on charges posted from an order's procedures
    and is unique: posting the same order twice, from any number of workers, adds nothing. Manual
    charges leave it empty (NULL).
    """

    __tablename__ = "charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True, index=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), default="", index=True)
    fee_code: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(String(128), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # quantity x unit price
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ChargeStatus.POSTED.value, index=True)
    source: Mapped[str] = mapped_column(String(16), default=ChargeSource.PROCEDURE.value)
    procedure_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    posted_by: Mapped[str] = mapped_column(String(64), default="")
    posted_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    voided_by: Mapped[str] = mapped_column(String(64), default="")
    voided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    void_reason: Mapped[str] = mapped_column(Text, default="")


FEES: Table = cast(Table, FeeItem.__table__)
CHARGES: Table = cast(Table, Charge.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
STUDIES: Table = cast(Table, Study.__table__)
STUDY_LINKS: Table = cast(Table, OrderStudy.__table__)
PERFORMED: Table = cast(Table, PerformedStep.__table__)

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
"""Steps that are not charged (cancelled before, or discontinued during, the procedure)."""
