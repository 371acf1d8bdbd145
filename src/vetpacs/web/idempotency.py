"""Idempotency keys on creates: a PMS that retries a POST with the same ``Idempotency-Key`` gets the
first answer again instead of a second record (the IETF ``Idempotency-Key`` header draft).

Contract (used by ``POST /owners``, ``POST /animals``, ``POST /orders``...)::

    @router.post("", response_model=XRead, status_code=201)
    def create_x(body: XCreate, request: Request, actor: Writer) -> JSONResponse:
        return idempotent(request, actor, body, lambda: (201, svc.create_x(...).model_dump(mode="json")))

- Without the header: ``create()`` runs and its answer is returned.
- With a new key: the key is reserved (one row in ``idempotency_keys`` per user and key), ``create()``
  runs, and its status and body are stored with a hash of the method, path and body.
- The same key again with the same method, path and body: the stored status and body, without
  calling ``create()`` (header ``Idempotency-Replayed: true``).
- The same key with another body (or path): 422 problem+json. While the first request is still
  running: 409. When ``create()`` raises, the reservation is dropped so a retry runs again; a
  reservation left by a process that died is taken over after :data:`STALE`.

Keys are scoped per user and forgotten after :data:`KEEP`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from vetpacs.auth import Actor
from vetpacs.auth.audit import utcnow
from vetpacs.orders.models import IdempotencyKey
from vetpacs.web.deps import archive_of
from vetpacs.web.errors import problem

HEADER = "Idempotency-Key"
MAX_KEY = 128
KEEP = timedelta(hours=24)
STALE = timedelta(minutes=5)  # a reservation this old belongs to a request that died: take it over
IN_FLIGHT = 0  # status_code of a reserved key whose request has not answered yet

KEYS: Table = cast(Table, IdempotencyKey.__table__)


def request_hash(request: Request, payload: BaseModel) -> str:
    """SHA-256 of the method, the path and the canonical JSON of the parsed body."""
    body = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    text = f"{request.method}\n{request.url.path}\n{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replay(request: Request, row: Any, digest: str) -> JSONResponse:
    if row.request_hash != digest:
        return problem(
            422,
            f"{HEADER} {row.key!r} was already used with another request body; use a new key",
            instance=request.url.path,
        )
    if row.status_code == IN_FLIGHT:
        return problem(
            409,
            f"a request with {HEADER} {row.key!r} is still being processed; retry later",
            instance=request.url.path,
        )
    return JSONResponse(
        json.loads(row.response_json),
        status_code=row.status_code,
        headers={"Idempotency-Replayed": "true"},
    )


def idempotent(
    request: Request,
    actor: Actor,
    payload: BaseModel,
    create: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Run ``create`` at most once per ``Idempotency-Key`` (per user); replay its stored answer."""
    key = request.headers.get(HEADER)
    if key is None:
        status, body = create()
        return JSONResponse(body, status_code=status)
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        return problem(400, f"{HEADER} must be 1 to {MAX_KEY} characters", instance=request.url.path)
    archive = archive_of(request)
    digest = request_hash(request, payload)
    username = actor.username[:64]
    mine = (KEYS.c.username == username) & (KEYS.c.key == key)

    with archive.engine.connect() as conn:
        row = conn.execute(select(KEYS).where(mine)).first()
    if row is not None and not (row.status_code == IN_FLIGHT and row.created_at < utcnow() - STALE):
        return _replay(request, row, digest)
    try:
        with archive.write_transaction() as conn:
            conn.execute(delete(KEYS).where(KEYS.c.created_at < utcnow() - KEEP))
            conn.execute(
                delete(KEYS).where(
                    mine, KEYS.c.status_code == IN_FLIGHT, KEYS.c.created_at < utcnow() - STALE
                )
            )
            conn.execute(
                insert(KEYS).values(
                    username=username,
                    key=key,
                    request_hash=digest,
                    status_code=IN_FLIGHT,
                    response_json="{}",
                    created_at=utcnow(),
                )
            )
    except IntegrityError:  # another request with this key got there first
        with archive.engine.connect() as conn:
            row = conn.execute(select(KEYS).where(mine)).first()
        if row is None:  # pragma: no cover - the winner failed and let go of the key meanwhile
            return problem(409, f"{HEADER} {key!r} is busy; retry", instance=request.url.path)
        return _replay(request, row, digest)
    try:
        status, body = create()
    except BaseException:
        with archive.write_transaction() as conn:
            conn.execute(delete(KEYS).where(mine & (KEYS.c.status_code == IN_FLIGHT)))
        raise
    with archive.write_transaction() as conn:
        conn.execute(
            update(KEYS)
            .where(mine)
            .values(status_code=status, response_json=json.dumps(body, separators=(",", ":")))
        )
    return JSONResponse(body, status_code=status)


__all__ = ["HEADER", "idempotent", "request_hash"]
