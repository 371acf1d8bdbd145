"""FastAPI dependencies shared by every router: who is calling, may they, and the audit log.

Contract used by the routers (``web/dicomweb``, ``web/api``):

- ``require(permission)`` returns a dependency that authenticates the request (session cookie,
  bearer API token or HTTP Basic) and answers 401 (not authenticated, with ``WWW-Authenticate``)
  or 403 (not permitted) as problem+json; otherwise it returns the :class:`~vetpacs.auth.Actor`.
- ``authenticated`` is the same without a permission check (any signed-in user).
- ``audit(request)`` returns the application's :class:`~vetpacs.auth.audit.AuditLog`;
  ``.record(actor, action, ...)`` adds one row without blocking the request.

The hot path (a viewer fetching hundreds of frames) costs a dictionary lookup: a verified bearer
token or session is cached for a few seconds, a verified Basic username and password for a minute
(keyed by a keyed SHA-256 of the credentials, never the password itself). Only a cache miss reaches
the database (and, for passwords, argon2), in the thread pool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor, Permission, Role
from vetpacs.auth.audit import AuditLog
from vetpacs.auth.service import (
    AuthenticationFailed,
    LoginPolicy,
    SessionPolicy,
    authenticate_password,
    authenticate_session,
    authenticate_token,
    credential_cache,
    sha256_hex,
)
from vetpacs.config import Settings
from vetpacs.web.errors import REALM

SESSION_COOKIE = "vetpacs_session"
TOKEN_TTL = 5.0  # seconds a verified bearer token or session is trusted without a lookup
BASIC_TTL = 60.0  # seconds a verified Basic username:password is trusted without argon2
ANONYMOUS = Actor(username="anonymous", role=Role.EXTERNAL_READER, via="anonymous")

_CACHE_KEY = secrets.token_bytes(32)  # per process: cache keys reveal nothing about passwords


def _basic_key(username: str, password: str) -> str:
    message = f"{username}\0{password}".encode()
    return "b:" + hmac.new(_CACHE_KEY, message, hashlib.sha256).hexdigest()


def client_address(request: Request) -> str:
    """The client's IP address (uvicorn applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else ""


def archive_of(request: Request) -> Archive:
    """The Archive the application serves."""
    archive: Archive = request.app.state.archive
    return archive


def settings_of(request: Request) -> Settings:
    """The application's Settings."""
    settings: Settings = request.app.state.settings
    return settings


def audit(request: Request) -> AuditLog:
    """The application's buffered audit log (``.record(...)`` queues a row)."""
    log: AuditLog = request.app.state.audit
    return log


def login_policy(request: Request) -> LoginPolicy:
    """Login throttling as configured."""
    s = settings_of(request)
    return LoginPolicy(max_failures=s.login_max_failures, window=timedelta(minutes=s.login_lockout_minutes))


def session_policy(request: Request) -> SessionPolicy:
    """Session lifetimes as configured."""
    s = settings_of(request)
    return SessionPolicy(
        idle=timedelta(minutes=s.session_idle_minutes), max_age=timedelta(hours=s.session_max_hours)
    )


def _denied(
    request: Request, reason: str, *, actor: Actor = ANONYMOUS, challenge: str = "", **detail: Any
) -> HTTPException:
    """Audit an ``access.denied`` and build the 401 to raise."""
    audit(request).record(
        actor,
        "access.denied",
        object_type="route",
        object_id=f"{request.method} {request.url.path}",
        outcome="failure",
        detail={"reason": reason, "status": 401, **detail},
        address=client_address(request),
    )
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    if reason in ("invalid session", "session expired"):
        headers["Set-Cookie"] = f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    return HTTPException(status_code=401, detail=reason, headers=headers or None)


async def _from_token(request: Request, token: str) -> Actor:
    archive = archive_of(request)
    cache = credential_cache(archive)
    key = "t:" + sha256_hex(token)
    actor = cache.get(key)
    if actor is None:
        try:
            actor = await run_in_threadpool(authenticate_token, archive, token)
        except AuthenticationFailed as exc:
            raise _denied(
                request,
                str(exc),
                challenge=f'Bearer realm="{REALM}", error="invalid_token"',
                credentials="token",
            ) from exc
        cache.put(key, actor, TOKEN_TTL)
    return actor


async def _from_basic(request: Request, encoded: str) -> Actor:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        username, sep, password = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        username, sep, password = "", "", ""
    if not sep or not username:
        raise _denied(request, "malformed Basic credentials", credentials="basic")
    archive = archive_of(request)
    cache = credential_cache(archive)
    key = _basic_key(username, password)
    actor = cache.get(key)
    if actor is None:
        # Wrong passwords and throttling are audited by authenticate_password (login.failed,
        # login.throttled); LoginThrottled becomes 429 with Retry-After in web/errors.py.
        try:
            actor = await run_in_threadpool(
                lambda: authenticate_password(
                    archive,
                    username,
                    password,
                    address=client_address(request),
                    via="basic",
                    policy=login_policy(request),
                )
            )
        except AuthenticationFailed as exc:
            raise HTTPException(status_code=401, detail=str(exc)) from exc
        cache.put(key, actor, BASIC_TTL)
    return actor


async def _from_session(request: Request, secret: str) -> Actor:
    archive = archive_of(request)
    cache = credential_cache(archive)
    key = "s:" + sha256_hex(secret)
    actor = cache.get(key)
    if actor is None:
        policy = session_policy(request)
        try:
            actor = await run_in_threadpool(lambda: authenticate_session(archive, secret, policy=policy))
        except AuthenticationFailed as exc:
            raise _denied(request, str(exc), credentials="session") from exc
        cache.put(key, actor, TOKEN_TTL)
    return actor


async def authenticate(request: Request) -> Actor:
    """The caller, from the Authorization header (Bearer, Basic) or the session cookie; else 401."""
    cached: Actor | None = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and credentials.strip():
            actor = await _from_token(request, credentials.strip())
        elif scheme == "basic":
            actor = await _from_basic(request, credentials)
        else:
            raise _denied(request, "unsupported authorization scheme", scheme=scheme[:20])
    else:
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise _denied(request, "authentication required")
        actor = await _from_session(request, secret)
    actor = replace(actor, address=client_address(request))
    request.state.actor = actor
    return actor


async def authenticated(request: Request) -> Actor:
    """A dependency: the authenticated actor, whatever their role."""
    return await authenticate(request)


def require(permission: Permission) -> Callable[[Request], Awaitable[Actor]]:
    """A dependency: the authenticated actor, who must hold ``permission`` (else 401 or 403)."""

    async def dependency(request: Request) -> Actor:
        actor = await authenticate(request)
        if not actor.can(permission):
            audit(request).record(
                actor,
                "access.denied",
                object_type="route",
                object_id=f"{request.method} {request.url.path}",
                outcome="denied",
                detail={"reason": "permission", "permission": permission.value, "status": 403},
            )
            raise HTTPException(
                status_code=403, detail=f"role {actor.role.value} lacks permission {permission.value}"
            )
        return actor

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency
