"""The shared outbox reader (events.OutboxReader) on a real index: SQLite, or PostgreSQL when configured.

Its second look at recent events (PostgreSQL's late commits of lower ids) is switched on for SQLite
here (``look_back=True``) and simulated by inserting an event with an explicit lower id after the
cursor moved past it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Row, func, insert, select

from vetpacs.archive.context import Archive
from vetpacs.auth.audit import utcnow
from vetpacs.events import CURSORS, OUTBOX, OutboxReader, emit


class Handled:
    """A consumer that records what it was handed; ``fail_at`` raises on that event id."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.ids: list[int] = []
        self.types: list[str] = []
        self.fail_at = fail_at

    def __call__(self, row: Row[Any]) -> None:
        if row.id == self.fail_at:
            raise RuntimeError(f"event {row.id} failed")
        self.ids.append(row.id)
        self.types.append(row.type)


def add(archive: Archive, *types: str) -> list[int]:
    """Emit one event per type (as a service would); returns their ids."""
    for event_type in types:
        with archive.write_transaction() as conn:
            emit(conn, event_type, aggregate_type="test", aggregate_id=1, payload={"t": event_type})
    with archive.engine.connect() as conn:
        rows = conn.execute(select(OUTBOX.c.id).order_by(OUTBOX.c.id.desc()).limit(len(types))).scalars()
        return sorted(rows)


def add_late(archive: Archive, event_id: int, event_type: str = "x.one", age: float = 0.0) -> None:
    """An event with an explicit id, as a transaction that took its id early and committed late."""
    with archive.write_transaction() as conn:
        conn.execute(
            insert(OUTBOX).values(
                id=event_id,
                type=event_type,
                aggregate_type="test",
                aggregate_id="1",
                payload_json="{}",
                actor="test",
                created_at=utcnow() - timedelta(seconds=age),
            )
        )


def newest(archive: Archive) -> int:
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.max(OUTBOX.c.id))).scalar() or 0)


def cursor(archive: Archive, name: str) -> int | None:
    with archive.engine.connect() as conn:
        found = conn.execute(select(CURSORS.c.last_event_id).where(CURSORS.c.name == name)).scalar()
    return None if found is None else int(found)


def test_reads_events_past_the_cursor_in_order_and_moves_it(archive: Archive) -> None:
    ids = add(archive, "x.one", "x.two", "x.one")
    reader, seen = OutboxReader("test"), Handled()
    assert reader.read(archive, seen) == 3
    assert seen.ids == ids
    assert cursor(archive, "test") == ids[-1]
    assert reader.read(archive, seen) == 0 and seen.ids == ids  # nothing new, nothing again
    more = add(archive, "x.two")
    assert reader.read(archive, seen) == 1 and seen.ids == ids + more


def test_type_filter_skips_other_events_but_moves_past_them(archive: Archive) -> None:
    ids = add(archive, "x.one", "x.two", "x.three", "x.one")
    reader, seen = OutboxReader("test", types={"x.one", "x.three"}), Handled()
    assert reader.read(archive, seen) == 4  # read past all four...
    assert seen.types == ["x.one", "x.three", "x.one"]  # ...handed out the wanted ones
    assert cursor(archive, "test") == ids[-1]


def test_cursor_persists_across_readers_and_names_are_separate(archive: Archive) -> None:
    # Without the second look: a new reader does not know what an earlier one handled, so on
    # PostgreSQL it would hand out the recent events again (at least once, not exactly once).
    first = add(archive, "x.one", "x.two")
    OutboxReader("test", look_back=False).read(archive, Handled())
    later = add(archive, "x.one")
    seen = Handled()
    OutboxReader("test", look_back=False).read(archive, seen)  # another worker, or a restart
    assert seen.ids == later
    other = Handled()
    OutboxReader("other", look_back=False).read(archive, other)  # its own cursor, made at 0
    assert other.ids == first + later


def test_start_at_newest_ignores_history(archive: Archive) -> None:
    add(archive, "x.one", "x.one")
    seen = Handled()
    reader = OutboxReader("new", start_at_newest=True, look_back=True)
    assert reader.read(archive, seen) == 0
    assert seen.ids == [] and cursor(archive, "new") == newest(archive)  # not even recent history
    later = add(archive, "x.one")
    reader.read(archive, seen)
    assert seen.ids == later


def test_cursor_moves_after_each_handled_batch(archive: Archive) -> None:
    ids = add(archive, *["x.one"] * 5)
    failing = Handled(fail_at=ids[3])
    reader = OutboxReader("test", batch=2)
    with pytest.raises(RuntimeError):
        reader.read(archive, failing)
    assert failing.ids == ids[:3]
    assert cursor(archive, "test") == ids[1]  # the second batch was not finished
    seen = Handled()
    assert reader.read(archive, seen) == 3  # at least once: the unfinished batch again
    assert seen.ids == ids[2:]
    assert cursor(archive, "test") == ids[-1]


def test_second_look_hands_out_a_late_lower_id_exactly_once(archive: Archive) -> None:
    base = newest(archive)
    add_late(archive, base + 10)
    reader, seen = OutboxReader("test", types={"x.one"}, look_back=True), Handled()
    reader.read(archive, seen)
    assert seen.ids == [base + 10] and cursor(archive, "test") == base + 10
    add_late(archive, base + 5)  # took its id before base + 10, committed after the cursor moved
    add_late(archive, base + 6, "x.two")  # late too, but not wanted
    add_late(archive, base + 4, age=600)  # late and older than the look-back window
    assert reader.read(archive, seen) == 0  # nothing past the cursor...
    assert seen.ids == [base + 10, base + 5]  # ...but the late one is handled
    reader.read(archive, seen)
    assert seen.ids == [base + 10, base + 5]  # once: the reader remembers it
    assert cursor(archive, "test") == base + 10


def test_second_look_is_for_postgresql_by_default(archive: Archive) -> None:
    base = newest(archive)
    add_late(archive, base + 10)
    reader, seen = OutboxReader("test"), Handled()
    reader.read(archive, seen)
    add_late(archive, base + 5)
    reader.read(archive, seen)
    postgres = archive.engine.dialect.name == "postgresql"
    assert seen.ids == ([base + 10, base + 5] if postgres else [base + 10])


def test_idle_until_something_is_past_the_cursor(archive: Archive) -> None:
    reader = OutboxReader("test")
    with archive.engine.connect() as conn:
        assert reader.idle(conn)  # an empty outbox
    add(archive, "x.one")
    with archive.engine.connect() as conn:
        assert not reader.idle(conn)  # no cursor yet, one event
    reader.read(archive, Handled())
    with archive.engine.connect() as conn:
        # PostgreSQL: a recent event may hide a late commit, so a pass is worth it.
        assert reader.idle(conn) == (archive.engine.dialect.name != "postgresql")
