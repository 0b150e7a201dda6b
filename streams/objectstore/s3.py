"""The S3 object store: ``s3://bucket/prefix`` URIs on AWS S3 or any S3-compatible server (s3proxy, SeaweedFS).

Credentials come only from boto3's standard chain (``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, an instance role): never from an event or a setting of ours, and never in a message. The
endpoint is ``PIXELGUARD_S3_ENDPOINT`` (``StoreOptions``) or ``AWS_ENDPOINT_URL``, which boto3 reads itself.

Objects go one at a time: ``put`` hands the bytes to boto3's managed transfer, which uploads an object over
``multipart_threshold`` in parts (several at once) and completes it in one step, so a reader never sees half
an object under its final name, as with the file backend's rename. ``copy`` is server-side (CopyObject, or
UploadPartCopy for large objects), across buckets too.

Faults: a server that does not answer, answers 5xx/SlowDown, or refuses our credentials is
``StorageUnavailable`` (the stages retry it with backoff, then report what to do); a missing key is
``ObjectNotFound``. No message quotes a bucket, key or endpoint: our keys are opaque ids, but a key listed
from a feed's prefix (``submit s3://...``) is the feed's own name, which may hold PHI.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from .base import ObjectNotFound, StorageUnavailable, StoreOptions, register

MIB = 1 << 20
# Managed transfers: objects over 16 MiB go in 16 MiB parts, 4 at once (S3's minimum part is 5 MiB).
DEFAULT_TRANSFER = TransferConfig(multipart_threshold=16 * MIB, multipart_chunksize=16 * MIB, max_concurrency=4)

_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "ExpiredToken",
           "InvalidToken", "InvalidClientTokenId"}
_BUSY = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "OperationAborted", "Throttling"}

UNREACHABLE = ("the S3 endpoint does not answer: check that the server is up and that PIXELGUARD_S3_ENDPOINT "
               "or AWS_ENDPOINT_URL names it")
DENIED = ("the S3 server refused our credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
          "AWS_PROFILE, and the bucket's policy")
NO_BUCKET = ("the bucket does not exist: create it, or correct PIXELGUARD_STORE / PIXELGUARD_OUTPUT_STORE / "
             "the submitted s3:// prefix")


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError("an S3 reference is s3://BUCKET/KEY")
    return parsed.netloc, parsed.path.lstrip("/")


def _endpoint(options: StoreOptions) -> str | None:
    return options.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(options: StoreOptions | None = None, session: Any = None) -> Any:
    """An S3 client from the standard AWS chain; thread-safe, so one serves a worker's stage threads.

    ``session``: only for tools that hold a server's own key pair (``services/s3proxy.py``'s admin client).
    """
    options = options or StoreOptions()
    endpoint = _endpoint(options)
    config = Config(
        # Only when an operation needs them: S3-compatible servers (s3proxy) answer NotImplemented to the
        # CRC trailers boto3 otherwise adds to every PutObject; AWS accepts either.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        # Servers on an address (not a DNS name with a wildcard) take the bucket in the path.
        s3={"addressing_style": "path" if endpoint else "auto"},
        # Few, short attempts here: the stages retry with their own backoff and report what to do.
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    return (session or boto3.session.Session()).client("s3", endpoint_url=endpoint, config=config)


class S3ObjectStore:
    def __init__(self, uri: str, options: StoreOptions | None = None, transfer: TransferConfig | None = None,
                 s3: Any = None) -> None:
        self.bucket, prefix = split(uri)
        self.prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        self.root_uri = f"s3://{self.bucket}/{self.prefix}"
        self._s3 = s3 if s3 is not None else client(options)
        self._transfer = transfer or DEFAULT_TRANSFER

    def _key(self, name: str) -> str:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or "" in parts:
            raise ValueError("object names stay inside the store")
        return self.prefix + name

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    def check(self) -> None:
        """At start: the bucket is there and our credentials open it (StorageUnavailable says what to fix)."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - mapped: the message must not quote the bucket
            raise fault("check", exc, bucket=True) from None

    def exists(self, name: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:  # noqa: BLE001
            mapped = fault("lookup", exc)
            if isinstance(mapped, ObjectNotFound):
                return False
            raise mapped from None
        return True

    def put(self, name: str, data: bytes) -> str:
        key = self._key(name)
        try:
            self._s3.upload_fileobj(io.BytesIO(data), self.bucket, key, Config=self._transfer)
        except Exception as exc:  # noqa: BLE001
            raise fault("write", exc) from None
        return f"s3://{self.bucket}/{key}"

    def get(self, uri: str) -> bytes:
        bucket, key = split(uri)
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
            return bytes(response["Body"].read())
        except Exception as exc:  # noqa: BLE001
            raise fault("read", exc) from None

    def size(self, uri: str) -> int:
        bucket, key = split(uri)
        try:
            return int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception as exc:  # noqa: BLE001
            raise fault("lookup", exc) from None

    def copy(self, uri: str, name: str) -> str:
        bucket, key = split(uri)
        target = self._key(name)
        try:
            self._s3.copy({"Bucket": bucket, "Key": key}, self.bucket, target, Config=self._transfer)
        except Exception as exc:  # noqa: BLE001
            raise fault("copy", exc) from None
        return f"s3://{self.bucket}/{target}"

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """``(uri, size)`` of every object under ``prefix`` (below the store's own), in key order, page by page."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):  # a "folder" marker some tools write
                        yield f"s3://{self.bucket}/{item['Key']}", int(item["Size"])
        except Exception as exc:  # noqa: BLE001
            raise fault("listing", exc, bucket=True) from None


def _root(exc: BaseException) -> BaseException:
    """The botocore error under boto3's and s3transfer's wrappers (S3UploadFailedError, futures)."""
    seen = exc
    for _ in range(5):
        if isinstance(seen, ClientError | BotoCoreError):
            return seen
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return exc


def fault(what: str, exc: BaseException, bucket: bool = False) -> Exception:
    """Our exception for a failed S3 call: never the client's message (it names the bucket and key)."""
    err = _root(exc)
    prefix = f"object store {what} failed"
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket" or (bucket and code in _MISSING):
            return StorageUnavailable(f"{prefix} ({NO_BUCKET})")
        if code in _MISSING:
            return ObjectNotFound("object not found in the store")
        if code in _DENIED:
            return StorageUnavailable(f"{prefix} ({DENIED})")
        safe = code if code.isalnum() else "an error"
        if status >= 500 or code in _BUSY:
            return StorageUnavailable(f"{prefix} (the S3 server answered {safe}: it is failing or busy; "
                                      "check the server, the stages retry with backoff)")
        return OSError(f"{prefix} (the S3 server answered {safe})")
    if isinstance(err, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return StorageUnavailable(f"{prefix} (no usable AWS credentials: set AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)")
    if isinstance(err, BotoConnectionError | HTTPClientError):
        return StorageUnavailable(f"{prefix} ({UNREACHABLE})")
    if isinstance(err, BotoCoreError | Boto3Error):
        return StorageUnavailable(f"{prefix} ({err.__class__.__name__}: check the S3 server and retry)")
    return StorageUnavailable(f"{prefix} ({exc.__class__.__name__}: check the S3 server and retry)")


register("s3", lambda uri, options: S3ObjectStore(uri, options))
