"""The order lifecycle: allowed status transitions, each recorded, audited and emitted as an event.

IHE Scheduled Workflow (SWF.b) seen from the order: ordered -> scheduled -> arrived -> in_progress
(MPPS IN PROGRESS) -> completed (MPPS COMPLETED) -> images_received -> reported -> billed, with
cancelled and no_show before the procedure starts and discontinued (MPPS DISCONTINUED) during it.
``docs/orders.md`` has the table. These functions take a ``Connection`` and run inside the caller's
transaction (the worklist, MPPS and linking code call them from their own).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, Table, insert, select, update

from vetpacs import events
from vetpacs.auth.audit import record_in, utcnow
from vetpacs.auth.roles import Actor
from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.orders.models import Order, OrderStatus, OrderTransition, ScheduledStep, StepStatus

ORDERS: Table = cast(Table, Order.__table__)
STEPS: Table = cast(Table, ScheduledStep.__table__)
TRANSITIONS: Table = cast(Table, OrderTransition.__table__)

S = OrderStatus

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.ORDERED: frozenset({S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.IMAGES_RECEIVED, S.CANCELLED, S.NO_SHOW}),
    S.SCHEDULED: frozenset({S.ARRIVED, S.IN_PROGRESS, S.IMAGES_RECEIVED, S.CANCELLED, S.NO_SHOW}),
    S.ARRIVED: frozenset({S.IN_PROGRESS, S.IMAGES_RECEIVED, S.CANCELLED, S.NO_SHOW}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.IMAGES_RECEIVED, S.DISCONTINUED}),
    S.COMPLETED: frozenset({S.IMAGES_RECEIVED, S.REPORTED}),
    S.IMAGES_RECEIVED: frozenset({S.REPORTED}),
    S.REPORTED: frozenset({S.BILLED}),
    S.BILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NO_SHOW: frozenset(),
    S.DISCONTINUED: frozenset(),
}
"""Every transition the lifecycle allows (a transition to the current status is a no-op)."""

LATE_NOOP: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.IMAGES_RECEIVED, S.REPORTED, S.BILLED}),
    S.COMPLETED: frozenset({S.IMAGES_RECEIVED, S.REPORTED, S.BILLED}),
}
"""A late MPPS message (IN PROGRESS or COMPLETED arriving after the images, the report or the bill):
a no-op, not an error, when the order is already at one of these statuses."""

REPORT_WITHDRAWN: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.REPORTED: frozenset({S.COMPLETED, S.IMAGES_RECEIVED}),
}
"""The only way back: a reported order whose report is withdrawn (entered in error) returns to the
status it had before it was reported. Not in :data:`ALLOWED`: no other caller may move an order back;
a billed order stays billed."""

OPEN_STEP = frozenset({StepStatus.SCHEDULED.value, StepStatus.ARRIVED.value})
ACTIVE_STEP = frozenset({StepStatus.SCHEDULED.value, StepStatus.ARRIVED.value, StepStatus.IN_PROGRESS.value})
TERMINAL = frozenset({S.CANCELLED, S.NO_SHOW, S.DISCONTINUED, S.BILLED})
INACTIVE_ORDER = frozenset({S.CANCELLED.value, S.NO_SHOW.value, S.DISCONTINUED.value})


def can_advance(from_status: OrderStatus | str, to_status: OrderStatus | str) -> bool:
    """Whether the lifecycle allows ``from_status -> to_status`` (same status included: a no-op)."""
    src, dst = OrderStatus(from_status), OrderStatus(to_status)
    return src == dst or dst in ALLOWED[src] or src in LATE_NOOP.get(dst, frozenset())


def _order_row(conn: Connection, order_id: int, *, lock: bool = True) -> Row[Any]:
    stmt = select(ORDERS).where(ORDERS.c.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"no order with id {order_id}")
    return row


def advance_order(
    conn: Connection,
    order_id: int,
    to_status: OrderStatus,
    *,
    actor: Actor,
    reason: str = "",
    report_withdrawn: bool = False,
) -> None:
    """Move an order to ``to_status`` inside the caller's transaction, or raise Conflict.

    Writes an ``order_transitions`` row, an audit row (``order.status_changed``) and the outbox
    events ``order.status_changed`` (always), ``order.scheduled`` and ``order.cancelled`` (where they
    apply). Moving to the current status, or an MPPS IN PROGRESS/COMPLETED arriving after the order
    went further (see :data:`LATE_NOOP`), writes nothing. Cancelled and no-show also cancel the
    order's open steps (SCHEDULED, ARRIVED) so the worklist stops offering them; arrived marks its
    SCHEDULED steps ARRIVED. Raises NotFound for an unknown order, Conflict for a refused transition.
    ``report_withdrawn`` also allows :data:`REPORT_WITHDRAWN` (only :func:`unreport_order` passes it).
    """
    try:
        target = OrderStatus(to_status)
    except ValueError as exc:
        raise Invalid(f"unknown order status {to_status!r}") from exc
    row = _order_row(conn, order_id)
    current = OrderStatus(row.status)
    if current == target or current in LATE_NOOP.get(target, frozenset()):
        return
    back = REPORT_WITHDRAWN.get(current, frozenset()) if report_withdrawn else frozenset()
    if target not in ALLOWED[current] and target not in back:
        raise Conflict(f"order {row.accession_number} cannot go from {current.value} to {target.value}")
    now = utcnow()
    conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(status=target.value, updated_at=now))
    if target in (S.CANCELLED, S.NO_SHOW):
        conn.execute(
            update(STEPS)
            .where(STEPS.c.order_id == order_id, STEPS.c.status.in_(OPEN_STEP))
            .values(status=StepStatus.CANCELLED.value, updated_at=now)
        )
    elif target == S.ARRIVED:
        conn.execute(
            update(STEPS)
            .where(STEPS.c.order_id == order_id, STEPS.c.status == StepStatus.SCHEDULED.value)
            .values(status=StepStatus.ARRIVED.value, updated_at=now)
        )
    record_transition(conn, order_id, current.value, target.value, actor=actor, reason=reason, at=now)
    payload = {
        "order_id": order_id,
        "accession_number": row.accession_number,
        "animal_id": row.animal_id,
        "study_instance_uid": row.study_instance_uid,
        "from": current.value,
        "to": target.value,
        "reason": reason,
    }
    record_in(
        conn,
        actor,
        "order.status_changed",
        object_type="order",
        object_id=row.accession_number,
        detail={"order_id": order_id, "from": current.value, "to": target.value, "reason": reason},
    )
    events.emit(
        conn,
        "order.status_changed",
        aggregate_type="order",
        aggregate_id=order_id,
        payload=payload,
        actor=actor.username,
    )
    if target == S.SCHEDULED:
        events.emit(
            conn,
            "order.scheduled",
            aggregate_type="order",
            aggregate_id=order_id,
            payload={**payload, "steps": scheduled_steps_payload(conn, order_id)},
            actor=actor.username,
        )
    elif target == S.CANCELLED:
        events.emit(
            conn,
            "order.cancelled",
            aggregate_type="order",
            aggregate_id=order_id,
            payload=payload,
            actor=actor.username,
        )


def unreport_order(conn: Connection, order_id: int, *, actor: Actor, reason: str = "") -> str | None:
    """Move a ``reported`` order back to the status it had before it was reported (its report was
    withdrawn, entered in error), inside the caller's transaction; the new status, or None when the
    order is not ``reported`` (billed, say) or was reported from a status it may not return to.

    The earlier status is the ``from_status`` of its last transition to ``reported``; the move is
    recorded like any transition (``order_transitions``, audit and ``order.status_changed``).
    """
    row = _order_row(conn, order_id)
    if row.status != S.REPORTED.value:
        return None
    before = conn.execute(
        select(TRANSITIONS.c.from_status)
        .where(TRANSITIONS.c.order_id == order_id, TRANSITIONS.c.to_status == S.REPORTED.value)
        .order_by(TRANSITIONS.c.id.desc())
        .limit(1)
    ).scalar()
    if before not in {s.value for s in REPORT_WITHDRAWN[S.REPORTED]}:
        return None
    advance_order(conn, order_id, OrderStatus(before), actor=actor, reason=reason, report_withdrawn=True)
    return str(before)


def record_transition(
    conn: Connection,
    order_id: int,
    from_status: str,
    to_status: str,
    *,
    actor: Actor,
    reason: str = "",
    at: Any = None,
) -> None:
    """Write one ``order_transitions`` row (``from_status`` is empty for the order's creation)."""
    conn.execute(
        insert(TRANSITIONS).values(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            actor=actor.username[:64],
            reason=reason,
            at=at or utcnow(),
        )
    )


def scheduled_steps_payload(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    """The order's booked steps for an event payload (start in local clinic time, ISO 8601)."""
    rows = conn.execute(
        select(
            STEPS.c.id,
            STEPS.c.step_id,
            STEPS.c.station_id,
            STEPS.c.modality,
            STEPS.c.start,
            STEPS.c.duration_minutes,
        )
        .where(STEPS.c.order_id == order_id)
        .order_by(STEPS.c.id)
    ).all()
    return [
        {
            "step_pk": r.id,
            "step_id": r.step_id,
            "station_id": r.station_id,
            "modality": r.modality,
            "start": r.start.isoformat() if r.start else None,
            "duration_minutes": r.duration_minutes,
        }
        for r in rows
    ]


STEP_ALLOWED: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.SCHEDULED: frozenset(
        {
            StepStatus.ARRIVED,
            StepStatus.IN_PROGRESS,
            StepStatus.COMPLETED,
            StepStatus.CANCELLED,
            StepStatus.DISCONTINUED,
        }
    ),
    StepStatus.ARRIVED: frozenset(
        {StepStatus.IN_PROGRESS, StepStatus.COMPLETED, StepStatus.CANCELLED, StepStatus.DISCONTINUED}
    ),
    StepStatus.IN_PROGRESS: frozenset({StepStatus.COMPLETED, StepStatus.DISCONTINUED}),
    StepStatus.COMPLETED: frozenset(),
    StepStatus.DISCONTINUED: frozenset(),
    StepStatus.CANCELLED: frozenset(),
}
"""Scheduled Procedure Step Status (0040,0020) changes; MPPS (PS3.4 F.7) drives the last three."""


def set_step_status(
    conn: Connection, step_pk: int, status: StepStatus, *, actor: Actor, reason: str = ""
) -> None:
    """Set a scheduled step's status inside the caller's transaction (same status: no-op).

    Allowed: SCHEDULED -> ARRIVED -> IN PROGRESS -> COMPLETED or DISCONTINUED (steps may be skipped
    forward), CANCELLED before IN PROGRESS. Writes an audit row ``step.status_changed`` and the event
    ``step.status_changed``; the order's own status is moved with :func:`advance_order`. Raises
    NotFound for an unknown step, Conflict for a refused change.
    """
    try:
        target = StepStatus(status)
    except ValueError as exc:
        raise Invalid(f"unknown step status {status!r}") from exc
    row = conn.execute(select(STEPS).where(STEPS.c.id == step_pk).with_for_update()).first()
    if row is None:
        raise NotFound(f"no scheduled step with id {step_pk}")
    current = StepStatus(row.status)
    if current == target:
        return
    if target not in STEP_ALLOWED[current]:
        raise Conflict(f"step {row.step_id} cannot go from {current.value} to {target.value}")
    conn.execute(update(STEPS).where(STEPS.c.id == step_pk).values(status=target.value, updated_at=utcnow()))
    detail = {
        "step_pk": step_pk,
        "order_id": row.order_id,
        "from": current.value,
        "to": target.value,
        "reason": reason,
    }
    record_in(conn, actor, "step.status_changed", object_type="step", object_id=row.step_id, detail=detail)
    events.emit(
        conn,
        "step.status_changed",
        aggregate_type="order",
        aggregate_id=row.order_id,
        payload={**detail, "step_id": row.step_id},
        actor=actor.username,
    )
