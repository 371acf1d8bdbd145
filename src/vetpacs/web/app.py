"""The FastAPI application. Every route but ``/health`` will require authentication."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from vetpacs import __version__
from vetpacs.archive.context import Archive


def create_app(archive: Archive) -> FastAPI:
    """Build the HTTP application over one Archive."""
    app = FastAPI(title="VetPACS", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """Database and storage state; no authentication, no patient data."""
        checks: dict[str, Any] = {}
        ok = True
        try:
            with archive.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = {"status": "ok", "dialect": archive.engine.dialect.name}
        except Exception as exc:
            ok = False
            checks["database"] = {"status": "error", "error": type(exc).__name__}
        try:
            archive.store.check()
            checks["storage"] = {"status": "ok", "backend": type(archive.store).__name__}
        except Exception as exc:
            ok = False
            checks["storage"] = {"status": "error", "error": str(exc)[:200]}
        body = {"status": "ok" if ok else "error", "version": __version__, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    return app
