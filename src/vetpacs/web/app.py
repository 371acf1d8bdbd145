"""The FastAPI application: health, the REST API, DICOMweb and the API docs.

Every route but ``/health``, ``POST /api/v1/auth/login`` and the viewer's sign-in page
(``GET /viewer/login``, ``web/ui.py``) requires authentication (``web/deps.py``); every error is
problem+json (``web/errors.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sqlalchemy import text
from swagger_ui_bundle import swagger_ui_path

from vetpacs import __version__
from vetpacs.archive.context import Archive
from vetpacs.auth import Actor
from vetpacs.auth.audit import AuditLog
from vetpacs.config import Settings
from vetpacs.web.api import PREFIX, create_api_router
from vetpacs.web.deps import SESSION_COOKIE, authenticated
from vetpacs.web.errors import install_error_handlers

OPENAPI_URL = f"{PREFIX}/openapi.json"
DOCS_URL = "/api/docs"
SWAGGER_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
EXPOSED_HEADERS = [
    "Content-Type",
    "Content-Length",
    "Content-Location",
    "Location",
    "WWW-Authenticate",
    "Retry-After",
    "Warning",
]


def create_app(archive: Archive, settings: Settings) -> FastAPI:
    """Build the HTTP application over one Archive.

    ``app.state`` carries ``archive``, ``settings`` and ``audit`` (the buffered audit log; close it
    on shutdown to write what is queued).
    """
    app = FastAPI(
        title="VetPACS",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Veterinary PACS: REST API (`/api/v1`) and DICOMweb (`/dicom-web`). "
        "Authenticate with a session cookie (`POST /api/v1/auth/login`), an API token "
        "(`Authorization: Bearer ...`) or HTTP Basic.",
    )
    app.state.archive = archive
    app.state.settings = settings
    app.state.audit = AuditLog(archive)

    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )

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

    app.include_router(create_api_router(), prefix=PREFIX)

    from vetpacs.web.dicomweb import create_router

    app.include_router(create_router(archive, settings), prefix="/dicom-web")

    from vetpacs.web import fhir

    app.include_router(fhir.router, prefix=fhir.PREFIX)

    from vetpacs.web import ui

    app.include_router(ui.router)
    app.add_middleware(ui.NoBasicPromptForScripts)

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi_json(actor: Actor = Depends(authenticated)) -> JSONResponse:
        """The OpenAPI description (signed-in users only)."""
        return JSONResponse(openapi_schema(app))

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(actor: Actor = Depends(authenticated)) -> HTMLResponse:
        """Swagger UI over the OpenAPI description (signed-in users only; assets served locally,
        so it works in a clinic without internet access)."""
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="VetPACS API",
            swagger_js_url=f"{DOCS_URL}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_URL}/assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get(DOCS_URL + "/assets/{name}", include_in_schema=False)
    def swagger_assets(name: str, actor: Actor = Depends(authenticated)) -> FileResponse:
        """Swagger UI's script and stylesheet, from the ``swagger-ui-bundle`` package."""
        if name not in SWAGGER_ASSETS:
            raise HTTPException(status_code=404, detail=f"no asset {name}")
        return FileResponse(Path(str(swagger_ui_path)) / name, media_type=SWAGGER_ASSETS[name])

    return app


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with the three ways to authenticate declared."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "API token"},
            "basic": {"type": "http", "scheme": "basic"},
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        }
        schema["security"] = [{"bearer": []}, {"basic": []}, {"session": []}]
        app.openapi_schema = schema
    return app.openapi_schema
