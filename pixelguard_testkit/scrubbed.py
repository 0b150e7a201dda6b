"""The scrub stage's output alone (parse -> scrub -> the format's writer), for tests and benches that study
the metadata without the pixel stage: ``tests/core/test_sweep.py``, ``bench/sweep_false_hits.py``."""
from __future__ import annotations

from pixelguard.core.keys import Derivations
from pixelguard.core.parse import parse
from pixelguard.core.profile import Profile
from pixelguard.core.record import ObjectRecord
from pixelguard.core.scrub import scrub
from pixelguard.formats import handler


def scrubbed(input_id: str, data: bytes, profile: Profile, derive: Derivations) -> ObjectRecord:
    """The scrubbed record, its ``output_bytes`` the written object (pixels never decoded)."""
    record = scrub(parse(input_id, data, derive), profile, derive)
    record.output_bytes = handler(record.format).scrubbed_bytes(record)
    return record
