"""The object-store interface the streaming runner depends on, and the registry of backends.

Kafka carries references; the objects live here. Every name is chosen by the caller and deterministic
(``staging/scrubbed/<job>/<input_id>.dcm``, ``clean/<output_id>.dcm``), and ``put`` replaces atomically, so
a redelivered event that writes again writes the same name: never a second object. Backends are one module
each, registered by URI scheme: ``file.py`` (``file://``), ``s3.py`` (``s3://``).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StoreOptions:
    """What a backend may need beyond its URI, from ``Settings``; credentials are never here (see ``s3.py``)."""

    s3_endpoint: str = ""  # PIXELGUARD_S3_ENDPOINT; empty: AWS_ENDPOINT_URL or AWS itself


_BACKENDS: dict[str, Callable[[str, StoreOptions], ObjectStore]] = {}
# Imported on first use: boto3 costs a process that never touches S3 a third of a second at start.
_LAZY = {"s3": "streams.objectstore.s3"}


def register(scheme: str, factory: Callable[[str, StoreOptions], ObjectStore]) -> None:
    _BACKENDS[scheme] = factory


def scheme_of(uri: str) -> str:
    return urlparse(uri).scheme or "file"


def open_store(uri: str, options: StoreOptions | None = None) -> ObjectStore:
    """``file:///srv/pixelguard`` (or a plain path), ``s3://bucket/prefix`` -> the backend for its scheme."""
    scheme = scheme_of(uri)
    if scheme not in _BACKENDS and scheme in _LAZY:
        importlib.import_module(_LAZY[scheme])  # registers itself
    if scheme not in _BACKENDS:
        raise ValueError(f"no object-store backend for {scheme}:// (known: {', '.join(sorted(_BACKENDS))})")
    return _BACKENDS[scheme](uri, options or StoreOptions())


def transfer(source: ObjectStore, target: ObjectStore, uri: str, name: str) -> str:
    """Store the object at ``uri`` (in ``source``) under ``name`` in ``target``; return the new URI.

    Within one backend the backend copies (a hard link, a server-side S3 copy, across buckets too); across
    backends (staging on a shared folder, outputs in a bucket) the bytes pass through this process, one
    object at a time.
    """
    if scheme_of(uri) == scheme_of(target.root_uri):
        return target.copy(uri, name)
    return target.put(name, source.get(uri))
