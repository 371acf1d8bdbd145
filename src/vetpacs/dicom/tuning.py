"""Latency and throughput fixes for pynetdicom's transport, applied once when the listener is built.

pynetdicom 3.0 reads sockets in 4 KiB pieces (512 ``recv`` calls and as many buffer copies for a
2 MB radiograph) and its association thread polls its message queue with a fixed 1 ms sleep, which
adds up to a millisecond to every DIMSE message. These patches keep pynetdicom's behaviour and
change only how fast it happens:

- Sockets VetPACS opens itself (C-MOVE sub-associations, storage commitment reports) get
  ``TCP_NODELAY`` like the accepted ones: with Nagle on, every 16 KiB PDU to a peer waited for a
  delayed ACK (a 46 MB CT study took 2 s to move instead of a tenth of that).
- ``AssociationSocket.recv`` reads straight into one preallocated buffer (``recv_into``).
- The association reactor's poll sleep wakes up as soon as a DIMSE message is queued, instead of
  always sleeping a full millisecond (idle associations still wake at most once a millisecond).
- The DUL thread's idle sleep waits on its socket and on a wake-up socket pair that ``send_pdu``
  pokes, so an arriving PDU or an outgoing response is handled at once instead of after up to 1 ms.
- Every new association deep-copied our ~50 supported presentation contexts (4 ms per association,
  the bulk of a C-ECHO); a per-context shallow copy with its own transfer syntax list does the same
  job in microseconds.
- Datasets made only of text and integer elements (C-FIND answers, every DIMSE command set) are
  encoded by a small direct encoder instead of pydicom's general writer (five to ten times
  faster); anything else (sequences, binary values, big endian, other character sets) still goes
  through pydicom. ``tests/unit/test_dicom_tuning.py`` checks both give the same bytes.
- C-FIND pending answers go straight onto the association's socket as ready-made P-DATA-TF PDUs
  (``RawFindResponder``), several per ``send``; pynetdicom still sends the final response and keeps
  its state machine. A C-FIND answer through pynetdicom's generic path costs about half a
  millisecond of Python per match; this path about a tenth of that.
- C-GET and C-MOVE handlers must yield Datasets; they yield a ``StoredFile`` placeholder instead,
  and ``send_c_store`` writes that file's stored bytes as ready-made P-DATA-TF PDUs when the peer
  accepted the stored transfer syntax (under a per-association send lock that pynetdicom's own
  sends take too, so messages never interleave). Otherwise it decodes the file and lets
  pynetdicom convert between the uncompressed syntaxes.
- The C-STORE response to such a raw request is read straight off the socket
  (``read_store_response``) over plain TCP: the DUL thread reads the socket only under a
  per-association read lock, which the sender holds from before its request goes out until the
  response is in. A response made of command PDVs in P-DATA-TF PDUs is decoded directly (Status,
  Error Comment; ``decode_store_response``, checked against pynetdicom's decode by a unit test);
  anything else (A-ABORT, A-RELEASE, a C-CANCEL arriving meanwhile, Offending Element, another
  Message ID, a closed connection) is handed to pynetdicom exactly as its reader would have, and
  the response then comes through pynetdicom. Over TLS the response always comes through
  pynetdicom. This saves pynetdicom's DIMSE decode, the pydicom command set and two thread
  hand-offs per sub-operation.
- The pause handshake before a sub-operation wakes the association reactor from its idle wait
  instead of waiting for its millisecond sleep to end (a C-MOVE sub-association's reactor is idle
  between sub-operations, so each paid up to a millisecond).
- Association negotiation: ``UserInformationItem.role_selection`` is built once per item
  (pynetdicom's association logging asked for it per proposed context: quadratic), and
  conformant UIDs seen in negotiation items are converted and validated once per process
  (``getscu`` proposes ~120 contexts: some 3,000 ``UID`` objects and regular expressions).
- C-GET and C-MOVE Pending responses are optional (PS3.4 C.4.2.3.1, C.4.3.3.1); pynetdicom sends
  one after every sub-operation, each built through pydicom (about a fifth of a sub-operation's
  cost on a CT study). At most one Pending response per association goes out every
  :data:`PENDING_INTERVAL` seconds (the first always does); the final response carries the counts.

Measured on the bench (``benchmarks/``); see the closing note of the archive core issue.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import select
import socket
import ssl
import struct
import threading
import time as _time
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from pydicom import config as _pydicom_config
from pydicom import dcmread
from pydicom import uid as _pydicom_uid
from pydicom import valuerep as _valuerep
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pynetdicom import association as _association
from pynetdicom import dimse as _dimse
from pynetdicom import dimse_messages as _dimse_messages
from pynetdicom import dimse_primitives as _dimse_primitives
from pynetdicom import dsutils as _dsutils
from pynetdicom import dul as _dul
from pynetdicom import pdu_items as _pdu_items
from pynetdicom import pdu_primitives as _pdu_primitives
from pynetdicom import presentation as _presentation
from pynetdicom import service_class as _service_class
from pynetdicom import transport as _transport
from pynetdicom import utils as _pynetdicom_utils
from pynetdicom.presentation import PresentationContext

_applied = False

_ASCII_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_CHARSET_VRS = {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_INT_VRS = {"US": "H", "UL": "I", "SS": "h", "SL": "i"}
_CHARSETS = {None: "ascii", "": "ascii", "ISO_IR 6": "ascii", "ISO_IR 192": "utf-8", "ISO_IR 100": "latin-1"}
_original_encode = _dsutils.encode
# (0008,0005) Specific Character Set: a plain int (BaseTag is an int) finds the BaseTag key.
_SPECIFIC_CHARACTER_SET = cast(BaseTag, 0x00080005)


class _Fallback(Exception):
    pass


def _value_bytes(vr: str, value: Any, charset: str) -> bytes:
    if vr in _ASCII_VRS or vr in _CHARSET_VRS:
        if value is None:
            return b""
        if isinstance(value, MultiValue | list | tuple):
            text = "\\".join("" if v is None else str(v) for v in value)
        else:
            text = str(value)
        data = text.encode("ascii" if vr in _ASCII_VRS else charset)
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        return data
    fmt = _INT_VRS.get(vr)
    if fmt is None:
        raise _Fallback
    if value is None or value == "":
        return b""
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return struct.pack(f"<{len(values)}{fmt}", *[int(v) for v in values])


def fast_encode(
    ds: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False
) -> bytes | None:
    """pynetdicom's ``encode``, with a direct path for little endian text/integer-only datasets."""
    if not is_little_endian or deflated or type(ds) is not Dataset:
        return _original_encode(ds, is_implicit_vr, is_little_endian, deflated)
    try:
        raw_cs = ds._dict.get(_SPECIFIC_CHARACTER_SET)
        cs_value = None if raw_cs is None else getattr(raw_cs, "value", None)
        if isinstance(cs_value, MultiValue | list | tuple):
            raise _Fallback
        charset = _CHARSETS.get(cs_value.strip() if isinstance(cs_value, str) else cs_value)
        if charset is None:
            raise _Fallback
        out = bytearray()
        for tag in sorted(ds._dict):
            elem = ds._dict[tag]
            if type(elem) is not DataElement or elem.VR is None:
                raise _Fallback
            vr = elem.VR
            data = _value_bytes(vr, elem.value, charset)
            group, element = tag >> 16, tag & 0xFFFF
            if is_implicit_vr:
                out += struct.pack("<HHI", group, element, len(data))
            elif vr in _LONG_VRS:
                out += struct.pack("<HH2sHI", group, element, vr.encode(), 0, len(data))
            else:
                if len(data) > 0xFFFF:
                    raise _Fallback
                out += struct.pack("<HH2sH", group, element, vr.encode(), len(data))
            out += data
        return bytes(out)
    except (_Fallback, UnicodeEncodeError):
        return _original_encode(ds, is_implicit_vr, is_little_endian, deflated)


