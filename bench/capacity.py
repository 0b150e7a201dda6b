"""Capacity model from bench/scale.py's measurements: objects/s per worker and per GPU, and what a target needs.

    .venv/bin/python bench/capacity.py [.cache/bench/scale.json] [--mix ct=0.8,us=0.1,sc=0.1]
        [--targets 1000,10000] [--gpu-s-per-object 0.006] [--pod-cores 2] [--utilisation 0.7]

The model (deploy/capacity.md says why each piece is there):

- one object costs ``c`` CPU-seconds of pipeline work (workers, plus the Triton server's CPU when OCR runs
  there), measured with ONE worker; a class of object (CT slice, ultrasound, secondary capture) costs
  ``c * w_class``, the weights from the spans' per-object stage time by class;
- one worker keeps at most ``u`` cores busy (its stage threads): measured at one worker when the machine
  had cores to spare, else the configured stage threads;
- N workers on a machine that leaves the pipeline ``C`` cores run ``min(N * u, C) / c`` objects/s: on 2
  cores, 4 workers cannot be 4x one worker;
- a server the workers share (Triton) gives at most ``S`` objects/s however many workers call it: each model
  runs ``instances`` batches at a time, each taking its busy seconds (Triton's own statistics), so
  ``S = min over models of instances / (busy seconds per object)``, measured in the 1-worker run. The
  prediction is ``min(min(N * u, C) / c, S)``;
- every worker uses ``i`` cores with nothing to do (Kafka polling, heartbeats), sampled before each timed
  run: ``c`` is then the cost beyond that, and N workers have ``min(N * u, C) - N * i`` cores for objects.

The check compares that prediction for 2 and 4 workers with scale.py's measured objects/s. ``C`` is the
cores the pipeline could have had during each run: the machine's cores minus what other processes used
(``/proc/stat`` busy time minus the pipeline's own CPU), because this machine is shared with other work. When
scale.py timed one worker again after the others (``--bracket``, its default), each run is predicted from one
worker's figures at that run's time, read between the two one-worker runs: this host's speed drifts.

No GPU was lent to this project: the detector's GPU time per object is a PARAMETER (``--gpu-s-per-object``),
not a measurement; plans with GPUs say so.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MIX = {"ct": 0.8, "us": 0.1, "sc": 0.1}
CLASS_NAMES = {"ct": "CT slices", "us": "ultrasound", "sc": "secondary captures"}
DEFAULT_JSON = Path(__file__).resolve().parents[1] / ".cache" / "bench" / "scale.json"
SPARE_CORE = 0.25  # a 1-worker run with this much unused core left was limited by the worker, not the machine
PARTITION_STEP = 12  # the base's partition count; plans round up to multiples of it


@dataclass(frozen=True)
class Params:
    stage_threads: float = 2.0  # PIXELGUARD_THREADS: a worker's core ceiling when the run could not show it
    pod_cores: float = 2.0  # the worker Deployment's CPU limit
    utilisation: float = 0.7  # plan pods and GPUs to run at this share of their capacity (room for bursts)
    gpu_s_per_object: float = 0.006  # ASSUMED detector GPU seconds per average object: not measured here
    partition_headroom: float = 2.0  # partitions >= this x pods: room to scale out without repartitioning


def pipeline_cpu(run: dict[str, Any]) -> float:
    """CPU-seconds of the pipeline in a run: the worker processes plus Triton's (0 with the in-process engine)."""
    cpu = run["cpu_s"]
    return float(cpu["workers"]) + float(cpu.get("triton", 0.0))


def cost_per_object(run: dict[str, Any]) -> float:
    return pipeline_cpu(run) / max(1, int(run["objects"]))


def cores_available(run: dict[str, Any], cores: int) -> float:
    """Cores the pipeline could have used: all of them minus the CPU rate of everything else on the machine."""
    others = max(0.0, float(run["machine_busy_s"]) - pipeline_cpu(run)) / float(run["wall_s"])
    return max(0.05, cores - others)


def worker_ceiling(one: dict[str, Any], cores: int, params: Params) -> tuple[float, str]:
    """Cores one worker keeps busy, and where the figure comes from."""
    used = pipeline_cpu(one) / float(one["wall_s"])
    if cores_available(one, cores) - used > SPARE_CORE:
        return used, "measured: one worker left cores idle"
    return params.stage_threads, "stage threads: the machine, not the worker, bounded the 1-worker run"


