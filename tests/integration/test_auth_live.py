"""The live server: the test admin and token made through the CLI, the user commands, audit over HTTP."""

from __future__ import annotations

import httpx
import pytest

from conftest import LiveServer

pytestmark = pytest.mark.integration


def test_server_token_and_admin_password(server: LiveServer) -> None:
    me = httpx.get(f"{server.http_url}/api/v1/auth/me", headers=server.auth_headers(), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin" and me.json()["role"] == "admin"
    basic = httpx.get(f"{server.http_url}/api/v1/auth/me", auth=("admin", server.admin_password), timeout=10)
    assert basic.status_code == 200 and basic.json()["via"] == "basic"
    anonymous = httpx.get(f"{server.http_url}/api/v1/users", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{server.http_url}/health", timeout=10).status_code == 200


def test_user_commands(server: LiveServer) -> None:
    added = server.cli(
        "user",
        "add",
        "tech1",
        "--role",
        "technician",
        "--password-stdin",
        check=False,
        input="tech1-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""  # a given password is never echoed
    token = server.cli("user", "token", "tech1", "--name", "script", "--expires-days", "7").stdout
    assert token.startswith("vp_") and token.count("\n") == 1
    headers = {"Authorization": f"Bearer {token.strip()}"}
    url = f"{server.http_url}/api/v1/auth/me"
    assert httpx.get(url, headers=headers, timeout=10).json()["username"] == "tech1"
    assert httpx.get(url, auth=("tech1", "tech1-password"), timeout=10).status_code == 200
    listed = server.cli("user", "list").stdout
    assert "tech1" in listed and "technician" in listed and "admin" in listed
    duplicate = server.cli("user", "add", "tech1", "--role", "technician", "--generate-password", check=False)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    assert server.cli("user", "add", "x", "--role", "wizard", check=False).returncode == 2
    generated = server.cli("user", "password", "tech1", "--generate-password").stdout.strip()
    assert len(generated) >= 12
    assert server.cli("user", "disable", "tech1").returncode == 0
    # Another process disabled the user: this server sees it once its short credential cache expires.
    import time

    deadline = time.monotonic() + 15
    while httpx.get(url, headers=headers, timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "a disabled user's token still works"
        time.sleep(0.5)
    rows = httpx.get(
        f"{server.http_url}/api/v1/audit",
        params={"object_type": "user", "object_id": "tech1"},
        headers=server.auth_headers(),
        timeout=10,
    ).json()
    actions = [r["action"] for r in rows]
    assert {"user.created", "user.password_set", "user.disabled", "login"} <= set(actions)
    assert all(r["actor"].startswith("cli:") for r in rows if r["action"].startswith("user."))
