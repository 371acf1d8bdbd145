"""What every inbound HL7 handler shares: the transaction view, the outcome, field-level errors.

HL7 v2.5.1 chapter 2: a validation failure of one of our schemas becomes an ERR segment naming the
HL7 field (``FIELD_LOCATIONS``); TS/DTM values are parsed here (2.A.85).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Connection

from vetpacs.archive.context import Archive
from vetpacs.integration.hl7 import parse as p
from vetpacs.integration.hl7.parse import Hl7Error

# where a pydantic field of ours comes from, for the ERR segment
FIELD_LOCATIONS = {
    "name": "PID^1^5^2",
    "patient_id": "PID^1^3",
    "external_id": "PID^1^3",
    "microchip": "PID^1^3",
    "birth_date": "PID^1^7",
    "sex": "PID^1^8",
    "weight_kg": "OBX^1^5",
    "family_name": "NK1^1^2",
    "given_name": "NK1^1^2^2",
    "phone": "NK1^1^5",
    "address_line": "NK1^1^4",
    "city": "NK1^1^4^3",
    "postal_code": "NK1^1^4^5",
    "country": "NK1^1^4^6",
    "accession_number": "OBR^1^18",
    "priority": "OBR^1^27",
    "clinical_question": "OBR^1^31",
}


@dataclass(frozen=True)
class Outcome:
    """What a message did (for its log row and the ACK text)."""

    patient_id: str = ""
    accession_number: str = ""
    text: str = ""


class InTransaction(Archive):
    """The archive seen from inside one open transaction: domain services join it.

    Service functions open ``write_transaction()``; here that yields the message's connection, so
    registering the owner, the animal, the link and the order commit (or roll back) together.
    """

    def __init__(self, archive: Archive, conn: Connection) -> None:  # no dataclass __init__: no lock file
        self.engine = archive.engine
        self.store = archive.store
        self.duplicate_policy = archive.duplicate_policy
        self.case_insensitive_names = archive.case_insensitive_names
        self.study_hooks = archive.study_hooks
        self.write_engine = archive.write_engine
        self._thread_lock = archive._thread_lock
        self._lock_fd = None
        self._conn = conn

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """The message's own connection (commit and rollback belong to the caller)."""
        yield self._conn


class Registrar(Protocol):
    """How the listener names new animals (its Patient ID prefix and issuer)."""

    patient_id_prefix: str
    issuer_of_patient_id: str


def parse_timestamp(value: str, location: str) -> datetime:
    """An HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS]]]]], offset ignored) as naive local time."""
    digits = value.split("+")[0].split("-")[0].split(".")[0]
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}
    try:
        return datetime.strptime(digits, formats[len(digits)])
    except (KeyError, ValueError):
        raise Hl7Error(
            f"{value!r} is not an HL7 date/time", location=location, condition=p.E_DATA_TYPE
        ) from None


def build_model(cls: Any, where: str, *, locations: dict[str, str] | None = None, **values: Any) -> Any:
    """Build a domain schema; a validation error becomes an AE naming the HL7 field it came from."""
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        raise Hl7Error(
            f"{name or where}: {first['msg']}",
            location=(locations or FIELD_LOCATIONS).get(name, where),
            condition=p.E_DATA_TYPE,
        ) from exc
