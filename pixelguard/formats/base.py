"""The interface every format module implements (``pixelguard.formats`` registers them).

A handler is stateless; the object's state travels in the ``ObjectRecord`` the stages hand it. Each method
is one stage's format-specific part: the stage itself (``core/parse.py``, ``core/scrub.py``, ...) owns
what is common, such as budgets, findings and the routing decision.
"""
from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pixelguard.core.integrity import PixelShape
    from pixelguard.core.keys import Derivations
    from pixelguard.core.limits import Deadline, Limits
    from pixelguard.core.profile import Profile
    from pixelguard.core.record import Format, ObjectRecord
    from pixelguard.core.sweep import Reader
    from pixelguard.core.sweep_rules import Hit, SweepTerms
    from pixelguard.core.textsearch import Detector, RedactionSettings


GZIP_MAGIC = b"\x1f\x8b"


class Match(Enum):
    """How sure a handler is, from the bytes alone, that an object is in its format."""

    NONE = 0
    PLAUSIBLE = 1  # no magic number, but a structure that fits (a DICOM dataset stored without its preamble)
    MAGIC = 2  # the magic number where the format's standard puts it


class FormatHandler(Protocol):
    format: Format

    def detect(self, data: bytes) -> Match:
        """Whether ``data`` is this format, by content (never by name); reads only the first bytes, and
        inflates no more than a header's worth of a gzip stream."""

    def read_header(self, data: bytes, limits: Limits) -> Any:
        """Parse: read and validate the header from the bytes (never decode pixels); StageError with a
        reason when the object is broken."""

    def routing_key(self, record: ObjectRecord, derive: Derivations) -> str:
        """The key that keeps related objects on one partition; never an original identifier."""

    def submit_key(self, data: bytes, derive: Derivations) -> str:
        """``routing_key`` from the bytes alone, read cheaply (a feed must not parse whole objects); for an
        object that does not read, its content id."""

    def phi_terms(self, record: ObjectRecord) -> tuple[str, ...]:
        """Header PHI values the pixel search looks for in ``phi`` mode (read before scrub)."""

    def input_shape(self, record: ObjectRecord) -> PixelShape:
        """The pixel geometry the input claims; the output must keep it."""

    def scrub(self, record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
        """Remove identifying metadata and set ``record.output_id``."""

    def scrubbed_bytes(self, record: ObjectRecord) -> bytes:
        """The scrubbed object with its pixels untouched, as bytes ``read_header`` accepts again."""

    def restore(self, record: ObjectRecord, staged: bytes) -> None:
        """Streaming: make a record re-parsed from ``scrubbed_bytes`` ready for ``redact``."""

    def redact(self, record: ObjectRecord, detector: Detector, settings: RedactionSettings,
               deadline: Deadline | None) -> None:
        """Find and fill burned-in text (``core/textsearch.py``) and set ``record.output_bytes``."""

    def check_output(self, output: bytes, expected: PixelShape, decode_frames: bool) -> None:
        """Raise StageError("integrity") unless the output reads back whole with ``expected``'s geometry;
        its frames are decoded unless ``decode_frames`` is False (pixels left as they came)."""

    def sweep_terms(self, original: ObjectRecord, profile: Profile | None) -> dict[str, str]:
        """The parsed input's PHI values (term -> label) the release sweep looks for in the output."""

    def sweep(self, output: bytes, terms: SweepTerms, reader: Reader | None) -> list[Hit]:
        """Every PHI hit in a finished output (its metadata, and its pixels when ``reader`` is given)."""
