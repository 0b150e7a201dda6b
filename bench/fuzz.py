"""Structure-aware fuzzing of the core pipeline: parse -> scrub -> redact on mutated DICOM, PNG, JPEG, NIfTI.

    .venv/bin/python bench/fuzz.py [--cases 10000] [--seed 0] [--timeout 20] [--report bench/results/fuzz.md]
    .venv/bin/python bench/fuzz.py --replay bench/results/fuzz-cases/<case>.bin

Cases come from ``bench/fuzzlib.py`` (the same mutators ``tests/core/test_fuzz.py`` runs in CI). Each case
runs through the real ``pixelguard.core.pipeline.process`` (profile ``basic``, keys from a throwaway local key
file, the in-process OCR detector) in a child worker process. The parent watches it: a case over
``--timeout`` seconds is a hang, a worker over ``--rss-limit`` MiB is a memory blow-up; either way the worker is
killed (by its pid) and replaced, and the run goes on. Crashes are an exception escaping ``process``, a
worker that dies, or an outcome whose error code is "internal" (every error must name its cause). Every
crashing, hanging or memory-hungry case is saved under ``bench/results/fuzz-cases/`` for ``--replay``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing as mp
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fuzzlib

RESULTS = ROOT / "bench" / "results"
MIB = 1024 * 1024


# --- worker process ------------------------------------------------------------------------------------

def _phi_in(data: bytes, fmt: str | None) -> bool:
    """Does an output still carry the seeds' fake PHI? (gzip outputs are inflated, with a cap, to look.)"""
    if fmt == "nifti" and data[:2] == b"\x1f\x8b":
        import zlib

        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 64 * MIB)
        except zlib.error:
            return False
    return any(s.encode() in data for s in fuzzlib.PHI_STRINGS)


def _worker(conn: Any, key_file: str) -> None:
    from inference.local_engine import LocalDetector
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.keyservice.local import LocalKeyService

    silence_value_echoes()
    logging.getLogger("nibabel").setLevel(logging.CRITICAL)  # its header-fix notes, not results
    profile = profiles.load("basic")
    derive = Derivations(LocalKeyService.open(Path(key_file)).hmac)
    detector = LocalDetector()
    # Warm up on a valid seed: the reader models load on first use, and that should not count as a case.
    import random

    process("warm-up", fuzzlib.dicom_seed(fuzzlib.RandomSource(random.Random(0))).encode(), profile, derive, detector)
    conn.send({"ready": True})
    while True:
        message = conn.recv()
        if message is None:
            return
        index, data = message
        started = time.perf_counter()
        result: dict[str, Any]
        try:
            outcome = process(f"fuzz-{index}", data, profile, derive, detector)
            result = {"status": outcome.status.value, "code": outcome.error_code, "reason": outcome.reason,
                      "format": outcome.format,
                      "phi_in_output": bool(outcome.output_bytes) and _phi_in(outcome.output_bytes, outcome.format)}
        except BaseException as exc:  # noqa: BLE001 - exactly what the bench is looking for
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            # Type and place only: an exception message may quote the object's values.
            result = {"escaped": f"{exc.__class__.__name__} at {Path(frame.filename).name}:{frame.lineno}"}
        result["seconds"] = time.perf_counter() - started
        result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        conn.send(result)


