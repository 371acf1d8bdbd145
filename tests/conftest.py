"""Shared fixtures: real SQLite/PostgreSQL indexes, real folder stores, a real server on loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from vetpacs.app import build_archive
from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM, Role
from vetpacs.auth.service import create_user, generate_password, issue_token
from vetpacs.config import Settings

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("VETPACS_TEST_DATABASE_URL", "")

# The browser fixtures (browser_page, demo_server) for tests/e2e/.
pytest_plugins = ["e2e.e2e_support"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tool(name: str) -> str:
    """Path of an external tool; a missing tool skips the test, or fails it under CI=true."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed (CI=true: missing tools fail the run)")
        pytest.skip(f"{name} is not installed")
    return path


def _pg_admin() -> Engine:
    """An autocommit engine on the server's maintenance database (always there)."""
    return create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")


def ensure_pg_database() -> None:
    """Create the database named in VETPACS_TEST_DATABASE_URL if it does not exist yet."""
    name = make_url(PG_URL).database
    admin = _pg_admin()
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def fresh_database_url(tmp: Path) -> str:
    """A new empty index database: a SQLite file, or a new PostgreSQL database when configured."""
    if not PG_URL:
        return f"sqlite:///{tmp / 'index.sqlite'}"
    url = make_url(PG_URL)
    name = f"vetpacs_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def pytest_sessionstart(session: pytest.Session) -> None:
    if PG_URL:
        ensure_pg_database()


def drop_database(db_url: str) -> None:
    """Drop a PostgreSQL test database made by ``fresh_database_url`` (SQLite: nothing to do)."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql" or not (url.database or "").startswith("vetpacs_t_"):
        return
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    """An empty Archive on the test database and a folder store in tmp_path."""
    db_url = fresh_database_url(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    arch = build_archive(settings)
    yield arch
    arch.engine.dispose()
    drop_database(db_url)


@dataclass
class LiveServer:
    """A ``vetpacs serve`` subprocess on free loopback ports."""

    data_dir: Path
    database_url: str
    dicom_port: int
    http_port: int
    ae_title: str = "VETPACS"
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    token: str | None = None  # an admin API token, made through the CLI before the first start
    admin_password: str = ""

    @property
    def http_url(self) -> str:
        scheme = "https" if self.extra_env.get("VETPACS_TLS_CERT") else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <admin token>`` for HTTP requests to this server."""
        assert self.token, "start the server first (the admin token is made before the first start)"
        return {"Authorization": f"Bearer {self.token}"}

    def create_admin(self) -> None:
        """User ``admin`` (random password) and an API token for it, made in this process with the
        services ``vetpacs user add`` and ``vetpacs user token`` call (two CLI processes per server
        cost seconds each on a loaded CI machine; the tests that add other users still go through the CLI)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=self.data_dir, database_url=self.database_url)
        arch = build_archive(settings)  # migrates the new database, as the CLI's first call did
        try:
            self.admin_password = generate_password()
            create_user(arch, username="admin", role=Role.ADMIN, password=self.admin_password, actor=SYSTEM)
            self.token = issue_token(arch, "admin", name="tests", actor=SYSTEM).token
        finally:
            arch.engine.dispose()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            VETPACS_DATA_DIR=str(self.data_dir),
            VETPACS_DATABASE_URL=self.database_url,
            VETPACS_DICOM_PORT=str(self.dicom_port),
            VETPACS_DICOM_HOST="127.0.0.1",
            VETPACS_HTTP_PORT=str(self.http_port),
            VETPACS_HTTP_HOST="127.0.0.1",
            VETPACS_AE_TITLE=self.ae_title,
            VETPACS_HL7_PORT="0",  # tests that want the MLLP listener pass a free port
        )
        env.update(self.extra_env)
        return env

    def cli(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a ``vetpacs`` subcommand against this server's data dir and database."""
        return subprocess.run(
            [sys.executable, "-m", "vetpacs.cli.main", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.token is None:
            self.create_admin()
        self.log_path = self.data_dir.parent / f"server-{self.dicom_port}.log"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vetpacs.cli.main", "serve"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if "VETPACS_READY" in self.log()[offset:]:  # this start's line, not an earlier one
                return
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (durability tests)."""
        self.stop(signal.SIGKILL)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    """Make (not start) LiveServers; all are stopped and their databases dropped at the end."""
    made: list[LiveServer] = []

    def make(**extra_env: str) -> LiveServer:
        n = len(made)
        db_url = fresh_database_url(tmp_path) if n == 0 else fresh_database_url(tmp_path / f"s{n}")
        (tmp_path / f"s{n}").mkdir(exist_ok=True)
        srv = LiveServer(
            data_dir=tmp_path / f"s{n}" / "data",
            database_url=db_url,
            dicom_port=free_port(),
            http_port=free_port(),
            extra_env=dict(extra_env),
        )
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()
        drop_database(srv.database_url)


@pytest.fixture
def server(server_factory: object) -> LiveServer:
    """A started server with an empty archive."""
    srv = server_factory()  # type: ignore[operator]
    srv.start()
    return srv


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The small demo studies as files (generated once per session)."""
    from vetpacs.demo import generate_demo_files

    return generate_demo_files(tmp_path_factory.mktemp("demo"), small=True)


def dcmtk_env() -> dict[str, str]:
    """Environment for DCMTK clients: Nagle off (Debian's DCMTK needs TCP_NODELAY=1)."""
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    return env


def set_mono16_pixels(ds: object, size: int, pixel_data: bytes) -> None:
    """Give a test dataset a size x size, 12-in-16-bit MONOCHROME2 image (the Image Pixel module)."""
    ds.Rows = ds.Columns = size  # type: ignore[attr-defined]
    ds.BitsAllocated = 16  # type: ignore[attr-defined]
    ds.BitsStored = 12  # type: ignore[attr-defined]
    ds.HighBit = 11  # type: ignore[attr-defined]
    ds.PixelRepresentation = 0  # type: ignore[attr-defined]
    ds.SamplesPerPixel = 1  # type: ignore[attr-defined]
    ds.PhotometricInterpretation = "MONOCHROME2"  # type: ignore[attr-defined]
    ds.PixelData = pixel_data  # type: ignore[attr-defined]