def encode_plain(elements: list[tuple[int, str, Any]], is_implicit_vr: bool, charset: str = "ascii") -> bytes:
    """Little endian bytes of a plain identifier: ``(tag, VR, text)`` or ``(tag, "SQ", [items])``
    in ascending tag order (worklist answers: text values and sequences, nothing else)."""
    out = bytearray()
    for tag, vr, value in elements:
        if vr == "SQ":
            data = bytearray()
            for item in value:
                body = encode_plain(item, is_implicit_vr, charset)
                data += struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
        else:
            data = bytearray(_value_bytes(vr, value, charset))
        group, element = tag >> 16, tag & 0xFFFF
        if is_implicit_vr:
            out += struct.pack("<HHI", group, element, len(data))
        elif vr in _LONG_VRS:
            out += struct.pack("<HH2sHI", group, element, vr.encode(), 0, len(data))
        else:
            out += struct.pack("<HH2sH", group, element, vr.encode(), len(data))
        out += data
    return bytes(out)


def _recv(self: Any, nr_bytes: int) -> bytearray:
    """Read exactly ``nr_bytes`` (or what arrives before the peer closes) into one buffer."""
    buf = bytearray(nr_bytes)
    view = memoryview(buf)
    got = 0
    sock = self.socket
    while got < nr_bytes:
        n = sock.recv_into(view[got:], nr_bytes - got)
        if not n:
            view.release()
            del buf[got:]
            return buf
        got += n
    view.release()
    return buf


