"""Where ``pixelguard deid`` writes: a local folder, or an object store (``--out s3://bucket/prefix``).

The embedded runner's parent process owns every write (see ``embedded.py``); it asks an ``OutputSink`` to
store an output under its relative name (``<output_id>.dcm``, ``review/...``), to tell whether an earlier run
left other content under that name, and to keep the manifest. One class per kind of place:

- ``FolderSink``: files in a folder, each written to ``.part`` then renamed.
- ``StoreSink``: objects through the object-store interface (``streams/objectstore``; S3 credentials from the
  standard AWS chain, never a flag). Each output is put as soon as it is decided (a managed upload: large
  objects go in parts), so nothing waits for the end of the run. The manifest is spooled to a local file
  beside the key file and put after every ``MANIFEST_EVERY`` lines and at the end, whatever ends the run.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Protocol

MANIFEST = "manifest.jsonl"
MANIFEST_EVERY = 50


class OutputSink(Protocol):
    where: str  # shown to the user: a folder, or the store's root URI

    def prepare(self) -> None:
        """Check the place is there and writable before any input is read (ValueError/StorageUnavailable)."""

    def write(self, relative: str, data: bytes) -> None: ...

    def differs(self, name: str, data: bytes) -> bool:
        """An earlier run left an output of this name (clean or review) with other content."""

    def location(self, relative: str) -> str:
        """The written output's full reference (recorded in the encrypted crosswalk only)."""

    def open_manifest(self) -> IO[str]: ...

    def manifest_written(self, manifest: IO[str], lines: int) -> None:
        """Called after each line: a store publishes the manifest every so often."""

    def close_manifest(self, manifest: IO[str]) -> None: ...


class FolderSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.where = str(self.folder)

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "review").mkdir(exist_ok=True)

    def write(self, relative: str, data: bytes) -> None:
        target = self.folder / relative
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # a crash never leaves half an output under its final name

    def differs(self, name: str, data: bytes) -> bool:
        return any(path.exists() and path.read_bytes() != data
                   for path in (self.folder / name, self.folder / "review" / name))

    def location(self, relative: str) -> str:
        return str(self.folder / relative)

    def open_manifest(self) -> IO[str]:
        return open(self.folder / MANIFEST, "a")

    def manifest_written(self, manifest: IO[str], lines: int) -> None:
        manifest.flush()

    def close_manifest(self, manifest: IO[str]) -> None:
        manifest.close()


class StoreSink:
    def __init__(self, uri: str, spool_dir: Path, s3_endpoint: str = "") -> None:
        from streams.objectstore import StoreOptions, open_store

        self.store = open_store(uri, StoreOptions(s3_endpoint=s3_endpoint))
        self.where = self.store.root_uri
        self.spool_dir = spool_dir

    def prepare(self) -> None:
        check = getattr(self.store, "check", None)
        if check is not None:
            check()  # StorageUnavailable naming what to fix (no bucket, no server, refused credentials)

    def write(self, relative: str, data: bytes) -> None:
        self.store.put(relative, data)

    def differs(self, name: str, data: bytes) -> bool:
        return any(self.store.exists(n) and self.store.get(self.store.uri(n)) != data
                   for n in (name, f"review/{name}"))

    def location(self, relative: str) -> str:
        return self.store.uri(relative)

    def open_manifest(self) -> IO[str]:
        from streams.objectstore import ObjectNotFound

        self.spool_dir.mkdir(parents=True, exist_ok=True)
        spool = tempfile.NamedTemporaryFile("w+", dir=self.spool_dir, prefix=".manifest-", suffix=".part")  # noqa: SIM115
        with contextlib.suppress(ObjectNotFound):
            if self.store.exists(MANIFEST):  # runs into one prefix append, as they do into one folder
                spool.write(self.store.get(self.store.uri(MANIFEST)).decode())
        return spool

    def manifest_written(self, manifest: IO[str], lines: int) -> None:
        if lines % MANIFEST_EVERY == 0:
            self._publish(manifest)

    def close_manifest(self, manifest: IO[str]) -> None:
        try:
            self._publish(manifest)
        finally:
            manifest.close()  # the spool file is deleted with it

    def _publish(self, manifest: IO[str]) -> None:
        manifest.flush()
        manifest.seek(0)
        self.store.put(MANIFEST, manifest.read().encode())
        manifest.seek(0, os.SEEK_END)


def open_sink(out: str, spool_dir: Path, s3_endpoint: str = "") -> OutputSink:
    """``s3://bucket/prefix`` -> a StoreSink; anything else is a local folder."""
    if out.startswith("s3://"):
        return StoreSink(out, spool_dir, s3_endpoint)
    if out.startswith("s3:"):
        raise ValueError("an S3 output is s3://BUCKET/PREFIX")
    return FolderSink(Path(out))
