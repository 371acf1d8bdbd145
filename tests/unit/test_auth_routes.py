"""The HTTP front door over the real app and a real index: every route is closed without credentials;
tokens, sessions and Basic work; roles are enforced; failed logins are throttled; all of it audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from vetpacs.archive.context import Archive
from vetpacs.auth import SYSTEM, Role
from vetpacs.auth.audit import query_audit
from vetpacs.auth.schemas import AuditRead
from vetpacs.auth.service import SESSIONS, TOKENS, create_user, issue_token
from vetpacs.config import Settings
from vetpacs.web.app import create_app

# The only routes open without credentials: health, login, and the viewer's self-contained sign-in page.
PUBLIC = {("GET", "/health"), ("POST", "/api/v1/auth/login"), ("GET", "/viewer/login")}
PASSWORDS = {"admin": "admin-password-1", "tech": "tech-password-1", "desk": "desk-password-1"}


@dataclass
class Front:
    app: FastAPI
    client: TestClient
    archive: Archive
    tokens: dict[str, str]

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def audit_rows(self, **filters: Any) -> list[AuditRead]:
        self.app.state.audit.flush()
        return query_audit(self.archive, limit=1000, **filters)


def make_front(archive: Archive, tmp_path: Path, **settings: Any) -> Iterator[Front]:
    app = create_app(archive, Settings(data_dir=tmp_path / "data", **settings))
    with TestClient(app) as client:
        yield Front(app, client, archive, {})
    app.state.audit.close()


@pytest.fixture
def front(archive: Archive, tmp_path: Path) -> Iterator[Front]:
    """The app with three users (admin, technician, front desk) and a token for each."""
    roles = {"admin": Role.ADMIN, "tech": Role.TECHNICIAN, "desk": Role.FRONT_DESK}
    for name, role in roles.items():
        create_user(archive, username=name, role=role, password=PASSWORDS[name], actor=SYSTEM)
    for f in make_front(archive, tmp_path):
        f.tokens = {name: issue_token(archive, name, name="t", actor=SYSTEM).token for name in roles}
        yield f


def route_table(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route, those of included routers too."""
    import fastapi.routing

    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.13x
    routes: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    table = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods:
            table.append((path, set(methods)))
    return table


def concrete_path(path: str) -> str:
    """A route path with every parameter filled with a dummy value."""
    return re.sub(r"\{[^}]+\}", "1", path)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and "type" in body and "instance" in body
    return body


def assert_challenges(response: Any) -> None:
    challenges = response.headers.get_list("www-authenticate")
    assert any(c.startswith('Bearer realm="VetPACS"') for c in challenges), challenges
    assert any(c.startswith('Basic realm="VetPACS"') for c in challenges), challenges


# --------------------------------------------------------------------------- the route table
def test_every_route_but_health_and_login_answers_401_without_credentials(front: Front) -> None:
    checked = []
    for route_path, methods in route_table(front.app):
        for method in sorted(methods):
            if (method, route_path) in PUBLIC:
                continue
            path = concrete_path(route_path)
            response = front.client.request(method, path)
            assert response.status_code == 401, f"{method} {route_path}: {response.status_code}"
            if method != "HEAD" and route_path.startswith("/fhir"):
                # FHIR answers errors as an OperationOutcome (application/fhir+json)
                assert response.headers["content-type"].startswith("application/fhir+json")
                assert response.json()["resourceType"] == "OperationOutcome"
            elif method != "HEAD":
                assert_problem(response, 401)
            assert_challenges(response)
            checked.append(f"{method} {path}")
    # The REST routes, the API docs and DICOMweb are all in the walk.
    assert "GET /api/v1/users" in checked and "GET /api/v1/audit" in checked
    assert "GET /api/v1/openapi.json" in checked and "GET /api/docs" in checked
    assert any(c.split()[1].startswith("/dicom-web/") for c in checked)
    denied = front.audit_rows(action="access.denied")
    assert {r.object_id for r in denied} == set(checked)
    assert all(r.outcome == "failure" and r.actor == "anonymous" and r.role == "" for r in denied)


def test_public_routes(front: Front) -> None:
    assert front.client.get("/health").status_code == 200
    assert_problem(front.client.post("/api/v1/auth/login", json={}), 422)


