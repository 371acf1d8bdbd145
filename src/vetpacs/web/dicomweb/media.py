"""Media types for DICOMweb: Accept negotiation and multipart/related bodies (PS3.18 8.7, RFC 2387)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vetpacs.errors import Invalid

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET = "application/octet-stream"


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header: ``multipart/related; type="application/dicom"; transfer-syntax=*``."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def part_type(self) -> str:
        """The media type of the parts: the ``type`` parameter of multipart/related, else the type."""
        if self.type == "multipart/related":
            return self.params.get("type", "").lower()
        return self.type

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_media_type(text: str) -> MediaRange:
    """Parse one media type with parameters (quotes removed, names lower-cased)."""
    pieces = _split_outside_quotes(text, ";")
    mtype = pieces[0].strip().lower()
    params: dict[str, str] = {}
    q = 1.0
    for piece in pieces[1:]:
        name, _, value = piece.strip().partition("=")
        name = name.strip().lower()
        value = value.strip().strip('"')
        if not name:
            continue
        if name == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
            continue
        params[name] = value
    return MediaRange(mtype, params, q)


def parse_accept(header: str | None, query_accept: Iterable[str] = ()) -> list[MediaRange]:
    """Media ranges from the ``accept`` query parameters and the Accept header, best first."""
    ranges: list[MediaRange] = []
    for text in [*query_accept, header or ""]:
        for item in _split_outside_quotes(text, ","):
            if item.strip():
                ranges.append(parse_media_type(item))
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def new_boundary() -> str:
    return uuid.uuid4().hex


def multipart_content_type(part_type: str, boundary: str, transfer_syntax: str | None = None) -> str:
    """The Content-Type of a multipart/related response."""
    ts = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"{ts}; boundary={boundary}'


def part_header(boundary: str, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    """The delimiter line and headers that open one part."""
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def multipart_body(boundary: str, parts: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """Yield a whole multipart/related body from (content type, bytes) parts."""
    for ctype, data in parts:
        yield part_header(boundary, ctype)
        yield data
        yield b"\r\n"
    yield closing(boundary)


@dataclass
class Part:
    """One body part of a multipart/related request."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> MediaRange:
        return parse_media_type(self.headers.get("content-type", DICOM))


def split_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart/related body (RFC 2046 5.1.1); ``Invalid`` when malformed."""
    media = parse_media_type(content_type)
    boundary = media.params.get("boundary", "")
    if not boundary:
        raise Invalid("the multipart/related request has no boundary parameter")
    delim = b"--" + boundary.encode("latin-1")
    pos = body.find(delim)
    if pos < 0:
        raise Invalid("the request body holds no part delimited by its boundary")
    parts: list[Part] = []
    while True:
        pos += len(delim)
        if body[pos : pos + 2] == b"--":
            return parts  # close delimiter
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise Invalid("a part delimiter is not followed by a line break")
        start = eol + 2
        end = body.find(b"\r\n" + delim, start)
        if end < 0:
            raise Invalid("the multipart body ends without its closing boundary")
        parts.append(_parse_part(body[start:end]))
        pos = end + 2


def _parse_part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n"):
        return Part({}, raw[2:])  # a part without headers
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        raise Invalid("a part has no blank line between its headers and its body")
    headers: dict[str, str] = {}
    for line in raw[:head_end].decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            raise Invalid(f"malformed part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return Part(headers, raw[head_end + 4 :])
