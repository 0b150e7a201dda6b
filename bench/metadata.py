"""Metadata-only de-identification as users run it: whole commands on one corpus, 1 and 2 jobs, same run.

    .venv/bin/python bench/metadata.py [--repeat N] [--jobs 1 2] [--skip-install]

PixelGuard runs ``pixelguard deid CORPUS --out DIR --redaction off --jobs N``; dicognito runs its own CLI
(``python -m dicognito --output-directory DIR --quiet SOURCES``), dicom-anonymizer its own (``dicom-anonymizer
IN OUT``) and deid (pydicom/deid, which has no batch CLI) a script calling ``replace_identifiers`` per file. A
peer without a jobs option runs N processes at once, each on every N-th file. Every figure is wall-clock seconds
from starting the processes to the last one's exit: interpreter start-up, imports, model or key loading and file
writes all count, as they do for a user. The corpus is every DICOM file of the pydicom wheel and pydicom-data
that PixelGuard's parser accepts, copied once per tool. files/s = files the tool wrote / seconds (the best of
--repeat), so a tool that stops early (dicognito aborts its run at the first file it cannot convert) is not
credited with files it never wrote; how many it did not write is printed beside it. dicognito runs from this
venv when the ``test`` extra installed it (same pydicom as PixelGuard), the other peers from their own venvs
under ``.cache/bench/<tool>/`` (they pin their own pydicom); a peer that cannot be installed or run is reported
with its error and skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
PYTHON = shutil.which("python3.11") or sys.executable
PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))

PEERS: dict[str, dict[str, str]] = {
    # dicognito: its CLI with defaults (names, IDs, UIDs, dates shifted, addresses...).
    "dicognito": {"pip": "dicognito==0.19.0", "cli": "dicognito"},
    # dicom-anonymizer: its CLI with its default rules (PS3.15 basic-profile tag lists), private tags removed.
    "dicom-anonymizer": {"pip": "dicom-anonymizer", "cli": "dicom-anonymizer"},
    # deid (pydicom/deid): no batch CLI, so a script: replace_identifiers with the packaged DICOM recipe.
    "deid": {"pip": "deid", "script": textwrap.dedent("""
        import os, sys, warnings, logging
        warnings.filterwarnings("ignore")
        logging.disable(logging.CRITICAL)
        from deid.config import DeidRecipe
        from deid.dicom import replace_identifiers
        recipe = DeidRecipe(base=True)
        src, dst = sys.argv[1], sys.argv[2]
        for name in sorted(os.listdir(src)):
            try:
                result = replace_identifiers(dicom_files=[os.path.join(src, name)], deid=recipe, save=False,
                                             remove_private=True)
                result[0].save_as(os.path.join(dst, name))
            except Exception:
                pass
    """)},
}


def corpus_files() -> list[Path]:
    """Every file of the two wheels that PixelGuard's parser accepts as DICOM (the same set for all tools)."""
    import data_store
    import pydicom

    from pixelguard.core.parse import read_dicom
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.core.record import Format, StageError
    from pixelguard.formats import detect

    silence_value_echoes()
    roots = [Path(pydicom.__file__).parent / "data" / "test_files", Path(data_store.__file__).parent / "data"]
    out = []
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            if detect(data) is Format.DICOM:
                read_dicom(data)
                out.append(path)
        except StageError:
            continue
    return out


def ensure_venv(name: str, package: str) -> tuple[Path | None, str]:
    """Create .cache/bench/<name>/venv with the peer installed (idempotent); (bin folder, "") or (None, error)."""
    venv = CACHE / name / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.is_file() and python.is_file():
        return venv / "bin", ""
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
    return venv / "bin", ""


def version_of(bin_dir: Path, package: str) -> str:
    name = package.split("==")[0]
    proc = subprocess.run([str(bin_dir / "python"), "-c", f"import importlib.metadata as m, pydicom; "
                           f"print(m.version({name!r}), pydicom.__version__)"], capture_output=True, text=True)
    found = proc.stdout.split()
    return f"{name} {found[0]} (pydicom {found[1]})" if len(found) == 2 else name


def shards(corpus: Path, jobs: int, work: Path) -> list[Path]:
    """The corpus split into ``jobs`` folders (every jobs-th file), hard links so nothing is copied again."""
    out = [work / f"shard{k}" for k in range(jobs)]
    for folder in out:
        folder.mkdir()
    for i, path in enumerate(sorted(corpus.iterdir())):
        (out[i % jobs] / path.name).hardlink_to(path)
    return out


