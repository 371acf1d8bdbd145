"""Webhook transport: POSTs one event as signed JSON to a partner URL (HMAC-SHA256, see docs).

The body is ``{"id", "type", "occurred_at", "aggregate": {"type", "id"}, "data"}``; the headers are
``X-VetPACS-Event`` (the type), ``X-VetPACS-Delivery`` (the delivery id, stable across retries),
``X-VetPACS-Timestamp`` (Unix seconds of this attempt) and ``X-VetPACS-Signature``:
``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A 2xx answer means delivered; any other
answer, a timeout or a connection error means: try again later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC
from typing import Any

import httpx

from vetpacs.integration.dispatcher import DeliveryJob, EventRecord, Outcome

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE = 300  # seconds a receiver should accept a timestamp off from its clock


def webhook_body(event: EventRecord) -> bytes:
    """The JSON body for one event (compact, UTF-8; the bytes that are signed)."""
    occurred = event.created_at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    document: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "occurred_at": occurred,
        "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
        "data": event.payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-VetPACS-Signature`` value: ``sha256=`` and the hex HMAC of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a received signature is ours and the timestamp recent (what a receiver should do)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_request(job: DeliveryJob, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt at one delivery."""
    body = webhook_body(job.event)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "VetPACS-Webhooks/1",
        "X-VetPACS-Event": job.event.type,
        "X-VetPACS-Delivery": str(job.delivery_id),
        "X-VetPACS-Timestamp": stamp,
        "X-VetPACS-Signature": sign(job.partner.secret, stamp, body),
    }
    return body, headers


class WebhookTransport:
    """Sends deliveries of ``webhook`` partners over HTTP(S) with httpx (one pooled client)."""

    kind = "webhook"

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def handles(self, event_type: str) -> bool:
        """Every event type can go out as a webhook."""
        return True

    def send(self, job: DeliveryJob) -> Outcome:
        """POST the event; a 2xx answer is delivered, anything else is retried later."""
        body, headers = webhook_request(job)
        try:
            response = self.client.post(job.partner.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome(False, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return Outcome(True, status_code=response.status_code)
        return Outcome(
            False,
            status_code=response.status_code,
            error=f"HTTP {response.status_code}: {response.text[:200]}",
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
