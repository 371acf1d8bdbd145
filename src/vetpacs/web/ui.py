"""The browser viewer (``frontend/``, built by Vite into ``frontend/dist``) served under ``/viewer/``.

- ``GET /viewer/login``: the sign-in page, the only public page (self-contained: it loads no other
  asset; it posts to ``POST /api/v1/auth/login``, which sets the session cookie).
- ``GET /viewer/`` and everything below it (the app shell, its scripts, workers and codecs) need a
  signed-in user like every other route. A browser without a session (``Accept: text/html``) is
  sent to the sign-in page and back afterwards; any other client gets the usual 401 problem+json.
- Without a build (``viewer_dir`` missing), these routes answer a 503 page saying so; the rest of
  the server runs as usual.

The viewer opens a study with ``/viewer/?StudyInstanceUID=...`` or ``/viewer/?accession=...``
(docs/viewer.md).

The clinic app (search, charts, orders, schedule, technician's board, reconciliation, administration;
docs/clinic.md) is the same build's ``clinic.html``, served under ``/app/`` (every path below it is
the app shell; the app routes in the browser). ``/`` sends a browser to ``/app/``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetpacs.web.deps import authenticate, settings_of

PREFIX = "/viewer"
APP_PREFIX = "/app"
LOGIN_PATH = f"{PREFIX}/login"
DEFAULT_DIST = Path(__file__).resolve().parents[3] / "frontend" / "dist"
IMMUTABLE = "private, max-age=31536000, immutable"  # Vite's hashed file names under assets/

router = APIRouter(include_in_schema=False)
SCRIPT_MARKER = (b"x-requested-with", b"xmlhttprequest")


class NoBasicPromptForScripts:
    """Drop the ``Basic`` challenge from a 401 answered to the viewer's own requests.

    A browser that sees ``WWW-Authenticate: Basic`` on a script's request (fetch, XHR) opens its
    own username/password dialog instead of letting the page handle the 401 (wrong password on the
    sign-in page, an expired session in the viewer). The viewer marks its requests with
    ``X-Requested-With: XMLHttpRequest`` (the common convention); those 401s keep only the Bearer
    challenge. Every other client still gets both challenges.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        marked = scope["type"] == "http" and any(
            (name, value.lower()) == SCRIPT_MARKER for name, value in scope.get("headers", [])
        )
        if not marked:
            await self.app(scope, receive, send)
            return

        async def send_without_basic(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 401:
                message["headers"] = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if not (name.lower() == b"www-authenticate" and value.lower().startswith(b"basic"))
                ]
            await send(message)

        await self.app(scope, receive, send_without_basic)


def viewer_dir(request: Request) -> Path:
    """The folder of the built viewer: the ``viewer_dir`` setting, else ``frontend/dist``."""
    configured = settings_of(request).viewer_dir
    return (configured if configured is not None else DEFAULT_DIST).resolve()


def not_built(dist: Path) -> HTMLResponse:
    """503: the front end has not been built (the API and DICOMweb work without it)."""
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>VetPACS viewer not built"
        "</title></head><body style='font-family:system-ui;margin:3rem'><h1>The viewer is not built</h1>"
        f"<p>VetPACS found no built user interface in <code>{escape(str(dist))}</code>.</p>"
        "<p>Build it with <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code> (Node 20; "
        "<code>scripts/start.sh</code> does this when Node is installed), or point the "
        "<code>VETPACS_VIEWER_DIR</code> setting at a build. The REST API and DICOMweb work without it."
        "</p></body></html>"
    )
    return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "60"})


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser navigating to a page (it asks for HTML explicitly)."""
    return "text/html" in request.headers.get("accept", "")


async def signed_in_or_redirect(request: Request) -> Response | None:
    """None when the caller is signed in; a redirect to the sign-in page for a browser; else 401."""
    try:
        await authenticate(request)
    except HTTPException as exc:
        if exc.status_code == 401 and wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
        raise
    return None


def file_in(dist: Path, relative: str) -> Path | None:
    """``dist/relative`` if it is a file inside dist (no way out with ``..`` or links)."""
    if not relative:
        return None
    candidate = (dist / relative).resolve()
    if candidate.is_file() and candidate.is_relative_to(dist):
        return candidate
    return None


@router.get(LOGIN_PATH)
def login_page(request: Request) -> Response:
    """The sign-in page (public; no patient data, no other asset)."""
    dist = viewer_dir(request)
    page = dist / "login.html"
    if not page.is_file():
        return not_built(dist)
    return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get(PREFIX)
async def viewer_root(request: Request) -> Response:
    """``/viewer`` -> ``/viewer/`` (keeping the query: a PMS link may omit the slash)."""
    redirect = await signed_in_or_redirect(request)
    if redirect is not None:
        return redirect
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{PREFIX}/{query}", status_code=307)


@router.get(PREFIX + "/{path:path}")
async def viewer(request: Request, path: str) -> Response:
    """The viewer's files; any other path under ``/viewer/`` is the app shell (``index.html``)."""
    redirect = await signed_in_or_redirect(request)
    if redirect is not None:
        return redirect
    dist = viewer_dir(request)
    shell = dist / "index.html"
    if not shell.is_file():
        return not_built(dist)
    found = file_in(dist, path)
    if found is not None and found != shell:
        hashed = found.parent.name == "assets"
        return FileResponse(found, headers={"Cache-Control": IMMUTABLE if hashed else "no-cache"})
    if path.startswith("assets/"):
        raise HTTPException(status_code=404, detail="no such viewer asset")
    return FileResponse(shell, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
async def root(request: Request) -> Response:
    """``/`` -> the clinic app (signed in) or the sign-in page (a browser without a session)."""
    redirect = await signed_in_or_redirect(request)
    if redirect is not None:
        return redirect
    return RedirectResponse(f"{APP_PREFIX}/", status_code=307)


@router.get(APP_PREFIX)
@router.get(APP_PREFIX + "/{path:path}")
async def clinic_app(request: Request, path: str = "") -> Response:
    """The clinic app's shell (``clinic.html``) for every path under ``/app/``; its scripts and
    styles are the shared build's files under ``/viewer/assets/``."""
    redirect = await signed_in_or_redirect(request)
    if redirect is not None:
        return redirect
    dist = viewer_dir(request)
    shell = dist / "clinic.html"
    if not shell.is_file():
        return not_built(dist)
    return FileResponse(shell, media_type="text/html", headers={"Cache-Control": "no-cache"})
