"""Composition root: Settings -> index engine, blob store, Archive -> DICOM and HTTP listeners."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from vetpacs.archive.context import Archive
from vetpacs.config import Settings
from vetpacs.db.engine import make_engine, migrate
from vetpacs.orders.linking import LINKER, sweep_unlinked
from vetpacs.storage import FilesystemBlobStore

log = logging.getLogger("vetpacs")


def setup_logging(level: str) -> None:
    """Log lines with time, level and logger name to stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s",
    )
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def build_archive(settings: Settings, *, run_migrations: bool = True) -> Archive:
    """Open (and migrate) the index, open the blob store and clean half-written files."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    if run_migrations:
        migrate(engine)
    store = FilesystemBlobStore(settings.resolved_storage_dir, fsync=settings.storage_fsync)
    archive = Archive(
        engine=engine,
        store=store,
        duplicate_policy=settings.duplicate_policy,
        case_insensitive_names=settings.case_insensitive_names,
    )
    # Arriving studies file themselves: linked to their order, or queued for reconciliation.
    if settings.auto_link:
        archive.study_hooks.append(LINKER)
    return archive


def _dicom_worker(settings_json: str) -> None:
    """Entry point of an extra DICOM listener process (``dicom_workers`` > 1)."""
    settings = Settings.model_validate_json(settings_json)
    setup_logging(settings.log_level)
    archive = build_archive(settings, run_migrations=False)
    from vetpacs.dicom.server import DicomService

    service = DicomService(archive, settings)
    service.start_listeners()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    service.stop()
    LINKER.flush(timeout=30)


class Server:
    """Everything ``vetpacs serve`` runs: DICOM and HL7 listeners and the HTTP server, until SIGTERM."""

    def __init__(self, settings: Settings, *, only: str | None = None) -> None:
        self.settings = settings
        self.only = only
        self.archive = build_archive(settings)
        removed = self.archive.store.recover()
        if removed:
            log.warning("removed %d half-written blob(s) left by an earlier crash", removed)
        if only in (None, "dicom") and settings.auto_link:
            # studies stored just before a crash, before their linking ran
            swept = sweep_unlinked(self.archive)
            if swept:
                log.info("linking %d recent stud(ies) that were neither linked nor queued", swept)
        self.dicom: Any = None
        self.hl7: list[Any] = []  # MLLP listeners (plain, TLS)
        self.http_app: Any = None
        self.workers: list[multiprocessing.process.BaseProcess] = []
        self.dispatcher: Any = None  # the outbox dispatcher (webhooks, HL7 out)
        self.billing: Any = None  # the billing consumer (charges from performed orders)
        self._stop = threading.Event()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then finish in-flight work and exit."""
        s = self.settings
        if self.only in (None, "worker"):
            from vetpacs.integration.dispatcher import Dispatcher

            self.dispatcher = Dispatcher(self.archive, s)
            self.dispatcher.start()
            if s.billing_auto_charge:
                from vetpacs.billing.consumer import BillingConsumer

                self.billing = BillingConsumer(self.archive, poll_seconds=s.dispatcher_poll_seconds)
                self.billing.start()
        if self.only in (None, "dicom") and (s.dicom_port or (s.tls_enabled and s.dicom_tls_port)):
            from vetpacs.dicom.server import DicomService

            self.dicom = DicomService(self.archive, s)
            self.dicom.start_listeners()
            ctx = multiprocessing.get_context("spawn")
            for _ in range(max(0, s.dicom_workers - 1)):
                proc = ctx.Process(target=_dicom_worker, args=(s.model_dump_json(),), daemon=False)
                proc.start()
                self.workers.append(proc)
        if self.only in (None, "hl7"):
            self._start_hl7()
        try:
            if self.only in (None, "http") and s.http_port:
                self._run_http()
            else:
                signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
                signal.signal(signal.SIGINT, lambda *_: self._stop.set())
                print(f"VETPACS_READY pid={os.getpid()}", flush=True)
                self._stop.wait()
        finally:
            self.shutdown()

    def _start_hl7(self) -> None:
        """Start the HL7 v2 MLLP listener (``hl7_port``) and, with TLS configured, ``hl7_tls_port``."""
        from vetpacs.integration.hl7.inbound import Hl7Listener
        from vetpacs.integration.hl7.mllp import MllpServer, server_ssl_context

        s = self.settings
        listener = Hl7Listener(
            self.archive,
            application=s.ae_title,
            patient_id_prefix=s.patient_id_prefix,
            issuer_of_patient_id=s.issuer_of_patient_id,
        )
        ports: list[tuple[int, Any]] = []
        if s.hl7_port:
            ports.append((s.hl7_port, None))
        if s.hl7_tls_port and s.tls_cert is not None and s.tls_key is not None:
            ports.append((s.hl7_tls_port, server_ssl_context(s.tls_cert, s.tls_key)))
        for port, ctx in ports:
            server = MllpServer(
                s.hl7_host,
                port,
                listener.handle,
                max_size=s.hl7_max_message_bytes,
                idle_timeout=s.hl7_idle_timeout,
                ssl_context=ctx,
                on_oversize=listener.on_oversize,
                on_truncated=listener.on_truncated,
                name="hl7-tls" if ctx else "hl7",
            )
            server.start()
            self.hl7.append(server)

    def _run_http(self) -> None:
        import uvicorn

        from vetpacs.web.api.events import stop_streams
        from vetpacs.web.app import create_app

        self.http_app = create_app(self.archive, self.settings)
        config = uvicorn.Config(
            self.http_app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level=self.settings.log_level.lower(),
            access_log=False,
            lifespan="off",
            # HTTPS when a certificate and key are configured.
            ssl_certfile=str(self.settings.tls_cert) if self.settings.tls_enabled else None,
            ssl_keyfile=str(self.settings.tls_key) if self.settings.tls_enabled else None,
        )

        http_app = self.http_app

        class _Server(uvicorn.Server):
            """uvicorn re-raises SIGTERM after its shutdown; we still have DICOM work to finish."""

            def handle_exit(self, sig: int, frame: Any) -> None:
                stop_streams(http_app)  # open event streams end now instead of holding the shutdown
                if self.should_exit and sig == signal.SIGINT:
                    self.force_exit = True
                self.should_exit = True

        server = _Server(config)
        orig_startup = server.startup

        async def startup(*args: Any, **kwargs: Any) -> None:
            await orig_startup(*args, **kwargs)
            print(f"VETPACS_READY pid={os.getpid()}", flush=True)

        server.startup = startup  # type: ignore[method-assign]
        server.run()

    def shutdown(self) -> None:
        """Stop accepting, let in-flight stores finish, stop worker processes."""
        for proc in self.workers:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        for mllp in self.hl7:
            mllp.stop(grace=self.settings.shutdown_grace)  # messages being applied finish and are ACKed
        self.hl7 = []
        if self.dicom is not None:
            self.dicom.stop()
            self.dicom = None
        for proc in self.workers:
            proc.join(timeout=40)
            if proc.is_alive():
                proc.kill()
        self.workers = []
        LINKER.flush(timeout=30)  # link the studies still queued
        if self.billing is not None:
            self.billing.stop()  # the cursor keeps its place; the rest is charged on the next start
            self.billing = None
        if self.dispatcher is not None:
            self.dispatcher.stop()  # finish the deliveries in flight; the rest wait in the database
            self.dispatcher = None
        if self.http_app is not None:
            self.http_app.state.audit.close()  # write the audit rows still queued
        log.info("VetPACS stopped")