class Worker:
    """One child process running cases; killed and replaced when it hangs, blows up or dies."""

    def __init__(self, ctx: Any, key_file: str) -> None:
        self.parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, key_file), daemon=True)
        self.process.start()
        child.close()
        if not self.parent.poll(300):
            raise RuntimeError("fuzz worker did not start within 300 s")
        self.parent.recv()
        self.peak_rss = _hwm(self.process.pid)

    def kill(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)  # our own child, by pid
        self.process.join(10)
        self.parent.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.parent.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.kill()

    def start(self, index: int, data: bytes) -> None:
        self.started = time.perf_counter()
        self.index = index
        try:
            self.parent.send((index, data))
            self.sent = True
        except (BrokenPipeError, OSError):
            self.sent = False

    def check(self, timeout: float, rss_limit: int) -> dict[str, Any] | None:
        """The case's result once there is one (a result, a death, a hang or a blow-up); None meanwhile."""
        elapsed = time.perf_counter() - self.started
        if not self.sent:
            return {"dead": f"worker gone before the case (exit code {self.process.exitcode})", "seconds": 0.0}
        try:
            ready = self.parent.poll(0)
        except (EOFError, OSError):
            ready = True
        rss = _rss(self.process.pid)
        self.peak_rss = max(self.peak_rss, _hwm(self.process.pid))
        if ready:
            try:
                result = self.parent.recv()
            except (EOFError, OSError):
                self.process.join(5)
                return {"dead": f"worker died (exit code {self.process.exitcode})", "seconds": elapsed}
            self.peak_rss = max(self.peak_rss, result.get("maxrss", 0))
            return result
        if not self.process.is_alive():
            self.process.join(5)
            return {"dead": f"worker died (exit code {self.process.exitcode})", "seconds": elapsed}
        if rss > rss_limit:
            self.kill()
            return {"memory": f"worker RSS {rss // MIB} MiB passed the {rss_limit // MIB} MiB limit",
                    "seconds": elapsed}
        if elapsed > timeout:
            self.kill()
            return {"hang": f"over the {timeout:.0f} s per-case timeout", "seconds": elapsed}
        return None


