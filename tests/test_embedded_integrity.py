"""`pixelguard deid` as a user runs it: cut files, duplicates and conflicts, stuck and dying workers."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from pixelguard.workerpool import TaskFailed, WorkerPool

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def _deid(inputs: Path, out: Path, key: Path, jobs: int = 2) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run([PIXELGUARD, "deid", str(inputs), "--out", str(out), "--key-file", str(key),
                           "--jobs", str(jobs)], capture_output=True, text=True, timeout=900)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return proc.returncode, rows, proc.stderr


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.dcm"))


def test_cut_file_beside_its_intact_original(tmp_path: Path) -> None:
    """Issue 10's second defect: both counted clean, sharing one output. Now: error + clean, one file."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = CT_SMALL.read_bytes()
    (inputs / "whole.dcm").write_bytes(data)
    (inputs / "cut.dcm").write_bytes(data[:3000])
    code, rows, stderr = _deid(inputs, tmp_path / "out", tmp_path / "key" / "key.json")
    assert code == 1
    assert sorted(r["status"] for r in rows) == ["clean", "error"]
    error = next(r for r in rows if r["status"] == "error")
    assert str(error["reason"]).startswith(("truncated", "corrupt")) and not error["output"]
    assert len(_outputs(tmp_path / "out")) == 1
    assert "CT_small" not in stderr and "cut.dcm" not in stderr


def test_same_identifiers_different_content_is_a_conflict_for_review(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = CT_SMALL.read_bytes()
    other = pydicom.dcmread(io.BytesIO(data))
    other.PatientName = "SOMEONE^ELSE"  # a different patient's object under the same SOP Instance UID
    buf = io.BytesIO()
    other.save_as(buf)
    (inputs / "a.dcm").write_bytes(data)
    (inputs / "b.dcm").write_bytes(buf.getvalue())
    (inputs / "a-copy.dcm").write_bytes(data)  # byte-identical: shares its output
    out = tmp_path / "out"
    # One job: inputs are taken in name order (a-copy, a, b), so which one meets which is known.
    code, rows, _ = _deid(inputs, out, tmp_path / "key" / "key.json", jobs=1)
    statuses = [str(r["status"]) for r in rows]
    assert code == 1 and statuses == ["clean", "clean", "review"]
    assert "byte-identical" in str(rows[1]["reason"]) and rows[1]["output"] == rows[0]["output"]
    assert str(rows[2]["reason"]).startswith("conflict") and str(rows[2]["output"]).startswith("review/")
    assert rows[2]["output"] != rows[0]["output"]
    # Every manifest row points at a file of its own content; nothing was overwritten.
    files = {str(r["output"]) for r in rows}
    assert all((out / f).is_file() for f in files)
    assert len(files) == len(_outputs(out)) == 2
    # A second run into the same folder is idempotent: same bytes, no new conflict.
    code2, rows2, _ = _deid(inputs, out, tmp_path / "key" / "key.json", jobs=1)
    second = rows2[len(rows):]
    assert sorted(str(r["status"]) for r in second) == statuses
    assert len(_outputs(out)) == 2


def _sleepy_init() -> None:
    pass


def _sleepy(seconds: float) -> str:
    if seconds < 0:
        os.kill(os.getpid(), signal.SIGKILL)  # a codec that crashes the process
    time.sleep(seconds)
    return f"slept {seconds}"


def test_the_pool_stops_a_stuck_task_and_survives_a_dead_worker() -> None:
    pool: WorkerPool[str, str] = WorkerPool(2, _sleepy_init, (), _sleepy, hard_time_s=2.0)
    tasks = [("quick-1", (0.1,)), ("stuck", (60.0,)), ("crash", (-1.0,)), ("quick-2", (0.1,)), ("quick-3", (0.2,))]
    started = time.monotonic()
    results = dict(pool.run(iter(tasks)))
    assert time.monotonic() - started < 50  # the stuck task did not hold the run for its 60 s
    assert results["quick-1"] == "slept 0.1" and results["quick-2"] == "slept 0.1" and results["quick-3"] == "slept 0.2"
    stuck, crash = results["stuck"], results["crash"]
    assert isinstance(stuck, TaskFailed) and stuck.code == "over-budget" and stuck.elapsed_s >= 2.0
    assert isinstance(crash, TaskFailed) and crash.code == "worker-died" and "signal 9" in crash.reason
    assert pool.replaced == 2


@pytest.mark.parametrize("how", ["environment", "flag"])
def test_deid_reports_an_over_budget_object_and_goes_on(how: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(get_testdata_file("emri_small.dcm"), inputs / "multi.dcm")  # 10 frames
    shutil.copy(CT_SMALL, inputs / "ct.dcm")
    env = {**os.environ, "PIXELGUARD_TIME_S": "0"} if how == "environment" else dict(os.environ)
    flag = ["--time-budget", "0"] if how == "flag" else []
    proc = subprocess.run([PIXELGUARD, "deid", str(inputs), "--out", str(tmp_path / "out"), "--key-file",
                           str(tmp_path / "k" / "key.json"), "--jobs", "1", *flag], capture_output=True, text=True,
                          timeout=900, env=env)
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert proc.returncode == 1 and len(rows) == 2
    over = [r for r in rows if str(r["reason"]).startswith("over-budget")]
    assert over and all(r["status"] == "error" and not r["output"] for r in over)
    assert "PIXELGUARD_TIME_S" in str(over[0]["reason"])
