"""Reading HL7 v2 messages: decoding, MSH-1/MSH-2 checks, tolerant field access, ACK building.

Covers HL7 v2.3.1 to v2.5.1, chapter 2 (Control): 2.5 message construction (encoding characters
from MSH-1 and MSH-2, escape sequences 2.7), 2.14/2.15 MSH, MSA and ERR segments, and the original
acknowledgment mode (2.9.2). Parsing itself is done by the ``hl7`` package (python-hl7).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hl7

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
PROCESSING_IDS = ("P", "D", "T")
DEFAULT_ENCODING = "^~\\&"

# HL7 table 0357 (message error condition codes)
E_SEGMENT_SEQUENCE = ("100", "Segment sequence error")
E_REQUIRED = ("101", "Required field missing")
E_DATA_TYPE = ("102", "Data type error")
E_TABLE_VALUE = ("103", "Table value not found")
E_MESSAGE_TYPE = ("200", "Unsupported message type")
E_EVENT_CODE = ("201", "Unsupported event code")
E_PROCESSING_ID = ("202", "Unsupported processing id")
E_VERSION = ("203", "Unsupported version id")
E_UNKNOWN_KEY = ("204", "Unknown key identifier")
E_DUPLICATE_KEY = ("205", "Duplicate key identifier")
E_RECORD_LOCKED = ("206", "Application record locked")
E_INTERNAL = ("207", "Application internal error")


class Hl7Error(Exception):
    """A message that cannot be applied, with where it failed (ERR-2) and why (ERR-3, text).

    ``ack_code`` is AE (application error: the content is wrong) or AR (application reject: the
    message type, version, processing id or framing is not accepted).
    """

    def __init__(
        self,
        text: str,
        *,
        location: str = "",
        condition: tuple[str, str] = E_REQUIRED,
        ack_code: str = "AE",
    ) -> None:
        super().__init__(text)
        self.text = text
        self.location = location  # e.g. "PID^1^35" (segment^sequence^field[^component])
        self.condition = condition
        self.ack_code = ack_code


def decode(raw: bytes) -> str:
    """Bytes to text: UTF-8, else ISO 8859-1 (MSH-18 is informative only); CR/LF to CR."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return text.strip("\r\x00 \t")


def check_encoding(text: str) -> str:
    """Validate MSH-1 (field separator) and MSH-2 (encoding characters); returns MSH-2.

    HL7 v2.5.1 2.5.4: MSH-2 holds component, repetition, escape and subcomponent separators (v2.7
    adds a fifth, truncation); all distinct, none alphanumeric, none the field separator.
    """
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error(
            "not an HL7 v2 message: it does not start with an MSH segment",
            location="MSH^1^1",
            condition=E_SEGMENT_SEQUENCE,
            ack_code="AR",
        )
    sep = text[3]
    end = text.find(sep, 4)
    enc = text[4:end] if end > 0 else ""
    chars = sep + enc
    if (
        sep.isalnum()
        or sep in "\r\n "
        or len(enc) not in (4, 5)
        or len(set(chars)) != len(chars)
        or any(c.isalnum() or c in "\r\n " for c in enc)
    ):
        raise Hl7Error(
            f"wrong encoding characters {chars!r} in MSH-1/MSH-2 (expected e.g. '|^~\\&')",
            location="MSH^1^2",
            condition=E_DATA_TYPE,
            ack_code="AR",
        )
    return enc


def parse(text: str) -> hl7.Message:
    """Parse with python-hl7 (any encoding characters from MSH-2); Hl7Error when it cannot."""
    try:
        return hl7.parse(text)
    except Exception as exc:  # python-hl7 raises several types on broken input
        raise Hl7Error(
            f"unparseable HL7 message: {exc}", location="MSH^1", condition=E_DATA_TYPE, ack_code="AR"
        ) from exc


def get(msg: hl7.Message, seg: str, field: int, rep: int = 1, comp: int = 1, sub: int = 1, n: int = 1) -> str:
    """One value (unescaped) from segment ``seg`` (its ``n``-th occurrence), or "" when absent."""
    try:
        value = msg.extract_field(seg, n, field, rep, comp, sub)
    except (IndexError, KeyError):
        return ""
    return str(value).strip()


def repetitions(msg: hl7.Message, seg: str, field: int, n: int = 1) -> int:
    """How many repetitions field ``field`` of segment ``seg`` has (0 when empty or absent)."""
    try:
        segment = msg.segments(seg)[n - 1]
    except (KeyError, IndexError):
        return 0
    if len(segment) <= field or not str(segment[field]):
        return 0
    value: Any = segment[field]
    if isinstance(value, hl7.Field) and value and isinstance(value[0], hl7.Repetition):
        return len(value)
    return 1


def count(msg: hl7.Message, seg: str) -> int:
    """How many ``seg`` segments the message has."""
    try:
        return len(msg.segments(seg))
    except KeyError:
        return 0


