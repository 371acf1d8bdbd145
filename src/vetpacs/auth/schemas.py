"""What the auth services take and return (also the REST API's request and response bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vetpacs.auth.roles import Role


class UserCreate(BaseModel):
    """A new user. Without a password, one is generated and returned once."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Role
    display_name: str = Field("", max_length=128)
    password: str | None = Field(None, min_length=8, max_length=1024)


class UserRead(BaseModel):
    """A user as the API shows it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None = None


class UserCreated(UserRead):
    """The created user, with the generated password when none was given (shown once)."""

    password: str | None = None


class PasswordSet(BaseModel):
    """A new password for a user (admin reset). Empty: generate one and return it once."""

    password: str | None = Field(None, min_length=8, max_length=1024)


class PasswordChange(BaseModel):
    """A user changing their own password."""

    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class LoginRequest(BaseModel):
    """Username and password for a browser session."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenCreate(BaseModel):
    """A new API token for a user."""

    name: str = Field("", max_length=64)
    expires_days: int | None = Field(None, ge=1, le=3650)


class TokenRead(BaseModel):
    """An API token's metadata (the secret itself is shown only when issued)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenIssued(TokenRead):
    """A freshly issued token: ``token`` is the secret, shown this once."""

    token: str


class AuditRead(BaseModel):
    """One audit row."""

    id: int
    time: datetime
    actor: str
    user_id: int | None
    role: str
    via: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    address: str
    detail: dict[str, Any] | None = None
