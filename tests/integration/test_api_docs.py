"""The API description and Swagger UI work offline (assets served by VetPACS) and need a login."""

from __future__ import annotations

import httpx
import pytest

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration


def test_swagger_ui_and_its_assets_are_local_and_authenticated(server: LiveServer) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as anon:
        assert anon.get("/api/docs").status_code == 401
        assert anon.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 401
    with httpx.Client(base_url=server.http_url, headers=server.auth_headers(), timeout=30) as http:
        page = http.get("/api/docs")
        assert page.status_code == 200
        assert "/api/docs/assets/swagger-ui-bundle.js" in page.text and "cdn." not in page.text
        js = http.get("/api/docs/assets/swagger-ui-bundle.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert http.get("/api/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
        assert http.get("/api/docs/assets/../../etc/passwd").status_code == 404
        spec = http.get("/api/v1/openapi.json").json()
        assert spec["openapi"].startswith("3.") and "/api/v1/orders" in spec["paths"]
