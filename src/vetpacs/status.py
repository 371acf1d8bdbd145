"""The state of one VetPACS: version, database, storage, counts, listeners (``GET /api/v1/system``).

Counts are ``COUNT(*)`` on tables or indexed columns (no table read per row of payload), so the
page stays cheap on a large archive. Storage ``bytes_used`` is left out: it would read every
instance row.
"""

from __future__ import annotations

import time
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, func, select, text

from vetpacs import __version__
from vetpacs.archive.context import Archive
from vetpacs.archive.models import Instance, Series, Study
from vetpacs.config import Settings
from vetpacs.events import OUTBOX
from vetpacs.integration.models import Delivery, OutboxCursor
from vetpacs.orders.models import Order, OrderStatus, ReconciliationItem
from vetpacs.patients.models import Animal, Owner

STARTED = time.monotonic()
CLOSED_ORDERS = (
    OrderStatus.REPORTED.value,
    OrderStatus.BILLED.value,
    OrderStatus.CANCELLED.value,
    OrderStatus.NO_SHOW.value,
    OrderStatus.DISCONTINUED.value,
)


class Counts(BaseModel):
    animals: int
    owners: int
    studies: int
    series: int
    instances: int
    orders_open: int
    reconciliation_open: int
    outbox_pending: int
    deliveries_failed: int


class SystemStatus(BaseModel):
    version: str
    database: dict[str, Any]
    storage: dict[str, Any]
    counts: Counts | None
    dicom: dict[str, Any]
    http: dict[str, Any]
    hl7: dict[str, Any]
    uptime_seconds: float


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def count_rows(archive: Archive) -> Counts:
    """The cheap counts of the status page."""
    animals, owners, studies, series, instances = (
        _t(Animal),
        _t(Owner),
        _t(Study),
        _t(Series),
        _t(Instance),
    )
    orders, items, deliveries, cursors = _t(Order), _t(ReconciliationItem), _t(Delivery), _t(OutboxCursor)

    def n(conn: Any, table: Table, *where: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    with archive.engine.connect() as conn:
        cursor = conn.execute(select(cursors.c.last_event_id).where(cursors.c.name == "fanout")).scalar() or 0
        return Counts(
            animals=n(conn, animals, animals.c.merged_into_id.is_(None)),
            owners=n(conn, owners),
            studies=n(conn, studies),
            series=n(conn, series),
            instances=n(conn, instances),
            orders_open=n(conn, orders, orders.c.status.not_in(CLOSED_ORDERS)),
            reconciliation_open=n(conn, items, items.c.status == "open"),
            outbox_pending=n(conn, OUTBOX, OUTBOX.c.id > cursor),
            deliveries_failed=n(conn, deliveries, deliveries.c.status == "dead"),
        )


def system_status(archive: Archive, settings: Settings) -> SystemStatus:
    """Version, database and storage health, counts, listener ports and uptime."""
    database: dict[str, Any] = {"dialect": archive.engine.dialect.name, "status": "ok"}
    counts: Counts | None = None
    try:
        with archive.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        counts = count_rows(archive)
    except Exception as exc:  # the page must still answer and say what is wrong
        database.update(status="error", error=type(exc).__name__)
    storage: dict[str, Any] = {"backend": type(archive.store).__name__, "status": "ok"}
    try:
        archive.store.check()
    except Exception as exc:
        storage.update(status="error", error=str(exc)[:200])
    tls = settings.tls_enabled
    return SystemStatus(
        version=__version__,
        database=database,
        storage=storage,
        counts=counts,
        dicom={
            "ae_title": settings.ae_title,
            "port": settings.dicom_port or None,
            "tls_port": settings.dicom_tls_port if tls and settings.dicom_tls_port else None,
        },
        http={"port": settings.http_port, "tls": tls},
        hl7={"port": settings.hl7_port or None},
        uptime_seconds=round(time.monotonic() - STARTED, 1),
    )
