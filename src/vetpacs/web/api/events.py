"""``/api/v1/events``: the outbox as Server-Sent Events, so clinic screens refresh when something changes.

Each event is ``id: <outbox id>``, ``event: <type>`` and ``data: {"id", "type", "aggregate_type",
"aggregate_id", "at"}``: no payload, so no patient data goes down the stream; a screen refetches
what it shows. The cursor is the ``Last-Event-ID`` header (a browser's ``EventSource`` sends it when
it reconnects), else ``?after=<id>``, else the newest event now (only new events). The outbox is
polled every :data:`POLL_SECONDS`; a ``: keep-alive`` comment goes out every :data:`KEEPALIVE_SECONDS`.
A stream ends when the client goes away and when the server shuts down (:func:`stop_streams`, called
by ``vetpacs serve`` on SIGTERM, so open streams never hold the shutdown). Needs ``orders:read``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from vetpacs.auth import Actor, Permission
from vetpacs.events import BATCH, events_after, newest_event_id
from vetpacs.web.deps import archive_of, audit, client_address, require

router = APIRouter(tags=["events"])
Reader = Annotated[Actor, Depends(require(Permission.ORDERS_READ))]

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
LATE_WINDOW = 200  # ids below the cursor re-read: PostgreSQL may commit a lower id after a higher one


def _stop_event(app: Any) -> threading.Event:
    event = getattr(app.state, "event_streams_stop", None)
    if event is None:
        event = threading.Event()
        app.state.event_streams_stop = event
    return event


def stop_streams(app: FastAPI) -> None:
    """End every open event stream of ``app`` (the server is shutting down)."""
    _stop_event(app).set()


def sse(event: dict[str, Any]) -> str:
    """One event in the text/event-stream format (HTML Living Standard, 9.2 Server-sent events)."""
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def _cursor(after: int | None, last_event_id: str | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        try:
            value = int(last_event_id.strip())
            if value < 0:
                raise ValueError(value)
            return value
        except ValueError:
            raise RequestValidationError(
                [
                    {
                        "type": "int_parsing",
                        "loc": ("header", "Last-Event-ID"),
                        "msg": "Last-Event-ID must be an event id (a non-negative integer)",
                        "input": last_event_id,
                    }
                ]
            ) from None
    return after


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An endless event stream."}},
)
async def stream_events(
    request: Request,
    actor: Reader,
    after: Annotated[int | None, Query(ge=0, description="Send events after this outbox id.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-Sent Events of domain events (order status changes, bookings, images received, links...)."""
    engine = archive_of(request).engine
    cursor = _cursor(after, last_event_id)
    if cursor is None:
        cursor = await anyio.to_thread.run_sync(newest_event_id, engine)
    stop = _stop_event(request.app)
    audit(request).record(
        actor,
        "events.subscribed",
        object_type="events",
        detail={"after": cursor},
        address=client_address(request),
    )

    async def stream(start: int) -> AsyncIterator[str]:
        sent: deque[int] = deque(maxlen=LATE_WINDOW * 4)  # recently sent ids, to send each once
        sent_set: set[int] = set()
        cursor = start
        yield f"retry: 2000\n: connected, after {start}\n\n"
        last_sent = time.monotonic()
        while not stop.is_set():
            if await request.is_disconnected():
                return
            low = max(start, cursor - LATE_WINDOW)
            found = await anyio.to_thread.run_sync(events_after, engine, low)
            out = []
            for event in found:
                if event["id"] in sent_set:
                    continue
                if len(sent) == sent.maxlen:
                    sent_set.discard(sent[0])
                sent.append(event["id"])
                sent_set.add(event["id"])
                cursor = max(cursor, event["id"])
                out.append(sse(event))
            if out:
                yield "".join(out)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            if len(found) < BATCH:
                with anyio.move_on_after(POLL_SECONDS):
                    while not stop.is_set():
                        await anyio.sleep(0.1)

    return StreamingResponse(
        stream(cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