def _reactor_sleep(seconds: float) -> None:
    """``time.sleep`` for pynetdicom's association module: an association thread waits on its queue."""
    thread = threading.current_thread()
    dimse = getattr(thread, "dimse", None)
    q = getattr(dimse, "msg_queue", None)
    if q is None or not isinstance(thread, _association.Association):
        _time.sleep(seconds)
        return
    with q.not_empty:
        if not q._qsize():
            q.not_empty.wait(seconds)
        if q._qsize():
            # Queue.put wakes one waiter; if that was us but another thread is blocked in
            # Queue.get (send_c_store of a C-MOVE sub-association), pass the wake-up on.
            q.not_empty.notify()


_SOP_CLASS_UID = BaseTag(0x00080016)
_SOP_INSTANCE_UID = BaseTag(0x00080018)
_STATUS = BaseTag(0x00000900)


class StoredFile(Dataset):
    """A stored instance to send as a C-STORE sub-operation, by path (or bytes) rather than decoded."""

    def __init__(
        self,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax_uid: str,
        path: Path | None,
        read: Any,
    ) -> None:
        super().__init__()
        # The two elements pynetdicom may read (a failed sub-operation's SOP Instance UID), stored
        # raw: converted only if read (pydicom's validating __setattr__ cost more than the send).
        for tag, uid in ((_SOP_CLASS_UID, sop_class_uid), (_SOP_INSTANCE_UID, sop_instance_uid)):
            value = uid.encode("ascii")
            if len(value) % 2:
                value += b"\x00"
            self._dict[tag] = RawDataElement(tag, "UI", len(value), value, 0, True, True)
        self.__dict__.update(
            _vp_class=sop_class_uid,
            _vp_instance=sop_instance_uid,
            _vp_ts=transfer_syntax_uid,
            _vp_path=path,
            _vp_read=read,
        )

    def decoded(self) -> Dataset:
        """The stored instance, decoded (for peers that need a transfer syntax conversion)."""
        data = self._vp_path.read_bytes() if self._vp_path is not None else self._vp_read()
        return dcmread(BytesIO(data))


_original_send_c_store = _association.Association.send_c_store


_original_get_msg = _dimse.DIMSEServiceProvider.get_msg
_original_send_msg = _dimse.DIMSEServiceProvider.send_msg

PENDING_INTERVAL = 0.25  # seconds between two Pending C-GET / C-MOVE responses on one association
_RETRIEVE_PRIMITIVES = (_dimse_primitives.C_GET, _dimse_primitives.C_MOVE)


def _send_msg(self: Any, primitive: Any, context_id: int) -> None:
    """pynetdicom's ``send_msg``, with Pending C-GET / C-MOVE responses thinned out in time."""
    if (
        isinstance(primitive, _RETRIEVE_PRIMITIVES)
        and primitive.MessageIDBeingRespondedTo is not None
        and primitive.Status == 0xFF00
    ):
        holder = self.__dict__
        now = _time.monotonic()
        if now - holder.get("_vp_last_pending", -1e9) < PENDING_INTERVAL:
            return
        holder["_vp_last_pending"] = now
    _original_send_msg(self, primitive, context_id)


def _get_msg(self: Any, block: bool = False) -> Any:
    """pynetdicom's ``get_msg``, except that an association's own reactor cannot take a message
    that another thread is sending for and waiting on (pynetdicom's pause handshake has a window in
    which the reactor, resumed but not yet marked as running, takes the C-STORE response that
    ``send_c_store`` waits for; that stalled C-MOVE for the DIMSE timeout)."""
    assoc = getattr(self, "assoc", None)
    if block:
        if assoc is None:
            return _original_get_msg(self, block)
        assoc.__dict__["_vp_waiting"] = assoc.__dict__.get("_vp_waiting", 0) + 1
        try:
            return _original_get_msg(self, block)
        finally:
            assoc.__dict__["_vp_waiting"] -= 1
    if (
        assoc is not None
        and threading.current_thread() is assoc
        and (assoc.__dict__.get("_vp_waiting", 0) or assoc.__dict__.get("_vp_sending", 0))
    ):
        return None, None
    return _original_get_msg(self, block)


def _send_c_store(self: Any, dataset: Any, *args: Any, **kwargs: Any) -> Any:
    self.__dict__["_vp_sending"] = self.__dict__.get("_vp_sending", 0) + 1
    try:
        return _send_c_store_inner(self, dataset, *args, **kwargs)
    finally:
        self.__dict__["_vp_sending"] -= 1


def _send_c_store_inner(self: Any, dataset: Any, *args: Any, **kwargs: Any) -> Any:
    if not isinstance(dataset, StoredFile):
        return _original_send_c_store(self, dataset, *args, **kwargs)
    # The accepted contexts are fixed once the association is up: look each pair up once.
    contexts = self.__dict__.setdefault("_vp_store_contexts", {})
    key = (dataset._vp_class, dataset._vp_ts)
    if key not in contexts:
        contexts[key] = next(
            (
                cx
                for cx in self.accepted_contexts
                if cx.abstract_syntax == key[0] and cx.transfer_syntax[0] == key[1] and cx.as_scu
            ),
            None,
        )
    context = contexts[key]
    if context is not None:
        data = dataset._vp_path.read_bytes() if dataset._vp_path is not None else dataset._vp_read()
        return _raw_send_c_store(self, context, dataset, data, *args, **kwargs)
    return _original_send_c_store(self, dataset.decoded(), *args, **kwargs)


