"""The object-store interface the streaming runner depends on, and the registry of backends.

Kafka carries references; the objects live here. Every name is chosen by the caller and deterministic
(``staging/scrubbed/<job>/<input_id>.dcm``, ``clean/<output_id>.dcm``), and ``put`` replaces atomically, so
a redelivered event that writes again writes the same name: never a second object. Backends are one module
each (``file.py`` here; an S3-compatible one is a new module registered under ``s3``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlparse


class StorageUnavailable(RuntimeError):
    """A transient storage fault (worth a retry); the message names the operation, never a patient value."""


class StorageFull(StorageUnavailable):
    """The store has no space left: worth a retry (space may be freed), but the operator must act."""


class ObjectNotFound(LookupError):
    """The referenced object does not exist (not transient)."""


class ObjectStore(Protocol):
    root_uri: str

    def put(self, name: str, data: bytes) -> str:
        """Store ``data`` under ``name`` (atomic replace) and return its URI."""

    def get(self, uri: str) -> bytes:
        """The bytes at ``uri``; ObjectNotFound or StorageUnavailable otherwise."""

    def copy(self, uri: str, name: str) -> str:
        """Store the object at ``uri`` under ``name`` too (atomic); return the new URI."""

    def exists(self, name: str) -> bool: ...

    def uri(self, name: str) -> str: ...


_BACKENDS: dict[str, Callable[[str], ObjectStore]] = {}


def register(scheme: str, factory: Callable[[str], ObjectStore]) -> None:
    _BACKENDS[scheme] = factory


def open_store(uri: str) -> ObjectStore:
    """``file:///srv/pixelguard`` (or a plain path) -> the backend registered for its scheme."""
    scheme = urlparse(uri).scheme or "file"
    if scheme not in _BACKENDS:
        raise ValueError(f"no object-store backend for {scheme}:// (known: {', '.join(sorted(_BACKENDS))})")
    return _BACKENDS[scheme](uri)
