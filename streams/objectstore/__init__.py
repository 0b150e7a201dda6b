"""Object stores behind one interface (``base.py``); one module per backend (``file.py``, ``s3.py``).

``s3.py`` is imported by ``open_store`` on the first ``s3://`` URI, so processes that never use S3 never
import boto3.
"""
from . import file as _file  # noqa: F401 - registers file://
from .base import (
    ObjectNotFound,
    ObjectStore,
    StorageFull,
    StorageUnavailable,
    StoreOptions,
    open_store,
    scheme_of,
    transfer,
)
from .file import FileObjectStore

__all__ = ["FileObjectStore", "ObjectNotFound", "ObjectStore", "StorageFull", "StorageUnavailable", "StoreOptions",
           "open_store", "scheme_of", "transfer"]