def store_request_command(
    sop_class_uid: str,
    sop_instance_uid: str,
    msg_id: int,
    priority: int = 2,
    originator_aet: str | None = None,
    originator_id: int | None = None,
) -> bytes:
    """The C-STORE-RQ command set (implicit VR little endian) pynetdicom would send for a data set."""
    elements: list[tuple[int, str, Any]] = [
        (0x00000002, "UI", sop_class_uid),
        (0x00000100, "US", 0x0001),
        (0x00000110, "US", msg_id),
        (0x00000700, "US", priority),
        (0x00000800, "US", 0x0001),
        (0x00001000, "UI", sop_instance_uid),
    ]
    if originator_aet:
        elements.append((0x00001030, "AE", originator_aet))
    if originator_id is not None:
        elements.append((0x00001031, "US", originator_id))
    body = encode_plain(elements, True)
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def _dataset_offset(part10: bytes) -> int:
    """Where the data set starts in a Part 10 byte string (after preamble and file meta)."""
    if part10[128:132] != b"DICM" or part10[132:136] != b"\x02\x00\x00\x00":
        raise ValueError("not a Part 10 file with a File Meta Information Group Length")
    meta_len: int
    (meta_len,) = struct.unpack("<I", part10[140:144])
    return 144 + meta_len


def _pdus(buffer: bytearray, context_id: int, data: memoryview, command: bool, fragment: int) -> None:
    flag = 0x01 if command else 0x00
    total = len(data)
    offset = 0
    while True:
        chunk = data[offset : offset + fragment]
        offset += len(chunk)
        last = offset >= total
        item_len = len(chunk) + 2
        buffer += struct.pack(
            ">BBIIBB", 0x04, 0x00, item_len + 4, item_len, context_id, flag | (0x02 if last else 0x00)
        )
        buffer += chunk
        if last:
            return


def _raw_send_c_store(
    assoc: Any,
    context: Any,
    stored: StoredFile,
    data: bytes,
    msg_id: int = 1,
    priority: int = 2,
    originator_aet: str | None = None,
    originator_id: int | None = None,
) -> Dataset:
    """C-STORE-RQ (PS3.7 9.3.1.1) of stored bytes, written as whole PDUs; the response read off
    the socket (:func:`read_store_response`) or, for anything unusual and over TLS, via pynetdicom."""
    command = store_request_command(
        stored._vp_class, stored._vp_instance, msg_id, priority, originator_aet, originator_id
    )
    peer_max = int((assoc.acceptor if assoc.is_requestor else assoc.requestor).maximum_length or 0)
    fragment = (peer_max - 6) if peer_max else 1 << 30
    view = memoryview(data)[_dataset_offset(data) :]
    dul = assoc.dul
    sock = dul.socket.socket
    # Pause the association reactor as pynetdicom does, so it cannot take the response.
    _pause_reactor(assoc)
    try:
        lock = _send_lock(dul)
        # Let anything pynetdicom already queued (a C-GET pending response) go out first.
        deadline = _time.monotonic() + 5
        while not dul.to_provider_queue.empty() and _time.monotonic() < deadline:
            _time.sleep(0.0002)
        # Over plain TCP the response is read here: hold the DUL's read lock from before the request
        # goes out, or the DUL thread could read the (quick) response first.
        raw_read = type(sock) is socket.socket
        read_lock: Any = _read_lock(dul) if raw_read else contextlib.nullcontext()
        with read_lock:
            _write_store_request(sock, lock, context.context_id, command, view, fragment)
            dul._idle_timer.restart()
            status: Dataset | None = None
            rsp: Any = None
            if raw_read:  # TLS: the response comes through pynetdicom
                try:
                    status = read_store_response(assoc, sock, context.context_id, msg_id)
                except NoResponse:
                    status = Dataset()  # no response: rsp stays None, as after pynetdicom's timeout
        if status is None:
            _cx_id, rsp = assoc.dimse.get_msg(block=True)
        elif "Status" in status:
            return status
    finally:
        assoc._reactor_checkpoint.set()
    if rsp is None:
        assoc._handle_no_response()
        return Dataset()
    return assoc._check_received_status(rsp)  # type: ignore[no-any-return]


