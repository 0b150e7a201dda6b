"""Worker memory between objects: freed memory kept for the next object, handed back after a big one.

glibc keeps freed arenas of large, short-lived arrays (decoded frames, renderings, model activations) for
reuse; a worker that saw one big object would otherwise keep its peak RSS for the rest of the run. Handing
everything back after every object has its own cost: the next object faults the same pages in again. A
512x512 CT slice's detection allocates and frees ~100 MB of activations (onnxruntime's arena is off, see
inference/local_engine.py), and re-faulting them was a quarter of the worker's CPU time per slice. So
workers keep up to ``KEEP_FREE_BYTES`` of freed heap for reuse, and trim only once RSS passes
``TRIM_ABOVE_BYTES`` (after an object bigger than a slice), or once it has grown ``TRIM_AFTER_GROWTH_BYTES``
since start-up or its last trim (a 120-frame cine left a worker 410 MB larger, and the next big object's peak
came on top of it: bench/realfiles.py's peak RSS per worker). Trimming after every object instead cost 10% of
the CPU per CT slice (in-process, 0.087 CPU-s per slice against 0.079).
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
TRIM_AFTER_GROWTH_BYTES = 192 << 20  # ... and one this much larger than at start-up or its last trim
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_TRIMMED_AT = [0]  # RSS at the end of start-up or after the last trim (0: not known, growth not judged)


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
    _TRIMMED_AT[0] = resident_bytes()  # growth is measured from here (see release_memory)


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
    if libc is None:  # glibc only; elsewhere the allocator's business
        return
    rss = resident_bytes()
    grown = bool(_TRIMMED_AT[0]) and rss - _TRIMMED_AT[0] > TRIM_AFTER_GROWTH_BYTES
    if rss > TRIM_ABOVE_BYTES or grown:
        libc.malloc_trim(0)
        _TRIMMED_AT[0] = resident_bytes()


def resident_bytes() -> int:
    """This process's RSS (0 when /proc cannot tell: then nothing is trimmed beyond glibc's own threshold)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
