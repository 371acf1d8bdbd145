"""Every HTTP error as ``application/problem+json`` (RFC 9457): domain errors are translated here, once.

NotFound 404, Invalid 400, Conflict 409, Forbidden 403, StorageFailure 503, AuthenticationFailed 401,
LoginThrottled 429 (with Retry-After); HTTPException keeps its status and headers; request
validation errors answer 422 with the field errors; anything else 500, logged with its traceback,
answered without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetpacs.auth.service import AuthenticationFailed, LoginThrottled
from vetpacs.errors import Conflict, Forbidden, Invalid, NotFound, StorageFailure, VetPACSError

log = logging.getLogger("vetpacs.web")

PROBLEM = "application/problem+json"
REALM = "VetPACS"
# RFC 6750 and RFC 7617 challenges, one header line each.
CHALLENGES = (f'Bearer realm="{REALM}"', f'Basic realm="{REALM}", charset="UTF-8"')

DOMAIN_STATUS: dict[type[VetPACSError], int] = {
    NotFound: 404,
    Invalid: 400,
    Conflict: 409,
    Forbidden: 403,
    StorageFailure: 503,
    AuthenticationFailed: 401,
    LoginThrottled: 429,
}


def problem(
    status: int,
    detail: str = "",
    *,
    instance: str = "",
    title: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response (RFC 9457). A 401 carries the Bearer and Basic challenges."""
    try:
        default_title = HTTPStatus(status).phrase
    except ValueError:
        default_title = "Error"
    body: dict[str, Any] = {
        "type": type_,
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if extra:
        body.update(extra)
    plain = {k: v for k, v in (headers or {}).items() if k.lower() != "www-authenticate"}
    response = JSONResponse(body, status_code=status, headers=plain, media_type=PROBLEM)
    if status == 401:
        given = (headers or {}).get("WWW-Authenticate") or (headers or {}).get("www-authenticate")
        challenges = [given] if given else [CHALLENGES[0]]
        challenges.append(CHALLENGES[1])
        for value in challenges:
            response.raw_headers.append((b"www-authenticate", value.encode("latin-1")))
    return response


def _instance(request: Request) -> str:
    return request.url.path


def domain_status(exc: VetPACSError) -> int:
    """The HTTP status of a domain error."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VetPACSError)
    status = domain_status(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, LoginThrottled):
        headers["Retry-After"] = str(exc.retry_after)
    if status == 500:
        log.error("unmapped domain error on %s %s: %r", request.method, request.url.path, exc)
        return problem(500, "internal error", instance=_instance(request))
    return problem(status, str(exc), instance=_instance(request), headers=headers)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    extra = None if isinstance(exc.detail, str) else {"errors": exc.detail}
    return problem(exc.status_code, detail, instance=_instance(request), headers=exc.headers, extra=extra)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
    return problem(
        422,
        f"invalid request: {fields}" if fields else "invalid request",
        instance=_instance(request),
        extra={"errors": errors},
    )


class CatchAllMiddleware:
    """Any exception no handler took: log the traceback, answer 500 problem+json without it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = problem(500, "internal error", instance=str(scope.get("path", "")))
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers and the catch-all (add CORS after this, outside it)."""
    app.add_exception_handler(VetPACSError, _on_domain_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_middleware(CatchAllMiddleware)
