"""Partners (webhook URLs and HL7 endpoints that receive domain events) and their deliveries.

Every write runs in one transaction with its audit row. A webhook partner's secret is generated
here, returned once on create and on rotation, and never shown again.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor
from vetpacs.auth.audit import record_in, utcnow
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.events import OUTBOX
from vetpacs.integration.dispatcher import DELIVERIES, PARTNERS, DeliveryStatus
from vetpacs.integration.models import Hl7Message

HL7_MESSAGES: Table = cast(Table, Hl7Message.__table__)


class PartnerKind(StrEnum):
    """How a partner receives events."""

    WEBHOOK = "webhook"  # signed JSON POSTs to a URL
    HL7 = "hl7"  # HL7 v2 messages over MLLP to host:port


def generate_secret() -> str:
    """A new webhook signing secret (32 random bytes, URL-safe text, prefixed ``whsec_``)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _event_types(value: Any) -> Any:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if isinstance(value, list):
        cleaned = [str(v).strip() for v in value if str(v).strip()]
        for item in cleaned:
            if "," in item or " " in item:
                raise ValueError(f"bad event type {item!r}")
        return cleaned
    return value


class PartnerFields(BaseModel):
    """Fields shared by create, update and read."""

    url: str = Field(default="", max_length=512, description="webhook: the URL events are POSTed to.")
    host: str = Field(default="", max_length=255, description="hl7: the MLLP host.")
    port: int = Field(default=0, ge=0, le=65535, description="hl7: the MLLP port.")
    event_types: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Event types to receive: exact (`order.status_changed`), a prefix (`order.*`) or `*`.",
    )
    receiving_application: str = Field(default="", max_length=64, description="hl7: MSH-5.")
    receiving_facility: str = Field(default="", max_length=64, description="hl7: MSH-6.")
    active: bool = True

    _check_types = field_validator("event_types", mode="before")(_event_types)


class PartnerCreate(PartnerFields):
    """A new partner: a webhook URL or an HL7 host and port."""

    name: str = Field(min_length=1, max_length=64)
    kind: PartnerKind


