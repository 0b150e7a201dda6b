"""A multipart upload streamed to disk part by part, under limits, never held whole in memory.

Each file part is written to the job's upload folder as it arrives; once the body has ended, every part that
is a zip or tar (by content) is unpacked into its members (``archives.py``) and every other part is one
object. Objects get opaque names (``obj-000001``, ...): the uploaded file names are never written, logged or
returned, since they can hold a patient's name. A request is all or nothing: on any refusal the caller
deletes the folder and no job exists.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from .archives import ArchiveRefused, Budget, kind_of, unpack
from .errors import ApiError

FIELDS = ("profile", "redaction")
FIELD_MAX = 256  # a profile name or a mode: anything longer is not one


@dataclass(frozen=True)
class UploadLimits:
    max_body_bytes: int
    max_objects: int
    max_inflated_bytes: int
    max_ratio: float


@dataclass
class Received:
    objects: list[Path] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    archives: int = 0


class _Parts:
    """The parser's callbacks: headers of the current part, then its data to a file or a field."""

    def __init__(self, folder: Path, limits: UploadLimits) -> None:
        self.folder = folder
        self.limits = limits
        self.raw: list[Path] = []
        self.fields: dict[str, str] = {}
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._file: IO[bytes] | None = None
        self._field: str | None = None
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end, "on_end": self.end}

    def part_begin(self) -> None:
        self._headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if b"filename" in options:  # a file, whatever its field name; its file name is dropped here
            if len(self.raw) >= self.limits.max_objects:
                raise ApiError(413, "too-many-objects", f"more than {self.limits.max_objects} files in one "
                               "request; split the study into several jobs (PIXELGUARD_API_MAX_OBJECTS)")
            path = self.folder / f".part-{len(self.raw) + 1:06d}"
            self.raw.append(path)
            self._file = open(path, "wb")  # noqa: SIM115 - closed in part_end, or by abort
            self._field = None
        elif name in FIELDS:
            self._field, self._value = name, bytearray()
        else:
            raise ApiError(422, "invalid", "unknown form field; send files in 'files' parts and optionally "
                           f"{' and '.join(FIELDS)} fields")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
        elif self._field is not None:
            self._value += data[start:end]
            if len(self._value) > FIELD_MAX:
                raise ApiError(422, "invalid", f"field {self._field} is too long; see /v1/profiles for names")

    def part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._field is not None:
            self.fields[self._field] = self._value.decode("utf-8", errors="replace").strip()
            self._field = None

    def end(self) -> None:
        self.ended = True

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive(request: Request, folder: Path, limits: UploadLimits) -> Received:
    """Stream the body into ``folder`` and split it into objects; ApiError (4xx) on anything refused."""
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise ApiError(415, "unsupported", "send multipart/form-data: the files (or one zip/tar of a study) as "
                       "'files' parts")
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad-request", "the multipart content type has no boundary; let the client build it")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise ApiError(413, "too-large", f"the upload is over {limits.max_body_bytes} bytes; split it into "
                       "several jobs (PIXELGUARD_API_MAX_UPLOAD_BYTES)")
    folder.mkdir(parents=True, mode=0o700)
    parts = _Parts(folder, limits)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise ApiError(413, "too-large", f"the upload is over {limits.max_body_bytes} bytes; split it "
                               "into several jobs (PIXELGUARD_API_MAX_UPLOAD_BYTES)")
            parser.write(chunk)
    except MultipartParseError:
        raise ApiError(400, "bad-request", "the multipart body is malformed; let an HTTP client build it") from None
    except ClientDisconnect:
        raise ApiError(400, "bad-request", "the upload was cut off before its end; send it again") from None
    finally:
        parts.abort()
    if not parts.ended:
        raise ApiError(400, "bad-request", "the multipart body ends before its closing boundary (truncated); "
                       "send it again")
    if not parts.raw:
        raise ApiError(400, "no-files", "the request holds no files; send them (or one zip/tar) as 'files' parts")
    return await run_in_threadpool(_split, folder, parts, limits)


def _split(folder: Path, parts: _Parts, limits: UploadLimits) -> Received:
    """Every raw part becomes objects: an archive's members, or the part itself."""
    received = Received(fields=parts.fields)
    budget = Budget(limits.max_objects, limits.max_inflated_bytes, limits.max_ratio)

    def new_object() -> Path:
        path = folder / f"obj-{len(received.objects) + 1:06d}"
        received.objects.append(path)
        return path

    try:
        for raw in parts.raw:
            kind = kind_of(raw)
            if kind is None:
                budget.take_object()
                os.replace(raw, new_object())
                continue
            unpack(raw, kind, new_object, budget)
            received.archives += 1
            raw.unlink()
    except ArchiveRefused as refused:
        raise ApiError(refused.status, refused.error, refused.reason) from None
    if not received.objects:
        raise ApiError(400, "no-files", "the archive holds no files; send the study's files")
    return received
