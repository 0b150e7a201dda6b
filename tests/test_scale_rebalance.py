"""bench/scale.py's machinery on real processes: Apache Kafka, `pixelguard worker` processes, a worker joining
and another leaving by SIGTERM while objects are in flight. What it must show: every object reaches exactly one
final topic (0 lost, 0 duplicated), and the figures the bench prints come from what happened (spans of every
stage of every object, CPU of the worker processes, lag samples).

Header-only (``redaction: off``) to keep it short: the rebalance, not the OCR, is under test here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scale


def test_a_worker_joining_and_another_leaving_mid_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    args = argparse.Namespace(objects=3, workers="1", engines="local", partitions=4, rebalance_objects=9,
                              time_budget=600, profile="basic", sample=1.0, timeout=300, seed=0, redaction="off",
                              workdir=tmp_path / "work", json=tmp_path / "scale.json", idle_sample=1.0,
                              stage_threads="default", bracket=True)
    result = scale.scale(args)

    rb = result["rebalance"]
    assert rb["objects"] == 9 and rb["final"] == 9
    assert rb["lost"] == 0 and rb["duplicated"] == 0 and rb["unknown_keys"] == 0
    # The join and the leave happened during the run, the leave with objects still in flight.
    assert "joined both groups" in rb["events"]
    leave = rb["events"].split("; ")[-1]
    assert "SIGTERM with" in leave and not leave.startswith("local0 SIGTERM with 0 ")
    assert rb["leaver_exit"] is not None and rb["workers_after"] == 1
    assert sum(rb["by_topic"].values()) == 9
    assert "conflict" not in rb["review_reasons"], "new objects, not new pixels under old UIDs"

    [one] = result["runs"]
    assert one["workers"] == 1 and one["final"] == 3 and one["lost"] == 0 and one["duplicated"] == 0
    assert one["cpu_s"]["workers"] > 0 and one["lag"], "CPU from /proc and lag samples from the admin API"
    stages = one["spans"]["stages"]
    assert one["spans"]["objects_traced"] == 3
    for stage in ("stage parse", "stage scrub", "stage redact", "stage route"):
        assert stages[stage]["objects_with"] == 3, stage
    assert set(one["class_wall_s"]) == {"ct", "us", "sc"} and all(v > 0 for v in one["class_wall_s"].values())

    # The span files the per-stage costs come from carry ids only: no fake patient's name or MRN.
    spans = list((tmp_path / "work" / "spans").glob("*.jsonl"))
    assert spans
    for path in spans:
        text = path.read_text()
        assert "SOAK" not in text and "MRN51" not in text and "^PAT" not in text, path.name
