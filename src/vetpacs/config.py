"""One Settings object for the whole program.

Every key is typed, defaulted and documented here; ``docs/configuration.md`` is generated from this
class (``vetpacs config docs``) and a test fails when the two drift apart. Values come, in order of
precedence, from command-line options, environment variables ``VETPACS_<NAME>``, an optional TOML file
(``VETPACS_CONFIG`` or ``--config``) and the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class DuplicatePolicy(StrEnum):
    """What to do when a SOP Instance UID arrives again with different bytes."""

    KEEP_FIRST = "keep-first"  # keep the stored instance, record the conflict, answer success
    REPLACE = "replace"  # store the new bytes, keep the old blob referenced by the conflict row
    REJECT = "reject"  # keep the stored instance, record the conflict, answer a failure status


class Settings(BaseSettings):
    """VetPACS configuration (environment prefix ``VETPACS_``)."""

    model_config = SettingsConfigDict(env_prefix="VETPACS_", extra="ignore")

    data_dir: Path = Field(Path("vetpacs-data"), description="Folder for the SQLite index and image blobs.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the index database. Default: SQLite file `index.sqlite` "
        "inside the data dir. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    storage_dir: Path | None = Field(
        None, description="Folder of the filesystem blob store. Default: `blobs/` inside the data dir."
    )
    storage_fsync: bool = Field(
        True, description="fsync every blob and its folder before acknowledging a store."
    )
    ae_title: str = Field("VETPACS", description="Our DICOM Application Entity title (called AE title).")
    dicom_host: str = Field("0.0.0.0", description="Address the DICOM listener binds to.")
    dicom_port: int = Field(11112, description="TCP port of the DICOM (DIMSE) listener; 0 disables it.")
    dicom_workers: int = Field(
        1,
        description="Number of DICOM listener processes sharing the port (SO_REUSEPORT). "
        "More than one spreads associations over CPU cores.",
    )
    allowed_calling_aets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="If not empty, only these calling AE titles may associate (comma separated in env).",
    )
    max_associations: int = Field(32, description="Maximum simultaneous DICOM associations per process.")
    max_pdu_size: int = Field(
        0, description="Maximum PDU length we receive, in bytes; 0 means unlimited (fastest)."
    )
    acse_timeout: float = Field(30.0, description="Seconds to wait for association messages.")
    dimse_timeout: float = Field(60.0, description="Seconds to wait for DIMSE messages.")
    network_timeout: float = Field(120.0, description="Seconds an idle association stays open.")
    shutdown_grace: float = Field(
        30.0,
        description="On SIGTERM, seconds to let open DICOM associations finish before aborting them.",
    )
    duplicate_policy: DuplicatePolicy = Field(
        DuplicatePolicy.KEEP_FIRST,
        description="A repeated SOP Instance UID with different bytes: `keep-first` (record the "
        "conflict, answer success), `replace` (store the new version) or `reject` (answer failure).",
    )
    case_insensitive_names: bool = Field(
        False, description="Match person names (PatientName, ResponsiblePerson...) case-insensitively."
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    http_port: int = Field(8042, description="TCP port of the HTTP server (health; REST and DICOMweb).")
    render_cache_mb: int = Field(
        512,
        description="Disk space (MiB) for cached rendered frames and thumbnails (`cache/` in the data dir).",
    )
    auto_link: bool = Field(
        True,
        description="Link arriving studies to their orders, or queue them for reconciliation "
        "(docs/workflow.md). Off: studies are only archived.",
    )
    log_level: str = Field("INFO", description="Logging level: DEBUG, INFO, WARNING or ERROR.")
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) file. With `tls_key`, HTTP is served over HTTPS and the "
        "DICOM listener also accepts TLS on `dicom_tls_port`.",
    )
    tls_key: Path | None = Field(None, description="PEM private key file of `tls_cert`.")
    dicom_tls_port: int = Field(
        2762, description="TCP port of the DICOM TLS listener (used only when `tls_cert` is set; 0 disables)."
    )
    hl7_host: str = Field("0.0.0.0", description="Address the HL7 v2 (MLLP) listener binds to.")
    hl7_port: int = Field(2575, description="TCP port of the HL7 v2 MLLP listener; 0 disables it.")
    hl7_tls_port: int = Field(
        0,
        description="TCP port of an HL7 v2 MLLP-over-TLS listener, using `tls_cert` and `tls_key` "
        "(0 disables; many PMSs speak plain MLLP only).",
    )
    hl7_max_message_bytes: int = Field(
        10 * 1024 * 1024,
        description="Largest HL7 message accepted; a bigger one is answered AR and its connection closed.",
    )
    hl7_idle_timeout: float = Field(
        300.0, description="Seconds an idle HL7 connection stays open (also ends a frame cut short)."
    )
    session_idle_minutes: int = Field(
        60, description="A browser session ends after this many minutes without a request."
    )
    session_max_hours: int = Field(12, description="A browser session ends this many hours after login.")
    viewer_dir: Path | None = Field(
        None,
        description="Folder of the built browser viewer served at `/viewer/` (Vite output). Default: "
        "`frontend/dist` of the source checkout. Missing: `/viewer/` answers 503 (not built).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the HTTP API from a browser (CORS, with credentials; comma "
        "separated in env). Empty: no CORS headers.",
    )
    login_max_failures: int = Field(
        5,
        description="Failed logins for one username, or from one address, that lock further attempts "
        "for `login_lockout_minutes` (answer 429).",
    )
    login_lockout_minutes: int = Field(
        15, description="Window in which failed logins are counted, and how long a lockout lasts."
    )
    patient_id_prefix: str = Field(
        "VP",
        description="Prefix of generated DICOM Patient IDs: the prefix and the animal's zero-padded "
        "record number (`VP000042`).",
    )
    issuer_of_patient_id: str = Field(
        "VETPACS",
        description="Issuer of Patient ID (0010,0021) stamped on animals registered here: the clinic.",
    )
    clinic_name: str = Field(
        "",
        max_length=128,
        description="The clinic's name, printed at the top of signed report PDFs (docs/reports.md); "
        "empty: the Issuer of Patient ID is printed.",
    )
    delivery_max_attempts: int = Field(
        10,
        description="Attempts at delivering one event to one partner (webhook or HL7) before it is "
        "marked dead (shown in the dead-letter view, retried by hand).",
    )
    delivery_backoff_seconds: float = Field(
        5.0,
        description="Base delay before retrying a failed delivery; doubles with every attempt "
        "(with random jitter) up to `delivery_backoff_max_seconds`.",
    )
    delivery_backoff_max_seconds: float = Field(
        3600.0, description="Longest delay between two attempts at one delivery."
    )
    delivery_timeout_seconds: float = Field(
        10.0, description="Seconds to wait for a partner's answer (webhook response or HL7 ACK)."
    )
    delivery_concurrency: int = Field(
        4, description="Deliveries sent at the same time by one worker (each to a different ordering key)."
    )
    dispatcher_poll_seconds: float = Field(
        1.0, description="How often the worker looks for new outbox events and due deliveries."
    )
    billing_currency: str = Field(
        "EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency of new fee list lines (and of the sample fee list); each line "
        "keeps its own currency (docs/billing.md).",
    )
    billing_auto_charge: bool = Field(
        True,
        description="Post charges from the fee list when an order's procedure is performed (MPPS "
        "COMPLETED or images received), in the worker. Off: charges are posted by hand or by the PMS.",
    )

    @field_validator("allowed_calling_aets", "cors_origins", mode="before")
    @classmethod
    def _split_aets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite').resolve()}"

    @property
    def resolved_storage_dir(self) -> Path:
        """The blob folder, defaulting to ``blobs/`` inside the data dir."""
        return self.storage_dir if self.storage_dir is not None else self.data_dir / "blobs"

    @property
    def tls_enabled(self) -> bool:
        """Whether a certificate and its key are configured (HTTPS, DICOM TLS listener)."""
        return self.tls_cert is not None and self.tls_key is not None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, an optional TOML file, the environment and explicit overrides."""
    path = config_file or (Path(os.environ["VETPACS_CONFIG"]) if os.environ.get("VETPACS_CONFIG") else None)
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        values.update(raw.get("vetpacs", raw))
    env_settings = Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from defaults/env
    # Environment wins over the file: only keep file values the environment did not set.
    # (Ask the settings, not os.environ: environment names are matched case-insensitively.)
    for name in list(values):
        if name in env_settings.model_fields_set:
            values.pop(name)
    merged = {**{k: getattr(env_settings, k) for k in env_settings.model_fields_set}, **values}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged)


def settings_reference() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, description) for every setting: drives the docs."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, StrEnum):
            default = default.value
        rows.append((name, f"VETPACS_{name.upper()}", repr(default), field.description or ""))
    return rows
