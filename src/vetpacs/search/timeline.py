"""An animal's timeline: its orders and its studies, newest first (docs/clinic-api.md).

Studies are those the clinic search counts as the animal's: linked to one of its orders, or
carrying its Patient ID. Orders are placed at their first booked step (local clinic time), else
when they were created; studies at their Study Date/Time (local), else when first stored. Reports
and charges do not exist in VetPACS yet, so they are not on the timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select

from vetpacs.archive.context import Archive
from vetpacs.errors import NotFound
from vetpacs.orders.schemas import OrderRead, OrderSearch
from vetpacs.orders.service import search_orders
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


class Timeline(BaseModel):
    animal_id: int
    items: list[OrderItem | StudyItem]


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


def animal_timeline(archive: Archive, animal_id: int) -> Timeline:
    """The animal's orders (steps included) and studies, newest first; ``NotFound`` for no animal."""
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
    items: list[OrderItem | StudyItem] = [
        StudyItem(at=_study_at(h, received[h.study_uid]), study=h) for h in hits
    ]
    offset = 0
    while True:
        page = search_orders(archive, OrderSearch(animal_id=animal_id, limit=PAGE, offset=offset))
        items += [OrderItem(at=_order_at(o), order=o) for o in page.items]
        offset += PAGE
        if offset >= page.total:
            break
    items.sort(key=lambda i: (i.at, i.kind == "study"), reverse=True)
    return Timeline(animal_id=animal_id, items=items)


__all__ = ["OrderItem", "StudyItem", "Timeline", "animal_timeline"]
