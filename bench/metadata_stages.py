"""Where `pixelguard deid --redaction off` spends its time per object, stage by stage, in one process.

    .venv/bin/python bench/metadata_stages.py

Runs ``core.pipeline.process`` (profile ``basic``, redaction off, a throwaway key) over the metadata bench's
corpus (``bench/metadata.py``'s ``corpus_files``) with each stage function wrapped in a timer, and prints
the share of the run each stage took. Start-up, the process pool and the writes are not in it: the whole
command is what ``bench/metadata.py`` times.
"""
from __future__ import annotations

import gc
import hashlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("parse", "settings_for", "terms_of", "scrub", "redact", "check_output", "release_check", "route")


def main() -> int:
    from metadata import corpus_files  # type: ignore[import-not-found]  # bench/ is on sys.path

    from pixelguard.core import pipeline
    from pixelguard.core.keys import Derivations
    from pixelguard.core.profile import load
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.core.vocabulary import RedactionMode

    silence_value_echoes()
    spent: Counter[str] = Counter()

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return run

    for name in STAGES:
        setattr(pipeline, name, timed(name, getattr(pipeline, name)))
    derive = Derivations(lambda purpose, value: hashlib.sha256(purpose.encode() + value).digest())
    profile, options = load("basic"), pipeline.RunOptions(redaction=RedactionMode.OFF)
    objects = [path.read_bytes() for path in corpus_files()]
    gc.freeze()  # as the deid workers do (pixelguard/memory.py)
    started = time.perf_counter()
    for index, data in enumerate(objects):
        pipeline.process(f"in-{index}", data, profile, derive, None, options)
    total = time.perf_counter() - started
    print(f"{len(objects)} objects in {total:.2f} s ({len(objects) / total:.1f} objects/s, one process)")
    for name, seconds in spent.most_common():
        print(f"  {name:14s} {seconds:6.3f} s  {100 * seconds / total:4.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
