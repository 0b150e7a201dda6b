"""The embedded runner: ``pixelguard deid`` runs the core stages in a process pool, no servers needed.

The parent process owns every write (outputs, manifest, crosswalk) so workers never race on files; a worker
only reads its input and returns an Outcome. Inputs are files, folders and ``s3://bucket/prefix`` (every
object under it, listed by the parent as ``submit`` lists it, each read by the worker that processes it).
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import profile as profiles
from .core.export import OutputFormat, unsupported_reason
from .core.keys import Derivations
from .core.limits import Limits
from .core.pipeline import Outcome, RunOptions, error_outcome, process
from .core.quiet import silence_value_echoes
from .core.record import Status
from .core.vocabulary import RedactionMode
from .crosswalk.local import CrosswalkEntry, LocalCrosswalk, crosswalk_path
from .keyservice.local import LocalKeyService
from .memory import freeze_startup_objects, keep_working_memory, release_memory
from .outputs import FolderSink, OutputSink, open_sink
from .telemetry import metrics
from .workerpool import WorkerPool


@dataclass(frozen=True)
class InputItem:
    path: str  # absolute; never printed or written in clear outside the encrypted crosswalk
    problem: tuple[str, str] | None = None  # (code, reason) found while walking
    size: int | None = None  # an s3:// object's listed size; a file is stat'ed when read


def discover(inputs: Iterable[str]) -> Iterator[InputItem]:
    """Files under the given paths, recursively, in a stable order; problems become items, not skips."""
    visited: set[str] = set()
    for raw in inputs:
        yield from _walk(Path(raw), visited)


def _walk(path: Path, visited: set[str]) -> Iterator[InputItem]:
    absolute = os.path.abspath(path)
    try:
        real = path.resolve(strict=True)
    except RuntimeError:
        yield InputItem(absolute, ("symlink-loop", "symbolic link loop: the path resolves to itself"))
        return
    except OSError as exc:
        if path.is_symlink():
            code = "symlink-loop" if exc.errno == 40 else "dangling-link"
            reason = "symbolic link loop" if exc.errno == 40 else "symbolic link points to nothing"
            yield InputItem(absolute, (code, reason))
        else:
            yield InputItem(absolute, ("not-found", "input path does not exist"))
        return
    if real.is_dir():
        if str(real) in visited:
            yield InputItem(absolute, ("symlink-loop", "directory reached again through a symbolic link"))
            return
        visited.add(str(real))
        try:
            children = sorted(os.scandir(path), key=lambda e: e.name)
        except PermissionError:
            yield InputItem(absolute, ("unreadable", "directory cannot be listed (permission denied)"))
            return
        for child in children:
            yield from _walk(Path(child.path), visited)
    elif real.is_file():
        yield InputItem(absolute)
    else:
        yield InputItem(absolute, ("not-a-file", "not a regular file (device, socket or pipe)"))


def refuse_formats(items: list[InputItem], output: OutputFormat) -> None:
    """ValueError before any work when a local input cannot be written in ``output`` (HTJ2K for a NIfTI).

    Only the first bytes of each local file are read; an s3:// object is checked by the worker that reads it
    (the same reason, as that object's error), and an input that does not read is left to its own error.
    """
    if output is OutputFormat.ORIGINAL:
        return
    from .core.record import StageError
    from .formats import detect

    refused: Counter[str] = Counter()
    reason = ""
    for item in items:
        if item.problem or item.path.startswith("s3://"):
            continue
        try:
            with open(item.path, "rb") as handle:
                head = handle.read(_HEAD_BYTES)
            fmt = detect(head)
        except (OSError, StageError):
            continue
        problem = unsupported_reason(output, fmt)
        if problem is not None:
            refused[fmt.name] += 1
            reason = problem
    if refused:
        which = ", ".join(f"{n} {name}" for name, n in sorted(refused.items()))
        raise ValueError(f"--output-format {output.value}: {sum(refused.values())} of {len(items)} inputs "
                         f"({which}) cannot be written that way, so nothing was processed: {reason}")


_HEAD_BYTES = 64 * 1024  # enough for every handler's detect(), a gzip-wrapped NIfTI header included


# --- worker side -----------------------------------------------------------------------------------------

_WORKER: dict[str, object] = {}
_S3_STORES: dict[str, Any] = {}  # bucket URI -> this worker's S3 store (one client per bucket and process)


def _init_worker(key_file: str, profile_name: str, options: RunOptions, limits: Limits, s3_endpoint: str = "") -> None:
    from inference.base import engine  # each worker loads its own model

    silence_value_echoes()
    keep_working_memory()
    keys = LocalKeyService.open(Path(key_file), create=False)
    _WORKER["derive"] = Derivations(keys.hmac)
    profile = profiles.load(profile_name)
    _WORKER["profile"] = profile
    # --redaction off reads no pixels (neither to redact nor in the release sweep): no model to load.
    off = (options.redaction or profile.redaction) is RedactionMode.OFF
    _WORKER["detector"] = None if off else engine("local")
    _WORKER["options"] = options
    _WORKER["limits"] = limits
    _WORKER["s3_endpoint"] = s3_endpoint
    freeze_startup_objects()


def _read_s3(uri: str, input_id: str, size: int, limit: int) -> bytes | Outcome:
    from streams.objectstore import ObjectNotFound, StorageUnavailable, StoreOptions, open_store

    if size > limit:
        return error_outcome(input_id, "oversized", f"object is {size} bytes; the limit is {limit}")
    bucket = "s3://" + uri.removeprefix("s3://").split("/", 1)[0]
    if bucket not in _S3_STORES:
        _S3_STORES[bucket] = open_store(bucket, StoreOptions(s3_endpoint=str(_WORKER.get("s3_endpoint", ""))))
    try:
        return bytes(_S3_STORES[bucket].get(uri))
    except ObjectNotFound:
        return error_outcome(input_id, "not-found", "the object was removed from its bucket after it was listed")
    except StorageUnavailable as exc:  # our message: the operation and what to check, never the key
        return error_outcome(input_id, "storage-unavailable", str(exc))


def _read(path: str, input_id: str, size: int | None, limit: int) -> bytes | Outcome:
    """The input's bytes, or the error it ends in; sizes are checked before anything is read."""
    if path.startswith("s3://"):
        return _read_s3(path, input_id, size or 0, limit)
    try:
        size = os.stat(path).st_size
        if size > limit:
            return error_outcome(input_id, "oversized", f"object is {size} bytes; the limit is {limit}")
        with open(path, "rb") as handle:
            return handle.read()
    except PermissionError:
        return error_outcome(input_id, "unreadable", "permission denied")
    except OSError as exc:
        return error_outcome(input_id, "unreadable", f"read failed ({exc.__class__.__name__})")


def _run_one(path: str, input_id: str, size: int | None = None) -> Outcome:
    limits: Limits = _WORKER["limits"]  # type: ignore[assignment]
    data = _read(path, input_id, size, limits.max_object_bytes)
    if isinstance(data, Outcome):
        return data
    try:
        return process(input_id, data, _WORKER["profile"], _WORKER["derive"], _WORKER["detector"],  # type: ignore[arg-type]
                       _WORKER["options"], limits)  # type: ignore[arg-type]
    finally:
        del data
        release_memory()


# --- parent side -----------------------------------------------------------------------------------------

@dataclass
class RunSummary:
    counts: Counter[str]
    seconds: float
    total: int

    @property
    def exit_code(self) -> int:
        return 0 if self.counts.get("clean", 0) == self.total else 1


class EmbeddedRunner:
    def __init__(self, out_dir: Path | str, key_file: Path, profile_name: str, jobs: int, job_id: str | None = None,
                 progress: bool | None = None, options: RunOptions | None = None,
                 limits: Limits | None = None,
                 on_record: Callable[[dict[str, object]], None] | None = None, s3_endpoint: str = "") -> None:
        self.key_file = key_file.expanduser().resolve()
        # A folder, or s3://bucket/prefix: the crosswalk and audit stay beside the key file either way.
        self.sink: OutputSink = open_sink(str(out_dir), self.key_file.parent, s3_endpoint)
        self.out_dir = Path(self.sink.where) if isinstance(self.sink, FolderSink) else None
        if self.out_dir is not None and self.out_dir in self.key_file.parents:
            raise ValueError("the key file must be kept outside the output folder")
        self.profile = profiles.load(profile_name)  # fails early on an unknown profile
        self.profile_ref = profile_name  # a stored name or a custom profile file: workers load the same
        from .audit import AuditLog, JsonlAuditSink, record_profile_use

        # Embedded mode audits beside its key file, like its crosswalk: apart from the outputs.
        self.audit_file = self.key_file.parent / "audit.jsonl"
        record_profile_use(self.profile, AuditLog([JsonlAuditSink(self.audit_file)]), self.audit_file)
        self.keys = LocalKeyService.open(self.key_file)
        self.derive = Derivations(self.keys.hmac)
        self.crosswalk = LocalCrosswalk(crosswalk_path(self.key_file), self.keys)
        self.options = options or RunOptions()
        self.limits = limits or Limits.from_env()
        self.s3_endpoint = s3_endpoint
        self.jobs = max(1, jobs)
        self.job_id = job_id or "job-" + uuid.uuid4().hex[:12]
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._written: dict[str, tuple[str, str]] = {}  # output -> (input id, content id) that wrote it
        # Told each object's manifest line as it is recorded: how the job store follows a run (cli/deid.py).
        self.on_record = on_record

    def run(self, inputs: list[str]) -> RunSummary:
        started = time.perf_counter()
        self.sink.prepare()  # a missing bucket or a server that does not answer stops the run here
        items = list(self._discover(inputs))
        refuse_formats(items, self.options.output_format)  # before any input is processed
        counts: Counter[str] = Counter()
        manifest = self.sink.open_manifest()
        try:
            for item, outcome in self._outcomes(items):
                counts[self._record(item, outcome, manifest).value] += 1
                self.sink.manifest_written(manifest, sum(counts.values()))
                self._progress(sum(counts.values()), len(items), counts, started)
        finally:
            self.sink.close_manifest(manifest)
        if self.progress:
            sys.stderr.write("\n")
        return RunSummary(counts, time.perf_counter() - started, len(items))

    def _discover(self, inputs: list[str]) -> Iterator[InputItem]:
        """Files under the local paths, then each s3:// prefix's objects (listed as ``submit`` lists them)."""
        yield from discover(i for i in inputs if not i.startswith("s3://"))
        remote = [i for i in inputs if i.startswith("s3://")]
        if remote:
            from streams.objectstore import StoreOptions
            from streams.sources import sources

            for source in sources(remote, StoreOptions(s3_endpoint=self.s3_endpoint)):
                yield InputItem(source.name, source.problem, source.size)

    def _outcomes(self, items: list[InputItem]) -> Iterator[tuple[InputItem, Outcome]]:
        pending = [(item, self.derive.input_id(item.path)) for item in items]
        runnable = []
        for item, input_id in pending:
            if item.problem:
                yield item, error_outcome(input_id, *item.problem)
            else:
                runnable.append((item, input_id))
        pool: WorkerPool[tuple[InputItem, str], Outcome] = WorkerPool(
            self.jobs, _init_worker, (str(self.key_file), self.profile_ref, self.options, self.limits,
                                      self.s3_endpoint), _run_one, self.limits.hard_time_s)
        for (item, input_id), result in pool.run(((item, input_id), (item.path, input_id, item.size))
                                                  for item, input_id in runnable):
            yield item, result if isinstance(result, Outcome) else error_outcome(input_id, result.code, result.reason,
                                                                              result.elapsed_s)

    def _record(self, item: InputItem, outcome: Outcome, manifest) -> Status:
        relative = ""
        reason = outcome.reason
        status = outcome.status
        if status is not Status.ERROR:
            folder = "review/" if status is Status.REVIEW else ""
            name = f"{outcome.output_id}{outcome.extension}"
            relative = folder + name
            earlier = self._written.get(name)  # by name alone: a clean and a review copy would conflict too
            if earlier is not None and earlier[1] == outcome.content_id:
                reason = _join(reason, f"byte-identical to input {earlier[0]}: one output serves both")
            else:
                if earlier is not None or self.sink.differs(name, outcome.output_bytes):
                    # Same identifiers, different content: neither may overwrite the other, and a person decides.
                    which = f"input {earlier[0]} of this run" if earlier else "an output of an earlier run"
                    status = Status.REVIEW
                    relative = f"review/{outcome.output_id}-{outcome.content_id}{outcome.extension}"
                    reason = _join(reason, f"conflict: {which} has the same identifiers but different content; "
                                           "held for a reviewer under its own name")
                self.sink.write(relative, outcome.output_bytes)
                self._written.setdefault(name, (outcome.input_id, outcome.content_id))
        else:
            sys.stderr.write(f"error {outcome.input_id}: {outcome.reason}\n")
        for kind, count in dict(outcome.stats.get("sweep_kinds") or {}).items():  # type: ignore[call-overload]
            for _ in range(int(count)):
                metrics.sweep_hit(str(kind), "embedded")
        line = {
            "input_id": outcome.input_id,
            "job_id": self.job_id,
            "status": status.value,
            "output": relative,
            "format": outcome.format,
            "output_format": self.options.output_format.value,
            "reason": reason,
            "confidence": outcome.confidence,
            "duration_s": round(outcome.duration_s, 4),
            "text_regions": outcome.stats.get("text_regions", 0),
            "sweep_hits": outcome.stats.get("sweep_hits", 0),
            # Boxes and scores only (never text): what the review queue shows a reviewer.
            "regions": outcome.stats.get("regions", []) if status is Status.REVIEW else [],
        }
        manifest.write(json.dumps(line) + "\n")
        if self.on_record is not None:
            self.on_record(line)
        self.crosswalk.append([CrosswalkEntry(outcome.input_id, self.job_id, item.path,
                                              self.sink.location(relative) if relative else "",
                                              status.value, outcome.pseudonyms, outcome.crosswalk)])
        return status

    def _progress(self, done: int, total: int, counts: Counter[str], started: float) -> None:
        if not self.progress:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.perf_counter() - started, 1e-9)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                         f"clean={counts['clean']} review={counts['review']} error={counts['error']} "
                         f"{rate:.1f} files/s")
        sys.stderr.flush()


def _join(reason: str, more: str) -> str:
    return f"{reason}; {more}" if reason else more
