"""The file object store: a folder (local disk or a shared mount all workers see), ``file://`` URIs."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from .base import ObjectNotFound, StorageUnavailable, register

_TRANSIENT = {errno.EAGAIN, errno.EBUSY, errno.EIO, errno.ENOSPC, errno.ESTALE, errno.ETIMEDOUT, errno.EINTR}


class FileObjectStore:
    def __init__(self, root: str | Path) -> None:
        if isinstance(root, str) and root.startswith("file:"):
            root = unquote(urlparse(root).path)
        self.root = Path(root).resolve()
        self.root_uri = self.root.as_uri()

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
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # atomic: a reader never sees half an object under its final name
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _storage_error("write", exc) from None
        return target.as_uri()

    def get(self, uri: str) -> bytes:
        path = Path(unquote(urlparse(uri).path))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound("object not found in the store") from None
        except OSError as exc:
            raise _storage_error("read", exc) from None

    def copy(self, uri: str, name: str) -> str:
        source = Path(unquote(urlparse(uri).path))
        target = self._path(name)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, tmp)  # same file system: no copy at all
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise ObjectNotFound("object not found in the store") from None
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _storage_error("copy", exc) from None
        return target.as_uri()


def _storage_error(what: str, exc: OSError) -> Exception:
    if exc.errno in _TRANSIENT:
        return StorageUnavailable(f"object store {what} failed ({errno.errorcode.get(exc.errno, exc.errno)})")
    return OSError(f"object store {what} failed ({errno.errorcode.get(exc.errno or 0, exc.errno)})")


register("file", FileObjectStore)
