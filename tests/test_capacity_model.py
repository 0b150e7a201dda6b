"""bench/capacity.py's arithmetic: the prediction it checks against bench/scale.py and the plans it prints."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import capacity


def run(workers: int, objects: int, wall: float, cpu: float, busy: float, engine: str = "local",
        triton: float = 0.0, class_wall: dict[str, float] | None = None) -> dict[str, Any]:
    return {"engine": engine, "workers": workers, "objects": objects, "wall_s": wall, "objects_per_s": objects / wall,
            "cpu_s": {"workers": cpu, "triton": triton, "kafka": 1.0, "bench": 0.5}, "machine_busy_s": busy,
            "class_wall_s": class_wall or {"ct": 1.0, "us": 2.0, "sc": 3.0}}


def result(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"machine": {"cores": 2, "uptime_before": "load 1.0"}, "corpus": {"mix": {"ct": 1 / 3, "us": 1 / 3,
                                                                                      "sc": 1 / 3}},
            "runs": list(runs)}


# One worker: 20 objects, 1 CPU-s each, in 25 s (0.8 cores) on an otherwise idle 2-core machine.
ONE = run(1, 20, 25.0, 20.0, 20.0)


def test_on_two_cores_four_workers_are_capped_by_the_cores_not_four_times_one_worker() -> None:
    four = run(4, 20, 10.0, 20.0, 20.0)  # idle machine: 2 cores for the pipeline
    [row] = capacity.check(result(ONE, four))
    assert row["ceiling_cores"] == pytest.approx(0.8)  # one worker left 1.2 cores idle: its own ceiling
    assert row["cores_available"] == pytest.approx(2.0)
    assert row["predicted"] == pytest.approx(2.0)  # min(4 x 0.8, 2) / 1 CPU-s, not 4 x 0.8
    assert row["error"] == pytest.approx(0.0)


def test_two_workers_below_the_core_count_scale_with_the_worker_ceiling() -> None:
    two = run(2, 20, 12.5, 20.0, 20.0)
    [row] = capacity.check(result(ONE, two))
    assert row["predicted"] == pytest.approx(1.6)
    assert row["measured"] == pytest.approx(1.6)


def test_other_load_on_the_machine_leaves_fewer_cores_and_the_prediction_follows() -> None:
    # Other processes used 1.5 cores during the run (busy 35 CPU-s in 10 s, 20 of them ours).
    four = run(4, 10, 10.0, 5.0, 20.0)
    [row] = capacity.check(result(ONE, four))
    assert row["cores_available"] == pytest.approx(0.5)
    assert row["predicted"] == pytest.approx(0.5)
    assert row["predicted_idle_machine"] == pytest.approx(2.0)
    assert row["error"] == pytest.approx(-0.5)  # measured 1.0/s: twice the prediction


def test_a_one_worker_run_the_machine_bounded_takes_the_stage_threads_as_ceiling() -> None:
    starved = run(1, 10, 10.0, 10.0, 20.0)  # used 1 core while others took the other: no idle core
    ceiling, why = capacity.worker_ceiling(starved, 2, capacity.Params())
    assert ceiling == 2.0 and "stage threads" in why


def test_triton_cpu_counts_in_the_cost_of_an_object() -> None:
    one = run(1, 10, 10.0, 4.0, 10.0, engine="triton", triton=6.0)
    assert capacity.cost_per_object(one) == pytest.approx(1.0)


def test_class_weights_are_relative_to_the_bench_corpus_average_and_the_mix_weights_them() -> None:
    weights = capacity.class_weights(result(ONE), "local")
    assert weights == pytest.approx({"ct": 0.5, "us": 1.0, "sc": 1.5})
    assert capacity.mix_cost(1.0, weights, {"ct": 0.8, "us": 0.1, "sc": 0.1}) == pytest.approx(0.65)
    assert capacity.mix_cost(1.0, weights, {"ct": 8, "us": 1, "sc": 1}) == pytest.approx(0.65)  # shares normalised


def test_a_plan_rounds_pods_gpus_and_partitions_up() -> None:
    flat = {"ct": 1.0, "us": 1.0, "sc": 1.0}
    res = result(run(1, 20, 25.0, 20.0, 20.0, class_wall=flat),
                 run(1, 20, 25.0, 10.0, 30.0, engine="triton", triton=10.0, class_wall=flat))
    plan = capacity.plan(res, 1000, {"ct": 1.0}, capacity.Params())
    cpu = plan["cpu_only"]
    assert cpu["objects_per_s_per_pod"] == pytest.approx(0.8 * 0.7)
    assert cpu["pods"] == 1786  # ceil(1000 / 0.56)
    assert cpu["partitions"] == 3576  # >= 2 x pods, a multiple of 12
    gpu = plan["gpu"]
    assert gpu["worker_cpu_s_per_object"] == pytest.approx(0.5)
    assert gpu["objects_per_s_per_gpu_ASSUMED"] == pytest.approx(0.7 / 0.006)
    assert gpu["gpus"] == 9
    assert capacity.partitions_for(1, capacity.Params()) == 12


@pytest.mark.parametrize(("content", "says"), [
    ("", "not bench/scale.py output"),
    ('{"machine": {"cores": 2}, "runs": [', "not bench/scale.py output"),
    ("[1, 2, 3]", "not bench/scale.py output"),
    ('{"runs": "x"}', "not bench/scale.py output"),
])
def test_an_empty_truncated_or_foreign_json_file_is_refused_with_what_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, says: str) -> None:
    path = tmp_path / "scale.json"
    path.write_text(content)
    monkeypatch.setattr(sys, "argv", ["capacity.py", str(path)])
    with pytest.raises(SystemExit, match=says):
        capacity.main()


def test_a_missing_file_or_a_bad_mix_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["capacity.py", str(tmp_path / "none.json")])
    with pytest.raises(SystemExit, match="run bench/scale.py first"):
        capacity.main()
    with pytest.raises(SystemExit, match="unknown class 'mr'"):
        capacity.parse_mix("ct=0.5,mr=0.5")
    with pytest.raises(SystemExit, match="not a number"):
        capacity.parse_mix("ct=lots")


def test_a_shared_server_caps_the_prediction_however_many_workers_call_it() -> None:
    # One Triton instance busy 2 s per object: at most 0.5 objects/s, though 4 workers' cores allow 2/s.
    one = run(1, 10, 20.0, 2.0, 22.0, engine="triton", triton=8.0)
    one["triton_models"] = {"text_detector": {"executions": 10, "inferences": 10, "busy_s": 20.0, "instances": 1},
                            "region_reader": {"executions": 10, "inferences": 10, "busy_s": 2.0, "instances": 1}}
    four = run(4, 10, 20.0, 2.0, 22.0, engine="triton", triton=8.0)
    [row] = capacity.check(result(one, four))
    assert row["server_ceiling"] == pytest.approx(0.5)
    assert row["server_bound_by"] == "text_detector"
    assert row["predicted"] == pytest.approx(0.5)
    assert row["error"] == pytest.approx(0.0)
    # A second instance doubles the ceiling; the cores then bound it: min(4 x 2, 2) cores / 1 CPU-s.
    one["triton_models"]["text_detector"]["instances"] = 2
    [row] = capacity.check(result(one, four))
    assert row["server_ceiling"] == pytest.approx(1.0)
    assert row["predicted_idle_machine"] == pytest.approx(1.0)


def test_without_a_shared_server_only_the_cores_bound_the_prediction() -> None:
    assert capacity.server_ceiling(ONE) == (math.inf, "")


def test_each_worker_s_idle_cost_leaves_fewer_cores_for_objects() -> None:
    # One worker: 20 objects in 20 s on 1 core, of which 0.25 core is its idle polling: 0.75 CPU-s per object
    # beyond that. Four workers on 2 free cores pay 4 x 0.25 idle and have 1 core left: 1.33 objects/s.
    one = dict(run(1, 20, 20.0, 20.0, 20.0), idle_cores=0.25)
    four = run(4, 20, 15.0, 20.0, 20.0)
    [row] = capacity.check(result(one, four))
    assert row["cost_cpu_s"] == pytest.approx(0.75)
    assert row["idle_cores_per_worker"] == pytest.approx(0.25)
    assert row["predicted"] == pytest.approx(1.0 / 0.75)
    assert row["measured"] == pytest.approx(20 / 15)


def _at(r: dict[str, Any], started: float, **extra: Any) -> dict[str, Any]:
    return {**r, "started": started, **extra}


def test_one_worker_timed_again_after_the_others_gives_the_cost_at_each_runs_time() -> None:
    """The host got slower between the first one-worker run and the last (1 -> 2 CPU-s per object): a run
    half-way between them is predicted from 1.5, the cost one worker had at that time."""
    first = _at(run(1, 20, 40.0, 20.0, 20.0), 0.0)  # 1 CPU-s per object, 0.5 cores: its ceiling
    again = _at(run(1, 20, 40.0, 40.0, 40.0), 200.0, again=True)  # 2 CPU-s per object
    two = _at(run(2, 20, 15.0, 30.0, 30.0), 112.5)  # middle at 120 s: half-way between 20 and 220
    [row] = capacity.check(result(first, two, again))
    assert row["bracket_weight"] == pytest.approx(0.5)
    assert row["cost_cpu_s"] == pytest.approx(1.5)
    assert row["one_worker_costs"] == pytest.approx([1.0, 2.0])
    assert row["predicted"] == pytest.approx(2 * 0.5 / 1.5)
    # Without the second one-worker run (older JSON, or --no-bracket) the first one's cost stands.
    [alone] = capacity.check(result(first, two))
    assert alone["cost_cpu_s"] == pytest.approx(1.0) and alone["bracket_weight"] == 0.0


def test_the_repeat_one_worker_run_is_not_the_plans_basis() -> None:
    first = _at(run(1, 20, 25.0, 20.0, 20.0), 0.0)
    again = _at(run(1, 20, 25.0, 60.0, 60.0), 500.0, again=True)
    plan = capacity.plan(result(first, again), 1000.0, {"ct": 1.0, "us": 1.0, "sc": 1.0})
    assert plan["cpu_only"]["cpu_s_per_object"] == pytest.approx(capacity.mix_cost(
        1.0, capacity.class_weights(result(first), "local"), {"ct": 1.0, "us": 1.0, "sc": 1.0}))


def test_a_shared_servers_ceiling_is_read_at_the_runs_time_as_time_per_object() -> None:
    stats = {"text_detector": {"instances": 1, "busy_s": 10.0}}
    later = {"text_detector": {"instances": 1, "busy_s": 30.0}}
    first = _at(run(1, 10, 20.0, 2.0, 12.0, engine="triton", triton=10.0), 0.0, triton_models=stats)
    again = _at(run(1, 10, 20.0, 2.0, 12.0, engine="triton", triton=10.0), 100.0, again=True,
                triton_models=later)
    two = _at(run(2, 10, 10.0, 2.0, 12.0, engine="triton", triton=10.0), 55.0)  # half-way
    [row] = capacity.check(result(first, two, again))
    # 1 s per object at first, 3 s at the end, 2 s half-way: 0.5 objects/s, not the mean of 1 and 1/3.
    assert row["server_ceiling"] == pytest.approx(0.5)