def _pause_reactor(assoc: Any) -> None:
    """pynetdicom's pause handshake (clear the checkpoint, wait until the reactor says it is
    paused), waking the reactor from its idle wait on the DIMSE queue (:func:`_reactor_sleep`)
    instead of letting it finish a millisecond's sleep first (a C-MOVE sub-association's reactor
    is idle between sub-operations, so every sub-operation paid that millisecond)."""
    assoc._reactor_checkpoint.clear()
    if assoc._is_paused:
        return
    q = getattr(getattr(assoc, "dimse", None), "msg_queue", None)
    while not assoc._is_paused:
        if q is not None:
            with q.not_empty:
                q.not_empty.notify_all()
        _time.sleep(0.00005)


def _write_store_request(
    sock: socket.socket,
    lock: threading.Lock,
    context_id: int,
    command: bytes,
    view: memoryview,
    fragment: int,
) -> None:
    """The C-STORE-RQ command and data set as P-DATA-TF PDUs, under the association's send lock."""
    with lock:
        buffer = bytearray()
        _pdus(buffer, context_id, memoryview(command), True, fragment)
        step = 1 << 20
        for start in range(0, len(view), step):
            end = min(start + step, len(view))
            # PDV boundaries follow the peer's maximum; the last fragment carries the last flag.
            chunk = view[start:end]
            if end < len(view):
                _pdus_partial(buffer, context_id, chunk, fragment)
            else:
                _pdus(buffer, context_id, chunk, False, fragment)
            sock.sendall(buffer)
            buffer = bytearray()
        if buffer:  # an empty data set
            _pdus(buffer, context_id, view, False, fragment)
            sock.sendall(buffer)


_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
# Command elements a C-STORE-RSP (PS3.7 9.3.1.2) may carry that the raw reader understands; any
# other element (Offending Element, a data set, ...) sends the response through pynetdicom.
_RSP_KNOWN = {0x00000000, 0x00000002, 0x00000100, 0x00000120, 0x00000800, 0x00000900, 0x00000902, 0x00001000}


class NoResponse(Exception):
    """The peer sent nothing within the DIMSE timeout."""


def decode_store_response(command: bytes | bytearray | memoryview, msg_id: int) -> Dataset | None:
    """The status of a C-STORE-RSP command set (implicit VR little endian, PS3.7 6.3.1) as
    pynetdicom's ``_check_received_status`` gives it (Status, and Error Comment when present), or
    ``None`` when it is anything else: another message, a data set, another Message ID, an element
    this decoder does not handle. ``None`` means "let pynetdicom decode it"."""
    data = bytes(command)
    values: dict[int, bytes] = {}
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < 8:
            return None
        group, element, length = struct.unpack_from("<HHI", data, offset)
        offset += 8
        tag = (group << 16) | element
        if tag not in _RSP_KNOWN or length > end - offset or tag in values:
            return None
        values[tag] = data[offset : offset + length]
        offset += length

    def us(tag: int) -> int | None:
        raw = values.get(tag)
        if raw is None or len(raw) != 2:
            return None
        return int.from_bytes(raw, "little")

    group_length = values.get(0x00000000)
    if group_length is not None and (
        len(group_length) != 4 or int.from_bytes(group_length, "little") != len(data) - 12
    ):
        return None
    status_value = us(0x00000900)
    if (
        us(0x00000100) != _STORE_RSP
        or us(0x00000120) != msg_id
        or us(0x00000800) != _NO_DATA_SET
        or status_value is None
    ):
        return None
    status = Dataset()
    status._dict[_STATUS] = DataElement(_STATUS, "US", status_value)
    comment = values.get(0x00000902)
    if comment is not None:
        try:
            text = comment.decode("ascii").rstrip(" \x00")
        except UnicodeDecodeError:
            return None
        if "\\" in text:
            return None
        if text:
            status.ErrorComment = text
    return status


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    try:
        while got < size:
            n = sock.recv_into(view[got:], size - got)
            if not n:
                break
            got += n
    finally:
        view.release()
    del buf[got:]
    return buf


def _hand_to_pynetdicom(dul: Any, pdus: list[bytearray], closed: bool) -> None:
    """What pynetdicom's ``_read_pdu_data`` does with PDUs it read (they were read here instead)."""
    for raw in pdus:
        try:
            pdu, event = dul._decode_pdu(raw)
        except Exception as exc:
            logging.getLogger("vetpacs.dicom").error("Unable to decode the received PDU data: %s", exc)
            dul.event_queue.put("Evt19")
            return
        dul.event_queue.put(event)
        dul._recv_pdu.put(pdu)
    if closed:
        dul.event_queue.put("Evt17")
    dul._idle_timer.restart()