def server_ceiling(one: dict[str, Any]) -> tuple[float, str]:
    """The most objects/s the shared server's busiest model can give, and which model that is (``inf`` and ""
    without a shared server). Measured in the 1-worker run: a model's busy time per object is what one of its
    instances spends on an object, however many workers queue requests behind it."""
    objects = max(1, int(one["objects"]))
    best, name = math.inf, ""
    for model, m in (one.get("triton_models") or {}).items():
        busy = float(m["busy_s"]) / objects
        if busy > 0 and float(m["instances"]) / busy < best:
            best, name = float(m["instances"]) / busy, model
    return best, name


def marginal_cost(one: dict[str, Any]) -> tuple[float, float]:
    """(CPU-s per object beyond the workers' fixed cost, cores one idle worker uses), from the 1-worker run.

    A worker polls Kafka and heartbeats whatever it does: ``idle_cores`` (bench/scale.py samples it before
    each timed run) is paid by every worker, so N workers leave ``N * idle`` fewer cores for objects."""
    idle = float(one.get("idle_cores", 0.0))
    fixed = idle * float(one["wall_s"]) / max(1, int(one["objects"]))
    return max(1e-6, cost_per_object(one) - fixed), idle


def predict(workers: int, ceiling: float, cores: float, cost: float, server: float = math.inf,
            idle: float = 0.0) -> float:
    """objects/s of ``workers`` workers with ``cores`` cores between them, each using ``idle`` cores with
    nothing to do, calling a server that gives at most ``server`` objects/s."""
    return min(max(0.0, min(workers * ceiling, cores) - workers * idle) / cost, server)


def check(result: dict[str, Any], params: Params = Params()) -> list[dict[str, Any]]:
    """Predicted against measured objects/s for every run with more than one worker, per engine.

    When one worker was timed again after the others (``bench/scale.py --bracket``), the one-worker figures a
    run is predicted from are those of the time of that run, read on the straight line between the two
    one-worker runs: this host's CPU-seconds per fixed computation drift by 1.5-3x over minutes, and a
    prediction from a run made minutes earlier carries that drift in full."""
    cores = int(result["machine"]["cores"])
    rows = []
    for engine in sorted({r["engine"] for r in result["runs"]}):
        ones = [r for r in result["runs"] if r["engine"] == engine and int(r["workers"]) == 1]
        if not ones:
            continue
        first, last = ones[0], ones[-1]
        ceiling, why = worker_ceiling(first, cores, params)
        cost0, idle0 = marginal_cost(first)
        cost1, idle1 = marginal_cost(last)
        server0, model = server_ceiling(first)
        server1, _ = server_ceiling(last)
        for run in result["runs"]:
            n = int(run["workers"])
            if run["engine"] != engine or n == 1:
                continue
            weight = _between(first, last, run)
            cost, idle = cost0 + weight * (cost1 - cost0), idle0 + weight * (idle1 - idle0)
            server = server0
            if math.isfinite(server0) and math.isfinite(server1):
                # Interpolated as time per object (what drifts), not as its inverse.
                server = 1 / (1 / server0 + weight * (1 / server1 - 1 / server0))
            avail = cores_available(run, cores)
            predicted = predict(n, ceiling, avail, cost, server, idle)
            measured = float(run["objects_per_s"])
            rows.append({"engine": engine, "workers": n, "cost_cpu_s": cost, "ceiling_cores": ceiling,
                         "ceiling_from": why, "cores_available": avail, "server_ceiling": server,
                         "server_bound_by": model, "predicted": predicted, "bracket_weight": weight,
                         "one_worker_costs": [cost0, cost1] if last is not first else [cost0],
                         "idle_cores_per_worker": idle,
                         "predicted_idle_machine": predict(n, ceiling, cores, cost, server, idle),
                         "measured": measured, "error": predicted / measured - 1 if measured else math.inf})
    return rows


def _between(first: dict[str, Any], last: dict[str, Any], run: dict[str, Any]) -> float:
    """Where ``run``'s middle falls between the middles of the first and last one-worker runs (0: the first)."""
    if last is first or "started" not in first or "started" not in last or "started" not in run:
        return 0.0
    middle = [float(r["started"]) + float(r["wall_s"]) / 2 for r in (first, last, run)]
    span = middle[1] - middle[0]
    return min(1.0, max(0.0, (middle[2] - middle[0]) / span)) if span > 0 else 0.0


