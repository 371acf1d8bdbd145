"""The DICOM listener (pynetdicom): C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, Storage Commitment,
Modality Worklist (C-FIND) and MPPS (N-CREATE, N-SET).

Each handler parses the event, calls one archive service and maps the result; domain errors become
DICOM statuses in ``dicom/status.py``. Several listener processes may share the port
(``dicom_workers``, SO_REUSEPORT); the index and the blob store are their shared state.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.presentation import build_context
from pynetdicom.transport import AssociationServer, ThreadedAssociationServer

from vetpacs.archive import retrieve
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.query import Model, query_from_identifier, run_query
from vetpacs.archive.sopclasses import (
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STORAGE_COMMITMENT_PUSH,
    STORAGE_COMMITMENT_PUSH_INSTANCE,
    STORAGE_SOP_CLASSES,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    TRANSFER_SYNTAXES,
    VERIFICATION,
)
from vetpacs.auth.audit import AuditLog
from vetpacs.auth.roles import Actor, Role
from vetpacs.config import Settings
from vetpacs.dicom import status, tuning
from vetpacs.errors import Conflict, Invalid, StorageFailure
from vetpacs.nodes.service import node_for_ae
from vetpacs.orders import mpps, worklist
from vetpacs.orders.mpps import MPPS_SOP_CLASS
from vetpacs.orders.worklist import MODALITY_WORKLIST_FIND

if TYPE_CHECKING:
    from pynetdicom.dimse_primitives import N_ACTION, N_CREATE

log = logging.getLogger("vetpacs.dicom")

# Send stored files to peers without decoding them (C-MOVE sub-operations, exact transfer syntax).
_config.STORE_SEND_CHUNKED_DATASET = True
# Answer unknown called AE titles with a rejection; log identifiers at DEBUG only (animal data).
_config.LOG_REQUEST_IDENTIFIERS = False

FIND_MODELS = {PATIENT_ROOT_FIND: Model.PATIENT_ROOT, STUDY_ROOT_FIND: Model.STUDY_ROOT}
RETRIEVE_MODELS = {
    PATIENT_ROOT_MOVE: Model.PATIENT_ROOT,
    STUDY_ROOT_MOVE: Model.STUDY_ROOT,
    PATIENT_ROOT_GET: Model.PATIENT_ROOT,
    STUDY_ROOT_GET: Model.STUDY_ROOT,
}


class ReusePortServer(ThreadedAssociationServer):
    """Association server that lets several processes share one port and turns Nagle off."""

    def server_bind(self) -> None:
        assert self.socket is not None
        if hasattr(socket, "SO_REUSEPORT"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = super().get_request()
        with contextlib.suppress(OSError):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, address


def tls_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) for the DICOM TLS listener; no client certificate
    is required (the DICOM association and AE title checks still apply)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


def _origin(event: evt.Event) -> Origin:
    req = event.assoc.requestor
    return Origin(OriginKind.DICOM, ae_title=str(req.ae_title).strip(), address=f"{req.address}:{req.port}")


class DicomService:
    """Builds the AE and the event handlers over one Archive."""

    def __init__(self, archive: Archive, settings: Settings) -> None:
        self.archive = archive
        self.settings = settings
        self.ae = self._make_ae()
        self.server: AssociationServer | None = None  # the first listener started (plain TCP)
        self.servers: list[AssociationServer] = []  # every listener: plain, and TLS when configured
        # Who searched, retrieved and stored what over DIMSE (searches and retrieves one row per
        # request; stores one row per association, written when it closes, not one per instance).
        self.audit = AuditLog(archive)
        self._stored: dict[int, tuple[Actor, list[int], dict[str, None]]] = {}
        self._stored_lock = threading.Lock()

    # ----------------------------------------------------------------- AE setup
    def _make_ae(self) -> AE:
        self.tuned = tuning.apply()
        s = self.settings
        ae = AE(ae_title=s.ae_title)
        ae.maximum_pdu_size = s.max_pdu_size
        ae.maximum_associations = s.max_associations
        ae.acse_timeout = s.acse_timeout
        ae.dimse_timeout = s.dimse_timeout
        ae.network_timeout = s.network_timeout
        ae.require_called_aet = True
        if s.allowed_calling_aets:
            ae.require_calling_aet = list(s.allowed_calling_aets)
        ts = list(TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION, ts[:3])
        for uid in STORAGE_SOP_CLASSES:
            # SCP for C-STORE; SCU role too, so C-GET requestors may ask us to send back.
            ae.add_supported_context(uid, ts, scu_role=True, scp_role=True)
        for uid in (*FIND_MODELS, *RETRIEVE_MODELS):
            ae.add_supported_context(uid, ts[:3])
        ae.add_supported_context(STORAGE_COMMITMENT_PUSH, ts[:3])
        ae.add_supported_context(MODALITY_WORKLIST_FIND, ts[:3])
        ae.add_supported_context(MPPS_SOP_CLASS, ts[:3])
        return ae

    def handlers(self) -> list[evt.EventHandlerType]:
        """The (event, handler) pairs bound when the server starts."""
        return [
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find),
            (evt.EVT_C_MOVE, self.on_move),
            (evt.EVT_C_GET, self.on_get),
            (evt.EVT_N_ACTION, self.on_commit),
            (evt.EVT_N_CREATE, self.on_mpps_create),
            (evt.EVT_N_SET, self.on_mpps_set),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_ABORTED, self.on_aborted),
            (evt.EVT_CONN_CLOSE, self.on_closed),
        ]

    def start(
        self, host: str | None = None, port: int | None = None, ssl_context: Any = None
    ) -> AssociationServer:
        """Start listening in background threads; returns the server."""
        address = (host or self.settings.dicom_host, self.settings.dicom_port if port is None else port)
        server = self.ae.make_server(
            address,
            ae_title=self.settings.ae_title,
            evt_handlers=self.handlers(),
            ssl_context=ssl_context,
            server_class=ReusePortServer,
        )
        name = "vetpacs-dicom-tls-accept" if ssl_context is not None else "vetpacs-dicom-accept"
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self.ae._servers.append(server)
        if self.server is None:
            self.server = server
        self.servers.append(server)
        log.info(
            "DICOM listener %s on %s:%s%s",
            self.settings.ae_title,
            *server.server_address[:2],
            " (TLS)" if ssl_context is not None else "",
        )
        return server

    def start_listeners(self) -> None:
        """Start the plain listener (``dicom_port``, unless 0) and, with a certificate and key, the
        TLS listener on ``dicom_tls_port`` (PS3.15 B.1, the same handlers)."""
        s = self.settings
        if s.dicom_port:
            self.start()
        if s.tls_enabled and s.dicom_tls_port:
            assert s.tls_cert is not None and s.tls_key is not None
            self.start(port=s.dicom_tls_port, ssl_context=tls_server_context(s.tls_cert, s.tls_key))

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight associations finish (up to ``grace`` s), then abort the rest."""
        servers = list(self.servers)
        if not servers:
            return
        # Stop the accept loops and close the listening sockets, but do not abort associations yet.
        # (ThreadingMixIn.server_close would join every association thread, idle ones included,
        # so the base classes are called directly.)
        for server in servers:
            socketserver.BaseServer.shutdown(server)
            AssociationServer.server_close(server)
            with contextlib.suppress(ValueError):
                self.ae._servers.remove(cast(ThreadedAssociationServer, server))
        deadline = time.monotonic() + (self.settings.shutdown_grace if grace is None else grace)
        while time.monotonic() < deadline:
            # Only established associations have work in flight; a bare TCP connection that never
            # sent an A-ASSOCIATE-RQ (port probes) would otherwise hold us until the ACSE timeout.
            active = [a for server in servers for a in server.active_associations if a.is_established]
            if not active:
                break
            time.sleep(0.05)
        for server in servers:
            for assoc in server.active_associations:
                assoc.abort()
        self.server = None
        self.servers = []
        self.audit.close()

    # ----------------------------------------------------------------- handlers
    def on_echo(self, event: evt.Event) -> int:
        return status.SUCCESS

    def on_rejected(self, event: evt.Event) -> None:
        req = event.assoc.requestor
        log.warning(
            "association rejected: calling AE %r called AE %r from %s:%s",
            str(req.ae_title).strip(),
            # the AE title the peer asked for (acceptor.ae_title is always our own)
            str(getattr(req.primitive, "called_ae_title", "") or event.assoc.acceptor.ae_title).strip(),
            req.address,
            req.port,
        )

    def on_aborted(self, event: evt.Event) -> None:
        req = event.assoc.requestor
        log.info("association aborted: %s from %s:%s", str(req.ae_title).strip(), req.address, req.port)

    def on_store(self, event: evt.Event) -> int | Dataset:
        """C-STORE (PS3.4 Annex B): acknowledged only after store_instance has made it durable."""
        origin = _origin(event)
        try:
            data = event.encoded_dataset(include_meta=True)
            result = store_instance(self.archive, data, origin=origin)
        except Exception as exc:
            if not isinstance(exc, Invalid | Conflict | StorageFailure):
                log.exception("C-STORE from %s failed", origin.describe())
            return status.store_failure(exc)
        key = id(event.assoc)
        with self._stored_lock:
            entry = self._stored.get(key)
            if entry is None:
                entry = self._stored[key] = (self._dicom_actor(event), [0], {})
            entry[1][0] += 1
            entry[2][result.study_instance_uid] = None
        return status.SUCCESS

    def on_closed(self, event: evt.Event) -> None:
        """The association's connection closed: one audit row for what it stored, if anything."""
        with self._stored_lock:
            entry = self._stored.pop(id(event.assoc), None)
        if entry is None:
            return
        actor, count, studies = entry
        uids = list(studies)
        self.audit.record(
            actor,
            "instances.stored",
            object_type="study",
            object_id=",".join(uids)[:200],
            detail={"instances": count[0], "studies": uids[:50], "via": "C-STORE"},
            address=actor.address,
        )

    def _audit_request(self, event: evt.Event, action: str, **detail: Any) -> None:
        """One audit row for a C-FIND, C-MOVE or C-GET request, with its keys."""
        actor = self._dicom_actor(event)
        keys: dict[str, str] = {}
        study = ""
        try:
            for elem in event.identifier:
                if elem.VR != "SQ" and elem.value not in (None, "", b""):
                    keys[elem.keyword or f"{int(elem.tag):08X}"] = str(elem.value)[:64]
            study = keys.get("StudyInstanceUID", "")
        except Exception:  # an identifier we cannot read is still audited, without its keys
            keys = {}
        self.audit.record(
            actor,
            action,
            object_type="study",
            object_id=study[:64],
            detail={"keys": keys, **detail},
            address=actor.address,
        )

    def on_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """C-FIND (PS3.4 C.4.1): one pending response per match; checks for C-CANCEL between matches."""
        if str(event.request.AffectedSOPClassUID) == MODALITY_WORKLIST_FIND:
            yield from self.on_worklist_find(event)
            return
        model = FIND_MODELS.get(str(event.request.AffectedSOPClassUID), Model.STUDY_ROOT)
        self._audit_request(event, "dicom.searched", via="C-FIND")
        try:
            q = query_from_identifier(
                event.identifier, model, case_insensitive=self.settings.case_insensitive_names
            )
            matches = run_query(self.archive, q)
            raw = (
                tuning.RawFindResponder(event)
                if self.tuned and tuning.RawFindResponder.usable(event)
                else None
            )
            for n, ds in enumerate(matches):
                if event.is_cancelled:
                    if raw is not None:
                        raw.flush()
                    yield status.CANCEL, None
                    return
                if raw is None:
                    yield status.PENDING, ds
                else:
                    raw.pending(ds)
                    if n % 32 == 31:
                        raw.flush()  # keep answers flowing on long result lists
            if raw is not None:
                raw.flush()
        except Exception as exc:
            log.warning("C-FIND from %s failed: %s", _origin(event).describe(), exc)
            yield status.query_failure(exc), None
            return

    def on_worklist_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """Modality Worklist C-FIND (PS3.4 K.4): one pending response per active scheduled step."""
        self._audit_request(event, "worklist.searched", via="MWL C-FIND")
        try:
            q, answers = worklist.find_worklist_plain(
                self.archive.engine, event.identifier, case_insensitive=self.settings.case_insensitive_names
            )
            raw = (
                tuning.RawFindResponder(event)
                if self.tuned and tuning.RawFindResponder.usable(event)
                else None
            )
            for n, plain in enumerate(answers):
                if event.is_cancelled:
                    if raw is not None:
                        raw.flush()
                    yield status.CANCEL, None
                    return
                utf8 = q.charset_asked or worklist.needs_utf8(plain)
                if utf8:
                    plain = [(0x00080005, "CS", "ISO_IR 192"), *plain]
                if raw is None:
                    yield status.PENDING, worklist.to_dataset(plain)
                    continue
                raw.pending_encoded(tuning.encode_plain(plain, raw.implicit, "utf-8" if utf8 else "ascii"))
                if n % 32 == 31:
                    raw.flush()  # keep answers flowing on long result lists
            if raw is not None:
                raw.flush()
        except Exception as exc:
            log.warning("worklist C-FIND from %s failed: %s", _origin(event).describe(), exc)
            yield status.query_failure(exc), None

    def _dicom_actor(self, event: evt.Event) -> Actor:
        req = event.assoc.requestor
        ae = str(req.ae_title).strip()
        return Actor(username=f"dicom:{ae}"[:64], role=Role.TECHNICIAN, address=str(req.address), via="dicom")

    def on_mpps_create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        """MPPS N-CREATE (PS3.4 F.7.2.1): IN PROGRESS; the order moves to in progress."""
        request = event.request
        if str(request.AffectedSOPClassUID) != MPPS_SOP_CLASS:
            return status.status_dataset(0x0118, "no such SOP class"), None
        uid = str(getattr(request, "AffectedSOPInstanceUID", "") or "") or str(generate_uid())
        try:
            attributes = event.attribute_list
            mpps.create_mpps(
                self.archive,
                uid,
                attributes,
                actor=self._dicom_actor(event),
                station_ae_title=str(event.assoc.requestor.ae_title).strip(),
            )
        except Exception as exc:
            log.warning("MPPS N-CREATE %s from %s refused: %s", uid, _origin(event).describe(), exc)
            return status.n_failure(exc, creating=True), None
        if not getattr(request, "AffectedSOPInstanceUID", None):
            cast("N_CREATE", request).AffectedSOPInstanceUID = uid  # the response names our instance
        return status.SUCCESS, attributes

    def on_mpps_set(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        """MPPS N-SET (PS3.4 F.7.2.2): attributes, then COMPLETED or DISCONTINUED move the order on."""
        request = event.request
        uid = str(getattr(request, "RequestedSOPInstanceUID", "") or "")
        try:
            modifications = event.modification_list
            mpps.set_mpps(self.archive, uid, modifications, actor=self._dicom_actor(event))
        except Exception as exc:
            log.warning("MPPS N-SET %s from %s refused: %s", uid, _origin(event).describe(), exc)
            return status.n_failure(exc), None
        return status.SUCCESS, modifications

    def _retrieve_refs(self, event: evt.Event) -> list[retrieve.InstanceRef]:
        model = RETRIEVE_MODELS.get(str(event.request.AffectedSOPClassUID), Model.STUDY_ROOT)
        q = query_from_identifier(
            event.identifier, model, case_insensitive=self.settings.case_insensitive_names
        )
        return retrieve.instances_for(self.archive, q)

    def _dataset_for(self, ref: retrieve.InstanceRef) -> Dataset:
        """What a C-GET/C-MOVE handler yields: the stored file, sent without decoding when possible."""
        if not self.tuned:
            return retrieve.read_dataset(self.archive, ref)
        if ref.overlay_json:  # a corrected study: send its corrected header with the stored pixels
            return tuning.StoredFile(
                ref.sop_class_uid,
                ref.sop_instance_uid,
                ref.transfer_syntax_uid,
                None,
                lambda: retrieve.read_served_bytes(self.archive, ref),
            )
        path = retrieve.local_path(self.archive, ref)
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"blob {ref.blob_key} is missing")
        return tuning.StoredFile(
            ref.sop_class_uid,
            ref.sop_instance_uid,
            ref.transfer_syntax_uid,
            path,
            lambda: retrieve.read_bytes(self.archive, ref),
        )

    def _sub_operations(
        self, event: evt.Event, refs: list[retrieve.InstanceRef], label: str
    ) -> Iterator[Any]:
        """The part C-GET and C-MOVE share: the count, then one stored file per sub-operation."""
        yield len(refs)
        for ref in refs:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            try:
                ds = self._dataset_for(ref)
            except Exception as exc:
                # A failure status is final for pynetdicom: the retrieve ends here, and says why.
                log.error("%s: cannot read %s: %s", label, ref.sop_instance_uid, exc)
                why = f"cannot read {ref.sop_instance_uid}"
                yield status.status_dataset(status.UNABLE_TO_PROCESS, why), None
                return
            yield status.PENDING, ds

    def on_get(self, event: evt.Event) -> Iterator[Any]:
        """C-GET (PS3.4 C.4.3): sub-operations go back over the same association."""
        try:
            refs = self._retrieve_refs(event)
        except Exception as exc:
            log.warning("C-GET from %s failed: %s", _origin(event).describe(), exc)
            # pynetdicom wants the number of sub-operations first; a failure status ends the C-GET.
            yield 1
            yield status.query_failure(exc), None
            return
        self._audit_request(event, "instances.downloaded", via="C-GET", instances=len(refs))
        yield from self._sub_operations(event, refs, "C-GET")

    def on_move(self, event: evt.Event) -> Iterator[Any]:
        """C-MOVE (PS3.4 C.4.2): to destinations registered with ``vetpacs modality add``."""
        destination = str(event.move_destination).strip()
        node = node_for_ae(self.archive.engine, destination)
        if node is None:
            log.warning("C-MOVE from %s: unknown destination %r", _origin(event).describe(), destination)
            yield None, None
            return
        try:
            refs = self._retrieve_refs(event)
        except Exception as exc:
            log.warning("C-MOVE from %s failed: %s", _origin(event).describe(), exc)
            # pynetdicom wants the destination, then the number of sub-operations, before a status;
            # it associates with the destination first, so offer contexts any storage SCP accepts.
            contexts = [build_context(VERIFICATION)] + [build_context(uid) for uid in STORAGE_SOP_CLASSES]
            yield node.host, node.port, {"contexts": contexts[:128]}
            yield 1
            yield status.query_failure(exc), None
            return
        yield node.host, node.port, {"contexts": _contexts_for(refs)}
        self._audit_request(
            event, "instances.sent", via="C-MOVE", destination=destination, instances=len(refs)
        )
        yield from self._sub_operations(event, refs, "C-MOVE")

    def on_commit(self, event: evt.Event) -> tuple[int, Dataset | None]:
        """Storage Commitment Push Model N-ACTION (PS3.4 J.3): answer now, report asynchronously."""
        request = cast("N_ACTION", event.request)
        if str(request.RequestedSOPClassUID) != STORAGE_COMMITMENT_PUSH:
            return 0x0112, None
        if int(cast(int, request.ActionTypeID)) != 1:
            return 0x0123, None  # No such action type
        try:
            info = event.action_information
            transaction_uid = str(info.TransactionUID)
            requested = [
                (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
                for item in info.ReferencedSOPSequence
            ]
        except Exception as exc:
            log.warning("storage commitment from %s: bad request: %s", _origin(event).describe(), exc)
            return 0x0110, None
        origin = _origin(event)
        assoc = event.assoc
        threading.Thread(
            target=self._send_commit_report,
            args=(assoc, origin, transaction_uid, requested),
            name="vetpacs-commit-report",
            daemon=True,
        ).start()
        return status.SUCCESS, None

    def commit_result(self, transaction_uid: str, requested: list[tuple[str, str]]) -> tuple[int, Dataset]:
        """The N-EVENT-REPORT event type (1 all committed, 2 some failed) and its information."""
        report = Dataset()
        report.TransactionUID = transaction_uid
        ok, failed = [], []
        for sop_class, sop_instance in requested:
            ref = retrieve.instance_by_uid(self.archive, sop_instance)
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_instance
            if ref is not None and ref.sop_class_uid == sop_class and self.archive.store.exists(ref.blob_key):
                ok.append(item)
            else:
                item.FailureReason = status.NO_SUCH_SOP_INSTANCE if ref is None else status.PROCESSING_FAILURE
                failed.append(item)
        if ok:
            report.ReferencedSOPSequence = ok
        if failed:
            report.FailedSOPSequence = failed
        return (2 if failed else 1), report

    def _send_commit_report(
        self, assoc: Any, origin: Origin, transaction_uid: str, requested: list[tuple[str, str]]
    ) -> None:
        event_type, report = self.commit_result(transaction_uid, requested)
        # Give pynetdicom a moment to send the N-ACTION response first.
        time.sleep(0.05)
        if assoc.is_established:
            try:
                rsp = assoc.send_n_event_report(
                    report, event_type, UID(STORAGE_COMMITMENT_PUSH), UID(STORAGE_COMMITMENT_PUSH_INSTANCE)
                )
                if rsp[0] is not None and getattr(rsp[0], "Status", None) == 0:
                    log.info("storage commitment %s reported to %s", transaction_uid, origin.describe())
                    return
            except Exception as exc:
                log.info("commitment report on the same association failed (%s); opening a new one", exc)
        node = node_for_ae(self.archive.engine, origin.ae_title)
        if node is None:
            log.error(
                "storage commitment %s: %s is not a registered node, cannot send the report",
                transaction_uid,
                origin.describe(),
            )
            return
        ae = AE(ae_title=self.settings.ae_title)
        ae.acse_timeout = self.settings.acse_timeout
        ae.dimse_timeout = self.settings.dimse_timeout
        ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
        role = build_role(STORAGE_COMMITMENT_PUSH, scu_role=False, scp_role=True)
        for attempt in range(3):
            out = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=[role])
            if out.is_established:
                try:
                    rsp = out.send_n_event_report(
                        report,
                        event_type,
                        UID(STORAGE_COMMITMENT_PUSH),
                        UID(STORAGE_COMMITMENT_PUSH_INSTANCE),
                    )
                    log.info(
                        "storage commitment %s reported to %s (status %s)",
                        transaction_uid,
                        node.ae_title,
                        getattr(rsp[0], "Status", "?"),
                    )
                finally:
                    out.release()
                return
            time.sleep(1 + attempt)
        log.error("storage commitment %s: could not reach %s", transaction_uid, node.ae_title)


def _contexts_for(refs: list[retrieve.InstanceRef]) -> list[Any]:
    """Presentation contexts for C-MOVE sub-operations (at most 128, PS3.8 9.3.2.2).

    One context per (SOP class, stored transfer syntax), so every instance can go out exactly as
    stored, plus one per SOP class with the uncompressed syntaxes for peers that accept only those.
    """
    pairs: dict[tuple[str, str], None] = {}
    classes: dict[str, None] = {}
    for ref in refs:
        pairs[(ref.sop_class_uid, ref.transfer_syntax_uid)] = None
        classes[ref.sop_class_uid] = None
    uncompressed = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
    contexts = [build_context(sop_class, uncompressed) for sop_class in classes]
    for sop_class, ts in pairs:
        if ts not in uncompressed and len(contexts) < 128:
            contexts.append(build_context(sop_class, [ts]))
    return contexts[:128]
