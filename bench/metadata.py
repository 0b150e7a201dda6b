"""Header-only de-identification throughput: PixelGuard vs dicom-anonymizer, deid and dicognito.

    .venv/bin/python bench/metadata.py [--repeat N] [--skip-install]

Every tool runs single-process (one core) on its own copy of the same corpus (every DICOM file of the
pydicom wheel and pydicom-data that PixelGuard's parser accepts), in the same run, and writes its outputs
to disk. Pixel data passes through untouched (no tool decodes it). Peers are installed from PyPI into their
own virtual environments under .cache/bench/<tool>/ (ignored), because they pin their own pydicom
versions; a peer that cannot be installed or run is reported with its error and skipped. Timings are the
best of --repeat runs, measured inside each tool's process (interpreter start-up and imports excluded), as
CPU time of that single-threaded process (user + system, file writes included): files/s per core, and
steady on a machine shared with other work. Wall-clock seconds are printed beside it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
PYTHON = shutil.which("python3.11") or sys.executable

# Each driver gets: corpus dir, output dir, repeat; prints one JSON line {"ok", "failed", "seconds"}.
_TIMING = """
import json, os, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
src, dst, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.path.join(src, f) for f in os.listdir(src))
best, best_wall, ok, failed, error = None, None, 0, 0, ""
for _ in range(repeat):
    ok = failed = 0
    start, start_wall = time.process_time(), time.perf_counter()
    for i, path in enumerate(files):
        out = os.path.join(dst, f"{i}.dcm")
        try:
            run_one(path, out)
            ok += 1
        except Exception as exc:
            failed += 1
            error = error or f"{type(exc).__name__}: {str(exc)[:120]}"
    elapsed, wall = time.process_time() - start, time.perf_counter() - start_wall
    best = elapsed if best is None else min(best, elapsed)
    best_wall = wall if best_wall is None else min(best_wall, wall)
print(json.dumps({"ok": ok, "failed": failed, "seconds": best, "wall": best_wall, "first_error": error}))
"""

PEERS: dict[str, dict[str, str]] = {
    # dicognito: its Anonymizer with defaults (names, IDs, UIDs, dates shifted, addresses...).
    "dicognito": {
        "pip": "dicognito",
        "setup": textwrap.dedent("""
            import pydicom
            from dicognito.anonymizer import Anonymizer
            anonymizer = Anonymizer()
            def run_one(path, out):
                ds = pydicom.dcmread(path, force=True)  # same leniency as ours
                anonymizer.anonymize(ds)
                ds.save_as(out)
        """),
    },
    # deid (pydicom/deid): replace_identifiers with its default DICOM recipe (deid.dicom), one file at a time
    # so every tool does the same read -> de-identify -> write cycle.
    "deid": {
        "pip": "deid",
        "setup": textwrap.dedent("""
            import os
            from deid.config import DeidRecipe
            from deid.dicom import replace_identifiers
            recipe = DeidRecipe(base=True)  # the packaged default recipe for DICOM (deid.dicom)
            def run_one(path, out):
                result = replace_identifiers(dicom_files=[path], deid=recipe, save=False, remove_private=True)
                result[0].save_as(out)
        """),
    },
    # dicom-anonymizer: anonymize_dicom_file with its default rules (PS3.15 basic-profile tag lists).
    "dicom-anonymizer": {
        "pip": "dicom-anonymizer",
        "setup": textwrap.dedent("""
            from dicomanonymizer import anonymize_dicom_file
            def run_one(path, out):
                anonymize_dicom_file(path, out, delete_private_tags=True)
        """),
    },
}

OURS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from pixelguard.core.quiet import silence_value_echoes
    silence_value_echoes()
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.headeronly import deidentify_header
    from pixelguard.keyservice.local import LocalKeyService
    keys = LocalKeyService.open(__import__("pathlib").Path({key!r}))
    derive = Derivations(keys.hmac)
    basic = profiles.load("basic")
    def run_one(path, out):
        with open(path, "rb") as handle:
            record = deidentify_header("in-bench", handle.read(), basic, derive)  # pixels never decoded
        with open(out, "wb") as handle:
            handle.write(record.output_bytes)
""")


def corpus_files() -> list[Path]:
    """Every file of the two wheels that PixelGuard's parser accepts as DICOM (the same set for all tools)."""
    import data_store
    import pydicom

    sys.path.insert(0, str(ROOT))
    from pixelguard.core.formats import sniff
    from pixelguard.core.parse import read_dicom
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.core.record import Format, StageError

    silence_value_echoes()
    roots = [Path(pydicom.__file__).parent / "data" / "test_files", Path(data_store.__file__).parent / "data"]
    out = []
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            if sniff(data) is Format.DICOM:
                read_dicom(data)
                out.append(path)
        except StageError:
            continue
    return out


