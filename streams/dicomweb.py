"""A small DICOMweb client: QIDO-RS to list, WADO-RS to fetch one instance, STOW-RS to store one.

Why our own and not ``dicomweb-client``: that library decodes every instance into a pydicom Dataset (and
re-encodes it to store it), so the bytes submitted would not be the bytes the PACS holds, and a corrupt
instance would fail inside the client rather than reach the parse stage with its own error; it also needs
``requests``, which PixelGuard does not otherwise use. What PixelGuard needs is three plain HTTP calls with
``multipart/related`` bodies, which the standard library does.

URLs: ``dicomweb://HOST:PORT/ROOT/studies/UID[/series/UID[/instances/UID]]`` names what to pull (``ROOT`` is
the server's DICOMweb root, e.g. ``dicom-web``); ``dicomweb://HOST:PORT/ROOT`` names a server to store into.
``dicomweb://`` is plain HTTP (servers on 127.0.0.1 or inside a trusted network), ``dicomwebs://`` HTTPS.
UIDs in a URL are PHI-adjacent: no error or log line here quotes a URL or a UID; errors name the server by
host and port only.
"""
from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from .objectstore.base import ObjectNotFound, StorageUnavailable

SCHEMES = {"dicomweb": "http", "dicomwebs": "https"}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_LEVELS = ("studies", "series", "instances")
CHUNK = 1 << 20
TIMEOUT_S = 60.0


class DicomWebError(ValueError):
    """A ``dicomweb://`` URL that cannot be used as written; the message never quotes the URL."""


class DicomWebNotFound(ObjectNotFound):
    """The server answered that the study, series or instance is not there."""


class DicomWebUnavailable(StorageUnavailable):
    """The server could not be reached or failed; worth a retry once it is back."""


class DicomWebRefused(RuntimeError):
    """The server answered, but refused (HTTP 4xx other than 404): retrying the same request will not help."""


class ObjectTooLarge(ValueError):
    """An instance over the size limit; it was not read past the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"object is over the {limit}-byte limit (read stopped there)")
        self.limit = limit


class StoreRefused(ValueError):
    """The server answered a STOW-RS with a refusal for this instance (not worth a retry)."""


class Tag:
    """DICOM JSON keys (PS3.18 F.2) of the attributes this client reads."""

    STUDY_UID = "0020000D"
    SERIES_UID = "0020000E"
    SOP_UID = "00080018"
    FAILED_SOPS = "00081198"
    REFERENCED_SOPS = "00081199"
    REFERENCED_SOP_UID = "00081155"
    FAILURE_REASON = "00081197"


@dataclass(frozen=True)
class Server:
    """A DICOMweb service root: ``scheme://host:port/root``."""

    scheme: str
    host: str
    port: int
    root: str  # path, no trailing slash, e.g. "/dicom-web"

    @property
    def where(self) -> str:
        """What errors call the server: host and port only (a path may hold UIDs)."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Ref:
    """What a ``dicomweb://`` URL names: a server, and a study, a series or one instance in it."""

    server: Server
    study: str = ""
    series: str = ""
    instance: str = ""

    @property
    def path(self) -> str:
        parts = [self.server.root]
        for level, uid in zip(_LEVELS, (self.study, self.series, self.instance), strict=True):
            if uid:
                parts += [level, quote(uid)]
        return "/".join(parts)

    def uri(self) -> str:
        """The canonical URL (an input's name: it feeds the input id's HMAC, never printed)."""
        scheme = next(k for k, v in SCHEMES.items() if v == self.server.scheme)
        return f"{scheme}://{self.server.host}:{self.server.port}{self.path}"


def is_dicomweb(uri: str) -> bool:
    return urlsplit(uri).scheme in SCHEMES


