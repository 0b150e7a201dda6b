"""Worker memory between objects: freed memory kept for the next object, handed back after a big one.

glibc keeps freed arenas of large, short-lived arrays (decoded frames, renderings, model activations) for
reuse; a worker that saw one big object would otherwise keep its peak RSS for the rest of the run. Handing
everything back after every object has its own cost: the next object faults the same pages in again. A
512x512 CT slice's detection allocates and frees ~100 MB of activations (onnxruntime's arena is off, see
inference/local_engine.py), and re-faulting them was a quarter of the worker's CPU time per slice. So
workers keep up to ``KEEP_FREE_BYTES`` of freed heap for reuse, and trim only once RSS passes
``TRIM_ABOVE_BYTES`` (after an object bigger than a slice).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from functools import lru_cache
from typing import Any

KEEP_FREE_BYTES = 256 << 20  # freed heap glibc keeps for the next object (its M_TRIM_THRESHOLD)
TRIM_ABOVE_BYTES = 768 << 20  # a worker above this RSS after an object gives back everything it can
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


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


def keep_working_memory() -> None:
    """In a worker: large blocks from the heap (not one mmap per block) and freed heap kept for reuse."""
    libc = _libc()
    if libc is not None:
        # Above M_MMAP_THRESHOLD every block is its own mapping, unmapped on free: faulted in anew each time.
        libc.mallopt(_M_MMAP_THRESHOLD, KEEP_FREE_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_BYTES)


def release_memory() -> None:
    gc.collect()
    libc = _libc()
    if libc is not None and resident_bytes() > TRIM_ABOVE_BYTES:  # glibc only; elsewhere the allocator's business
        libc.malloc_trim(0)


def resident_bytes() -> int:
    """This process's RSS (0 when /proc cannot tell: then nothing is trimmed beyond glibc's own threshold)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
