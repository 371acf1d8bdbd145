"""TLS: with a certificate and key, HTTPS on the HTTP port and DICOM TLS on ``dicom_tls_port``
(DCMTK ``echoscu``/``storescu +tls``), while the plain DICOM port keeps working."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from dicom_support import count
from pydicom.data import get_testdata_file

from conftest import LiveServer, dcmtk_env, free_port, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.dcmtk]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost (openssl CLI)."""
    openssl = require_tool("openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(server_factory: object, tmp_path: Path) -> tuple[LiveServer, Path, Path, int]:
    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    srv: LiveServer = server_factory(  # type: ignore[operator]
        VETPACS_TLS_CERT=str(cert), VETPACS_TLS_KEY=str(key), VETPACS_DICOM_TLS_PORT=str(tls_port)
    )
    srv.start()
    return srv, cert, key, tls_port


def test_https_and_dicom_tls(tls_server: tuple[LiveServer, Path, Path, int]) -> None:
    srv, cert, key, tls_port = tls_server
    assert srv.http_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    health = httpx.get(f"{srv.http_url}/health", verify=context, timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    me = httpx.get(f"{srv.http_url}/api/v1/auth/me", headers=srv.auth_headers(), verify=context, timeout=10)
    assert me.status_code == 200
    login = httpx.post(
        f"{srv.http_url}/api/v1/auth/login",
        json={"username": "admin", "password": srv.admin_password},
        verify=context,
        timeout=10,
    )
    assert login.status_code == 200 and "secure" in login.headers["set-cookie"].lower()
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port is refused
        httpx.get(f"http://127.0.0.1:{srv.http_port}/health", timeout=5)

    echoscu, storescu = require_tool("echoscu"), require_tool("storescu")
    tls = ["+tls", str(key), str(cert), "+cf", str(cert)]
    echo = subprocess.run(
        [echoscu, *tls, "-aec", "VETPACS", "127.0.0.1", str(tls_port)],
        env=dcmtk_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert echo.returncode == 0, echo.stdout + echo.stderr
    # The client checks our certificate: another CA makes it refuse.
    (cert.parent / "other").mkdir()
    other_cert, _ = self_signed(cert.parent / "other")
    bad = subprocess.run(
        [echoscu, "+tls", str(key), str(cert), "+cf", str(other_cert), "-aec", "VETPACS", "127.0.0.1",
         str(tls_port)],
        env=dcmtk_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0
    # Plain DICOM on the TLS port fails; the plain port still answers.
    plain_on_tls = subprocess.run(
        [echoscu, "-to", "5", "-ta", "5", "-aec", "VETPACS", "127.0.0.1", str(tls_port)],
        env=dcmtk_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert plain_on_tls.returncode != 0
    plain = subprocess.run(
        [echoscu, "-aec", "VETPACS", "127.0.0.1", str(srv.dicom_port)],
        env=dcmtk_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stdout + plain.stderr

    ct = get_testdata_file("CT_small.dcm")
    assert ct is not None
    store = subprocess.run(
        [storescu, *tls, "-aec", "VETPACS", "127.0.0.1", str(tls_port), str(ct)],
        env=dcmtk_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert store.returncode == 0, store.stdout + store.stderr
    assert count(srv, "instances") == 1