def read_store_response(assoc: Any, sock: socket.socket, context_id: int, msg_id: int) -> Dataset | None:
    """Read the C-STORE-RSP for a request just sent, straight off the association's socket.

    The DUL thread reads the socket only under the same per-association read lock, so it takes no
    PDU while this runs. A response made of command PDVs for ``context_id`` in P-DATA-TF PDUs is
    decoded here (:func:`decode_store_response`). Anything else (another PDU type, an A-ABORT, a
    data set, a closed connection, a command this decoder does not know) is given to pynetdicom
    exactly as its own reader would have, and ``None`` returned: the caller then waits for the
    response through pynetdicom. Raises :class:`NoResponse` after the DIMSE timeout. The caller
    holds the read lock (:func:`_read_lock`) from before it sent the request."""
    dul = assoc.dul
    timeout = assoc.dimse_timeout
    deadline = None if timeout is None else _time.monotonic() + timeout
    pdus: list[bytearray] = []
    command = bytearray()
    while True:
        if not pdus:
            # Nothing read yet: wait for the peer up to the DIMSE timeout (then abort, as
            # pynetdicom does); once a PDU has begun, read it as pynetdicom's reader does.
            left = None if deadline is None else max(0.0, deadline - _time.monotonic())
            try:
                ready, _, _ = select.select([sock], [], [], left)
            except (OSError, ValueError):
                ready = [sock]
            if not ready:
                raise NoResponse
        try:
            header = _recv_exact(sock, 6)
            if len(header) < 6:
                _hand_to_pynetdicom(dul, pdus, closed=True)
                return None
            pdu_type, _, length = struct.unpack(">BBI", header)
            if pdu_type not in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07):
                _hand_to_pynetdicom(dul, pdus, closed=False)
                dul.event_queue.put("Evt19")
                return None
            body = _recv_exact(sock, length)
        except OSError:
            _hand_to_pynetdicom(dul, pdus, closed=True)
            return None
        pdu = header + body
        pdus.append(pdu)
        if len(body) < length:
            _hand_to_pynetdicom(dul, pdus[:-1], closed=True)
            return None
        if pdu_type != 0x04:
            _hand_to_pynetdicom(dul, pdus, closed=False)
            return None
        last = False
        offset = 6
        while offset < len(pdu):
            if last or len(pdu) - offset < 6:
                last = False
                break
            item_len, pc_id, flags = struct.unpack_from(">IBB", pdu, offset)
            if item_len < 2 or offset + 4 + item_len > len(pdu) or pc_id != context_id or not flags & 0x01:
                last = False
                break
            command += pdu[offset + 6 : offset + 4 + item_len]
            last = bool(flags & 0x02)
            offset += 4 + item_len
        else:
            if not last:
                continue  # the command goes on in the next PDU
            status = decode_store_response(command, msg_id)
            if status is not None:
                dul._idle_timer.restart()
                return status
        _hand_to_pynetdicom(dul, pdus, closed=False)
        return None


def _read_lock(dul: Any) -> threading.Lock:
    lock = getattr(dul, "_vp_read_lock", None)
    if lock is None:
        lock = dul.__dict__.setdefault("_vp_read_lock", threading.Lock())
    return lock  # type: ignore[no-any-return]


_original_is_transport_event = _dul.DULServiceProvider._is_transport_event


def _is_transport_event(self: Any) -> bool:
    """pynetdicom's socket check and read, under the read lock :func:`read_store_response` takes."""
    lock = _read_lock(self)
    if not lock.acquire(timeout=0.05):
        return False
    try:
        return _original_is_transport_event(self)  # type: ignore[no-any-return]
    finally:
        lock.release()


def _pdus_partial(buffer: bytearray, context_id: int, data: memoryview, fragment: int) -> None:
    """Data set PDUs none of which is the last fragment (``data`` is a middle piece)."""
    for offset in range(0, len(data), fragment):
        chunk = data[offset : offset + fragment]
        item_len = len(chunk) + 2
        buffer += struct.pack(">BBIIBB", 0x04, 0x00, item_len + 4, item_len, context_id, 0x00)
        buffer += chunk


def _send_lock(dul: Any) -> threading.Lock:
    lock = getattr(dul, "_vp_send_lock", None)
    if lock is None:
        lock = dul.__dict__.setdefault("_vp_send_lock", threading.Lock())
    return lock  # type: ignore[no-any-return]


_original_dul_send = _dul.DULServiceProvider._send


def _dul_send(self: Any, pdu: Any) -> None:
    with _send_lock(self):
        _original_dul_send(self, pdu)


def _dul_sleep(seconds: float) -> None:
    """``time.sleep`` for pynetdicom's DUL module: wake on incoming data or an outgoing PDU."""
    thread = threading.current_thread()
    if not isinstance(thread, _dul.DULServiceProvider):
        _time.sleep(seconds)
        return
    wake = getattr(thread, "_vp_wake", None)
    if wake is None:
        wake = socket.socketpair()
        for end in wake:
            end.setblocking(False)
        thread._vp_wake = wake  # type: ignore[attr-defined]
    assoc_sock = getattr(thread, "socket", None)
    raw = getattr(assoc_sock, "socket", None)
    watch: list[Any] = [wake[0]]
    if raw is not None and getattr(assoc_sock, "_is_connected", False):
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return
        watch.append(raw)
    try:
        ready, _, _ = select.select(watch, [], [], seconds)
    except (OSError, ValueError):
        _time.sleep(seconds)
        return
    if wake[0] in ready:
        try:
            while wake[0].recv(512):
                pass
        except (BlockingIOError, OSError):
            pass


