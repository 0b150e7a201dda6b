"""The file object store: a folder (local disk or a shared mount all workers see), ``file://`` URIs.

The folder holds a marker file, written when the store is first opened. An outage of a shared mount does
not look like an error to a process that walks paths: the mount point is still there, empty (or the path
is gone). Without the marker a read would report "not found" (a permanent verdict) and a write would
recreate the folders on the local disk under the mount point, where the remounted share hides them. So
every call checks the marker first, and its absence is StorageUnavailable (transient: retried).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from .base import ObjectNotFound, StorageFull, StorageUnavailable, register

# ENOTCONN: a FUSE/network mount whose server went away; EROFS: a file system remounted read-only on errors.
_TRANSIENT = {errno.EAGAIN, errno.EBUSY, errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.EINTR, errno.ENOTCONN,
              errno.EROFS}
_FULL = {errno.ENOSPC, errno.EDQUOT}
MARKER = ".pixelguard-store"


class FileObjectStore:
    def __init__(self, root: str | Path) -> None:
        if isinstance(root, str) and root.startswith("file:"):
            root = unquote(urlparse(root).path)
        self.root = Path(root).resolve()
        self.root_uri = self.root.as_uri()
        self._marker = self.root / MARKER
        self._mark()

    def _mark(self) -> None:
        """Claim the folder as the store (idempotent; concurrent workers race harmlessly on O_EXCL)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self._marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            pass
        except OSError:
            pass  # unreachable now: every call reports it as StorageUnavailable until it is back

    def _check_available(self, what: str) -> None:
        if not self._marker.exists():  # exists() is False on ENOENT, ESTALE, EIO... alike
            raise StorageUnavailable(f"object store {what} failed (the store folder is not available; "
                                     "is its file system mounted?)")

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root not in path.parents:
            raise ValueError("object names stay inside the store")
        return path

    def uri(self, name: str) -> str:
        return self._path(name).as_uri()

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def put(self, name: str, data: bytes) -> str:
        target = self._path(name)
        self._check_available("write")
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # atomic: a reader never sees half an object under its final name
        except OSError as exc:
            _discard(tmp)
            self._check_available("write")  # the store went away mid-write: an outage, not a bad name
            raise _storage_error("write", exc) from None
        return target.as_uri()

    def get(self, uri: str) -> bytes:
        path = Path(unquote(urlparse(uri).path))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            self._check_available("read")  # a missing store is an outage, not a missing object
            raise ObjectNotFound("object not found in the store") from None
        except OSError as exc:
            self._check_available("read")
            raise _storage_error("read", exc) from None

    def copy(self, uri: str, name: str) -> str:
        source = Path(unquote(urlparse(uri).path))
        target = self._path(name)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        self._check_available("copy")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, tmp)  # same file system: no copy at all
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
            # rename(2) does nothing when both names already link one file (a repeated copy of the same
            # object, e.g. a decision redone after an aborted transaction): the temporary name stays.
            _discard(tmp)
        except FileNotFoundError:
            _discard(tmp)
            self._check_available("copy")
            raise ObjectNotFound("object not found in the store") from None
        except OSError as exc:
            _discard(tmp)
            self._check_available("copy")
            raise _storage_error("copy", exc) from None
        return target.as_uri()


def _discard(tmp: Path) -> None:
    """Remove a partial file; during an outage that fails too, and the outage is what must be reported."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def _storage_error(what: str, exc: OSError) -> Exception:
    if exc.errno in _FULL:
        return StorageFull(f"object store {what} failed (no space left on the store's file system)")
    if exc.errno in _TRANSIENT:
        return StorageUnavailable(f"object store {what} failed ({errno.errorcode.get(exc.errno, exc.errno)})")
    return OSError(f"object store {what} failed ({errno.errorcode.get(exc.errno or 0, exc.errno)})")


register("file", lambda uri, _options: FileObjectStore(uri))
