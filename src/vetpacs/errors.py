"""Domain exceptions. Transports translate them once: HTTP in ``web/``, DICOM statuses in ``dicom/``."""

from __future__ import annotations


class VetPACSError(Exception):
    """Base class of every domain error."""


class NotFound(VetPACSError):
    """The thing asked for does not exist."""


class Conflict(VetPACSError):
    """The request clashes with what is already stored."""


class Invalid(VetPACSError):
    """The input is malformed or misses something required."""


class Forbidden(VetPACSError):
    """The actor may not do this."""


class StorageFailure(VetPACSError):
    """A blob could not be written, read or made durable."""


class Unsupported(Invalid):
    """The input is well formed but this server cannot process it (e.g. a codec it lacks)."""