def ensure_venv(name: str, package: str) -> tuple[Path | None, str]:
    """Create .cache/bench/<name>/venv with the peer installed (idempotent); (python, "") or (None, error)."""
    venv = CACHE / name / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.is_file() and python.is_file():
        return python, ""
    try:
        if not python.is_file():
            subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", package],
                       check=True, capture_output=True, text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        return None, (exc.stderr or exc.stdout or str(exc)).strip().splitlines()[-1]
    except subprocess.TimeoutExpired:
        return None, f"pip install {package} timed out"
    marker.write_text(package + "\n")
    return python, ""


def run_driver(python: Path, setup: str, corpus: Path, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pg-bench-out-") as out:
        script = setup + _TIMING
        proc = subprocess.run([str(python), "-c", script, str(corpus), out, str(repeat)],
                              capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def version_of(python: Path, package: str) -> str:
    proc = subprocess.run([str(python), "-m", "pip", "show", package], capture_output=True, text=True)
    versions = [line.split(":", 1)[1].strip() for line in proc.stdout.splitlines() if line.startswith("Version")]
    proc = subprocess.run([str(python), "-c", "import pydicom; print(pydicom.__version__)"],
                          capture_output=True, text=True)
    return f"{package} {versions[0] if versions else '?'} (pydicom {proc.stdout.strip() or '?'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is reported")
    parser.add_argument("--skip-install", action="store_true", help="only use peers already installed")
    args = parser.parse_args()
    files = corpus_files()
    size = sum(p.stat().st_size for p in files)
    print(f"corpus: {len(files)} DICOM files, {size / 1e6:.1f} MB (pydicom wheel + pydicom-data), "
          f"header-only, 1 process per tool, best of {args.repeat}")
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        key = Path(tmp) / "key.json"
        for name in ["pixelguard"] + list(PEERS):
            corpus = Path(tmp) / f"corpus-{name}"
            corpus.mkdir()
            for i, path in enumerate(files):  # each tool gets its own copy, same names, same order
                shutil.copyfile(path, corpus / f"{i:04d}.dcm")
            if name == "pixelguard":
                python, label, setup = Path(sys.executable), "pixelguard (this tree)", \
                    OURS.format(root=str(ROOT), key=str(key))
            else:
                peer = PEERS[name]
                if args.skip_install and not (CACHE / name / "venv" / ".installed").is_file():
                    results[name] = {"error": "not installed (--skip-install)"}
                    continue
                python, error = ensure_venv(name, peer["pip"])
                if python is None:
                    results[name] = {"error": f"install failed: {error}"}
                    print(f"{name:18s} install failed: {error}")
                    continue
                label, setup = version_of(python, peer["pip"]), peer["setup"]
            result = run_driver(python, setup, corpus, args.repeat)
            result["label"] = label
            results[name] = result
            print(_line(name, result), flush=True)
    ours = results["pixelguard"]
    print()
    if "error" in ours:
        print("pixelguard failed; no ratios")
        return 1
    ours_rate = float(ours["ok"]) / float(ours["seconds"])  # type: ignore[arg-type]
    fastest = 0.0
    for name in PEERS:
        peer = results.get(name, {})
        if "error" in peer or not peer.get("ok"):
            print(f"ratio pixelguard/{name}: n/a ({peer.get('error', 'no files processed')})")
            continue
        rate = float(peer["ok"]) / float(peer["seconds"])  # type: ignore[arg-type]
        fastest = max(fastest, rate)
        print(f"ratio pixelguard/{name}: {ours_rate / rate:.2f}x")
    if fastest:
        print(f"ratio pixelguard/fastest peer: {ours_rate / fastest:.2f}x (target >= 2x)")
    print(f"pixelguard per core: {ours_rate:.0f} files/s (target >= 250)")
    return 0


def _line(name: str, result: dict[str, object]) -> str:
    if "error" in result:
        return f"{name:18s} error: {result['error']}"
    rate = float(result["ok"]) / float(result["seconds"])  # type: ignore[arg-type]
    failed = f", {result['failed']} failed (first: {result['first_error']})" if result["failed"] else ""
    return f"{name:18s} {rate:8.1f} files/s per core  ({result['ok']} files in {float(result['seconds']):.2f} s CPU, " \
           f"{float(result['wall']):.2f} s wall{failed})  [{result['label']}]"


if __name__ == "__main__":
    sys.exit(main())
