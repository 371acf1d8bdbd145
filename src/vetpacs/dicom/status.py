"""Domain errors -> DICOM status codes (PS3.4 Annex B.2.3, C.4, J.3; PS3.7 Annex C). The only place."""

from __future__ import annotations

from pydicom.dataset import Dataset

from vetpacs.errors import Conflict, Invalid, NotFound, StorageFailure

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
# C-STORE
STORE_OUT_OF_RESOURCES = 0xA700
STORE_DATASET_MISMATCH = 0xA900
STORE_CANNOT_UNDERSTAND = 0xC000
DUPLICATE_SOP_INSTANCE = 0x0111
# C-FIND / C-MOVE / C-GET
IDENTIFIER_MISMATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
MOVE_DESTINATION_UNKNOWN = 0xA801
# Storage commitment
NO_SUCH_SOP_INSTANCE = 0x0112
PROCESSING_FAILURE = 0x0110
# N-CREATE / N-SET (PS3.7 10.1.5.1.6, 10.1.2.1.6): MPPS
NO_SUCH_OBJECT_INSTANCE = 0x0112
DUPLICATE_INSTANCE = 0x0111
INVALID_ATTRIBUTE_VALUE = 0x0106


def status_dataset(code: int, comment: str = "") -> Dataset:
    """A status Dataset carrying an Error Comment (0000,0902), at most 64 characters."""
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:64]
    return ds


def store_failure(exc: Exception) -> Dataset:
    """The C-STORE failure status for a domain exception."""
    if isinstance(exc, Conflict):
        return status_dataset(DUPLICATE_SOP_INSTANCE, str(exc))
    if isinstance(exc, Invalid):
        return status_dataset(STORE_CANNOT_UNDERSTAND, str(exc))
    if isinstance(exc, StorageFailure):
        return status_dataset(STORE_OUT_OF_RESOURCES, str(exc))
    return status_dataset(STORE_CANNOT_UNDERSTAND, f"{type(exc).__name__}: {exc}")


def n_failure(exc: Exception, *, creating: bool = False) -> Dataset:
    """The N-CREATE/N-SET failure status for a domain exception (MPPS, PS3.4 F.7.2)."""
    if isinstance(exc, NotFound):
        # N-SET of an unknown instance; N-CREATE naming an unknown scheduled step
        return status_dataset(PROCESSING_FAILURE if creating else NO_SUCH_OBJECT_INSTANCE, str(exc))
    if isinstance(exc, Conflict):
        return status_dataset(DUPLICATE_INSTANCE if creating else PROCESSING_FAILURE, str(exc))
    if isinstance(exc, Invalid):
        return status_dataset(INVALID_ATTRIBUTE_VALUE, str(exc))
    return status_dataset(PROCESSING_FAILURE, f"{type(exc).__name__}: {exc}")


def query_failure(exc: Exception) -> Dataset:
    """The C-FIND/C-MOVE/C-GET failure status for a domain exception."""
    if isinstance(exc, Invalid | NotFound):
        return status_dataset(IDENTIFIER_MISMATCH, str(exc))
    return status_dataset(UNABLE_TO_PROCESS, f"{type(exc).__name__}: {exc}")