def escape(text: str, enc: str, sep: str = "|") -> str:
    """Escape delimiters in a text value (HL7 v2.5.1 2.7.1: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\)."""
    comp, rep, esc, subc = enc[0], enc[1], enc[2], enc[3]
    out = text.replace(esc, f"{esc}E{esc}")
    for ch, code in ((sep, "F"), (comp, "S"), (subc, "T"), (rep, "R")):
        out = out.replace(ch, f"{esc}{code}{esc}")
    return re.sub(r"[\r\n]+", " ", out)


@dataclass(frozen=True)
class Header:
    """What the ACK needs from MSH (read as far as it could be)."""

    sep: str = "|"
    enc: str = DEFAULT_ENCODING
    sending_application: str = ""  # MSH-3
    sending_facility: str = ""  # MSH-4
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    message_type: str = ""  # MSH-9.1
    trigger: str = ""  # MSH-9.2
    control_id: str = ""  # MSH-10
    processing_id: str = "P"  # MSH-11
    version: str = "2.5.1"  # MSH-12


def header_of(msg: hl7.Message, text: str) -> Header:
    """Read MSH (hl7-parsed) into a Header."""
    return Header(
        sep=text[3],
        enc=get(msg, "MSH", 2) or DEFAULT_ENCODING,
        sending_application=get(msg, "MSH", 3),
        sending_facility=get(msg, "MSH", 4),
        receiving_application=get(msg, "MSH", 5),
        receiving_facility=get(msg, "MSH", 6),
        message_type=get(msg, "MSH", 9, 1, 1).upper(),
        trigger=get(msg, "MSH", 9, 1, 2).upper(),
        control_id=get(msg, "MSH", 10),
        processing_id=get(msg, "MSH", 11) or "P",
        version=get(msg, "MSH", 12),
    )


def scrape_header(text: str) -> Header:
    """Best effort on a message python-hl7 could not read: split MSH by hand with '|' and '^'."""
    first = text.split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return Header()
    sep = first[3] if not first[3].isalnum() else "|"
    fields = first.split(sep)

    # fields[0] = "MSH", fields[1] = MSH-2, fields[n-1] = MSH-n
    def field(n: int) -> str:
        return fields[n - 1].strip() if len(fields) > n - 1 else ""

    enc = field(2) if len(field(2)) in (4, 5) else DEFAULT_ENCODING
    comp = enc[0] if enc else "^"
    msg_type = field(9).split(comp)
    return Header(
        sep=sep if sep not in enc else "|",
        enc=enc,
        sending_application=field(3).split(comp)[0][:64],
        sending_facility=field(4).split(comp)[0][:64],
        receiving_application=field(5).split(comp)[0][:64],
        receiving_facility=field(6).split(comp)[0][:64],
        message_type=msg_type[0][:3].upper(),
        trigger=(msg_type[1] if len(msg_type) > 1 else "")[:3].upper(),
        control_id=field(10)[:64],
        processing_id=field(11)[:1] or "P",
        version=field(12).split(comp)[0][:8] or "2.5.1",
    )


def build_ack(
    head: Header,
    code: str,
    *,
    our_application: str,
    control_id: str,
    text: str = "",
    error: Hl7Error | None = None,
    now: datetime | None = None,
) -> str:
    """An ACK (HL7 v2.5.1 2.14.1 general acknowledgment: MSH, MSA, ERR) in the sender's delimiters.

    MSA-1 is AA, AE or AR; MSA-2 echoes MSH-10. With an error, ERR carries the failing location both
    as v2.3.1/2.4 ERR-1 (segment^sequence^field^code&text&HL70357) and as v2.5 ERR-2 to ERR-4 and
    ERR-8, so every version reads it.
    """
    sep, enc = head.sep, head.enc if len(head.enc) >= 4 else DEFAULT_ENCODING
    comp, subc = enc[0], enc[3]
    stamp = (now or datetime.now()).strftime("%Y%m%d%H%M%S")
    version = head.version if head.version in SUPPORTED_VERSIONS else "2.5.1"

    def e(value: str) -> str:
        return escape(value, enc, sep)

    msh = sep.join(
        [
            "MSH",
            enc,
            e(our_application),
            "",
            e(head.sending_application),
            e(head.sending_facility),
            stamp,
            "",
            comp.join(["ACK", e(head.trigger), "ACK"]) if head.trigger else "ACK",
            e(control_id),
            e(head.processing_id if head.processing_id in PROCESSING_IDS else "P"),
            version,
        ]
    )
    msa = sep.join(["MSA", code, e(head.control_id), e(text[:80])])
    segments = [msh, msa]
    if error is not None:
        loc = [e(p) for p in (error.location or "MSH").split("^")]
        code_no, code_text = error.condition
        err1 = comp.join(
            [*loc[:3], *[""] * (3 - len(loc[:3])), subc.join([code_no, e(code_text), "HL70357"])]
        )
        err = [
            "ERR",
            err1,
            comp.join(loc),
            comp.join([code_no, e(code_text), "HL70357"]),
            "E",
            "",
            "",
            "",
            e(error.text),
        ]
        segments.append(sep.join(err))
    return "\r".join(segments) + "\r"
