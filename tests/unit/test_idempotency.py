"""web/idempotency.py through the real app: replay, reuse with another body, in-flight and stale keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from vetpacs.archive.context import Archive
from vetpacs.auth import SYSTEM, Role
from vetpacs.auth.audit import utcnow
from vetpacs.auth.service import create_user, issue_token
from vetpacs.config import Settings
from vetpacs.patients.schemas import OwnerCreate
from vetpacs.patients.service import OWNERS
from vetpacs.web.app import create_app
from vetpacs.web.idempotency import IN_FLIGHT, KEYS, STALE


@pytest.fixture
def client(archive: Archive, tmp_path: Path) -> Iterator[TestClient]:
    create_user(archive, username="pms", role=Role.INTEGRATION, password="pms-password-1", actor=SYSTEM)
    token = issue_token(archive, "pms", name="t", actor=SYSTEM).token
    app = create_app(archive, Settings(data_dir=tmp_path / "data"))
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c
    app.state.audit.close()


def owners(archive: Archive) -> int:
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OWNERS)).scalar_one())


def owner_hash(family: str) -> str:
    """What idempotency.request_hash gives for POST /api/v1/owners with this family name."""
    body = json.dumps(
        OwnerCreate(family_name=family).model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(f"POST\n/api/v1/owners\n{body}".encode()).hexdigest()


def reserve(archive: Archive, key: str, family: str, *, age: timedelta) -> None:
    with archive.write_transaction() as conn:
        conn.execute(
            insert(KEYS).values(
                username="pms",
                key=key,
                request_hash=owner_hash(family),
                status_code=IN_FLIGHT,
                response_json="{}",
                created_at=utcnow() - age,
            )
        )


def test_replay_and_reuse(client: TestClient, archive: Archive) -> None:
    body = {"family_name": "Baker"}
    first = client.post("/api/v1/owners", json=body, headers={"Idempotency-Key": "a"})
    again = client.post("/api/v1/owners", json=body, headers={"Idempotency-Key": "a"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotency-replayed"] == "true"
    assert owners(archive) == 1
    reused = client.post("/api/v1/owners", json={"family_name": "Other"}, headers={"Idempotency-Key": "a"})
    assert reused.status_code == 422 and reused.headers["content-type"].startswith("application/problem+json")
    elsewhere = client.post("/api/v1/animals", json={"name": "Max"}, headers={"Idempotency-Key": "a"})
    assert elsewhere.status_code == 422  # same key on another path
    assert client.post("/api/v1/owners", json=body).status_code == 201  # no key: a new owner
    assert owners(archive) == 2


def test_a_failed_create_releases_its_key(client: TestClient, archive: Archive) -> None:
    bad = client.post(
        "/api/v1/animals", json={"name": "Rex", "species_code": "nope"}, headers={"Idempotency-Key": "b"}
    )
    assert bad.status_code == 400
    good = client.post(
        "/api/v1/animals", json={"name": "Rex", "species_code": "nope"}, headers={"Idempotency-Key": "b"}
    )
    assert good.status_code == 400  # ran again (not replayed): nothing was stored for the key
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(KEYS).where(KEYS.c.key == "b")).scalar_one() == 0


def test_in_flight_and_stale_keys(client: TestClient, archive: Archive) -> None:
    reserve(archive, "busy", "Busy", age=timedelta(seconds=1))
    busy = client.post("/api/v1/owners", json={"family_name": "Busy"}, headers={"Idempotency-Key": "busy"})
    assert busy.status_code == 409
    reserve(archive, "dead", "Dead", age=STALE + timedelta(minutes=1))
    taken = client.post("/api/v1/owners", json={"family_name": "Dead"}, headers={"Idempotency-Key": "dead"})
    assert taken.status_code == 201
    replay = client.post("/api/v1/owners", json={"family_name": "Dead"}, headers={"Idempotency-Key": "dead"})
    assert replay.json()["id"] == taken.json()["id"]