def timed(commands: list[list[str]], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Start every command at once; seconds until the last exits, and the first failure's last line."""
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
             for cmd in commands]
    errors = [p.communicate()[1] for p in procs]
    seconds = time.perf_counter() - start
    failed = [e.strip().splitlines()[-1] for p, e in zip(procs, errors, strict=True)
              if p.returncode not in (0, 1) and e.strip()]  # deid exits 1 when some objects go to review
    return seconds, failed[0] if failed else ""


def run_ours(corpus: Path, jobs: int, work: Path) -> tuple[float, int, str]:
    out, key = work / "out", work / "key.json"
    env = dict(os.environ, PIXELGUARD_AUDIT_FILE=str(work / "audit.jsonl"))
    seconds, error = timed([[PIXELGUARD, "deid", str(corpus), "--out", str(out), "--redaction", "off",
                             "--jobs", str(jobs), "--key-file", str(key)]], env)
    manifest = out / "manifest.jsonl"
    written = sum(1 for line in manifest.read_text().splitlines() if json.loads(line).get("output")) \
        if manifest.is_file() else 0
    return seconds, written, error


def run_peer(name: str, bin_dir: Path, corpus: Path, jobs: int, work: Path) -> tuple[float, int, str]:
    peer = PEERS[name]
    commands, outs = [], []
    for k, shard in enumerate(shards(corpus, jobs, work)):
        out = work / f"out{k}"
        out.mkdir()
        outs.append(out)
        if name == "dicognito":
            # `python -m dicognito`: 0.19.0's console script calls main() without its argument list.
            commands.append([str(bin_dir / "python"), "-m", "dicognito", "--output-directory", str(out), "--quiet",
                             str(shard)])
        elif "cli" in peer:
            commands.append([str(bin_dir / peer["cli"]), str(shard), str(out)])
        else:
            commands.append([str(bin_dir / "python"), "-c", peer["script"], str(shard), str(out)])
    seconds, error = timed(commands)
    written = sum(1 for out in outs for p in out.rglob("*") if p.is_file())
    return seconds, written, error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and job count; the best is reported")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="job counts to measure")
    parser.add_argument("--skip-install", action="store_true", help="only use peers already installed")
    args = parser.parse_args()
    files = corpus_files()
    size = sum(p.stat().st_size for p in files)
    print(f"corpus: {len(files)} DICOM files, {size / 1e6:.1f} MB (pydicom wheel + pydicom-data); whole commands, "
          f"wall clock from start to exit, best of {args.repeat}")
    tools: dict[str, tuple[Path, str]] = {"pixelguard": (Path(PIXELGUARD).parent, "pixelguard deid --redaction off")}
    for name, peer in PEERS.items():
        here = Path(sys.executable).parent
        if name == "dicognito" and (here / "dicognito").is_file():  # the test extra installs it here
            tools[name] = (here, version_of(here, peer["pip"]) + ", this venv")
            continue
        if args.skip_install and not (CACHE / name / "venv" / ".installed").is_file():
            print(f"{name:18s} not installed (--skip-install)")
            continue
        bin_dir, error = ensure_venv(name, peer["pip"])
        if bin_dir is None:
            print(f"{name:18s} install failed: {error}")
            continue
        tools[name] = (bin_dir, version_of(bin_dir, peer["pip"]))
    rates: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for i, path in enumerate(files):  # same names, same order for every tool
            shutil.copyfile(path, corpus / f"{i:04d}.dcm")
        for jobs in args.jobs:
            for name, (bin_dir, label) in tools.items():
                best, written, error = 0.0, 0, ""
                for run in range(args.repeat):
                    work = Path(tmp) / f"{name}-{jobs}-{run}"
                    work.mkdir()
                    seconds, wrote, failure = run_ours(corpus, jobs, work) if name == "pixelguard" else \
                        run_peer(name, bin_dir, corpus, jobs, work)
                    shutil.rmtree(work)
                    if not best or seconds < best:
                        best, written, error = seconds, wrote, failure
                rates[(name, jobs)] = written / best
                note = f"; {len(files) - written} not written" if written < len(files) else ""
                note += f"; first error: {error}" if error else ""
                print(f"{jobs} job(s)  {name:18s} {rates[(name, jobs)]:7.1f} files/s  ({best:6.2f} s{note})  "
                      f"[{label}]", flush=True)
    print()
    for jobs in args.jobs:
        ours = rates[("pixelguard", jobs)]
        for name in tools:
            if name != "pixelguard":
                print(f"{jobs} job(s)  ratio pixelguard/{name}: {ours / rates[(name, jobs)]:.2f}x"
                      + ("  (target >= 2x)" if name == "dicognito" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