def class_weights(result: dict[str, Any], engine: str) -> dict[str, float]:
    """Per-class cost relative to the bench corpus's average object (1.0 = average), from the 1-worker spans."""
    one = next(r for r in result["runs"] if r["engine"] == engine and int(r["workers"]) == 1)
    wall = {k: float(v) for k, v in one.get("class_wall_s", {}).items() if v}
    mix = result["corpus"]["mix"]
    if not wall:
        return {k: 1.0 for k in mix}
    average = sum(mix[k] * wall.get(k, 0.0) for k in mix) / sum(mix[k] for k in mix if k in wall)
    return {k: wall.get(k, average) / average for k in mix}


def mix_cost(base: float, weights: dict[str, float], mix: dict[str, float]) -> float:
    total = sum(mix.values())
    return base * sum(share / total * weights.get(k, 1.0) for k, share in mix.items())


def partitions_for(pods: int, params: Params) -> int:
    need = max(PARTITION_STEP, math.ceil(pods * params.partition_headroom))
    return math.ceil(need / PARTITION_STEP) * PARTITION_STEP


def plan(result: dict[str, Any], target: float, mix: dict[str, float], params: Params = Params()) -> dict[str, Any]:
    """Worker pods, partitions (and with Triton on GPUs: GPUs) for ``target`` objects/s of ``mix``."""
    cores = int(result["machine"]["cores"])
    # A one-worker run timed again (bench/scale.py --bracket) is a check's reference, not the plan's basis.
    runs = {(r["engine"], int(r["workers"])): r for r in result["runs"] if not r.get("again")}
    out: dict[str, Any] = {"target": target, "mix": mix}
    local = runs.get(("local", 1))
    if local is not None:
        cost = mix_cost(cost_per_object(local), class_weights(result, "local"), mix)
        ceiling, _ = worker_ceiling(local, cores, params)
        per_pod = min(ceiling, params.pod_cores) * params.utilisation / cost
        pods = math.ceil(target / per_pod)
        out["cpu_only"] = {"cpu_s_per_object": cost, "objects_per_s_per_pod": per_pod, "pods": pods,
                           "cores": pods * min(ceiling, params.pod_cores),
                           "partitions": partitions_for(pods, params)}
    triton = runs.get(("triton", 1))
    if triton is not None:
        weights = class_weights(result, "triton")
        objects = max(1, int(triton["objects"]))
        worker_cost = mix_cost(float(triton["cpu_s"]["workers"]) / objects, weights, mix)
        # Triton's CPU measured here includes the detector run on the CPU; on a GPU that part moves off the
        # CPU, so this is an upper bound for the Triton pods' CPU.
        triton_cpu = mix_cost(float(triton["cpu_s"].get("triton", 0.0)) / objects, weights, mix)
        ceiling, _ = worker_ceiling(triton, cores, params)
        per_pod = min(ceiling, params.pod_cores) * params.utilisation / worker_cost
        pods = math.ceil(target / per_pod)
        gpu_s = mix_cost(params.gpu_s_per_object, weights, mix)
        per_gpu = params.utilisation / gpu_s
        out["gpu"] = {"worker_cpu_s_per_object": worker_cost, "objects_per_s_per_pod": per_pod,
                      "pods": pods, "partitions": partitions_for(pods, params),
                      "gpu_s_per_object_ASSUMED": gpu_s, "objects_per_s_per_gpu_ASSUMED": per_gpu,
                      "gpus": math.ceil(target / per_gpu),
                      "triton_cpu_cores_upper_bound": target * triton_cpu}
    return out


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in CLASS_NAMES:
            raise SystemExit(f"capacity: unknown class {name.strip()!r} in --mix; use {', '.join(CLASS_NAMES)}")
        try:
            mix[name.strip()] = float(share)
        except ValueError:
            raise SystemExit(f"capacity: --mix share for {name.strip()} is not a number: {share!r}") from None
    if sum(mix.values()) <= 0:
        raise SystemExit("capacity: --mix shares must add up to more than 0")
    return mix