def parse(uri: str, *, need_study: bool = True) -> Ref:
    """Read a ``dicomweb://`` URL; :class:`DicomWebError` says what is wrong without quoting it."""
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES:
        raise DicomWebError("not a dicomweb:// URL")
    try:
        port = parts.port
    except ValueError:
        raise DicomWebError("the dicomweb:// URL's port is not a number") from None
    if not parts.hostname:
        raise DicomWebError("the dicomweb:// URL has no host: write dicomweb://HOST:PORT/ROOT/studies/UID")
    if parts.query or parts.fragment:
        raise DicomWebError("a dicomweb:// URL takes no ?query or #fragment")
    segments = [s for s in parts.path.split("/") if s]
    at = segments.index("studies") if "studies" in segments else len(segments)
    root, named = segments[:at], segments[at:]
    uids: list[str] = []
    for i in range(0, len(named), 2):
        if i // 2 >= len(_LEVELS) or named[i] != _LEVELS[i // 2] or i + 1 >= len(named):
            raise DicomWebError("a dicomweb:// URL ends in /studies/UID, /studies/UID/series/UID or "
                                "/studies/UID/series/UID/instances/UID")
        if not _UID.match(named[i + 1]) or len(named[i + 1]) > 64:
            raise DicomWebError(f"the {_LEVELS[i // 2]} UID in the dicomweb:// URL is not a DICOM UID "
                                "(digits and dots, at most 64 characters)")
        uids.append(named[i + 1])
    if need_study and not uids:
        raise DicomWebError("the dicomweb:// URL names no study: end it in /studies/UID (or a series or instance)")
    server = Server(SCHEMES[parts.scheme], parts.hostname, port or (443 if parts.scheme == "dicomwebs" else 80),
                    "/" + "/".join(root) if root else "")
    return Ref(server, *uids)


class DicomWeb(Protocol):
    """What PixelGuard asks of a DICOMweb server (one module per implementation; this one speaks HTTP)."""

    def instances(self, ref: Ref) -> list[Ref]: ...

    def retrieve(self, ref: Ref, limit: int) -> bytes: ...

    def store(self, data: bytes) -> str: ...

    def search(self, level: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]: ...