def _proc_status(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss(pid: int) -> int:
    return _proc_status(pid, "VmRSS:")


def _hwm(pid: int) -> int:
    return _proc_status(pid, "VmHWM:")


# --- the run -------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no state inherited from the parent
    key_dir = tempfile.TemporaryDirectory(prefix="pixelguard-fuzz-keys-")
    key_file = str(Path(key_dir.name) / "key.json")
    from pixelguard.keyservice.local import LocalKeyService

    LocalKeyService.open(Path(key_file))  # throwaway key: created here, deleted with the folder
    started = time.perf_counter()
    requested = args.cases
    workers = [Worker(ctx, key_file) for _ in range(args.workers)]
    peak_rss, restarts = max(w.peak_rss for w in workers), 0
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    by_format: dict[str, Counter[str]] = defaultdict(Counter)
    findings: list[dict[str, Any]] = []
    slowest: dict[str, Any] = {"seconds": 0.0}
    phi_in_output: list[str] = []
    gen_seconds = 0.0
    busy: dict[int, fuzzlib.Case] = {}  # worker slot -> its case
    next_index, done = 0, 0
    deadline = started + args.max_minutes * 60 if args.max_minutes else float("inf")
    while done < next_index or next_index < args.cases:
        if time.perf_counter() > deadline and next_index < args.cases:
            print(f"time box of {args.max_minutes:g} min reached: finishing the {len(busy)} running case(s)",
                  flush=True)
            args.cases = next_index
        for slot, worker in enumerate(workers):
            if slot not in busy and next_index < args.cases:
                t0 = time.perf_counter()
                try:
                    busy[slot] = fuzzlib.case_at(args.seed, next_index, bombs=not args.no_bombs)
                except Exception as exc:  # noqa: BLE001 - a generator bug skips one case, not the run
                    print(f"  case {next_index} could not be generated ({exc.__class__.__name__}): skipped",
                          flush=True)
                    statuses["not-generated"] += 1
                    next_index += 1
                    done += 1
                    continue
                gen_seconds += time.perf_counter() - t0
                worker.start(next_index, busy[slot].data)
                next_index += 1
        progressed = False
        for slot, worker in enumerate(workers):
            if slot not in busy:
                continue
            result = worker.check(args.timeout, args.rss_limit * MIB)
            if result is None:
                continue
            progressed = True
            case, index = busy.pop(slot), worker.index
            done += 1
            _tally(result, case, index, args, statuses, codes, by_format, findings, phi_in_output)
            seconds = float(result.get("seconds", 0.0))
            if seconds > slowest["seconds"]:
                slowest = {"seconds": round(seconds, 3), "index": index, "case": case.label,
                           "bytes": len(case.data)}
            if "hang" in result or "memory" in result or "dead" in result:
                peak_rss = max(peak_rss, worker.peak_rss)
                worker.kill()
                workers[slot] = Worker(ctx, key_file)
                restarts += 1
            if done % args.progress == 0:
                print(f"{done}/{args.cases} cases, {time.perf_counter() - started:.0f} s, "
                      f"{dict(statuses)}", flush=True)
        if not progressed:
            time.sleep(0.02)
    for worker in workers:
        peak_rss = max(peak_rss, worker.peak_rss)
        worker.stop()
    key_dir.cleanup()
    wall = time.perf_counter() - started
    kinds = Counter(f["kind"] for f in findings)
    return {
        "command": "bench/fuzz.py " + " ".join(sys.argv[1:]),
        "cases": done,
        "cases_requested": requested,
        "workers": args.workers,
        "seed": args.seed,
        "timeout_s": args.timeout,
        "rss_limit_mib": args.rss_limit,
        "wall_s": round(wall, 1),
        "generation_s": round(gen_seconds, 1),
        "cases_per_s": round(done / wall, 2),
        "crashes": kinds["crash"],
        "hangs": kinds["hang"],
        "memory_blowups": kinds["memory"],
        "phi_in_reason": kinds["phi-in-reason"],
        "statuses": dict(statuses.most_common()),
        "error_codes": dict(codes.most_common()),
        "by_format": {fmt: dict(c.most_common()) for fmt, c in sorted(by_format.items())},
        "slowest": slowest,
        "peak_worker_rss_mib": round(peak_rss / MIB, 1),
        "worker_restarts": restarts,
        "outputs_with_fake_phi": len(phi_in_output),
        # Review outputs may hold it (a person looks before anything is released); clean ones must not.
        "clean_outputs_with_fake_phi": sum(c.endswith("-> clean") for c in phi_in_output),
        "outputs_with_fake_phi_cases": phi_in_output[:50],
        "findings": findings,
    }


def _tally(result: dict[str, Any], case: fuzzlib.Case, index: int, args: argparse.Namespace,
           statuses: Counter[str], codes: Counter[str], by_format: dict[str, Counter[str]],
           findings: list[dict[str, Any]], phi_in_output: list[str]) -> None:
    kind = None
    if "escaped" in result:
        kind, detail = "crash", f"exception escaped process: {result['escaped']}"
    elif "dead" in result:
        kind, detail = "crash", result["dead"]
    elif "hang" in result:
        kind, detail = "hang", result["hang"]
    elif "memory" in result:
        kind, detail = "memory", result["memory"]
    elif result["code"] == "internal":
        kind, detail = "crash", f"error code internal: {result['reason']}"
    elif any(s in result["reason"] for s in fuzzlib.PHI_STRINGS):
        kind, detail = "phi-in-reason", "an error reason quotes the seed's fake PHI"
    if kind is None:
        statuses[result["status"]] += 1
        by_format[case.fmt][result["status"]] += 1
        if result["code"]:
            codes[result["code"]] += 1
        if result.get("phi_in_output"):
            phi_in_output.append(f"{case.label} -> {result['status']}")
            if result["status"] == "clean":  # a leak: saved for --replay like a crash
                _save_case("leak", args.seed, index, case.data)
        return
    statuses[kind] += 1
    by_format[case.fmt][kind] += 1
    saved = _save_case(kind, args.seed, index, case.data)
    findings.append({"kind": kind, "index": index, "case": case.label, "detail": detail,
                     "seconds": round(float(result.get("seconds", 0.0)), 3), "file": str(saved.relative_to(ROOT))})
    print(f"  {kind}: case {index} {case.label}: {detail}", flush=True)


def _save_case(kind: str, seed: int, index: int, data: bytes) -> Path:
    """Keep a case's bytes under bench/results/fuzz-cases/ for ``--replay``."""
    cases_dir = RESULTS / "fuzz-cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    saved = cases_dir / f"{kind}-{seed}-{index}.bin"
    saved.write_bytes(data)
    return saved


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Fuzzing report",
        "",
        f"`{report['command']}`: {report['cases']} cases of {report['cases_requested']} requested "
        f"(seed {report['seed']}), {report['wall_s']} s wall "
        f"({report['cases_per_s']} cases/s, {report['workers']} worker processes), "
        f"per-case timeout {report['timeout_s']} s, "
        f"worker RSS limit {report['rss_limit_mib']} MiB.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| crashes (escaped exception, dead worker, error code `internal`) | {report['crashes']} |",
        f"| hangs (over the per-case timeout) | {report['hangs']} |",
        f"| memory blow-ups (worker over the RSS limit) | {report['memory_blowups']} |",
        f"| error reasons quoting the fake PHI | {report['phi_in_reason']} |",
        f"| clean outputs still holding the fake PHI (leaks) | {report['clean_outputs_with_fake_phi']} |",
        f"| review outputs still holding it (held for a reviewer) | "
        f"{report['outputs_with_fake_phi'] - report['clean_outputs_with_fake_phi']} |",
        f"| slowest case | {report['slowest'].get('seconds')} s ({report['slowest'].get('case', '-')}) |",
        f"| peak worker RSS | {report['peak_worker_rss_mib']} MiB |",
        f"| worker restarts | {report['worker_restarts']} |",
        "",
        "Outcomes: " + ", ".join(f"{k} {v}" for k, v in report["statuses"].items()),
        "",
        "Error codes: " + ", ".join(f"`{k}` {v}" for k, v in report["error_codes"].items()),
        "",
        "| format | outcomes |",
        "| --- | --- |",
    ]
    for fmt, counts in report["by_format"].items():
        lines.append(f"| {fmt} | " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " |")
    if report["findings"]:
        lines += ["", "| kind | case | detail | file |", "| --- | --- | --- | --- |"]
        for f in report["findings"][:200]:
            lines.append(f"| {f['kind']} | {f['index']} `{f['case']}` | {f['detail']} | `{f['file']}` |")
    if report["outputs_with_fake_phi_cases"]:
        lines += ["", "Outputs holding the fake PHI (first 50): "
                  + ", ".join(f"`{c}`" for c in report["outputs_with_fake_phi_cases"])]
    return "\n".join(lines) + "\n"


