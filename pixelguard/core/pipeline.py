"""One object's life in-process: parse -> scrub -> redact -> route. Both runners call these functions."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import unverified
from .detect_memo import DetectorMemo
from .export import OutputFormat, check_final, finish, refuse_unsupported, sweep_final
from .integrity import input_shape
from .keys import Derivations
from .limits import DEFAULT, Deadline, Limits
from .parse import parse
from .profile import Profile
from .record import Format, ObjectRecord, StageError, Status
from .redact import Detector, RedactionSettings, redact
from .regions import Region
from .scrub import scrub
from .sweep import SweepTerms, summary, terms_of
from .vocabulary import RedactionMode


@dataclass
class Outcome:
    """What the router decided for one input; safe to log (reasons are ours, ids are opaque)."""

    input_id: str
    status: Status
    reason: str
    confidence: float
    duration_s: float
    format: str | None = None
    output_id: str = ""
    extension: str = ""
    error_code: str = ""
    output_bytes: bytes = field(default=b"", repr=False)
    pseudonyms: dict[str, str] = field(default_factory=dict)
    crosswalk: dict[str, str] = field(default_factory=dict, repr=False)
    stats: dict[str, object] = field(default_factory=dict)
    content_id: str = ""  # keyed digest of the input bytes: tells a byte-identical duplicate from a conflict


def route(record: ObjectRecord) -> tuple[Status, str]:
    if record.findings:
        return Status.REVIEW, "; ".join(f"{f.stage}: {f.reason}" for f in record.findings)
    return Status.CLEAN, ""


@dataclass(frozen=True)
class RunOptions:
    """Per-run choices that override the profile (CLI flags)."""

    redaction: RedactionMode | None = None  # None: the profile's
    encoding: str = "original"  # original | htj2k: how *redacted* compressed pixels are re-encoded
    manual_boxes: tuple[tuple[int, int, int, int, int], ...] = ()  # a reviewer's (frame, x0, y0, x1, y1)
    output_format: OutputFormat = OutputFormat.ORIGINAL  # what the job writes (core/export.py)

    def __post_init__(self) -> None:
        # A caller passing "phi" must not get the default silently: the stages compare members by identity.
        if self.redaction is not None and not isinstance(self.redaction, RedactionMode):
            object.__setattr__(self, "redaction", RedactionMode.parse(self.redaction, "RunOptions"))
        if not isinstance(self.output_format, OutputFormat):
            object.__setattr__(self, "output_format", OutputFormat.parse(self.output_format, "RunOptions"))

    @classmethod
    def from_event(cls, options: Mapping[str, str]) -> RunOptions:
        """The options a streaming event carries as text (``pixelguard submit --redaction``)."""
        redaction = options.get("redaction")
        return cls(redaction=RedactionMode.parse(redaction, "event options") if redaction else None,
                   encoding=options.get("encoding", "original"))

    def with_output_format(self, value: str) -> RunOptions:
        """These options writing ``value`` (an event's ``output_format``; empty: the original format)."""
        from dataclasses import replace

        return replace(self, output_format=OutputFormat.parse(value, "event output_format"))


def settings_for(profile: Profile, record: ObjectRecord, options: RunOptions = RunOptions(),
                 limits: Limits = DEFAULT) -> RedactionSettings:
    from pixelguard.formats import handler

    mode = options.redaction or profile.redaction
    # The pixel search looks for these; with redaction off no pixel is searched.
    terms = handler(record.format).phi_terms(record) if mode is not RedactionMode.OFF else ()
    # Redacted pixels headed for HTJ2K are encoded once, as HTJ2K, not first in their own syntax.
    encoding = "htj2k" if options.output_format is OutputFormat.HTJ2K else options.encoding
    return RedactionSettings(mode=mode, review_threshold=profile.review_threshold,
                             phi_terms=terms, encoding=encoding, frame_batch=limits.frame_batch,
                             manual_boxes=options.manual_boxes)


def process(input_id: str, data: bytes, profile: Profile, derive: Derivations, detector: Detector,
            options: RunOptions = RunOptions(), limits: Limits | None = None) -> Outcome:
    started = time.perf_counter()
    limits = limits or Limits.from_env()
    deadline = Deadline(limits.time_s)
    fmt: Format | None = None
    try:
        record = parse(input_id, data, derive, limits)
        fmt = record.format
        refuse_unsupported(options.output_format, fmt)  # before any work on the object
        shape = input_shape(record)
        settings = settings_for(profile, record, options, limits)  # PHI terms are read before scrub removes them
        terms = terms_of(record, profile)
        scrub(record, profile, derive)
        # Per object: what the search already answered (unchanged frames, verified ones) is not asked again.
        engine = DetectorMemo(detector) if detector is not None else None
        redact(record, engine, settings, deadline)
        extension = finish(record, options.output_format)  # the job's output format, then verified as written
        # --redaction off leaves the pixels as they came and reads none of them (see release_check).
        pixels = settings.mode is not RedactionMode.OFF
        check_final(record.format, options.output_format, record.output_bytes, shape, decode_frames=pixels)
        release_check(record, terms, engine if pixels else None, deadline, options.output_format)
        status, reason = route(record)
        return Outcome(input_id, status, reason, record.confidence, time.perf_counter() - started,
                       format=fmt.value, output_id=record.output_id, extension=extension,
                       output_bytes=record.output_bytes, pseudonyms=record.pseudonyms,
                       crosswalk=record.crosswalk, stats=record.stats, content_id=derive.content_id(data))
    except StageError as exc:
        return _error(input_id, fmt, exc.code, exc.reason, started)
    except MemoryError:
        return _error(input_id, fmt, "oversized", "object does not fit in memory", started)
    except Exception as exc:  # noqa: BLE001 - never crash the run; the message may quote values, so drop it
        return _error(input_id, fmt, "internal", f"unexpected {exc.__class__.__name__} while processing", started)


def release_check(record: ObjectRecord, terms: SweepTerms, detector: Detector | None, deadline: Deadline,
                  output: OutputFormat = OutputFormat.ORIGINAL) -> None:
    """The independent PHI sweep of the finished output (see core.sweep): a hit holds the object for review.

    Without a detector (``--redaction off``, whose runs load no engine) the pixels are not read: objects that
    may carry burned-in text are held for review by the redact stage instead. Its hits are counted in
    ``record.stats`` (``sweep_hits``, and by kind in ``sweep_kinds``, which the
    runners turn into metrics). The reader is the OCR engine, asked only within the object's time budget.
    """

    def reader(frames: list[np.ndarray]) -> list[list[Region]]:
        deadline.check("sweeping the output for PHI")
        return unverified.verifying(lambda: detector.ocr(frames))  # type: ignore[union-attr]

    try:
        hits = sweep_final(record.format, output, record.output_bytes, terms,
                           reader if detector is not None else None)
    except unverified.EngineFailed:
        # The output was written and checked; only the engine's read of it is missing: a person looks.
        record.stats["sweep"] = "unverified"
        record.add_finding("sweep", unverified.reason(unverified.SWEEP))
        return
    record.stats["sweep_hits"] = len(hits)
    record.stats["sweep_kinds"] = dict(Counter(hit.kind for hit in hits))
    if hits:
        record.add_finding("sweep", summary(hits))


def error_outcome(input_id: str, code: str, reason: str, duration_s: float = 0.0) -> Outcome:
    return Outcome(input_id, Status.ERROR, f"{code}: {reason}", 0.0, duration_s, error_code=code)


def _error(input_id: str, fmt: Format | None, code: str, reason: str, started: float) -> Outcome:
    return Outcome(input_id, Status.ERROR, f"{code}: {reason}", 0.0, time.perf_counter() - started,
                   format=fmt.value if fmt else None, error_code=code)