def test_viewer_shell_needs_a_session_and_sends_browsers_to_the_login_page(front: Front) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    for path in ("/viewer/?accession=A1", "/viewer", "/viewer/assets/index.js"):
        response = front.client.get(path, headers=html, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/viewer/login?next=%2Fviewer")
    assert (
        "accession%3DA1"
        in front.client.get("/viewer/?accession=A1", headers=html, follow_redirects=False).headers["location"]
    )
    # Not a browser: the usual 401 problem.
    assert_problem(front.client.get("/viewer/"), 401)
    # The sign-in page is public and self-contained, built or not (503 page when not built).
    login = front.client.get("/viewer/login")
    assert login.status_code in (200, 503) and "text/html" in login.headers["content-type"]
    if login.status_code == 200:
        assert "/api/v1/auth/login" in login.text and "<script src" not in login.text
    # Signed in: the shell (or the not-built page), never a redirect.
    front.client.post("/api/v1/auth/login", json={"username": "desk", "password": PASSWORDS["desk"]})
    shell = front.client.get("/viewer/?accession=A1", headers=html, follow_redirects=False)
    assert shell.status_code in (200, 503) and "text/html" in shell.headers["content-type"]
    assert front.client.get("/viewer/../../pyproject.toml", headers=html).status_code in (200, 404, 503)
    assert "[project]" not in front.client.get("/viewer/..%2F..%2Fpyproject.toml").text


def test_viewer_not_built_answers_503(archive: Archive, tmp_path: Path) -> None:
    create_user(archive, username="vet", role=Role.VETERINARIAN, password="vet-password-1", actor=SYSTEM)
    for f in make_front(archive, tmp_path, viewer_dir=tmp_path / "no-build"):
        login = f.client.get("/viewer/login")
        assert login.status_code == 503 and "not built" in login.text and "npm run build" in login.text
        f.client.post("/api/v1/auth/login", json={"username": "vet", "password": "vet-password-1"})
        shell = f.client.get("/viewer/", headers={"Accept": "text/html"})
        assert shell.status_code == 503 and "not built" in shell.text
        assert f.client.get("/health").status_code == 200


# --------------------------------------------------------------------------- tokens
def test_bearer_token_and_wrong_token(front: Front) -> None:
    me = front.client.get("/api/v1/auth/me", headers=front.bearer("admin"))
    assert me.status_code == 200
    assert me.json()["username"] == "admin" and me.json()["via"] == "token"
    assert "users:manage" in me.json()["permissions"]
    for bad in ("vp_not-a-token", "garbage", front.tokens["admin"] + "x"):
        response = front.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert_problem(response, 401)
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    response = front.client.get("/api/v1/auth/me", headers={"Authorization": "Digest x"})
    assert_problem(response, 401)
    reasons = [r.detail["reason"] for r in front.audit_rows(action="access.denied") if r.detail]
    assert reasons.count("invalid token") == 3 and "unsupported authorization scheme" in reasons


def test_token_issue_list_revoke(front: Front) -> None:
    admin = front.bearer("admin")
    issued = front.client.post(
        "/api/v1/users/desk/tokens", json={"name": "pms", "expires_days": 30}, headers=admin
    )
    assert issued.status_code == 201, issued.text
    secret, token_id = issued.json()["token"], issued.json()["id"]
    assert secret.startswith("vp_") and issued.json()["expires_at"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert front.client.get("/api/v1/auth/me", headers=headers).json()["username"] == "desk"
    listed = front.client.get("/api/v1/users/desk/tokens", headers=admin).json()
    assert [t["name"] for t in listed] == ["pms", "t"] and all("token" not in t for t in listed)
    assert listed[0]["last_used_at"] is not None
    assert front.client.delete(f"/api/v1/users/desk/tokens/{token_id}", headers=admin).status_code == 204
    assert_problem(front.client.get("/api/v1/auth/me", headers=headers), 401)
    assert_problem(front.client.delete(f"/api/v1/users/tech/tokens/{token_id}", headers=admin), 404)
    actions = [r.action for r in front.audit_rows(object_type="token", object_id=str(token_id))]
    assert actions == ["token.revoked", "token.issued"]


def test_expired_token(front: Front) -> None:
    issued = issue_token(front.archive, "tech", name="short", expires_days=1, actor=SYSTEM)
    with front.archive.write_transaction() as conn:
        past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        conn.execute(update(TOKENS).where(TOKENS.c.id == issued.id).values(expires_at=past))
    response = front.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert_problem(response, 401)


# --------------------------------------------------------------------------- roles, disabled users
def test_role_without_permission_gets_403(front: Front) -> None:
    for path in ("/api/v1/users", "/api/v1/audit"):
        body = assert_problem(front.client.get(path, headers=front.bearer("tech")), 403)
        assert "lacks permission" in body["detail"]
    # A front desk user may not read images.
    response = front.client.get("/dicom-web/studies", headers=front.bearer("desk"))
    assert_problem(response, 403)
    denied = front.audit_rows(action="access.denied", actor="tech")
    assert len(denied) == 2 and all(r.outcome == "denied" and r.role == "technician" for r in denied)
    assert denied[0].detail == {"reason": "permission", "permission": "audit:read", "status": 403}


def test_disabled_user_gets_401_everywhere(front: Front) -> None:
    admin = front.bearer("admin")
    tech_basic = ("tech", PASSWORDS["tech"])
    assert front.client.get("/api/v1/auth/me", headers=front.bearer("tech")).status_code == 200
    assert front.client.get("/api/v1/auth/me", auth=tech_basic).status_code == 200
    login = front.client.post("/api/v1/auth/login", json={"username": "tech", "password": PASSWORDS["tech"]})
    assert login.status_code == 200
    cookies = dict(front.client.cookies)
    front.client.cookies.clear()
    disabled = front.client.post("/api/v1/users/tech/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert_problem(front.client.get("/api/v1/auth/me", headers=front.bearer("tech")), 401)
    assert_problem(front.client.get("/api/v1/auth/me", auth=tech_basic), 401)
    front.client.cookies.update(cookies)
    assert_problem(front.client.get("/api/v1/auth/me"), 401)
    front.client.cookies.clear()
    assert_problem(
        front.client.post("/api/v1/auth/login", json={"username": "tech", "password": PASSWORDS["tech"]}), 401
    )
    assert front.client.post("/api/v1/users/tech/enable", headers=admin).json()["disabled"] is False
    assert front.client.get("/api/v1/auth/me", headers=front.bearer("tech")).status_code == 200
    actions = [r.action for r in front.audit_rows(object_type="user", object_id="tech")]
    assert "user.disabled" in actions and "user.enabled" in actions
    failed = front.audit_rows(action="login.failed", actor="tech")
    assert failed and all(r.detail == {"reason": "user disabled"} for r in failed)


# --------------------------------------------------------------------------- sessions, Basic
def test_cookie_login_me_logout(front: Front) -> None:
    response = front.client.post(
        "/api/v1/auth/login", json={"username": "desk", "password": PASSWORDS["desk"]}
    )
    assert response.status_code == 200 and response.json()["username"] == "desk"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("vetpacs_session=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
    me = front.client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["via"] == "session"
    assert front.client.post("/api/v1/auth/logout").status_code == 204
    assert "vetpacs_session" not in front.client.cookies
    # The old cookie is dead on the server too, not only dropped by the client.
    stale = {"vetpacs_session": cookie.split(";")[0].split("=", 1)[1]}
    front.client.cookies.update(stale)
    assert_problem(front.client.get("/api/v1/auth/me"), 401)
    actions = [r.action for r in front.audit_rows(actor="desk")]
    assert actions == ["logout", "login"]
    stale_row = front.audit_rows(action="access.denied")[0]
    assert stale_row.actor == "anonymous" and stale_row.detail
    assert stale_row.detail["reason"] == "invalid session"
    login_row = front.audit_rows(action="login", actor="desk")[0]
    assert login_row.user_id is not None and login_row.role == "front_desk" and login_row.via == "session"
    assert login_row.address == "testclient"


def test_session_idle_timeout(front: Front) -> None:
    login = front.client.post("/api/v1/auth/login", json={"username": "desk", "password": PASSWORDS["desk"]})
    assert login.status_code == 200
    cookies = dict(front.client.cookies)
    front.client.cookies.clear()
    from vetpacs.auth.service import credential_cache

    credential_cache(front.archive).clear()
    with front.archive.write_transaction() as conn:
        old = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
        conn.execute(update(SESSIONS).values(last_seen_at=old))
    front.client.cookies.update(cookies)
    response = front.client.get("/api/v1/auth/me")
    assert_problem(response, 401)
    assert "vetpacs_session=;" in response.headers["set-cookie"]


def test_session_cookie_is_secure_with_tls(archive: Archive, tmp_path: Path) -> None:
    create_user(archive, username="vet", role=Role.VETERINARIAN, password="vet-password-1", actor=SYSTEM)
    for f in make_front(archive, tmp_path, tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem"):
        response = f.client.post("/api/v1/auth/login", json={"username": "vet", "password": "vet-password-1"})
        assert response.status_code == 200
        assert "secure" in response.headers["set-cookie"].lower()


def test_basic_auth(front: Front) -> None:
    for _ in range(3):
        me = front.client.get("/api/v1/auth/me", auth=("tech", PASSWORDS["tech"]))
        assert me.status_code == 200 and me.json()["via"] == "basic"
    # Verified once, then cached: one login row for three requests.
    assert len(front.audit_rows(action="login", actor="tech")) == 1
    assert_problem(front.client.get("/api/v1/auth/me", auth=("tech", "wrong-password")), 401)
    response = front.client.get("/api/v1/auth/me", headers={"Authorization": "Basic !!!"})
    assert_problem(response, 401)
    assert front.audit_rows(action="login.failed", actor="tech")[0].via == "basic"


# --------------------------------------------------------------------------- throttling
def test_login_throttling_by_username(front: Front) -> None:
    wrong = {"username": "admin", "password": "not-the-password"}
    for _ in range(5):
        assert_problem(front.client.post("/api/v1/auth/login", json=wrong), 401)
    response = front.client.post("/api/v1/auth/login", json=wrong)
    body = assert_problem(response, 429)
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60 and "too many" in body["detail"]
    # Even the right password is refused while locked; so is Basic.
    right = {"username": "admin", "password": PASSWORDS["admin"]}
    assert_problem(front.client.post("/api/v1/auth/login", json=right), 429)
    assert_problem(front.client.get("/api/v1/auth/me", auth=("admin", PASSWORDS["admin"])), 429)
    # Tokens are not passwords: unaffected.
    assert front.client.get("/api/v1/auth/me", headers=front.bearer("admin")).status_code == 200
    assert len(front.audit_rows(action="login.failed", actor="admin")) == 5
    throttled = front.audit_rows(action="login.throttled")
    assert len(throttled) == 3 and all(r.outcome == "denied" for r in throttled)
    # An admin password reset lifts the username's lockout (the address lockout remains).
    assert (
        front.client.post("/api/v1/users/admin/password", json={}, headers=front.bearer("admin")).status_code
        == 200
    )


def test_login_throttling_by_address(archive: Archive, tmp_path: Path) -> None:
    create_user(archive, username="vet", role=Role.VETERINARIAN, password="vet-password-1", actor=SYSTEM)
    for f in make_front(archive, tmp_path, login_max_failures=3, login_lockout_minutes=1):
        for n in range(3):
            response = f.client.post("/api/v1/auth/login", json={"username": f"nobody{n}", "password": "x"})
            assert_problem(response, 401)
        response = f.client.post("/api/v1/auth/login", json={"username": "vet", "password": "vet-password-1"})
        assert_problem(response, 429)
        assert 0 < int(response.headers["retry-after"]) <= 61
        unknown = f.audit_rows(action="login.failed")
        assert len(unknown) == 3 and all(r.detail == {"reason": "unknown user"} for r in unknown)


# --------------------------------------------------------------------------- users API
def test_users_crud(front: Front) -> None:
    admin = front.bearer("admin")
    created = front.client.post(
        "/api/v1/users",
        json={"username": "rad", "role": "radiologist", "display_name": "Dr Rad"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    password = created.json()["password"]
    assert password and created.json()["role"] == "radiologist"
    assert front.client.get("/api/v1/auth/me", auth=("rad", password)).status_code == 200
    assert_problem(
        front.client.post("/api/v1/users", json={"username": "rad", "role": "admin"}, headers=admin), 409
    )
    body = assert_problem(
        front.client.post("/api/v1/users", json={"username": "a b", "role": "wizard"}, headers=admin), 422
    )
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "username"), ("body", "role")}
    assert_problem(front.client.get("/api/v1/users/ghost", headers=admin), 404)
    names = [u["username"] for u in front.client.get("/api/v1/users", headers=admin).json()]
    assert names == ["admin", "desk", "rad", "tech"]
    reset = front.client.post(
        "/api/v1/users/rad/password", json={"password": "new-password-9"}, headers=admin
    )
    assert reset.status_code == 200 and reset.json() == {"password": None}
    assert front.client.get("/api/v1/auth/me", auth=("rad", "new-password-9")).status_code == 200
    assert_problem(front.client.post("/api/v1/users/admin/disable", headers=admin), 400)  # not yourself
    rows = front.audit_rows(object_type="user", object_id="rad")
    assert [r.action for r in rows if r.action.startswith("user.")] == ["user.password_set", "user.created"]
    assert rows[-1].actor == "admin" and rows[-1].detail == {"role": "radiologist"}


def test_change_own_password(front: Front) -> None:
    auth = ("desk", PASSWORDS["desk"])
    body = {"current_password": PASSWORDS["desk"], "new_password": "brand-new-pass"}
    assert front.client.post("/api/v1/auth/password", json=body, auth=auth).status_code == 204
    assert front.client.get("/api/v1/auth/me", auth=("desk", "brand-new-pass")).status_code == 200
    assert_problem(front.client.get("/api/v1/auth/me", auth=auth), 401)


# --------------------------------------------------------------------------- audit API
def test_audit_query(front: Front) -> None:
    admin = front.bearer("admin")
    front.client.get("/api/v1/users", headers=front.bearer("tech"))  # denied
    front.app.state.audit.record(SYSTEM, "study.viewed", object_type="study", object_id="1.2.3")
    rows = front.client.get("/api/v1/audit", headers=admin).json()
    assert rows and rows == sorted(rows, key=lambda r: (r["time"], r["id"]), reverse=True)
    assert rows[0]["action"] == "study.viewed" and rows[0]["time"].endswith("Z")
    viewed = front.client.get(
        "/api/v1/audit", params={"object_type": "study", "object_id": "1.2.3"}, headers=admin
    )
    assert [r["action"] for r in viewed.json()] == ["study.viewed"]
    tokens = front.client.get("/api/v1/audit", params={"action": "token.*"}, headers=admin).json()
    assert len(tokens) == 3 and {r["action"] for r in tokens} == {"token.issued"}
    by_actor = front.client.get("/api/v1/audit", params={"actor": "tech"}, headers=admin).json()
    assert [r["action"] for r in by_actor] == ["access.denied"]
    page = front.client.get("/api/v1/audit", params={"limit": 2, "offset": 1}, headers=admin).json()
    assert [r["id"] for r in page] == [r["id"] for r in rows[1:3]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert front.client.get("/api/v1/audit", params={"since": future}, headers=admin).json() == []
    assert front.client.get("/api/v1/audit", params={"until": future}, headers=admin).json()
    assert_problem(front.client.get("/api/v1/audit", params={"limit": 0}, headers=admin), 422)


# --------------------------------------------------------------------------- errors, CORS, docs
def test_errors_are_problem_json(front: Front) -> None:
    assert_problem(front.client.get("/no/such/route"), 404)
    assert_problem(front.client.put("/health"), 405)

    @front.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(front.app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text and body["detail"]


def test_cors(archive: Archive, tmp_path: Path, front: Front) -> None:
    origin = {"Origin": "http://viewer.example"}
    assert "access-control-allow-origin" not in front.client.get("/health", headers=origin).headers
    for f in make_front(archive, tmp_path, cors_origins=["http://viewer.example"]):
        preflight = f.client.options(
            "/dicom-web/studies",
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://viewer.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        denied = f.client.get("/dicom-web/studies", headers=origin)
        assert denied.status_code == 401
        exposed = denied.headers["access-control-expose-headers"].lower()
        assert "www-authenticate" in exposed and "content-length" in exposed and "content-type" in exposed
        other = f.client.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_openapi_and_docs_need_authentication(front: Front) -> None:
    schema = front.client.get("/api/v1/openapi.json", headers=front.bearer("desk"))
    assert schema.status_code == 200
    doc = schema.json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "basic", "session"}
    assert "/api/v1/users" in doc["paths"] and "/api/v1/auth/login" in doc["paths"]
    docs = front.client.get("/api/docs", headers=front.bearer("desk"))
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
