"""The streaming stages as plain functions: what each agent does to one event, with no Kafka in sight.

Each step calls the same core stage functions the embedded runner calls (``parse``, ``scrub``, ``redact``,
``route``, ``settings_for``); what differs is only where the object lives between stages: the object store,
under a deterministic name (``staging/<stage>/<job>/<input_id><ext>``), so a redelivered event rewrites the
same name. A step returns ``(topic_key, event)``: the next stage's topic, or ``routing`` with an error event
(failures skip the remaining stages; only the route hop writes the final topics).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pixelguard.core import profile as profiles
from pixelguard.core import unverified
from pixelguard.core.detect_memo import DetectorMemo
from pixelguard.core.export import OutputFormat, check_final, finish, refuse_unsupported
from pixelguard.core.export import extension as export_extension
from pixelguard.core.integrity import input_shape
from pixelguard.core.keys import Derivations
from pixelguard.core.limits import Deadline, Limits
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import RunOptions, release_check, route, settings_for
from pixelguard.core.record import Finding, Format, ObjectRecord, StageError, Status
from pixelguard.core.redact import redact
from pixelguard.core.scrub import scrub
from pixelguard.core.sweep import terms_of
from pixelguard.core.vocabulary import RedactionMode
from pixelguard.formats import handler
from pixelguard.telemetry import metrics
from pixelguard.telemetry.tracing import child_span
from streams.events import ObjectEvent
from streams.objectstore import ObjectNotFound, ObjectStore, StorageFull, StorageUnavailable, transfer

T = TypeVar("T")


class TransientExhausted(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def _transient_kinds() -> dict[type[BaseException], str]:
    # Subclasses before their base: the first match names the fault.
    kinds: dict[type[BaseException], str] = {StorageFull: "storage-full", StorageUnavailable: "storage-unavailable",
                                             unverified.Unverified: "engine-unavailable"}
    try:
        from inference.base import EngineUnavailable

        kinds[EngineUnavailable] = "engine-unavailable"
    except ImportError:  # pragma: no cover
        pass
    try:
        from pixelguard.keyservice.vault import VaultUnavailable

        kinds[VaultUnavailable] = "keys-unavailable"
    except ImportError:  # pragma: no cover
        pass
    try:
        from pixelguard.crosswalk.kafka import CrosswalkError

        kinds[CrosswalkError] = "crosswalk-unavailable"
    except ImportError:  # pragma: no cover
        pass
    return kinds


TRANSIENT = _transient_kinds()
# What the operator does before resubmitting, by fault code: the reason a user reads names it.
NEXT_STEP = {
    "storage-full": "free space on the object store, then resubmit",
    "storage-unavailable": "check that the object store is mounted and reachable (an S3 store: its endpoint is up "
                           "and the AWS credentials are valid), then resubmit",
    "engine-unavailable": "check that the Triton server is up (pixelguard services status), then resubmit",
    "keys-unavailable": "check that the key service is up and unsealed, then resubmit",
    "crosswalk-unavailable": "check the Kafka broker, then resubmit",
}


@dataclass
class StageContext:
    """What every step needs; built once per worker process (see ``agents.wiring.build_context``)."""

    derive: Derivations
    store: ObjectStore  # submitted inputs and staging
    detector: Any  # core.redact.Detector (Triton client or in-process engine)
    crosswalk: Any = None  # crosswalk store (None: not recorded)
    retries: int = 3
    backoff_s: float = 0.5
    limits: Limits = field(default_factory=Limits)  # agents/wiring.py hands the settings' limits
    outputs: ObjectStore | None = None  # clean/, review/ and index/ when they live apart (another bucket)
    _profiles: dict[str, profiles.Profile] = field(default_factory=dict)

    @property
    def published(self) -> ObjectStore:
        """The store outputs are published to."""
        return self.outputs if self.outputs is not None else self.store

    def profile(self, name: str) -> profiles.Profile:
        if name not in self._profiles:
            self._profiles[name] = profiles.load(name)
        return self._profiles[name]

    def retrying(self, stage: str, what: str, fn: Callable[[], T]) -> T:
        """Call ``fn``; retry transient faults (Triton, Vault, storage, crosswalk) with exponential backoff."""
        kinds = tuple(TRANSIENT)
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except kinds as exc:
                code = next(c for k, c in TRANSIENT.items() if isinstance(exc, k))
                metrics.retried(stage, code)
                if attempt == self.retries:
                    raise TransientExhausted(code, f"{what} failed after {self.retries + 1} attempts; "
                                                   f"{NEXT_STEP.get(code, 'resubmit later')}") from None
                time.sleep(self.backoff_s * (2 ** attempt))
        raise AssertionError("unreachable")

    def read(self, stage: str, uri: str) -> bytes:
        with child_span("objectstore get", attrs={"pixelguard.stage": stage}):
            return self.retrying(stage, "reading the object", lambda: self.store.get(uri))

    def put(self, stage: str, name: str, data: bytes) -> str:
        with child_span("objectstore put", attrs={"pixelguard.stage": stage, "pixelguard.bytes": len(data)}):
            return self.retrying(stage, "writing the object", lambda: self.store.put(name, data))


def error_event(event: ObjectEvent, code: str, reason: str, stage: str) -> tuple[str, ObjectEvent]:
    return "routing", event.next("failed", status=Status.ERROR.value, error_code=code,
                                 reason=f"{code}: {reason}", stats={**event.stats, "failed_stage": stage})


def guarded(stage: str, step: Callable[[StageContext, ObjectEvent], tuple[str, ObjectEvent]]):
    """Wrap a step so every failure becomes an error event with a reason that is safe to log."""

    def run(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
        if event.status == Status.ERROR.value:  # failed upstream (or at submit): straight to routing
            return "routing", event
        started = time.perf_counter()
        fmt = event.format
        try:
            topic, out = step(ctx, event)
            fmt = out.format or fmt  # parse is where the format is learnt: its time counts under it too
            return topic, out
        except StageError as exc:
            return error_event(event, exc.code, exc.reason, stage)
        except ObjectNotFound:
            return error_event(event, "not-found", "the submitted object is no longer in the object store", stage)
        except TransientExhausted as exc:
            return error_event(event, exc.code, exc.reason, stage)
        except MemoryError:
            return error_event(event, "oversized", "object does not fit in memory", stage)
        except Exception as exc:  # noqa: BLE001 - the message may quote values, so drop it
            return error_event(event, "internal", f"unexpected {exc.__class__.__name__} in {stage}", stage)
        finally:
            metrics.stage_duration(stage, time.perf_counter() - started, fmt)

    run.__name__ = f"{stage}_step"
    return run


def _parse_step(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
    data = ctx.read("parse", event.source_uri)
    record = parse(event.input_id, data, ctx.derive, ctx.limits)
    output = OutputFormat.parse(event.output_format, "event output_format")
    refuse_unsupported(output, record.format)  # before any work: an error event saying what to run instead
    # The output's name is fixed from here on (the crosswalk records it at scrub): an export's extension too.
    ext = export_extension(output, record.format, input_shape(record).frames)
    return "parsed", event.next("parsed", key=record.routing_key, format=record.format.value,
                                extension=ext, object_uri=event.source_uri,
                                content_id=ctx.derive.content_id(data))


def scrubbed_bytes(record: ObjectRecord) -> bytes:
    """The scrubbed object as bytes the next stage can parse again (pixels untouched)."""
    return handler(record.format).scrubbed_bytes(record)


def _scrub_step(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
    record = parse(event.input_id, ctx.read("scrub", event.source_uri), ctx.derive, ctx.limits)
    scrub(record, ctx.profile(event.profile), ctx.derive)
    uri = ctx.put("scrub", f"staging/scrubbed/{event.job_id}/{event.input_id}{event.extension}",
                  scrubbed_bytes(record))
    if ctx.crosswalk is not None:
        from pixelguard.crosswalk.base import CrosswalkEntry

        # The output's final folder (clean or review) is decided later; its name is fixed now.
        entry = CrosswalkEntry(event.input_id, event.job_id, event.source_uri,
                               f"{record.output_id}{event.extension}", "scrubbed", record.pseudonyms,
                               record.crosswalk)
        with child_span("crosswalk append", attrs={"pixelguard.stage": "scrub"}):
            ctx.retrying("scrub", "recording the crosswalk entry", lambda: ctx.crosswalk.append([entry]))
    return "scrubbed", event.next("scrubbed", object_uri=uri, output_id=record.output_id,
                                  findings=[{"stage": f.stage, "reason": f.reason} for f in record.findings],
                                  stats={**event.stats, **_safe_stats(record.stats)})


def restore(event: ObjectEvent, data: bytes, derive: Derivations, limits: Limits | None = None) -> ObjectRecord:
    """The scrubbed record again, from its staged bytes and the facts its event carried."""
    record = parse(event.input_id, data, derive, limits or Limits())
    record.output_id = event.output_id
    record.findings = [Finding(f["stage"], f["reason"]) for f in event.findings]
    handler(record.format).restore(record, data)
    return record


def _redact_step(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
    profile = ctx.profile(event.profile)
    options = RunOptions.from_event(event.options).with_output_format(event.output_format)
    deadline = Deadline(ctx.limits.time_s)
    # PHI terms (phi mode and verification) come from the original header, read before scrub removes them;
    # they stay in this process's memory. So does the input's geometry, which the output must keep.
    original = parse(event.input_id, ctx.read("redact", event.source_uri), ctx.derive, ctx.limits)
    settings = settings_for(profile, original, options, ctx.limits)
    shape = input_shape(original)
    terms = terms_of(original, profile)
    del original
    staged = ctx.read("redact", event.object_uri)
    # Per object: what the search already answered (unchanged frames, verified ones) is not asked again.
    # Its answers depend only on pixel content, so they stay true across the retries below.
    engine: Any = DetectorMemo(ctx.detector) if ctx.detector is not None else None

    def attempt() -> ObjectRecord:
        # Every attempt starts from the staged bytes: one that failed part-way (Triton gone mid-object) has
        # filled some pixels in its record, and a retry on that record saw nothing left to change and wrote
        # the original pixel data back out, text and all.
        fresh = restore(event, staged, ctx.derive, ctx.limits)
        redact(fresh, engine, settings, deadline)
        return fresh

    record = _until_verified(ctx, "text detection", attempt, "redact")
    finish(record, options.output_format)  # the job's output format; what follows checks these bytes
    pixels = settings.mode is not RedactionMode.OFF  # off: pixels left as they came and not read, as in deid
    with child_span("integrity re-read", attrs={"pixelguard.stage": "redact"}):
        check_final(record.format, options.output_format, record.output_bytes, shape, decode_frames=pixels)
    reader = engine if pixels else None

    def swept() -> ObjectRecord:
        checked = replace(record, findings=list(record.findings), stats=dict(record.stats))  # a retry starts over
        release_check(checked, terms, reader, deadline, options.output_format)
        return checked

    with child_span("phi sweep", attrs={"pixelguard.stage": "redact"}):
        record = _until_verified(ctx, "the PHI sweep", swept, "sweep")
    for kind, count in record.stats.get("sweep_kinds", {}).items():
        for _ in range(count):
            metrics.sweep_hit(kind, "streaming")
    uri = ctx.put("redact", f"staging/redacted/{event.job_id}/{event.input_id}{event.extension}",
                  record.output_bytes)
    return "routing", event.next("redacted", object_uri=uri, confidence=record.confidence,
                                 findings=[{"stage": f.stage, "reason": f.reason} for f in record.findings],
                                 stats={**event.stats, **_safe_stats(record.stats)})


def _until_verified(ctx: StageContext, what: str, attempt: Callable[[], ObjectRecord], stage: str) -> ObjectRecord:
    """``attempt()``, retried like an engine outage while the engine fails verifying (core.unverified).

    An outage before anything was filled raises (``EngineUnavailable``) and, once retries are spent, ends as an
    error: there is nothing to review. One that leaves the record unverified is retried the same way; once
    retries are spent, the last unverified record is kept, and its finding holds the object for review.
    """
    kept: list[ObjectRecord] = []

    def checked() -> ObjectRecord:
        record = attempt()
        if unverified.is_unverified(record, stage):
            kept[:] = [record]
            raise unverified.Unverified(what)
        return record

    try:
        return ctx.retrying("redact", what, checked)
    except TransientExhausted:
        if not kept:
            raise
        return kept[0]


def _safe_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """Counts and codes only travel in events."""
    return {k: v for k, v in stats.items() if isinstance(v, int | float | bool) or
            (isinstance(v, str) and len(v) <= 40 and v.replace("-", "").isalnum())}


parse_step = guarded("parse", _parse_step)
scrub_step = guarded("scrub", _scrub_step)
redact_step = guarded("redact", _redact_step)


def final_name(status: Status, event: ObjectEvent) -> str:
    folder = "clean" if status is Status.CLEAN else "review"
    return f"{folder}/{event.output_id}{event.extension}"


def decide(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
    """The route step: the core's route() on the carried findings; publish the output under its final name.

    Returns the final topic key (clean | review | errors) and the final event. The final name depends only
    on the output id, so deciding the same event twice writes the same object once. An output of that name
    with other content already published (same identifiers, different input) is a conflict: this object
    goes to review under a name of its own, and neither overwrites the other.
    """
    if event.status == Status.ERROR.value:
        return "errors", event.next("errors", decided_by="route", object_uri="")
    try:
        record = ObjectRecord(event.input_id, Format(event.format), b"", 0,
                              findings=[Finding(f["stage"], f["reason"]) for f in event.findings])
        status, reason = route(record)
        name = final_name(status, event)
        if ctx.retrying("route", "checking for a conflicting output", lambda: _conflicts(ctx, event)):
            status = Status.REVIEW
            name = f"review/{event.output_id}-{event.content_id}{event.extension}"
            reason = "; ".join(r for r in (reason, "conflict: a published output has the same identifiers but "
                                           "different content; held for a reviewer under its own name") if r)
        uri = ctx.retrying("route", "publishing the output",
                           lambda: transfer(ctx.store, ctx.published, event.object_uri, name))
    except ObjectNotFound:
        _, failed = error_event(event, "not-found", "the redacted object is missing from the staging area", "route")
        return "errors", failed.next("errors", decided_by="route")
    except TransientExhausted as exc:
        _, failed = error_event(event, exc.code, exc.reason, "route")
        return "errors", failed.next("errors", decided_by="route")
    except Exception as exc:  # noqa: BLE001 - raised here it would crash-loop the route hop on this event
        _, failed = error_event(event, "internal", f"unexpected {exc.__class__.__name__} in route", "route")
        return "errors", failed.next("errors", decided_by="route")
    topic = "clean" if status is Status.CLEAN else "review"
    return topic, event.next(topic, status=status.value, reason=reason, object_uri=uri, decided_by="route")


def _conflicts(ctx: StageContext, event: ObjectEvent) -> bool:
    """Another input (other bytes) already owns this output name; a redelivered event owns it already.

    Ownership is recorded beside the outputs (``index/outputs/<output_id>`` in the output store: the owner's
    keyed content id), so the check holds across route hops and restarts, and two inputs whose outputs happen
    to match byte for byte (they differed only in removed elements) are still told apart: only byte-identical
    inputs share.
    """
    published = ctx.published
    if not event.content_id:  # an event from before content ids: compare what was published
        names = [f"{folder}/{event.output_id}{event.extension}" for folder in ("clean", "review")]
        existing = [name for name in names if published.exists(name)]
        ours = ctx.store.get(event.object_uri) if existing else b""
        return any(published.get(published.uri(name)) != ours for name in existing)
    index = f"index/outputs/{event.output_id}"
    if not published.exists(index):
        published.put(index, event.content_id.encode())
        return False
    return published.get(published.uri(index)).decode() != event.content_id
