"""Unpacking a study's zip or tar into single objects, refusing what would hurt the machine or the outputs.

Refused: members whose names climb out (``..``, absolute paths, drive letters), links and device files,
encrypted zip members, and bombs: a sum of declared sizes over the budget, a member (or the whole archive)
inflating more than ``max_ratio`` times its packed size, or a member yielding more than it declared. The
sizes are counted while extracting, not trusted from the header. Member names are checked and then
forgotten: objects are written under opaque names, since a file name can hold a patient's name.
"""
from __future__ import annotations

import functools
import gzip
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 20
# Below this a high ratio is harmless (a small blank image packs 100x): the ratio guards big members only.
RATIO_FLOOR = 1 << 20
Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class ArchiveRefused(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


@dataclass
class Budget:
    """What one request may still add: objects and inflated bytes (shared by all its archives)."""

    max_objects: int
    max_inflated_bytes: int
    max_ratio: float
    objects: int = 0
    inflated: int = 0
    packed: int = 0  # the archives' own sizes: the ratio is checked on every chunk against them


    def take_object(self) -> None:
        self.objects += 1
        if self.objects > self.max_objects:
            raise self.too_many()

    def take_bytes(self, n: int) -> None:
        self.inflated += n
        if self.inflated > self.max_inflated_bytes:
            raise self.too_large()
        if self.inflated > RATIO_FLOOR and self.inflated > self.packed * self.max_ratio:
            raise _bomb()

    def check_declared(self, count: int, declared: int) -> None:
        """Refuse on what an archive's headers declare, before a byte of it is written."""
        if self.objects + count > self.max_objects:
            raise self.too_many()
        if self.inflated + declared > self.max_inflated_bytes:
            raise self.too_large()

    def too_many(self) -> ArchiveRefused:
        return ArchiveRefused(413, "too-many-objects", f"more than {self.max_objects} objects in one job; "
                              "split the study into several jobs (PIXELGUARD_API_MAX_OBJECTS)")

    def too_large(self) -> ArchiveRefused:
        return ArchiveRefused(413, "archive-too-large", f"archives unpack to more than {self.max_inflated_bytes} "
                              "bytes; send smaller archives (PIXELGUARD_API_MAX_INFLATED_BYTES)")


def kind_of(path: Path) -> str | None:
    """``zip``, ``tar`` or None (an object), by content; a DICOM file is an object whatever its preamble."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[128:132] == b"DICM":
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        # A gzip is a tar.gz only if what it holds is a tar: a .nii.gz is an object.
        try:
            with gzip.open(path, "rb") as inner:
                return "tar" if inner.read(512)[257:262] == b"ustar" else None
        except (OSError, EOFError, zlib.error):
            return None
    return None


def unpack(path: Path, kind: str, new_object: Callable[[], Path], budget: Budget) -> int:
    """Write each member as a new object; return how many. ArchiveRefused on anything unsafe or unreadable."""
    try:
        members = _zip(path, budget) if kind == "zip" else _tar(path, budget)
        budget.packed += path.stat().st_size
        count = 0
        for size, source in members:
            budget.take_object()
            target = new_object()
            with source() as src, open(target, "wb") as dst:
                _copy(src, dst, size, budget)
            count += 1
        return count
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        # The exception's text may quote a member name: say only which kind of failure it was.
        raise ArchiveRefused(422, "corrupt-archive", f"the {kind} archive cannot be read to the end "
                             f"({exc.__class__.__name__}); it may be truncated or damaged: send it again") from None


def _copy(src: IO[bytes], dst: IO[bytes], declared: int, budget: Budget) -> int:
    written = 0
    while chunk := src.read(CHUNK):
        written += len(chunk)
        if written > declared:
            raise ArchiveRefused(422, "archive-lies", "an archive member unpacks to more than its header "
                                 "declares; the archive was refused (it looks crafted)")
        budget.take_bytes(len(chunk))
        dst.write(chunk)
    return written


def _bomb() -> ArchiveRefused:
    return ArchiveRefused(413, "archive-bomb", "the archive inflates far beyond its packed size (a zip bomb?); "
                          "it was refused: send the study's files as they are, or a normally compressed archive")


def _check_name(name: str) -> None:
    unsafe = ArchiveRefused(422, "unsafe-member", "an archive member's path is absolute or climbs out of the "
                            "archive ('..'); the archive was refused: pack the study with relative paths")
    if not name or "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise unsafe
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise unsafe


def _link() -> ArchiveRefused:
    return ArchiveRefused(422, "unsafe-member", "the archive holds a link or a special file; the archive was "
                          "refused: pack regular files only")


def _zip(path: Path, budget: Budget) -> Iterator[tuple[int, Opener]]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        files = []
        declared = 0
        for info in infos:
            _check_name(info.filename)
            # Unix file type bits, when the packer set them (zipfile.writestr sets permissions only).
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _link()
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise ArchiveRefused(422, "encrypted-member", "the archive holds encrypted members; send it "
                                     "without a password")
            if info.file_size > RATIO_FLOOR and info.file_size > max(info.compress_size, 1) * budget.max_ratio:
                raise _bomb()
            declared += info.file_size
            files.append(info)
        # Refuse on what the headers declare before writing a byte; the copy checks what they actually yield.
        budget.check_declared(len(files), declared)
        for info in files:
            yield info.file_size, functools.partial(archive.open, info)


def _tar(path: Path, budget: Budget) -> Iterator[tuple[int, Opener]]:
    # Stream mode, one member at a time: a tar.gz is never decompressed further than the members its headers
    # declare, and each declaration is checked against the budget before its data is read.
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            _check_name(member.name)
            if member.issym() or member.islnk() or member.isdev() or member.isfifo():
                raise _link()
            if not member.isfile():
                continue  # directories
            budget.check_declared(1, member.size)
            yield member.size, functools.partial(_extracted, archive, member)


@contextmanager
def _extracted(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[IO[bytes]]:
    handle = archive.extractfile(member)
    if handle is None:
        raise _link()
    with handle:
        yield handle
