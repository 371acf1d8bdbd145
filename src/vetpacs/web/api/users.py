"""``/api/v1/users``: list, create, disable and enable users, reset passwords; issue, list, revoke tokens.

Every route needs ``users:manage``. Writes go through ``vetpacs.auth.service`` (each with its audit
row in the same transaction).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from vetpacs.auth import Actor, Permission
from vetpacs.auth import service as svc
from vetpacs.auth.schemas import (
    PasswordSet,
    TokenCreate,
    TokenIssued,
    TokenRead,
    UserCreate,
    UserCreated,
    UserRead,
)
from vetpacs.web.deps import archive_of, require

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[Actor, Depends(require(Permission.USERS_MANAGE))]


class PasswordResult(BaseModel):
    """The generated password (shown once), or null when one was given."""

    password: str | None = None


@router.get("", response_model=list[UserRead])
def list_users(request: Request, actor: Admin) -> list[UserRead]:
    """Every user, by username."""
    return svc.list_users(archive_of(request))


@router.post("", response_model=UserCreated, status_code=201)
def create_user(body: UserCreate, request: Request, actor: Admin) -> UserCreated:
    """Create a user; without a password one is generated and returned once."""
    password = body.password or svc.generate_password()
    user = svc.create_user(
        archive_of(request),
        username=body.username,
        role=body.role,
        password=password,
        display_name=body.display_name,
        actor=actor,
    )
    return UserCreated(**user.model_dump(), password=None if body.password else password)


@router.get("/{username}", response_model=UserRead)
def get_user(username: str, request: Request, actor: Admin) -> UserRead:
    """One user."""
    return svc.get_user(archive_of(request), username)


@router.post("/{username}/disable", response_model=UserRead)
def disable_user(username: str, request: Request, actor: Admin) -> UserRead:
    """Disable a user: their sessions end, their tokens and password stop working."""
    return svc.disable_user(archive_of(request), username, actor=actor)


@router.post("/{username}/enable", response_model=UserRead)
def enable_user(username: str, request: Request, actor: Admin) -> UserRead:
    """Enable a disabled user again."""
    return svc.disable_user(archive_of(request), username, actor=actor, disabled=False)


@router.post("/{username}/password", response_model=PasswordResult)
def reset_password(username: str, body: PasswordSet, request: Request, actor: Admin) -> PasswordResult:
    """Set a user's password (generated and returned once when not given); their sessions end."""
    password = body.password or svc.generate_password()
    svc.set_password(archive_of(request), username, password, actor=actor)
    return PasswordResult(password=None if body.password else password)


@router.get("/{username}/tokens", response_model=list[TokenRead])
def list_tokens(username: str, request: Request, actor: Admin) -> list[TokenRead]:
    """A user's API tokens (metadata only; revoked ones too), newest first."""
    return svc.list_tokens(archive_of(request), username)


@router.post("/{username}/tokens", response_model=TokenIssued, status_code=201)
def issue_token(username: str, body: TokenCreate, request: Request, actor: Admin) -> TokenIssued:
    """Issue an API token for a user; ``token`` in the answer is the secret, shown this once."""
    return svc.issue_token(
        archive_of(request), username, name=body.name, expires_days=body.expires_days, actor=actor
    )


@router.delete("/{username}/tokens/{token_id}", status_code=204)
def revoke_token(username: str, token_id: int, request: Request, actor: Admin) -> Response:
    """Revoke a token at once (it is kept, marked revoked)."""
    svc.revoke_token(archive_of(request), token_id, actor=actor, username=username)
    return Response(status_code=204)
