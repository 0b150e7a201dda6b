"""The soak bench's own arithmetic: the figures it reports (stalls, RSS slopes, lost/duplicated) and its corpus.

The soak itself runs for tens of minutes and is not a test; these check that what it prints is computed right.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import soak


def sample(t: float, submitted: int, final: int, rss: float = 1000.0, lag: int = 0) -> soak.Sample:
    return soak.Sample(t, submitted, final, {"w0": rss}, {"w0": t / 2}, {"g": lag}, {"w0": True})


def test_a_gap_without_final_events_while_objects_wait_is_one_stall_with_its_length() -> None:
    samples = [sample(0, 10, 0), sample(5, 20, 5)]
    samples += [sample(5 + 5 * k, 20, 5, lag=15) for k in range(1, 9)]  # 5 .. 45 s: nothing decided
    samples += [sample(50, 20, 12), sample(55, 20, 20)]
    stalls = soak.find_stalls(samples)
    assert len(stalls) == 1
    assert stalls[0]["start_s"] == 5 and stalls[0]["end_s"] == 50 and stalls[0]["duration_s"] == 45
    assert stalls[0]["in_flight"] == 15 and stalls[0]["max_lag"] == 15


def test_an_idle_pipeline_or_a_short_pause_is_not_a_stall() -> None:
    idle = [sample(5 * k, 20, 20) for k in range(20)]  # 95 s, nothing in flight
    short = [sample(0, 20, 5)] + [sample(5 * k, 20, 5, lag=15) for k in range(1, 6)] + [sample(30, 20, 9)]
    assert soak.find_stalls(idle) == []
    assert soak.find_stalls(short) == []  # 25 s without progress: under the 30 s threshold


def test_a_stall_still_open_at_the_end_lasts_until_the_last_sample() -> None:
    samples = [sample(0, 20, 5)] + [sample(5 * k, 20, 5, lag=3) for k in range(1, 13)]
    (stall,) = soak.find_stalls(samples)
    assert stall["duration_s"] == 60


def test_rss_slope_is_per_thousand_objects_and_per_hour_after_the_warm_up() -> None:
    # Warm-up: a jump the slope must ignore; then 2 MB more every 100 objects and every 36 s.
    samples = [sample(0, 100, 0, rss=200), sample(18, 100, 50, rss=900)]
    samples += [sample(36 * k, 100 * k, 100 * k, rss=1000 + 2 * k) for k in range(1, 30)]
    out = soak.rss_slopes(samples, ["w0"], warm_objects=100, warm_s=30)["w0"]
    assert out["points"] == 29
    assert out["mb_per_1000_objects"] == pytest.approx(20.0)
    assert out["mb_per_hour"] == pytest.approx(200.0)
    assert out["rss_first_mb"] == 1002 and out["rss_max_mb"] == 1058


def test_lost_and_duplicated_objects_are_counted_per_submission() -> None:
    run = soak.Run(args={}, groups=["g"], submitted={"j|a": 0.0, "j|b": 0.0, "j|c": 0.0})
    run.samples = [sample(10, 3, 2)]

    class Reader:
        other = 0
        events = [soak.FinalEvent("j|a", "clean", 5.0, 1.0), soak.FinalEvent("j|a", "clean", 6.0, 1.0),
                  soak.FinalEvent("j|b", "errors", 3.0, 1.0, "empty")]

    args = argparse.Namespace(warmup_s=0.0)
    s = soak.figures(run, Reader(), args)["summary"]  # type: ignore[arg-type]
    assert (s["lost"], s["duplicated"], s["duplicate_events"], s["objects_final"]) == (1, 1, 1, 2)
    assert s["by_state"] == {"clean": 1, "errors": 1} and s["error_codes"] == {"empty": 1}
    assert s["latency_p50_s"] in (2.0, 4.0)  # first final event of each object, minus its submit time


def test_the_corpus_is_mixed_and_every_dicom_reads_back_as_described(tmp_path: Path) -> None:
    pool = soak.make_pool(tmp_path, 40, seed=3)
    kinds = {m["kind"] for _, m in pool}
    assert "dicom" in kinds and kinds & {"png", "jpeg"}
    studies = set()
    for path, meta in pool:
        if meta["kind"] != "dicom":
            continue
        ds = pydicom.dcmread(path)
        width, height = (int(x) for x in str(meta["size"]).split("x"))
        assert (ds.Columns, ds.Rows, ds.Modality) == (width, height, meta["modality"])
        assert ds.pixel_array.shape[-1 if ds.SamplesPerPixel == 1 else -2] == width
        studies.add(ds.StudyInstanceUID)
    assert len(studies) == sum(1 for _, m in pool if m["kind"] == "dicom")  # one study each: spread over partitions
    assert len({m.get("syntax") for _, m in pool if m["kind"] == "dicom"}) >= 3
