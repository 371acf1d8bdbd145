"""Users, API tokens, browser sessions and password checks with login throttling.

Every write takes a keyword-only ``actor`` and writes its audit row in the same transaction.
Passwords are hashed with argon2id (slow on purpose); API tokens and session ids are random 32-byte
secrets, so a SHA-256 of them is enough and cheap to check on every request. Verified credentials
are cached for a few seconds per process (:class:`CredentialCache`); changes made through these
functions clear that cache, changes made by another process are seen after at most the cache's
time to live.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Row, Table, delete, func, insert, select, update

from vetpacs.auth.audit import Database, record_in, utcnow
from vetpacs.auth.models import ApiToken, LoginFailure, User, UserSession
from vetpacs.auth.roles import Actor, Role
from vetpacs.auth.schemas import TokenIssued, TokenRead, UserRead
from vetpacs.errors import Conflict, Invalid, NotFound, VetPACSError

USERS: Table = cast(Table, User.__table__)
TOKENS: Table = cast(Table, ApiToken.__table__)
SESSIONS: Table = cast(Table, UserSession.__table__)
FAILURES: Table = cast(Table, LoginFailure.__table__)

TOKEN_PREFIX = "vp_"
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 8
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at / last_seen_at are updated at most this often

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases cost one argon2 verify.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthenticationFailed(VetPACSError):
    """The credentials are wrong, unknown, expired, revoked, or belong to a disabled user."""


class LoginThrottled(VetPACSError):
    """Too many failed logins for this username or from this address; try again later."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginPolicy:
    """Login throttling: ``max_failures`` within ``window`` lock a username or an address."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a browser session lives: idle timeout and absolute lifetime."""

    idle: timedelta = timedelta(minutes=60)
    max_age: timedelta = timedelta(hours=12)


# --------------------------------------------------------------------------- helpers
def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a text (how tokens and session ids are stored and cached)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def generate_password() -> str:
    """A random password (16 URL-safe characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password needs at least {MIN_PASSWORD} characters")


def _user_read(row: Row[Any]) -> UserRead:
    return UserRead(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        disabled=row.disabled,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _token_read(row: Row[Any], username: str) -> TokenRead:
    return TokenRead(
        id=row.id,
        username=username,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _user_row(conn: Connection, username: str) -> Row[Any]:
    row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named {username!r}")
    return row


def _actor_for(row: Row[Any], via: str, address: str = "") -> Actor:
    return Actor(username=row.username, role=Role(row.role), user_id=row.id, address=address, via=via)


# --------------------------------------------------------------------------- cache
class CredentialCache:
    """Recently verified credentials (keyed by a SHA-256) -> Actor, each with its own expiry."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._items: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> Actor | None:
        """The cached actor, or None when absent or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            with self._lock:
                self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, actor: Actor, ttl: float) -> None:
        """Remember ``actor`` for ``ttl`` seconds."""
        now = time.monotonic()
        with self._lock:
            if len(self._items) >= self.max_entries:
                self._items = {k: v for k, v in self._items.items() if v[0] >= now}
                if len(self._items) >= self.max_entries:
                    self._items.clear()
            self._items[key] = (now + ttl, actor)

    def clear(self) -> None:
        """Forget everything (after a user, password, token or session change)."""
        with self._lock:
            self._items.clear()


_caches: dict[str, CredentialCache] = {}
_caches_lock = threading.Lock()


def credential_cache(db: Database) -> CredentialCache:
    """This process's credential cache for ``db`` (one per database URL)."""
    key = db.engine.url.render_as_string(hide_password=True)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = CredentialCache()
        return cache


# --------------------------------------------------------------------------- users
def create_user(
    db: Database,
    *,
    username: str,
    role: Role,
    password: str,
    display_name: str = "",
    actor: Actor,
) -> UserRead:
    """Create a user with an argon2-hashed password (audit: ``user.created``)."""
    if not USERNAME_RE.match(username):
        raise Invalid(f"invalid username {username!r} (1 to 64 of A-Z a-z 0-9 . _ @ -)")
    _check_password(password)
    password_hash = hash_password(password)
    now = utcnow()
    with db.write_transaction() as conn:
        if conn.execute(select(USERS.c.id).where(USERS.c.username == username)).first() is not None:
            raise Conflict(f"a user named {username!r} already exists")
        conn.execute(
            insert(USERS).values(
                username=username,
                display_name=display_name,
                role=Role(role).value,
                password_hash=password_hash,
                disabled=False,
                created_at=now,
                password_changed_at=now,
            )
        )
        row = _user_row(conn, username)
        record_in(
            conn,
            actor,
            "user.created",
            object_type="user",
            object_id=username,
            detail={"role": Role(role).value},
        )
    return _user_read(row)


