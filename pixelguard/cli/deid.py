"""``pixelguard deid``: the embedded runner."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from pixelguard.cli._common import add_output_format
from pixelguard.core.vocabulary import RedactionMode


def register(sub: argparse._SubParsersAction) -> None:
    deid = sub.add_parser("deid", help="de-identify files, folders and s3:// prefixes in-process (no servers)")
    deid.add_argument("inputs", nargs="+", metavar="INPUT", help="a file, a folder, or s3://BUCKET/PREFIX")
    deid.add_argument("--out", required=True, metavar="DIR|s3://BUCKET/PREFIX",
                      help="a folder, or an S3 prefix (credentials from the standard AWS variables or profile)")
    deid.add_argument("--profile", default="basic", metavar="NAME")
    deid.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N")
    deid.add_argument("--key-file", type=Path, default=None, help="local key file, kept outside DIR")
    deid.add_argument("--job", default=None, metavar="ID", help="job id recorded in the manifest")
    deid.add_argument("--redaction", type=RedactionMode, choices=list(RedactionMode), default=None,
                      help="burned-in text: all (default of the profile), phi (only PHI-like text), off")
    deid.add_argument("--pixel-encoding", choices=("original", "htj2k"), default="original",
                      help="re-encode redacted compressed pixels in their own syntax, or HTJ2K lossless")
    add_output_format(deid)
    deid.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                      help="per-object time budget (default 20, or PIXELGUARD_TIME_S); over it: an over-budget error")
    deid.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.embedded import EmbeddedRunner

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if not args.out.strip():  # Path("") is the current folder: outputs would land wherever deid was started
        raise ValueError("--out needs a folder or s3://BUCKET/PREFIX")
    if args.out.startswith("s3:") and not args.out.startswith("s3://"):  # else a local folder named "s3:"
        raise ValueError("an S3 output is s3://BUCKET/PREFIX")
    from dataclasses import replace

    from pixelguard.core.limits import Limits
    from pixelguard.core.pipeline import RunOptions
    from pixelguard.settings import Settings

    settings = Settings.from_env()
    limits = settings.limits if args.time_budget is None else replace(settings.limits, time_s=args.time_budget)
    if limits.hard_time_s < limits.time_s:  # the hard stop is for what ignores the budget, never before it
        margin = Limits().hard_time_s - Limits().time_s
        limits = replace(limits, hard_time_s=limits.time_s + margin)
    runner = EmbeddedRunner(args.out, args.key_file or settings.key_file, args.profile, args.jobs, args.job,
                            options=RunOptions(redaction=args.redaction, encoding=args.pixel_encoding,
                                               output_format=args.output_format),
                            limits=limits, s3_endpoint=settings.s3_endpoint)
    summary = _run_recorded(runner, args, settings.with_flags(key_file=args.key_file))
    counts = summary.counts
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    print(f"job {runner.job_id}: {summary.total} inputs: clean={counts['clean']} review={counts['review']} "
          f"error={counts['error']} in {summary.seconds:.1f}s ({rate:.1f} files/s); "
          f"manifest: {runner.sink.location('manifest.jsonl')}", file=sys.stderr)
    return summary.exit_code


def _run_recorded(runner, args: argparse.Namespace, settings):
    """Run with the job store following along: one row per object as it is recorded, the job closed at the end.

    The API starts ``deid`` for its jobs (having listed the accepted objects); from a terminal the job is
    created here. Either way ``pixelguard job status`` and the API read the same rows.
    """
    from pixelguard.audit import profile_digest
    from pixelguard.jobstore import JobStore

    outside = [] if args.out.startswith("s3://") else [Path(args.out)]  # a bucket cannot hold a local database
    store = JobStore.open(settings.store_url, outside=outside)
    # SIGTERM (the API stopping, a service manager) unwinds like an error: the worker pool stops its workers
    # and the job is closed with its undecided objects as errors, instead of dying with them pending.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        store.start_job(runner.job_id, runner.profile.name, profile_digest(runner.profile), source="cli",
                        redaction=str(args.redaction or ""))
        recorder = _GroupedRecorder(store, runner.job_id)
        runner.on_record = recorder.add
        try:
            summary = runner.run(args.inputs)
        except BaseException:
            recorder.flush()  # what was decided stays decided; the rest are closed as errors below
            store.finish_job(runner.job_id, "failed", "the run stopped before every input was decided")
            raise
        recorder.flush()
        store.finish_job(runner.job_id)
        return summary
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()


class _GroupedRecorder:
    """Objects' manifest lines into the job store in groups, one commit per group.

    One transaction per object cost the runner's own process more than writing the object did (a 200-slice
    series: 200 commits). A line is held back only while lines come faster than one per ``every_s``: it is
    written with the next one, so ``pixelguard job status`` and the API follow the run an object behind.
    """

    def __init__(self, store, job_id: str, every_s: float = 1.0, most: int = 64) -> None:
        self.store, self.job_id, self.every_s, self.most = store, job_id, every_s, most
        self.lines: list[dict[str, object]] = []
        self.since = time.monotonic()

    def add(self, line: dict[str, object]) -> None:
        self.lines.append(line)
        if len(self.lines) >= self.most or time.monotonic() - self.since >= self.every_s:
            self.flush()

    def flush(self) -> None:
        # Emptied only once written: a SIGTERM that lands mid-write leaves the group for the final flush.
        self.store.record_objects(self.job_id, self.lines)
        self.lines = []
        self.since = time.monotonic()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
