"""Object stores behind one interface (``base.py``); one module per backend (``file.py``)."""
from . import file as _file  # noqa: F401 - registers file://
from .base import ObjectNotFound, ObjectStore, StorageFull, StorageUnavailable, open_store
from .file import FileObjectStore

__all__ = ["FileObjectStore", "ObjectNotFound", "ObjectStore", "StorageFull", "StorageUnavailable", "open_store"]
