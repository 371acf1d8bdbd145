"""Auth services on a real index: audit rows commit with their change, buffered audit, demo admin."""

from __future__ import annotations

import pytest

from vetpacs.archive.context import Archive
from vetpacs.auth import SYSTEM, Role
from vetpacs.auth.audit import AuditLog, query_audit
from vetpacs.auth.service import (
    AuthenticationFailed,
    LoginPolicy,
    LoginThrottled,
    authenticate_password,
    authenticate_token,
    create_user,
    issue_token,
    list_users,
    revoke_token,
)
from vetpacs.errors import Conflict, Invalid, NotFound


def test_write_and_audit_row_commit_together(archive: Archive) -> None:
    create_user(archive, username="vet", role=Role.VETERINARIAN, password="vet-password", actor=SYSTEM)
    with pytest.raises(Conflict):
        create_user(archive, username="vet", role=Role.ADMIN, password="vet-password", actor=SYSTEM)
    with pytest.raises(Invalid):
        create_user(archive, username="bad name", role=Role.ADMIN, password="vet-password", actor=SYSTEM)
    with pytest.raises(Invalid):
        create_user(archive, username="short", role=Role.ADMIN, password="short", actor=SYSTEM)
    with pytest.raises(NotFound):
        issue_token(archive, "ghost", actor=SYSTEM)
    rows = query_audit(archive)
    assert [(r.action, r.object_id, r.actor, r.role) for r in rows] == [
        ("user.created", "vet", "system", "admin")
    ]
    assert [u.username for u in list_users(archive)] == ["vet"]


def test_tokens_are_stored_hashed_and_revocable(archive: Archive) -> None:
    create_user(archive, username="pms", role=Role.INTEGRATION, password="pms-password", actor=SYSTEM)
    issued = issue_token(archive, "pms", name="sync", actor=SYSTEM)
    with archive.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash, prefix FROM api_tokens").one()
    assert issued.token not in stored and stored[1] == issued.token[:10]
    actor = authenticate_token(archive, issued.token)
    assert (actor.username, actor.role, actor.via) == ("pms", Role.INTEGRATION, "token")
    revoke_token(archive, issued.id, actor=SYSTEM)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate_token(archive, issued.token)


def test_throttle_retry_after(archive: Archive) -> None:
    create_user(archive, username="vet", role=Role.VETERINARIAN, password="vet-password", actor=SYSTEM)
    policy = LoginPolicy(max_failures=2)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            authenticate_password(archive, "vet", "nope", address="10.0.0.1", policy=policy)
    with pytest.raises(LoginThrottled) as info:
        authenticate_password(archive, "vet", "vet-password", address="10.0.0.2", policy=policy)
    assert 14 * 60 < info.value.retry_after <= 15 * 60 + 1
    # Another user from another address is not affected.
    with pytest.raises(AuthenticationFailed):
        authenticate_password(archive, "other", "x", address="10.0.0.3", policy=policy)


def test_buffered_audit_log_writes_batches_and_flushes_on_close(archive: Archive) -> None:
    log = AuditLog(archive, batch_size=7)
    for n in range(50):
        log.record(SYSTEM, "study.viewed", object_type="study", object_id=f"1.2.{n}", detail={"n": n})
    log.close()
    rows = query_audit(archive, action="study.viewed", limit=100)
    assert len(rows) == 50 and rows[0].object_id == "1.2.49" and rows[0].detail == {"n": 49}
    log.record(SYSTEM, "study.viewed", object_id="late")  # after close: written directly
    assert query_audit(archive, object_id="late")


def test_demo_admin_is_created_once_with_a_random_password(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    from vetpacs.cli.main import _ensure_admin

    _ensure_admin(archive)
    first = capsys.readouterr().err
    assert "admin" in first and "password" in first
    _ensure_admin(archive)
    assert capsys.readouterr().err == ""
    users = list_users(archive)
    assert [(u.username, u.role) for u in users] == [("admin", Role.ADMIN)]
    password = first.split("with password ")[1].split()[0]
    assert len(password) >= 12
    assert authenticate_password(archive, "admin", password).username == "admin"
