"""Hand freed memory back to the operating system between objects.

glibc keeps freed arenas of large, short-lived arrays (decoded frames, renderings, model activations) for
reuse; a worker that saw one big object would otherwise keep its peak RSS for the rest of the run.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def freeze_startup_objects() -> None:
    """Move everything loaded so far (modules, profiles, models) out of the collector's sight.

    ``release_memory`` runs a full collection after every object; without this it walks every object the
    imports made, ~20 ms each time, longer than a metadata-only object takes to process.
    """
    gc.collect()
    gc.freeze()


def release_memory() -> None:
    gc.collect()
    libc = _libc()
    if libc is not None:  # glibc only; elsewhere freeing is the allocator's business
        libc.malloc_trim(0)