class PartnerUpdate(BaseModel):
    """Changes to a partner; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    url: str | None = Field(default=None, max_length=512)
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=0, le=65535)
    event_types: list[str] | None = None
    receiving_application: str | None = Field(default=None, max_length=64)
    receiving_facility: str | None = Field(default=None, max_length=64)
    active: bool | None = None

    _check_types = field_validator("event_types", mode="before")(_event_types)


class PartnerRead(PartnerFields):
    """A partner (its secret is never shown after it is made)."""

    id: int
    name: str
    kind: PartnerKind
    has_secret: bool
    created_at: datetime
    pending: int = Field(default=0, description="Deliveries waiting (first attempt or retry).")
    dead: int = Field(default=0, description="Deliveries given up on (see the dead-letter view).")


class PartnerCreated(PartnerRead):
    """A partner just made; ``secret`` (webhook signing key) is shown this once."""

    secret: str | None = None


class SecretRotated(BaseModel):
    """The new signing secret, shown once; the old one stops working at once."""

    secret: str


class DeliveryRead(BaseModel):
    """One event for one partner, with its last attempt."""

    id: int
    partner_id: int
    partner_name: str
    event_id: int
    event_type: str
    ordering_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str = Field(description="Why the last attempt failed (the dead-letter reason).")
    response_status: int | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    """One page of deliveries, newest first, and how many match in all."""

    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- partners
def _check_target(kind: str, url: str, host: str, port: int) -> None:
    if kind == PartnerKind.WEBHOOK:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Invalid("a webhook partner needs an http:// or https:// url")
    elif not host or not port:
        raise Invalid("an HL7 partner needs a host and a port")


def _counts(conn: Any, partner_ids: list[int]) -> dict[tuple[int, str], int]:
    if not partner_ids:
        return {}
    rows = conn.execute(
        select(DELIVERIES.c.partner_id, DELIVERIES.c.status, func.count())
        .where(
            DELIVERIES.c.partner_id.in_(partner_ids), DELIVERIES.c.status != DeliveryStatus.DELIVERED.value
        )
        .group_by(DELIVERIES.c.partner_id, DELIVERIES.c.status)
    ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def _read(row: Any, counts: dict[tuple[int, str], int]) -> PartnerRead:
    return PartnerRead(
        id=row.id,
        name=row.name,
        kind=PartnerKind(row.kind),
        url=row.url,
        host=row.host,
        port=row.port,
        event_types=[t for t in row.event_types.split(",") if t],
        receiving_application=row.receiving_application,
        receiving_facility=row.receiving_facility,
        active=row.active,
        has_secret=bool(row.secret),
        created_at=row.created_at,
        pending=counts.get((row.id, DeliveryStatus.PENDING.value), 0),
        dead=counts.get((row.id, DeliveryStatus.DEAD.value), 0),
    )


def list_partners(archive: Archive) -> list[PartnerRead]:
    """Every partner, by name, with its pending and dead delivery counts."""
    with archive.engine.connect() as conn:
        rows = conn.execute(select(PARTNERS).order_by(PARTNERS.c.name)).all()
        counts = _counts(conn, [r.id for r in rows])
    return [_read(r, counts) for r in rows]


def get_partner(archive: Archive, partner_id: int) -> PartnerRead:
    """One partner."""
    with archive.engine.connect() as conn:
        row = conn.execute(select(PARTNERS).where(PARTNERS.c.id == partner_id)).first()
        if row is None:
            raise NotFound(f"partner {partner_id} not found")
        return _read(row, _counts(conn, [partner_id]))


def create_partner(archive: Archive, body: PartnerCreate, *, actor: Actor) -> PartnerCreated:
    """Register a partner; a webhook partner gets a new signing secret, returned this once."""
    _check_target(body.kind, body.url, body.host, body.port)
    secret = generate_secret() if body.kind == PartnerKind.WEBHOOK else ""
    try:
        with archive.write_transaction() as conn:
            result = conn.execute(
                insert(PARTNERS).values(
                    name=body.name.strip(),
                    kind=body.kind.value,
                    url=body.url if body.kind == PartnerKind.WEBHOOK else "",
                    host=body.host if body.kind == PartnerKind.HL7 else "",
                    port=body.port if body.kind == PartnerKind.HL7 else 0,
                    secret=secret,
                    event_types=",".join(body.event_types),
                    receiving_application=body.receiving_application,
                    receiving_facility=body.receiving_facility,
                    active=body.active,
                    created_at=utcnow(),
                )
            )
            partner_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            record_in(
                conn,
                actor,
                "partner.created",
                object_type="partner",
                object_id=str(partner_id),
                detail={"name": body.name, "kind": body.kind.value, "event_types": body.event_types},
            )
    except IntegrityError as exc:
        raise Conflict(f"a partner named {body.name!r} exists") from exc
    read = get_partner(archive, partner_id)
    return PartnerCreated(**read.model_dump(), secret=secret or None)


def update_partner(archive: Archive, partner_id: int, body: PartnerUpdate, *, actor: Actor) -> PartnerRead:
    """Change a partner's name, target, event types or active flag."""
    changes = body.model_dump(exclude_unset=True)
    if "event_types" in changes:
        if changes["event_types"] is None:
            raise Invalid("event_types may not be null")
        changes["event_types"] = ",".join(changes["event_types"])
    if any(changes.get(k, "") is None for k in ("name", "url", "host", "port", "active")):
        raise Invalid("a partner field may not be set to null")
    try:
        with archive.write_transaction() as conn:
            row = conn.execute(select(PARTNERS).where(PARTNERS.c.id == partner_id)).first()
            if row is None:
                raise NotFound(f"partner {partner_id} not found")
            merged = {**row._asdict(), **changes}
            _check_target(merged["kind"], merged["url"], merged["host"], merged["port"])
            if changes:
                conn.execute(update(PARTNERS).where(PARTNERS.c.id == partner_id).values(**changes))
                record_in(
                    conn,
                    actor,
                    "partner.updated",
                    object_type="partner",
                    object_id=str(partner_id),
                    detail={"changed": sorted(changes)},
                )
    except IntegrityError as exc:
        raise Conflict(f"a partner named {changes.get('name')!r} exists") from exc
    return get_partner(archive, partner_id)


