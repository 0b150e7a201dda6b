"""What ``pixelguard submit`` reads: files and folders, every object under an ``s3://bucket/prefix``, and
every instance of a PACS study, series or instance named by a ``dicomweb://`` URL (``streams/dicomweb.py``).

Local paths are walked by ``embedded.discover`` (the same problems as ``deid``: loops, dangling links,
unreadable folders). An ``s3://`` prefix is listed page by page before anything is published, so a listing
that fails (server down, no bucket, refused credentials) publishes nothing of it and says what to fix; a
prefix with no object is a ``not-found`` input, like a path that does not exist. Objects are then read one
at a time, when their turn comes. A source's name (path or S3 key) is the feed's: it feeds the input id's
HMAC and is never printed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pixelguard.embedded import discover

from .dicomweb import SCHEMES, DicomWebNotFound, DicomWebRefused, DicomWebUnavailable, client, parse
from .objectstore import ObjectNotFound, ObjectStore, StorageUnavailable, StoreOptions, open_store, scheme_of


@dataclass(frozen=True)
class Source:
    name: str  # absolute path or s3:// URI; never printed
    problem: tuple[str, str] | None = None  # (code, reason) found while walking or listing
    size: int | None = None  # from the listing (S3); a local file is stat'ed when read
    bucket: ObjectStore | None = None  # the store an S3 source is read from; None: a local file
    # A remote source that streams (dicomweb://): reads at most the limit, else raises ObjectTooLarge.
    fetch: Callable[[int], bytes] | None = None

    def read(self) -> bytes:
        """The bytes; a local file's OSError, or ObjectNotFound/StorageUnavailable for an S3 object."""
        if self.bucket is None:
            with open(self.name, "rb") as handle:
                return handle.read()
        return self.bucket.get(self.name)


class ListingFailed(StorageUnavailable):
    """An ``s3://`` prefix could not be listed: nothing was submitted."""


def sources(inputs: Iterable[str], options: StoreOptions | None = None) -> list[Source]:
    """Every input to submit, local paths first (walked), then each S3 prefix's objects in key order."""
    inputs = list(inputs)
    local = (i for i in inputs if scheme_of(i) != "s3" and scheme_of(i) not in SCHEMES)
    found = [Source(item.path, item.problem) for item in discover(local)]
    for uri in (i for i in inputs if scheme_of(i) == "s3"):
        found += _listed(uri, options or StoreOptions())
    for uri in (i for i in inputs if scheme_of(i) in SCHEMES):
        found += _pacs(uri)
    return found


def _pacs(uri: str) -> list[Source]:
    """Each instance under a ``dicomweb://`` study, series or instance URL (QIDO-RS), fetched when its turn
    comes (WADO-RS). A server that cannot be reached stops here, nothing submitted; a URL the server does not
    know is one not-found input, like an S3 prefix with no object."""
    import functools

    ref = parse(uri)  # DicomWebError (a ValueError): a usage error, nothing submitted
    pacs = client(ref)
    try:
        found = pacs.instances(ref)
    except DicomWebNotFound as exc:
        return [Source(ref.uri(), ("not-found", str(exc)))]
    except DicomWebRefused as exc:  # e.g. a stored file the PACS cannot parse: the study is one error input
        return [Source(ref.uri(), ("unlistable", str(exc)))]
    except DicomWebUnavailable as exc:
        raise ListingFailed(f"submit: listing a dicomweb:// input failed, so nothing was submitted: {exc}") from None
    return [Source(item.uri(), fetch=functools.partial(pacs.retrieve, item)) for item in found]


def _listed(uri: str, options: StoreOptions) -> list[Source]:
    from .objectstore.s3 import S3ObjectStore, split

    bucket_name, prefix = split(uri)
    bucket = open_store(f"s3://{bucket_name}", options)
    assert isinstance(bucket, S3ObjectStore)
    try:
        listed = [Source(name, size=size, bucket=bucket) for name, size in bucket.list(prefix)]
    except (StorageUnavailable, ObjectNotFound, OSError) as exc:
        raise ListingFailed(f"submit: listing an s3:// input failed, so nothing was submitted: {exc}") from None
    return listed or [Source(uri, ("not-found", "no object under the s3:// prefix"))]