def list_users(db: Database) -> list[UserRead]:
    """Every user, by username."""
    with db.engine.connect() as conn:
        return [_user_read(r) for r in conn.execute(select(USERS).order_by(USERS.c.username))]


def get_user(db: Database, username: str) -> UserRead:
    """One user by username."""
    with db.engine.connect() as conn:
        return _user_read(_user_row(conn, username))


def disable_user(db: Database, username: str, *, actor: Actor, disabled: bool = True) -> UserRead:
    """Disable (or re-enable) a user; disabling ends their sessions (audit: ``user.disabled``)."""
    if disabled and actor.username == username and actor.user_id is not None:
        raise Invalid("you cannot disable yourself")
    with db.write_transaction() as conn:
        row = _user_row(conn, username)
        conn.execute(update(USERS).where(USERS.c.id == row.id).values(disabled=disabled))
        if disabled:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.user_id == row.id))
        record_in(
            conn,
            actor,
            "user.disabled" if disabled else "user.enabled",
            object_type="user",
            object_id=username,
        )
        row = _user_row(conn, username)
    credential_cache(db).clear()
    return _user_read(row)


def set_password(db: Database, username: str, password: str, *, actor: Actor) -> None:
    """Set a user's password and end their sessions (audit: ``user.password_set``)."""
    _check_password(password)
    password_hash = hash_password(password)
    with db.write_transaction() as conn:
        row = _user_row(conn, username)
        conn.execute(
            update(USERS)
            .where(USERS.c.id == row.id)
            .values(password_hash=password_hash, password_changed_at=utcnow())
        )
        conn.execute(delete(SESSIONS).where(SESSIONS.c.user_id == row.id))
        # An admin reset also clears the lockout of that username.
        conn.execute(delete(FAILURES).where(FAILURES.c.username == username))
        record_in(conn, actor, "user.password_set", object_type="user", object_id=username)
    credential_cache(db).clear()


def admin_exists(db: Database) -> bool:
    """Whether an enabled user with the admin role exists."""
    with db.engine.connect() as conn:
        stmt = select(USERS.c.id).where(USERS.c.role == Role.ADMIN.value, USERS.c.disabled.is_(False))
        return conn.execute(stmt.limit(1)).first() is not None


