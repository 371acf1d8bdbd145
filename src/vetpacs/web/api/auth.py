"""``/api/v1/auth``: log in (session cookie), log out, who am I, change my password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from vetpacs.auth import ROLE_PERMISSIONS, Actor
from vetpacs.auth.schemas import LoginRequest, PasswordChange, UserRead
from vetpacs.auth.service import (
    authenticate_password,
    change_own_password,
    create_session,
    end_session,
    get_user,
)
from vetpacs.web.deps import (
    SESSION_COOKIE,
    archive_of,
    authenticated,
    client_address,
    login_policy,
    session_policy,
    settings_of,
)

router = APIRouter(prefix="/auth", tags=["auth"])
Current = Annotated[Actor, Depends(authenticated)]


class Me(UserRead):
    """The signed-in user, how they signed in and what they may do."""

    via: str
    permissions: list[str]


@router.post("/login", response_model=UserRead)
def login(body: LoginRequest, request: Request, response: Response) -> UserRead:
    """Check a username and password and open a browser session (HttpOnly cookie).

    Throttled: after ``login_max_failures`` failures for a username or from an address within
    ``login_lockout_minutes``, answers 429 with Retry-After. No authentication needed (the only
    such route besides ``/health``).
    """
    archive = archive_of(request)
    actor = authenticate_password(
        archive,
        body.username,
        body.password,
        address=client_address(request),
        via="session",
        policy=login_policy(request),
    )
    policy = session_policy(request)
    secret = create_session(archive, actor=actor, policy=policy)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(policy.max_age.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings_of(request).tls_enabled,
    )
    return get_user(archive, actor.username)


@router.post("/logout", status_code=204)
def logout(request: Request, actor: Current) -> Response:
    """End the browser session (a bearer token stays valid; revoke it instead)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and actor.via == "session":
        end_session(archive_of(request), secret, actor=actor)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me", response_model=Me)
def me(request: Request, actor: Current) -> Me:
    """The signed-in user, their role and permissions."""
    user = get_user(archive_of(request), actor.username)
    return Me(
        **user.model_dump(),
        via=actor.via,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[actor.role]),
    )


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, request: Request, actor: Current) -> Response:
    """Change my own password (the current one is checked); my sessions end."""
    change_own_password(
        archive_of(request),
        body.current_password,
        body.new_password,
        actor=actor,
        policy=login_policy(request),
    )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