class HttpDicomWeb:
    """DICOMweb over ``http.client``: one connection per call (the calls are few and large)."""

    def __init__(self, server: Server, timeout_s: float = TIMEOUT_S) -> None:
        self.server = server
        self.timeout_s = timeout_s

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.server.scheme == "https" else http.client.HTTPConnection
        return cls(self.server.host, self.server.port, timeout=self.timeout_s)

    def _request(self, method: str, path: str, headers: dict[str, str],
                 body: bytes | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connect()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise DicomWebUnavailable(f"DICOMweb server {self.server.where} could not be reached "
                                      f"({exc.__class__.__name__}); start it or fix the URL's host and port, "
                                      "then try again") from None
        if resp.status == 404:
            conn.close()
            raise DicomWebNotFound(f"DICOMweb server {self.server.where} has no such study, series or instance "
                                   "(HTTP 404); check the UIDs in the URL")
        if resp.status >= 500 or resp.status in (408, 429, 503):
            conn.close()
            raise DicomWebUnavailable(f"DICOMweb server {self.server.where} failed (HTTP {resp.status}); "
                                      "try again once it is healthy")
        return conn, resp

    def _json(self, path: str) -> list[dict[str, Any]]:
        conn, resp = self._request("GET", path, {"Accept": "application/dicom+json"})
        try:
            if resp.status == 204:
                return []
            if resp.status >= 400:
                raise DicomWebRefused(f"DICOMweb server {self.server.where} refused the query (HTTP {resp.status}); "
                                      "a PACS refuses to list a study it cannot read: its log names the instance")
            doc = json.loads(resp.read() or b"[]")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise DicomWebUnavailable(f"DICOMweb server {self.server.where}: the query answer could not be "
                                      f"read ({exc.__class__.__name__})") from None
        finally:
            conn.close()
        return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []

    def search(self, level: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """QIDO-RS at ``level`` ("studies", "series" or "instances", or a path below the root)."""
        qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in (query or {}).items())
        return self._json(f"{self.server.root}/{level}" + (f"?{qs}" if qs else ""))

    def instances(self, ref: Ref) -> list[Ref]:
        """Every instance under ``ref`` (QIDO-RS), in UID order; DicomWebNotFound when there is none."""
        if ref.instance:
            return [ref]
        found = self._json(f"{ref.path}/instances")
        refs = sorted({Ref(ref.server, value(d, Tag.STUDY_UID) or ref.study, value(d, Tag.SERIES_UID) or ref.series,
                           value(d, Tag.SOP_UID)) for d in found if value(d, Tag.SOP_UID)},
                      key=lambda r: (r.series, r.instance))
        if not refs:
            raise DicomWebNotFound(f"DICOMweb server {self.server.where} holds no instance under that URL; "
                                   "check the UIDs in it")
        return refs

    def retrieve(self, ref: Ref, limit: int) -> bytes:
        """One instance's bytes as the server holds them (WADO-RS), read in chunks and never past ``limit``."""
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        conn, resp = self._request("GET", ref.path, {"Accept": accept})
        try:
            if resp.status >= 400:
                raise DicomWebRefused(f"DICOMweb server {self.server.where} refused to send the instance "
                                      f"(HTTP {resp.status}); its log says why")
            boundary = _boundary(resp.getheader("Content-Type", ""))
            body = bytearray()
            slack = 64 * 1024  # the multipart framing around the one part
            while chunk := resp.read(CHUNK):
                body += chunk
                if len(body) > limit + slack:
                    raise ObjectTooLarge(limit)
        except (OSError, http.client.HTTPException) as exc:
            raise DicomWebUnavailable(f"DICOMweb server {self.server.where}: the instance could not be read "
                                      f"({exc.__class__.__name__}); try again") from None
        finally:
            conn.close()
        parts = list(split_multipart(bytes(body), boundary)) if boundary else [bytes(body)]
        if len(parts) != 1:
            raise DicomWebRefused(f"DICOMweb server {self.server.where} sent {len(parts)} parts for one instance")
        if len(parts[0]) > limit:
            raise ObjectTooLarge(limit)
        return parts[0]

    def store(self, data: bytes) -> str:
        """STOW-RS one instance; returns its SOPInstanceUID as the server recorded it. Storing the same
        instance again stores nothing new (a PACS keeps one instance per SOPInstanceUID)."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
                + f"\r\n--{boundary}--\r\n".encode())
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": "application/dicom+json", "Content-Length": str(len(body))}
        conn, resp = self._request("POST", f"{self.server.root}/studies", headers, body)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DicomWebUnavailable(f"DICOMweb server {self.server.where}: no answer to the store "
                                      f"({exc.__class__.__name__}); it is retried") from None
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        stored = [value(item, Tag.REFERENCED_SOP_UID) for item in seq(doc, Tag.REFERENCED_SOPS)]
        if resp.status < 400 and stored and not seq(doc, Tag.FAILED_SOPS):
            return stored[0]
        codes = [str(value(item, Tag.FAILURE_REASON)) for item in seq(doc, Tag.FAILED_SOPS)]
        raise StoreRefused(f"DICOMweb server {self.server.where} refused the instance (HTTP {resp.status}"
                           + (f", failure reason {', '.join(codes)}" if codes else "") + ")")


def value(doc: dict[str, Any], tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON object, or None."""
    entry = doc.get(tag)
    values = entry.get("Value") if isinstance(entry, dict) else None
    return values[0] if isinstance(values, list) and values else None


def seq(doc: Any, tag: str) -> list[dict[str, Any]]:
    entry = doc.get(tag) if isinstance(doc, dict) else None
    values = entry.get("Value") if isinstance(entry, dict) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _boundary(content_type: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    return match.group(1).encode() if match else b""


def split_multipart(body: bytes, boundary: bytes) -> Iterator[bytes]:
    """The payloads of a ``multipart/related`` body (RFC 2046), headers dropped."""
    delimiter = b"--" + boundary
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            return  # the close delimiter
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        yield payload[:-2] if payload.endswith(b"\r\n") else payload


def client(ref: Ref) -> HttpDicomWeb:
    return HttpDicomWeb(ref.server)