_original_send_pdu = _dul.DULServiceProvider.send_pdu
_original_dul_run = _dul.DULServiceProvider.run_reactor


def _send_pdu(self: Any, primitive: Any) -> None:
    _original_send_pdu(self, primitive)
    wake = getattr(self, "_vp_wake", None)
    if wake is not None:
        with contextlib.suppress(BlockingIOError, OSError):
            wake[1].send(b"x")


def _dul_run(self: Any) -> None:
    try:
        _original_dul_run(self)
    finally:
        wake = getattr(self, "_vp_wake", None)
        if wake is not None:
            self._vp_wake = None
            for end in wake:
                end.close()


def _copy_contexts(obj: Any, memo: Any = None) -> Any:
    """``deepcopy`` for pynetdicom's transport: fast for a list of presentation contexts."""
    if isinstance(obj, list) and all(type(c) is PresentationContext for c in obj):
        out = []
        for cx in obj:
            new = object.__new__(PresentationContext)
            new.__dict__.update(cx.__dict__)
            new._transfer_syntax = list(cx._transfer_syntax)
            out.append(new)
        return out
    return copy.deepcopy(obj, memo)


_FIND_RSP = 0x8020
_PENDING = 0xFF00
_SENDABLE = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}  # TS -> implicit VR


class RawFindResponder:
    """Sends C-FIND pending responses (PS3.7 9.3.2) as raw P-DATA-TF PDUs (PS3.8 9.3.5)."""

    def __init__(self, event: Any) -> None:
        assoc = event.assoc
        context = event.context
        self.sock = assoc.dul.socket.socket
        self.context_id = int(context.context_id)
        self.implicit = _SENDABLE[str(context.transfer_syntax)]
        peer_max = int(assoc.requestor.maximum_length or 0)
        self.fragment = (peer_max - 6) if peer_max else 1 << 30
        cmd = Dataset()
        cmd.CommandGroupLength = 0
        cmd.AffectedSOPClassUID = str(event.request.AffectedSOPClassUID)
        cmd.CommandField = _FIND_RSP
        cmd.MessageIDBeingRespondedTo = int(event.request.MessageID)
        cmd.CommandDataSetType = 0x0001
        cmd.Status = _PENDING
        body = fast_encode(cmd, True, True) or b""
        cmd.CommandGroupLength = len(body) - 12
        self.command = fast_encode(cmd, True, True) or b""
        self.buffer = bytearray()
        self.sent = 0

    @staticmethod
    def usable(event: Any) -> bool:
        """Whether this association and context can take raw responses."""
        try:
            return (
                str(event.context.transfer_syntax) in _SENDABLE
                and event.assoc.dul.socket is not None
                and event.assoc.dul.socket.socket is not None
            )
        except AttributeError:
            return False

    def pending(self, identifier: Dataset) -> None:
        """Queue one pending response carrying ``identifier``; sends in batches."""
        data = fast_encode(identifier, self.implicit, True)
        if data is None:
            raise ValueError("cannot encode the C-FIND identifier")
        self.pending_encoded(data)

    def pending_encoded(self, data: bytes) -> None:
        """Queue one pending response whose identifier is already encoded for this context."""
        _pdus(self.buffer, self.context_id, memoryview(self.command), True, self.fragment)
        _pdus(self.buffer, self.context_id, memoryview(data), False, self.fragment)
        if len(self.buffer) >= 65536:
            self.flush()

    def flush(self) -> None:
        """Send what is queued."""
        if self.buffer:
            self.sock.sendall(self.buffer)
            self.sent += 1
            self.buffer = bytearray()


_original_create_socket = _transport.AssociationSocket._create_socket


def _create_socket(self: Any, address: Any) -> socket.socket:
    sock = _original_create_socket(self, address)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _role_selection(self: Any) -> dict[Any, Any]:
    """pynetdicom's ``UserInformationItem.role_selection``, built once per item: pynetdicom's
    association logging asks for it once or twice per proposed presentation context, and each
    call walked every user data sub-item (quadratic; ~120 contexts from ``getscu``). Rebuilt when
    the sub-item list changes (another list, or another length)."""
    items = self.user_data
    key = (id(items), len(items))
    cached = self.__dict__.get("_vp_roles")
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    roles: dict[Any, Any] = _original_role_selection.fget(self)  # type: ignore[attr-defined]
    self.__dict__["_vp_roles"] = (key, roles)
    return dict(roles)


