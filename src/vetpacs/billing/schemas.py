"""Billing shapes: fee list lines, charges, charging results and the missed-charge report.

Money is a ``Decimal`` with two places (JSON: a string such as ``"45.00"``, so no float rounding
reaches a PMS); ``currency`` is an ISO 4217 code.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from vetpacs.billing.models import ChargeSource, ChargeStatus

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR.")]
FeeCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]


class FeeUpdate(BaseModel):
    """A fee list line as written by ``PUT /fees/{fee_code}`` (created when the code is new)."""

    description: str = Field(min_length=1, max_length=128)
    unit_price: Money
    currency: Currency | None = Field(
        default=None, description="ISO 4217; default: the line's current currency, else billing_currency."
    )
    tax_rate: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = Field(
        default=None, description="Percent, informative (charges carry it to the PMS)."
    )
    active: bool = True

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("description may not be blank")
        return value


class FeeRead(BaseModel):
    """One line of the fee list."""

    fee_code: str
    description: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal | None
    active: bool
    updated_by: str
    updated_at: datetime


class ChargeCreate(BaseModel):
    """A manual charge: for an order (its animal is charged) or for an animal directly."""

    order_id: int | None = Field(default=None, ge=1)
    animal_id: int | None = Field(default=None, ge=1, description="Needed when no order is given.")
    fee_code: FeeCode
    quantity: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2)] = Decimal(1)
    unit_price: Money | None = Field(default=None, description="Default: the fee list's price.")
    description: str | None = Field(default=None, max_length=128, description="Default: the fee list's.")
    study_instance_uid: str = Field(default="", max_length=64, pattern=r"^$|^[0-9]+(\.[0-9]+)*$")
    note: str = Field(default="", max_length=2000)


class ChargeVoid(BaseModel):
    """Why a charge is voided (kept on the charge, in the audit log and in ``charge.voided``)."""

    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a reason is required")
        return value


class ChargeRead(BaseModel):
    """One charge."""

    id: int
    order_id: int | None
    accession_number: str = ""
    placer_order_number: str = ""
    order_status: str = Field(
        default="", description="The order's status now (billed: charged and reported)."
    )
    animal_id: int
    study_instance_uid: str
    fee_code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    currency: str
    tax_rate: Decimal | None
    status: ChargeStatus
    source: ChargeSource
    note: str
    posted_by: str
    posted_at: datetime
    voided_by: str
    voided_at: datetime | None
    void_reason: str


class ChargePage(BaseModel):
    """One page of charges (newest first) with the number of matches."""

    items: list[ChargeRead]
    total: int
    limit: int
    offset: int


class ChargingResult(BaseModel):
    """What charging one performed order did: charges posted now, and what could not be charged."""

    order_id: int
    order_status: str
    posted: list[ChargeRead] = Field(default_factory=list)
    already_charged: list[str] = Field(default_factory=list, description="Fee codes charged before.")
    problems: list[str] = Field(default_factory=list, description="Why a fee code was not charged.")
    billed: bool = Field(default=False, description="The order moved to status billed.")


MissedReason = Literal["no-fee-code", "fee-not-in-list", "fee-inactive", "voided", "not-charged", "no-order"]


class MissedOrder(BaseModel):
    """A performed order (MPPS completed or images received) with no posted charge."""

    order_id: int
    accession_number: str
    animal_id: int
    order_status: str
    procedure_codes: list[str]
    fee_codes: list[str]
    reason: MissedReason
    detail: str
    performed_at: datetime | None = Field(default=None, description="When the order was last updated (UTC).")


class UnbilledStudy(BaseModel):
    """An archived study linked to no order and named by no charge."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    modalities: str
    description: str
    received_at: datetime
    reason: MissedReason = "no-order"


class MissedCharges(BaseModel):
    """The missed-charge report: performed orders without a posted charge, and unbilled studies."""

    orders: list[MissedOrder]
    studies: list[UnbilledStudy]
    orders_total: int
    studies_total: int