def report(result: dict[str, Any], mix: dict[str, float], targets: list[float], params: Params) -> str:
    lines = [f"capacity model from {result['machine']['cores']} cores, load when measured: "
             f"{result['machine'].get('uptime_before', '?')}"]
    lines.append("check: predicted vs measured objects/s (prediction uses the 1-worker cost at the run's time, "
                 "the 1-worker ceiling and the cores the run could have had)")
    lines.append(f"{'engine':8} {'workers':>7} {'c CPU-s/obj':>11} {'ceiling':>7} {'cores':>6} {'server/s':>8} "
                 f"{'predicted':>9} {'measured':>8} {'error':>7}  idle-2-core prediction")
    for row in check(result, params):
        server = (f"{row['server_ceiling']:>8.3f}" if math.isfinite(row["server_ceiling"]) else f"{'-':>8}")
        bound = f"; server ceiling from {row['server_bound_by']}" if row["server_bound_by"] else ""
        lines.append(f"{row['engine']:8} {row['workers']:>7} {row['cost_cpu_s']:>11.3f} {row['ceiling_cores']:>7.2f} "
                     f"{row['cores_available']:>6.2f} {server} {row['predicted']:>9.3f} {row['measured']:>8.3f} "
                     f"{row['error']:>+7.1%}  {row['predicted_idle_machine']:.3f}  ({row['ceiling_from']}{bound}; "
                     f"an idle worker uses {row['idle_cores_per_worker']:.3f} cores"
                     + (f"; one worker's c {' -> '.join(f'{c:.3f}' for c in row['one_worker_costs'])} before and "
                        f"after, read at {row['bracket_weight']:.2f} of the way" if len(row["one_worker_costs"]) > 1
                        else "") + ")")
    for engine in ("local", "triton"):
        if any(r["engine"] == engine for r in result["runs"]):
            w = class_weights(result, engine)
            lines.append(f"class weights ({engine}, from spans): "
                         + ", ".join(f"{CLASS_NAMES[k]} {v:.2f}" for k, v in w.items()))
    lines.append("mix: " + ", ".join(f"{CLASS_NAMES[k]} {v:.0%}" for k, v in mix.items()))
    for target in targets:
        p = plan(result, target, mix, params)
        lines.append(f"target {target:,.0f} objects/s:")
        if "cpu_only" in p:
            c = p["cpu_only"]
            lines.append(f"  CPU only: {c['cpu_s_per_object']:.3f} CPU-s/object, {c['objects_per_s_per_pod']:.2f} "
                         f"objects/s per worker pod at {params.utilisation:.0%}: {c['pods']:,} pods "
                         f"({c['cores']:,.0f} cores), {c['partitions']:,} partitions")
        if "gpu" in p:
            g = p["gpu"]
            lines.append(f"  Triton on GPUs: workers {g['worker_cpu_s_per_object']:.3f} CPU-s/object, "
                         f"{g['objects_per_s_per_pod']:.2f} objects/s per pod: {g['pods']:,} pods, "
                         f"{g['partitions']:,} partitions; GPUs {g['gpus']:,} at ASSUMED "
                         f"{g['gpu_s_per_object_ASSUMED'] * 1000:.1f} GPU-ms/object "
                         f"({g['objects_per_s_per_gpu_ASSUMED']:.0f} objects/s per GPU, not measured: no GPU lent); "
                         f"Triton CPU <= {g['triton_cpu_cores_upper_bound']:,.0f} cores")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", nargs="?", type=Path, default=DEFAULT_JSON, help="bench/scale.py's --json output")
    parser.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()))
    parser.add_argument("--targets", default="1000,10000")
    parser.add_argument("--gpu-s-per-object", type=float, default=Params.gpu_s_per_object)
    parser.add_argument("--pod-cores", type=float, default=Params.pod_cores)
    parser.add_argument("--utilisation", type=float, default=Params.utilisation)
    args = parser.parse_args()
    if not args.json.is_file():
        raise SystemExit(f"capacity: {args.json} not found; run bench/scale.py first (it writes it)")
    try:
        result = json.loads(args.json.read_text())
        if not isinstance(result["runs"], list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"capacity: {args.json} is not bench/scale.py output; run bench/scale.py again") from None
    params = Params(gpu_s_per_object=args.gpu_s_per_object, pod_cores=args.pod_cores, utilisation=args.utilisation)
    print(report(result, parse_mix(args.mix), [float(t) for t in args.targets.split(",")], params))


if __name__ == "__main__":
    main()
