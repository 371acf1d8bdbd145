"""Blob storage: opaque keys to bytes. Knows nothing about DICOM; the index keeps size and checksum."""

from vetpacs.storage.base import BlobStore, new_blob_key
from vetpacs.storage.filesystem import FilesystemBlobStore
from vetpacs.storage.memory import MemoryBlobStore

__all__ = ["BlobStore", "FilesystemBlobStore", "MemoryBlobStore", "new_blob_key"]
