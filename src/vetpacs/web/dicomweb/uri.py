"""WADO-URI (PS3.18 9): ``?requestType=WADO&studyUID=&seriesUID=&objectUID=`` for older viewers."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from vetpacs.errors import Invalid


def wado_uri_request(params: QueryParams) -> dict[str, str]:
    """Validate a WADO-URI query and return its parameters (PS3.18 9.1, 9.2)."""
    if params.get("requestType") != "WADO":
        raise Invalid("requestType must be WADO")
    for name in ("studyUID", "seriesUID", "objectUID"):
        if not params.get(name):
            raise Invalid(f"{name} is required")
    out = {k: v for k, v in params.items()}
    content = params.get("contentType", "image/jpeg").split(",")[0].strip().lower()
    out["contentType"] = content
    return out


def window_text(params: dict[str, str]) -> str | None:
    """``windowCenter``/``windowWidth`` (both or neither) as a WADO-RS window value."""
    center, width = params.get("windowCenter"), params.get("windowWidth")
    if center is None and width is None:
        return None
    if center is None or width is None:
        raise Invalid("windowCenter and windowWidth go together")
    return f"{center},{width},linear"


def viewport_text(params: dict[str, str]) -> str | None:
    """``rows``/``columns`` as a WADO-RS viewport (the image fits inside, aspect kept)."""
    rows, cols = params.get("rows"), params.get("columns")
    if rows is None and cols is None:
        return None
    return f"{cols or rows},{rows or cols}"


def frame_index(params: dict[str, str]) -> int:
    """The 0-based frame of ``frameNumber`` (1-based; default the first)."""
    raw = params.get("frameNumber", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(f"frameNumber must be a positive integer, not {raw!r}")
    return int(raw) - 1
