"""An animal's timeline: its orders, studies, reports and charges, newest first (docs/clinic-api.md).

Studies are those the clinic search counts as the animal's: linked to one of its orders, or
carrying its Patient ID. Orders are placed at their first booked step (local clinic time), else
when they were created; studies at their Study Date/Time (local), else when first stored; reports
when signed, else when drafted; charges when posted. Reports and charges are included only for a
reader allowed to see them (the caller says so).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select

from vetpacs.archive.context import Archive
from vetpacs.billing.schemas import ChargeRead
from vetpacs.billing.service import list_charges
from vetpacs.errors import NotFound
from vetpacs.orders.schemas import OrderRead, OrderSearch
from vetpacs.orders.service import search_orders
from vetpacs.reports.schemas import ReportRead
from vetpacs.reports.service import list_reports
from vetpacs.search.service import (
    ANIMALS,
    NEWEST_FIRST,
    STUDY_COLUMNS,
    StudyHit,
    studies_of_animals,
    study_hits,
)

PAGE = 500


class OrderItem(BaseModel):
    kind: Literal["order"] = "order"
    at: datetime
    order: OrderRead


class StudyItem(BaseModel):
    kind: Literal["study"] = "study"
    at: datetime
    study: StudyHit


class ReportItem(BaseModel):
    kind: Literal["report"] = "report"
    at: datetime
    report: ReportRead


class ChargeItem(BaseModel):
    kind: Literal["charge"] = "charge"
    at: datetime
    charge: ChargeRead


TimelineItem = OrderItem | StudyItem | ReportItem | ChargeItem


class Timeline(BaseModel):
    animal_id: int
    items: list[TimelineItem]


def _order_at(order: OrderRead) -> datetime:
    starts = [s.start for s in order.steps if s.start is not None]
    return min(starts) if starts else order.created_at


def _study_at(hit: StudyHit, received: datetime) -> datetime:
    if hit.study_date:
        digits = "".join(ch for ch in hit.study_time.split(".")[0] if ch.isdigit())[:6].ljust(6, "0")
        try:
            return datetime.strptime(hit.study_date + digits, "%Y-%m-%d%H%M%S")
        except ValueError:
            return datetime.strptime(hit.study_date, "%Y-%m-%d")
    return received


def animal_timeline(
    archive: Archive, animal_id: int, *, reports: bool = False, charges: bool = False
) -> Timeline:
    """The animal's orders (steps included) and studies, and its reports and charges when asked,
    newest first; ``NotFound`` for no animal."""
    with archive.engine.connect() as conn:
        if conn.execute(select(ANIMALS.c.id).where(ANIMALS.c.id == animal_id)).first() is None:
            raise NotFound(f"no animal with id {animal_id}")
        rows = conn.execute(
            select(*STUDY_COLUMNS)
            .where(studies_of_animals(select(ANIMALS.c.id).where(ANIMALS.c.id == animal_id)))
            .order_by(*NEWEST_FIRST)
        ).all()
        received = {r.study_instance_uid: r.created_at for r in rows}
        hits = study_hits(conn, list(rows))
    items: list[TimelineItem] = [StudyItem(at=_study_at(h, received[h.study_uid]), study=h) for h in hits]
    offset = 0
    while True:
        page = search_orders(archive, OrderSearch(animal_id=animal_id, limit=PAGE, offset=offset))
        items += [OrderItem(at=_order_at(o), order=o) for o in page.items]
        offset += PAGE
        if offset >= page.total:
            break
    offset = 0
    while reports:
        found = list_reports(archive, animal_id=animal_id, limit=PAGE, offset=offset)
        items += [ReportItem(at=r.signed_at or r.created_at, report=r) for r in found.items]
        offset += PAGE
        if offset >= found.total:
            break
    offset = 0
    while charges:
        posted = list_charges(archive, animal_id=animal_id, limit=PAGE, offset=offset)
        items += [ChargeItem(at=c.posted_at, charge=c) for c in posted.items]
        offset += PAGE
        if offset >= posted.total:
            break
    items.sort(key=lambda i: (i.at, i.kind == "study"), reverse=True)
    return Timeline(animal_id=animal_id, items=items)


__all__ = [
    "ChargeItem",
    "OrderItem",
    "ReportItem",
    "StudyItem",
    "Timeline",
    "TimelineItem",
    "animal_timeline",
]