# --------------------------------------------------------------------------- tokens
def issue_token(
    db: Database,
    username: str,
    *,
    name: str = "",
    expires_days: int | None = None,
    actor: Actor,
) -> TokenIssued:
    """A new API token for ``username``; the secret is returned once (audit: ``token.issued``)."""
    if expires_days is not None and expires_days < 1:
        raise Invalid("expires_days must be at least 1")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    with db.write_transaction() as conn:
        user = _user_row(conn, username)
        result = conn.execute(
            insert(TOKENS).values(
                user_id=user.id,
                name=name[:64],
                token_hash=sha256_hex(secret),
                prefix=secret[:10],
                created_at=now,
                expires_at=expires_at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        token_id = int(key[0])
        row = conn.execute(select(TOKENS).where(TOKENS.c.id == token_id)).one()
        record_in(
            conn,
            actor,
            "token.issued",
            object_type="token",
            object_id=str(token_id),
            detail={"user": username, "name": name, "expires_at": expires_at},
        )
    read = _token_read(row, username)
    return TokenIssued(**read.model_dump(), token=secret)


def list_tokens(db: Database, username: str) -> list[TokenRead]:
    """A user's tokens (revoked ones too), newest first."""
    with db.engine.connect() as conn:
        user = _user_row(conn, username)
        rows = conn.execute(
            select(TOKENS).where(TOKENS.c.user_id == user.id).order_by(TOKENS.c.id.desc())
        ).all()
    return [_token_read(r, username) for r in rows]


def revoke_token(db: Database, token_id: int, *, actor: Actor, username: str | None = None) -> TokenRead:
    """Revoke a token (kept, marked revoked). With ``username``, it must be theirs."""
    with db.write_transaction() as conn:
        row = conn.execute(
            select(TOKENS, USERS.c.username)
            .join(USERS, USERS.c.id == TOKENS.c.user_id)
            .where(TOKENS.c.id == token_id)
        ).first()
        if row is None or (username is not None and row.username != username):
            raise NotFound(f"no token {token_id}" + (f" of user {username!r}" if username else ""))
        if row.revoked_at is None:
            conn.execute(update(TOKENS).where(TOKENS.c.id == token_id).values(revoked_at=utcnow()))
        record_in(
            conn,
            actor,
            "token.revoked",
            object_type="token",
            object_id=str(token_id),
            detail={"user": row.username, "name": row.name},
        )
        row = conn.execute(
            select(TOKENS, USERS.c.username)
            .join(USERS, USERS.c.id == TOKENS.c.user_id)
            .where(TOKENS.c.id == token_id)
        ).one()
    credential_cache(db).clear()
    return _token_read(row, row.username)


def authenticate_token(db: Database, token: str) -> Actor:
    """The actor an API token stands for; AuthenticationFailed when unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthenticationFailed("invalid token")
    digest = sha256_hex(token)
    now = utcnow()
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                TOKENS.c.id,
                TOKENS.c.revoked_at,
                TOKENS.c.expires_at,
                TOKENS.c.last_used_at,
                USERS.c.id.label("user_id"),
                USERS.c.username,
                USERS.c.role,
                USERS.c.disabled,
            )
            .join(USERS, USERS.c.id == TOKENS.c.user_id)
            .where(TOKENS.c.token_hash == digest)
        ).first()
    if row is None:
        raise AuthenticationFailed("invalid token")
    if row.revoked_at is not None:
        raise AuthenticationFailed("token revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationFailed("token expired")
    if row.disabled:
        raise AuthenticationFailed("user disabled")
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        with db.write_transaction() as conn:
            conn.execute(update(TOKENS).where(TOKENS.c.id == row.id).values(last_used_at=now))
    return Actor(username=row.username, role=Role(row.role), user_id=row.user_id, via="token")


# --------------------------------------------------------------------------- passwords
def _locked_for(conn: Connection, column: Any, value: str, policy: LoginPolicy, now: datetime) -> int:
    """Seconds ``value`` stays locked (0: not locked)."""
    if not value or policy.max_failures <= 0:
        return 0
    times = conn.execute(
        select(FAILURES.c.at)
        .where(column == value, FAILURES.c.at > now - policy.window)
        .order_by(FAILURES.c.at.desc())
        .limit(policy.max_failures)
    ).scalars()
    recent = list(times)
    if len(recent) < policy.max_failures:
        return 0
    return max(1, int((recent[-1] + policy.window - now).total_seconds()) + 1)


def check_throttle(db: Database, username: str, address: str, policy: LoginPolicy) -> int:
    """Seconds until a login for ``username`` from ``address`` may be tried again (0: now)."""
    now = utcnow()
    with db.engine.connect() as conn:
        return max(
            _locked_for(conn, FAILURES.c.username, username[:64], policy, now),
            _locked_for(conn, FAILURES.c.address, address[:64], policy, now),
        )


def authenticate_password(
    db: Database,
    username: str,
    password: str,
    *,
    address: str = "",
    via: str = "session",
    policy: LoginPolicy | None = None,
) -> Actor:
    """Check a username and password (argon2), with throttling; audits ``login`` or ``login.failed``.

    Raises LoginThrottled (audited as ``login.throttled``) without checking the password when the
    username or the address has ``policy.max_failures`` failures within ``policy.window``.
    Raises AuthenticationFailed for a wrong password, an unknown or a disabled user.
    """
    policy = policy or LoginPolicy()
    claimed = Actor(username=username[:64] or "-", role=Role.EXTERNAL_READER, address=address, via=via)
    wait = check_throttle(db, username, address, policy)
    if wait:
        with db.write_transaction() as conn:
            record_in(
                conn,
                claimed,
                "login.throttled",
                object_type="user",
                object_id=username[:64],
                outcome="denied",
                detail={"retry_after": wait},
            )
        raise LoginThrottled(f"too many failed logins; try again in {wait} s", wait)

    with db.engine.connect() as conn:
        row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
    reason = ""
    needs_rehash = False
    try:
        _hasher.verify(row.password_hash if row is not None and row.password_hash else _DUMMY_HASH, password)
        if row is None:
            reason = "unknown user"
        else:
            needs_rehash = _hasher.check_needs_rehash(row.password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        reason = "unknown user" if row is None else "wrong password"
    if not reason and row is not None and row.disabled:
        reason = "user disabled"

    now = utcnow()
    with db.write_transaction() as conn:
        if reason:
            conn.execute(insert(FAILURES).values(username=username[:64], address=address[:64], at=now))
            actor = claimed if row is None else _actor_for(row, via, address)
            record_in(
                conn,
                actor,
                "login.failed",
                object_type="user",
                object_id=username[:64],
                outcome="failure",
                detail={"reason": reason},
            )
        else:
            assert row is not None
            values: dict[str, Any] = {"last_login_at": now}
            if needs_rehash:
                values["password_hash"] = hash_password(password)
            conn.execute(update(USERS).where(USERS.c.id == row.id).values(**values))
            conn.execute(delete(FAILURES).where(FAILURES.c.username == username))
            actor = _actor_for(row, via, address)
            record_in(conn, actor, "login", object_type="user", object_id=username)
    if reason:
        raise AuthenticationFailed("wrong username or password")
    return actor


def change_own_password(
    db: Database, current: str, new: str, *, actor: Actor, policy: LoginPolicy | None = None
) -> None:
    """A user changes their own password (the current one is checked, with throttling)."""
    _check_password(new)
    authenticate_password(db, actor.username, current, address=actor.address, via=actor.via, policy=policy)
    set_password(db, actor.username, new, actor=actor)


# --------------------------------------------------------------------------- sessions
def create_session(db: Database, *, actor: Actor, policy: SessionPolicy | None = None) -> str:
    """Start a browser session for an authenticated actor; returns the secret cookie value."""
    if actor.user_id is None:
        raise Invalid("only a user can have a session")
    policy = policy or SessionPolicy()
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write_transaction() as conn:
        # Expired sessions are swept here, so the table never grows without bound.
        conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= now))
        conn.execute(
            insert(SESSIONS).values(
                session_hash=sha256_hex(secret),
                user_id=actor.user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + policy.max_age,
                address=actor.address[:64],
            )
        )
    return secret


def authenticate_session(db: Database, secret: str, *, policy: SessionPolicy | None = None) -> Actor:
    """The actor of a session cookie; AuthenticationFailed when unknown, expired or idle too long."""
    policy = policy or SessionPolicy()
    if not secret or len(secret) > 200:
        raise AuthenticationFailed("invalid session")
    now = utcnow()
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                SESSIONS.c.id,
                SESSIONS.c.expires_at,
                SESSIONS.c.last_seen_at,
                USERS.c.id.label("user_id"),
                USERS.c.username,
                USERS.c.role,
                USERS.c.disabled,
            )
            .join(USERS, USERS.c.id == SESSIONS.c.user_id)
            .where(SESSIONS.c.session_hash == sha256_hex(secret))
        ).first()
    if row is None or row.disabled:
        raise AuthenticationFailed("invalid session")
    if row.expires_at <= now or now - row.last_seen_at > policy.idle:
        with db.write_transaction() as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.id == row.id))
        raise AuthenticationFailed("session expired")
    if now - row.last_seen_at >= TOUCH_EVERY:
        with db.write_transaction() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == row.id).values(last_seen_at=now))
    return Actor(username=row.username, role=Role(row.role), user_id=row.user_id, via="session")


def end_session(db: Database, secret: str, *, actor: Actor) -> None:
    """Log out: delete the session (audit: ``logout``)."""
    with db.write_transaction() as conn:
        conn.execute(delete(SESSIONS).where(SESSIONS.c.session_hash == sha256_hex(secret)))
        record_in(conn, actor, "logout", object_type="user", object_id=actor.username)
    credential_cache(db).clear()


def count_users(db: Database) -> int:
    """How many users exist."""
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(USERS)).scalar_one())