def replay(path: Path, timeout: float) -> int:
    """Run one saved case in-process and, for an internal error, show where it happened."""
    import faulthandler

    from inference.local_engine import LocalDetector
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.parse import parse
    from pixelguard.core.pipeline import process, settings_for
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.core.redact import redact
    from pixelguard.core.scrub import scrub
    from pixelguard.keyservice.local import LocalKeyService

    silence_value_echoes()
    # A hanging case prints every thread's stack and exits instead of hanging the replay too.
    faulthandler.dump_traceback_later(timeout, exit=True)
    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as keys:
        derive = Derivations(LocalKeyService.open(Path(keys) / "key.json").hmac)
        profile, detector = profiles.load("basic"), LocalDetector()
        started = time.perf_counter()
        outcome = process("replay", data, profile, derive, detector)
        print(f"{outcome.status.value} {outcome.error_code or '-'} in {time.perf_counter() - started:.2f} s: "
              f"{outcome.reason}")
        if outcome.error_code == "internal":
            # Developer tool on fuzz data: the stages without process()'s safety net, to get the traceback.
            record = parse("replay", data, derive)
            settings = settings_for(profile, record)
            scrub(record, profile, derive)
            redact(record, detector, settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    from pixelguard.core.limits import DEFAULT

    # The embedded runner's own hard limit: past it, ``pixelguard deid`` gives up on the worker as well.
    parser.add_argument("--timeout", type=float, default=DEFAULT.hard_time_s,
                        help="per-case seconds before a hang is declared (default: Limits.hard_time_s)")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop starting cases after this long and report the ones run (0: no limit)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes running cases side by side")
    parser.add_argument("--rss-limit", type=int, default=2048, help="worker MiB before it is killed")
    parser.add_argument("--no-bombs", action="store_true", help="leave out the 5 GiB gzip bombs")
    parser.add_argument("--progress", type=int, default=500)
    parser.add_argument("--report", type=Path, default=RESULTS / "fuzz.md",
                        help="Markdown report; the JSON goes beside it with a .json suffix")
    parser.add_argument("--replay", type=Path, help="run one saved case in-process and print its outcome")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.timeout)
    report = run(args)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    args.report.with_suffix(".md").write_text(text)
    print(text)
    return 1 if report["crashes"] or report["hangs"] or report["memory_blowups"] or report["phi_in_reason"] else 0


if __name__ == "__main__":
    sys.exit(main())
