"""Worker memory between objects (pixelguard.memory): what a big object took is handed back after it.

Run in a fresh interpreter: the allocator settings a worker makes would otherwise apply to pytest itself.
"""
from __future__ import annotations

import json
import subprocess
import sys

_WORKER = """
import json, numpy as np
from pixelguard import memory
memory.keep_working_memory()
start = memory.resident_bytes()
blocks = [np.ones(48 << 20, np.uint8) for _ in range(20)]  # ~1 GB in heap blocks, as a big object's frames
pin = np.ones(1 << 20, np.uint8)  # still live above them: glibc's own trim of the heap top cannot reach them
del blocks
held = memory.resident_bytes()
memory.release_memory()
print(json.dumps({"start": start, "held": held, "after": memory.resident_bytes(), "limit": memory.TRIM_ABOVE_BYTES}))
"""


def test_a_worker_gives_back_what_a_big_object_took() -> None:
    out = subprocess.run([sys.executable, "-c", _WORKER], check=True, capture_output=True, text=True).stdout
    rss = json.loads(out)
    assert rss["held"] > rss["limit"]  # freed but kept by the allocator: what the worker would carry on with
    assert rss["after"] < rss["start"] + (300 << 20), rss  # back near where it started, not at its peak


_GROWN = """
import json, numpy as np
from pixelguard import memory
memory.keep_working_memory()
memory.freeze_startup_objects()  # the end of a worker's start-up: growth is measured from here
start = memory.resident_bytes()
blocks = [np.ones(48 << 20, np.uint8) for _ in range(int(sys.argv[1]))]
pin = np.ones(1 << 20, np.uint8)
del blocks
held = memory.resident_bytes()
memory.release_memory()
print(json.dumps({"start": start, "held": held, "after": memory.resident_bytes()}))
"""


def test_a_worker_below_the_rss_bound_gives_back_what_an_object_grew_it_by_and_keeps_a_slices_worth() -> None:
    from pixelguard import memory

    def run(blocks: int) -> dict[str, int]:
        code = "import sys\n" + _GROWN
        out = subprocess.run([sys.executable, "-c", code, str(blocks)], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    grown = run(6)  # ~290 MB: above the growth bound, under the RSS bound
    assert grown["held"] < memory.TRIM_ABOVE_BYTES and grown["held"] - grown["start"] > memory.TRIM_AFTER_GROWTH_BYTES
    assert grown["after"] < grown["start"] + (100 << 20), grown
    kept = run(2)  # ~100 MB, what a CT slice's detection frees: kept for the next object (no faulting it in again)
    assert kept["after"] > kept["start"] + (80 << 20), kept
