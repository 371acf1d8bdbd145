"""The outbox events a live board needs: images received (per new series) and reconciliation links."""

from __future__ import annotations

from typing import Any

from pydicom.uid import generate_uid
from sqlalchemy import select
from test_search_service import image, store, world  # type: ignore[import-not-found]  # noqa: F401

from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM
from vetpacs.events import OUTBOX
from vetpacs.orders import reconciliation


def types_for(archive: Archive, aggregate_id: str) -> list[str]:
    with archive.engine.connect() as conn:
        return list(
            conn.execute(
                select(OUTBOX.c.type).where(OUTBOX.c.aggregate_id == aggregate_id).order_by(OUTBOX.c.id)
            ).scalars()
        )


def test_study_received_then_images_received_once_per_new_series(archive: Archive) -> None:
    uid = generate_uid()
    store(archive, image(study_uid=uid, name="DOE^Max", pid="EXT-2"))
    store(archive, image(study_uid=uid, name="DOE^Max", pid="EXT-2"))  # a second series
    received = [t for t in types_for(archive, uid) if t.endswith(".received")]
    assert received == ["study.received", "images.received"]
    assert "study.unmatched" in types_for(archive, uid)


def test_reconciliation_link_is_an_event(archive: Archive, world: dict[str, Any]) -> None:  # noqa: F811
    stray = world["uids"]["stray"]
    [item] = [i for i in reconciliation.list_items(archive) if i.study_instance_uid == stray]
    reconciliation.link_study(archive, item.id, animal_id=world["bella"].id, actor=SYSTEM)
    assert types_for(archive, stray)[-1] == "reconciliation.linked"