_original_role_selection = _pdu_items.UserInformationItem.role_selection
_original_set_uid = _pynetdicom_utils.set_uid
_set_uid_cache: dict[tuple[Any, ...], Any] = {}


def _set_uid(
    value: Any, name: str, allow_empty: bool = True, allow_none: bool = True, validate: bool = True
) -> Any:
    """pynetdicom's ``set_uid`` for association negotiation items, remembering conformant UIDs.

    A-ASSOCIATE-RQ decoding converts and validates every abstract and transfer syntax UID
    (about 1,200 per ``getscu`` association, each through a ``UID`` construction and two regular
    expressions). A conformant value always gives an equal UID with no warning, so it is kept."""
    if type(value) is bytes or type(value) is str or type(value) is _pydicom_uid.UID:
        key = (type(value) is bytes, value, allow_empty, validate)
        uid = _set_uid_cache.get(key)
        if uid is not None:
            return uid
        uid = _original_set_uid(value, name, allow_empty, allow_none, validate)
        if uid and uid.is_valid:
            if len(_set_uid_cache) >= 4096:
                _set_uid_cache.clear()
            _set_uid_cache[key] = uid
        return uid
    return _original_set_uid(value, name, allow_empty, allow_none, validate)


_original_validate_value = _valuerep.validate_value
_valid_uids: dict[str, None] = {}


def _validate_uid_value(vr: str, value: Any, validation_mode: int, validator: Any = None) -> None:
    """pydicom's ``validate_value`` as ``UID()`` calls it, remembering UIDs that passed.

    Association negotiation builds some 3,000 ``UID`` objects from ``getscu``'s 120 presentation
    contexts, each validated with a regular expression (about a third of the server's CPU time for
    an association). The same few hundred SOP class and transfer syntax UIDs come back every time;
    a valid value needs no second check (validation of a valid value does nothing)."""
    if (
        vr == "UI"
        and validator is None
        and isinstance(value, str)
        and validation_mode != _pydicom_config.IGNORE
    ):
        if value in _valid_uids:
            return
        check: Any = _valuerep.VALIDATORS.get("UI")
        if check is not None and check("UI", value)[0]:
            if len(_valid_uids) >= 4096:
                _valid_uids.clear()
            _valid_uids[str(value)] = None
            return
    _original_validate_value(vr, value, validation_mode, validator)


TESTED_PYNETDICOM = "3.0.4"


def apply() -> bool:
    """Install the patches (idempotent); only on the pynetdicom release they were written for."""
    global _applied
    if _applied:
        return True
    import pynetdicom

    if pynetdicom.__version__ != TESTED_PYNETDICOM:
        logging.getLogger("vetpacs.dicom").warning(
            "pynetdicom %s is not %s: running without the transport tuning (slower, same behaviour)",
            pynetdicom.__version__,
            TESTED_PYNETDICOM,
        )
        return False
    _transport.AssociationSocket.recv = _recv  # type: ignore[method-assign]
    _transport.AssociationSocket._create_socket = _create_socket  # type: ignore[method-assign]
    shim = SimpleNamespace(**{name: getattr(_time, name) for name in dir(_time) if not name.startswith("__")})
    shim.sleep = _reactor_sleep
    _association.time = shim  # type: ignore[attr-defined,assignment]
    _association.Association.send_c_store = _send_c_store  # type: ignore[method-assign]
    dul_shim = SimpleNamespace(**vars(shim))
    dul_shim.sleep = _dul_sleep
    _dul.time = dul_shim  # type: ignore[attr-defined,assignment]
    _dul.DULServiceProvider.send_pdu = _send_pdu  # type: ignore[method-assign]
    _dul.DULServiceProvider.run_reactor = _dul_run  # type: ignore[method-assign]
    _dul.DULServiceProvider._send = _dul_send  # type: ignore[method-assign]
    _dul.DULServiceProvider._is_transport_event = _is_transport_event  # type: ignore[method-assign]
    _pdu_items.UserInformationItem.role_selection = property(_role_selection)  # type: ignore[method-assign,assignment]
    for module in (_pdu_items, _pdu_primitives, _presentation):
        module.set_uid = _set_uid  # type: ignore[attr-defined]
    _pydicom_uid.__dict__["validate_value"] = _validate_uid_value
    _dimse.DIMSEServiceProvider.get_msg = _get_msg  # type: ignore[method-assign]
    _dimse.DIMSEServiceProvider.send_msg = _send_msg  # type: ignore[method-assign]
    _dsutils.encode = fast_encode
    _transport.deepcopy = _copy_contexts  # type: ignore[attr-defined,assignment]
    _dimse_messages.encode = fast_encode  # type: ignore[attr-defined]
    _service_class.encode = fast_encode  # type: ignore[attr-defined]
    _applied = True
    return True