def rotate_secret(archive: Archive, partner_id: int, *, actor: Actor) -> SecretRotated:
    """Give a webhook partner a new signing secret (returned this once; the old one stops at once)."""
    secret = generate_secret()
    with archive.write_transaction() as conn:
        row = conn.execute(select(PARTNERS.c.kind).where(PARTNERS.c.id == partner_id)).first()
        if row is None:
            raise NotFound(f"partner {partner_id} not found")
        if row.kind != PartnerKind.WEBHOOK:
            raise Invalid("only webhook partners have a signing secret")
        conn.execute(update(PARTNERS).where(PARTNERS.c.id == partner_id).values(secret=secret))
        record_in(conn, actor, "partner.secret_rotated", object_type="partner", object_id=str(partner_id))
    return SecretRotated(secret=secret)


def delete_partner(archive: Archive, partner_id: int, *, actor: Actor) -> None:
    """Remove a partner and its deliveries (its HL7 message log rows stay, unlinked)."""
    with archive.write_transaction() as conn:
        row = conn.execute(select(PARTNERS.c.name).where(PARTNERS.c.id == partner_id)).first()
        if row is None:
            raise NotFound(f"partner {partner_id} not found")
        conn.execute(
            update(HL7_MESSAGES).where(HL7_MESSAGES.c.partner_id == partner_id).values(partner_id=None)
        )
        conn.execute(delete(DELIVERIES).where(DELIVERIES.c.partner_id == partner_id))
        conn.execute(delete(PARTNERS).where(PARTNERS.c.id == partner_id))
        record_in(
            conn,
            actor,
            "partner.deleted",
            object_type="partner",
            object_id=str(partner_id),
            detail={"name": row.name},
        )


# --------------------------------------------------------------------------- deliveries
def list_deliveries(
    archive: Archive,
    *,
    partner_id: int | None = None,
    status: DeliveryStatus | str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> DeliveryPage:
    """Deliveries, newest event first; by partner and/or status (``dead``: the dead-letter view)."""
    where = []
    if partner_id is not None:
        where.append(DELIVERIES.c.partner_id == partner_id)
    if status is not None:
        where.append(DELIVERIES.c.status == DeliveryStatus(status).value)
    with archive.engine.connect() as conn:
        if (
            partner_id is not None
            and conn.execute(select(PARTNERS.c.id).where(PARTNERS.c.id == partner_id)).first() is None
        ):
            raise NotFound(f"partner {partner_id} not found")
        total = conn.execute(select(func.count()).select_from(DELIVERIES).where(*where)).scalar() or 0
        rows = conn.execute(
            select(DELIVERIES, PARTNERS.c.name.label("partner_name"), OUTBOX.c.type.label("event_type"))
            .join(PARTNERS, PARTNERS.c.id == DELIVERIES.c.partner_id)
            .join(OUTBOX, OUTBOX.c.id == DELIVERIES.c.event_id)
            .where(*where)
            .order_by(DELIVERIES.c.event_id.desc(), DELIVERIES.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return DeliveryPage(items=[_delivery(r) for r in rows], total=int(total), limit=limit, offset=offset)


def _delivery(row: Any) -> DeliveryRead:
    return DeliveryRead(
        id=row.id,
        partner_id=row.partner_id,
        partner_name=row.partner_name,
        event_id=row.event_id,
        event_type=row.event_type,
        ordering_key=row.ordering_key,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        response_status=row.response_status,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def get_delivery(archive: Archive, delivery_id: int) -> DeliveryRead:
    """One delivery."""
    with archive.engine.connect() as conn:
        row = conn.execute(
            select(DELIVERIES, PARTNERS.c.name.label("partner_name"), OUTBOX.c.type.label("event_type"))
            .join(PARTNERS, PARTNERS.c.id == DELIVERIES.c.partner_id)
            .join(OUTBOX, OUTBOX.c.id == DELIVERIES.c.event_id)
            .where(DELIVERIES.c.id == delivery_id)
        ).first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return _delivery(row)


def retry_delivery(archive: Archive, delivery_id: int, *, actor: Actor) -> DeliveryRead:
    """Make a dead delivery pending again, due now, with a fresh count of attempts."""
    with archive.write_transaction() as conn:
        row = conn.execute(select(DELIVERIES.c.status).where(DELIVERIES.c.id == delivery_id)).first()
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        if row.status != DeliveryStatus.DEAD.value:
            raise Conflict(f"delivery {delivery_id} is {row.status}, only a dead delivery can be retried")
        conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=utcnow())
        )
        record_in(conn, actor, "delivery.retried", object_type="delivery", object_id=str(delivery_id))
    return get_delivery(archive, delivery_id)
